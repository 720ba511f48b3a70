"""Entrypoint of the dashboard: `streamlit run dashboard/app.py` (from the repository root).

The frame around every page: page config, `st.navigation` over the thin scripts in `pages/` (paths
anchored at the repo root, so the app runs from any working directory), the shared sidebar, and a guard
that turns any error into a friendly message.

The same file is also the server: `streamlit run` finds `app = st.App(...)` below and serves this script
through it, which gives the server a start-up hook. At start, before any browser has connected, a
background thread imports what the first page needs (pandas, the dashboard, Plotly's figure machinery) and
reads the default trace and its kept results into memory — it never computes anything. The browser needs
a second or two to load the page's code; meanwhile the server gets ready to answer it.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:   # `streamlit run` puts dashboard/ on sys.path, not the repo root
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

PAGES_DIR = ROOT / "pages"
# (script, title, icon, url path); the first one is the default page.
PAGES = (
    ("overview.py", "Overview", ":material/dashboard:", "overview"),
    ("live_run.py", "Live run", ":material/play_circle:", "live-run"),
    ("decisions.py", "Decisions", ":material/alt_route:", "decisions"),
    ("cache.py", "Cache", ":material/cached:", "cache"),
    ("predictors.py", "Predictors & drift", ":material/monitoring:", "predictors"),
    ("what_if.py", "What-if budgets", ":material/tune:", "what-if"),
    ("playground.py", "Playground", ":material/chat:", "playground"),
    ("data_models.py", "Data & models", ":material/database:", "data"),
)
SECTIONS = {"Results": PAGES[:5], "Explore": PAGES[5:7], "Configure": PAGES[7:]}


def build_pages() -> dict[str, list[st.Page]]:
    """The navigation. The default page lives at "/" (Streamlit ignores its url_path), so `/overview` would
    be "Page not found": a hidden second entry of the Overview script answers at that address."""
    sections = {section: [st.Page(str(PAGES_DIR / script), title=title, icon=icon,
                                  url_path="home" if script == PAGES[0][0] else url, default=(script == PAGES[0][0]))
                          for script, title, icon, url in pages]
                for section, pages in SECTIONS.items()}
    script, title, icon, url = PAGES[0]
    sections["Results"].append(st.Page(str(PAGES_DIR / script), title=title, icon=icon, url_path=url,
                                       visibility="hidden"))
    return sections


def main() -> None:
    from dashboard import components, gateway
    st.set_page_config(page_title="SmartLLMs Scheduler", page_icon="🧭", layout="wide",
                       initial_sidebar_state="expanded")
    page = st.navigation(build_pages())
    st.logo(str(ROOT / "dashboard" / "logo.svg"), size="large")
    components.init_state()
    components.init_source()
    slot = None
    with components.guard("the sidebar"):
        components.source_sidebar()
        slot = components.sidebar()
    with components.guard("the budget alert"):
        components.budget_alerts()
    with components.guard(f"the {page.title} page"):
        page.run()
    if slot is not None:
        with components.guard("the sidebar"):
            components.sidebar_settings(slot)
    # The page is drawn (from kept results it needs no engine): load the engine now, while the reader reads.
    gateway.get_gateway().warm_up()


@contextlib.asynccontextmanager
async def preload(_app):
    """The server's start-up: preload in the background (see the module's docstring), serve at once."""
    def work() -> None:
        from dashboard import gateway
        gateway.preload()
    threading.Thread(target=work, daemon=True, name="sls-dashboard-preload").start()
    yield


if __name__ == "__main__":     # a script run (a browser session, AppTest)
    main()
else:                          # imported by `streamlit run` as the server's app
    app = st.App(__file__, lifespan=preload)
