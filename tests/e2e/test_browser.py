"""One real-browser test of the dashboard: `streamlit run` + Debian chromium driven by Playwright.

Starts the server on a free port with the repo as working directory (so it opens the embedded sample
trace, like a first-time user), waits for `/_stcore/health`, opens every page by its URL, waits for the app
to stop running, checks that no exception is shown and that charts are drawn, moves the What-if budget
slider with the keyboard (Home: the smallest budget) and checks that the figures change, and saves a screenshot of each page.

Run: `.venv/bin/pytest -m e2e tests/e2e -s` (the screenshot folder and the timings are printed).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
# (url path, page title, whether the page must draw at least one Plotly chart, its main widget otherwise)
PAGES = [
    ("", "Overview", True, None),                       # the default page lives at the root URL
    ("live-run", "Live run", True, None),
    ("decisions", "Decisions", True, None),
    ("cache", "Cache", True, None),
    ("predictors", "Predictors & drift", True, None),
    ("what-if", "What-if budgets", True, None),
    ("playground", "Playground", False, '[data-testid="stTextArea"]'),
    ("data", "Data & models", False, '[data-testid="stRadio"]'),
]
SERVER_START_S = 90
SHOT_HEIGHT = 2400
PAGE_TIMEOUT_MS = 240_000


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _say(text: str) -> None:
    sys.__stdout__.write(text + "\n")
    sys.__stdout__.flush()


@pytest.fixture(scope="module")
def shots_dir() -> Path:
    folder = Path(tempfile.gettempdir()) / "sls-dashboard-screenshots" / time.strftime("%Y%m%d-%H%M%S")
    folder.mkdir(parents=True, exist_ok=True)
    _say(f"\nscreenshots: {folder}")
    return folder


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api", reason="Playwright's Python client is not installed")
    tmp = tmp_path_factory.mktemp("e2e")
    port = _free_port()
    env = {**os.environ, "SLS_WORKSPACE": str(tmp / "workspace"), "PYTHONUNBUFFERED": "1"}
    env.pop("SLS_TRACE", None)                    # first open: the embedded sample, as a new user sees it
    log = (tmp / "streamlit.log").open("w")
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.port", str(port),
         "--server.headless", "true", "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}; log: {tmp / 'streamlit.log'}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"/_stcore/health did not answer within {SERVER_START_S} s")
            time.sleep(0.2)
        health_s = time.perf_counter() - started
        yield {"url": url, "started": started, "health_s": health_s, "log": tmp / "streamlit.log", "tmp": tmp}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright
    tmp = server["tmp"]
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp / "xdg-config"), "XDG_CACHE_HOME": str(tmp / "xdg-cache")}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS, env=env)
        try:
            yield b
        finally:
            b.close()


def script_state(page) -> str | None:
    """Streamlit's own run state of the app: "initial", "running", "notRunning", …"""
    return page.locator('[data-testid="stApp"]').first.get_attribute("data-test-script-state")


def wait_until_idle(page, title: str, timeout_ms: int = PAGE_TIMEOUT_MS) -> None:
    """Wait until the page's title is shown and the app has stopped running for a moment (short fragment
    reruns, e.g. a background-status note every few seconds, may interrupt the quiet period)."""
    page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=timeout_ms)
    deadline = time.monotonic() + timeout_ms / 1000
    quiet_since = None
    while time.monotonic() < deadline:
        running = script_state(page) != "notRunning" or page.locator('[data-testid="stSpinner"]').count() > 0
        if running:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 1.0:
            return
        time.sleep(0.1)
    raise AssertionError(f"the app was still running after {timeout_ms / 1000:.0f} s on {title}")


def _figures(page) -> str:
    """The data of every Plotly figure on the page, as JSON (what the user sees drawn)."""
    return page.evaluate("""() => JSON.stringify(Array.from(document.querySelectorAll('.js-plotly-plot'))
        .map(el => (el.data || []).map(t => [t.name, t.x, t.y])))""")


def _metrics(page) -> list[str]:
    return page.locator('[data-testid="stMetricValue"]').all_inner_texts()


def watch_requests(page) -> list[str]:
    """Every request the page makes to a host other than 127.0.0.1 (there must be none: offline)."""
    outside: list[str] = []

    def seen(request):
        host = urllib.parse.urlsplit(request.url).hostname
        if host not in (None, "127.0.0.1") and not request.url.startswith(("data:", "blob:")):
            outside.append(request.url)
    page.on("request", seen)
    return outside


def test_every_page_by_url(server, browser, shots_dir, live_workspace):
    # `live_workspace` first: its `sls run` must finish before the Playground page opens the dashboard's
    # engine on the same workspace (one workspace serves one engine at a time)
    # tall: Streamlit scrolls inside its own container, so a screenshot shows the viewport only
    page = browser.new_page(viewport={"width": 1440, "height": SHOT_HEIGHT})
    outside = watch_requests(page)
    timings = {"health_s": round(server["health_s"], 2)}
    try:
        for path, title, needs_chart, main_widget in PAGES:
            t0 = time.perf_counter()
            page.goto(f"{server['url']}/{path}", wait_until="domcontentloaded")
            if path == "":     # first render after `streamlit run`: the title, then the first chart
                page.get_by_role("heading", name=title, exact=True).first.wait_for(timeout=PAGE_TIMEOUT_MS)
                timings["overview_title_after_start_s"] = round(time.perf_counter() - server["started"], 2)
                page.locator(".js-plotly-plot").first.wait_for(timeout=PAGE_TIMEOUT_MS)
                timings["overview_first_chart_after_start_s"] = round(time.perf_counter() - server["started"], 2)
            wait_until_idle(page, title)
            timings[f"{path or 'overview'}_s"] = round(time.perf_counter() - t0, 2)
            exceptions = page.locator('[data-testid="stException"]')
            assert exceptions.count() == 0, f"{title}: {exceptions.first.inner_text()}"
            if needs_chart:
                page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
                assert page.locator(".js-plotly-plot").count() >= 1, f"{title}: no Plotly chart drawn"
            else:
                page.locator(main_widget).first.wait_for(timeout=30_000)
            assert page.get_by_text("Traceback (most recent call last)").count() == 0
            assert page.get_by_text("Page not found").count() == 0, f"{title}: 'Page not found'"
            assert not outside, f"{title}: requests left the machine: {outside}"
            shot = shots_dir / f"{PAGES.index((path, title, needs_chart, main_widget)) + 1:02d}-{path or 'overview'}.png"
            page.screenshot(path=str(shot), full_page=True)
    finally:
        page.close()
        _say("timings: " + json.dumps(timings))
        (shots_dir / "timings.json").write_text(json.dumps(timings, indent=2))


def test_what_if_slider_changes_the_figures(server, browser, shots_dir):
    page = browser.new_page(viewport={"width": 1440, "height": SHOT_HEIGHT})
    try:
        page.goto(f"{server['url']}/what-if", wait_until="domcontentloaded")
        wait_until_idle(page, "What-if budgets")
        page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
        before_figs, before_metrics = _figures(page), _metrics(page)
        slider = page.locator('[data-testid="stSlider"]').filter(has_text="Budget for the whole trace") \
            .get_by_role("slider")
        slider.focus()
        t0 = time.perf_counter()
        slider.press("Home")       # the smallest budget: not one of the frontier points, so a real re-run
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _metrics(page) == before_metrics:
            time.sleep(0.05)
        changed_s = time.perf_counter() - t0
        wait_until_idle(page, "What-if budgets")
        errors = page.locator('[data-testid="stException"]')
        assert errors.count() == 0, errors.first.inner_text()[:2000]
        after_figs, after_metrics = _figures(page), _metrics(page)
        assert after_metrics != before_metrics, ("the what-if metrics did not change after moving the budget slider "
                                                 f"({changed_s:.1f} s): {before_metrics}")
        assert after_figs != before_figs, "the what-if figures did not change after moving the budget slider"
        page.screenshot(path=str(shots_dir / "09-what-if-after-slider.png"), full_page=True)
        _say(f"what-if: metrics changed {changed_s:.2f} s after the key press "
             f"({before_metrics[:3]} -> {after_metrics[:3]})")
    finally:
        page.close()


def test_overview_by_its_own_path_is_found(server, browser):
    page = browser.new_page(viewport={"width": 1440, "height": 1200})
    outside = watch_requests(page)
    try:
        page.goto(f"{server['url']}/overview", wait_until="domcontentloaded")
        wait_until_idle(page, "Overview")
        assert page.get_by_text("Page not found").count() == 0
        assert not outside, outside
    finally:
        page.close()


@pytest.fixture(scope="module")
def live_workspace(server):
    """`sls run` of 30 jobs answered from the embedded sample's recorded outcomes (a replay-backed engine:
    no network), written into the server's workspace, as a user's live run would be."""
    from engine.traces import load_trace
    tmp = server["tmp"]
    sample = REPO / "sample_data" / "demo"
    jobs = tmp / "jobs.txt"
    queries = load_trace(sample).queries
    jobs.write_text("\n".join(queries[queries["task"] == "log_parsing"]["text"][:30]) + "\n")
    done = subprocess.run([sys.executable, "-m", "engine.cli", "run", str(jobs), "--task", "log_parsing",
                           "--replay", str(sample), "--workspace", str(tmp / "workspace"), "--json"],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return tmp / "workspace"


def test_source_workspace_shows_the_jobs_and_spend_of_a_run(server, browser, shots_dir, live_workspace):
    from dashboard import formatting as fmt
    from dashboard import workspace
    view = workspace.read(live_workspace)
    assert view.n_jobs == 30
    page = browser.new_page(viewport={"width": 1440, "height": SHOT_HEIGHT})
    outside = watch_requests(page)
    try:
        for path, title in (("", "Overview"), ("decisions", "Decisions"), ("cache", "Cache"),
                            ("predictors", "Predictors & drift")):
            page.goto(f"{server['url']}/{path}?source=workspace", wait_until="domcontentloaded")
            wait_until_idle(page, title)
            assert page.locator('[data-testid="stException"]').count() == 0
            assert page.get_by_text("live workspace").count() >= 1, f"{title} does not say its source"
            if path == "":
                page.get_by_text(f"30 jobs handled for {fmt.usd(view.spend_usd)}").first.wait_for(timeout=30_000)
            page.locator(".js-plotly-plot").first.wait_for(timeout=30_000)
            page.screenshot(path=str(shots_dir / f"10-workspace-{path or 'overview'}.png"), full_page=True)
        assert not outside, outside
    finally:
        page.close()
