"""Dashboard speed in a real browser: first paint after `streamlit run`, a What-if budget step, and every
outside request (there must be none).

    .venv/bin/python -m bench.dashboard_timing [--runs 5] [--workspace DIR] [--out FILE]

Each run starts a new `streamlit run dashboard/app.py` on a free 127.0.0.1 port (the embedded sample, as a
new user sees it) and drives Debian chromium through Playwright:

* `overview_first_figure_s`: from the server process's start to the first Plotly figure drawn on `/`
  (`_from_health_s`: from `/_stcore/health` answering, i.e. the server being up, to that figure); on the way,
  from the same start: `browser_s` (Chromium launched), `page_loaded_s` (the page's HTML and scripts loaded),
  `socket_open_s` (the app's websocket open), `first_message_s` (the server's first message on it),
  `figure_sent_s` (the first message holding a Plotly figure);
* `whatif_step_s`: on `/what-if`, from pressing → on the budget slider (a budget this session has not shown)
  until the page shows new figures and the app is idle again (quiet for 0.3 s; `whatif_figures_changed_s`:
  until the figures changed); `whatif_step_kind` says whether the page showed
  the exact replay or the labelled lower bound while the exact one was still running;
* `outside_requests`: every request to a host other than 127.0.0.1 on any page (every page is opened).

`--floor` measures the first figure of a one-figure app instead (no pandas, no dashboard code): what
Streamlit's boot, Chromium's start and Plotly's first draw cost on this machine alone.

Runs share one workspace (default: a new temporary folder), so run 1 is a cold start (nothing computed) and
runs 2.. are restarts of a server that computed before (its results kept on disk). The report gives the
median of runs 2.. and run 1 apart, with the machine's load (`uptime`) before each run.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
PAGES = ("", "live-run", "decisions", "cache", "predictors", "what-if", "playground", "data")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def idle(page, timeout_s: float = 300, quiet_s: float = 0.8) -> None:
    deadline, since = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        state = page.evaluate("""() => { const a = document.querySelector('[data-testid="stApp"]');
                                          return a ? a.getAttribute('data-test-script-state') : null; }""")
        busy = state != "notRunning" or page.locator('[data-testid="stSpinner"]').count() > 0
        if busy:
            since = None
        elif since is None:
            since = time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return
        time.sleep(0.05)
    raise TimeoutError("the app kept running")


def figures(page) -> str:
    return page.evaluate("""() => JSON.stringify(Array.from(document.querySelectorAll('.js-plotly-plot'))
        .map(el => (el.data || []).map(t => [t.name, t.x, t.y])))""")


FLOOR_APP = """import plotly.graph_objects as go
import streamlit as st

st.title("Floor")
st.plotly_chart(go.Figure(go.Scatter(x=[1, 2, 3], y=[1, 3, 2])), width="stretch")
"""


def one_run(workspace: Path, k: int, *, floor: bool = False) -> dict:
    """One server start. With `floor`, the same measurement of a one-figure app (no pandas, no dashboard):
    the part of the first paint that is Streamlit's boot, Chromium's start and Plotly's first draw."""
    from playwright.sync_api import sync_playwright
    port = free_port()
    script = "dashboard/app.py"
    if floor:
        script = str(workspace.parent / "floor_app.py")
        Path(script).write_text(FLOOR_APP)
    env = {**os.environ, "SLS_WORKSPACE": str(workspace), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    env.pop("SLS_TRACE", None)
    log = open(workspace.parent / f"streamlit-{k}.log", "w")   # noqa: SIM115 (closed below)
    out = {"run": k, "load": load()}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", script, "--server.port", str(port),
                             "--server.headless", "true", "--server.address", "127.0.0.1",
                             "--browser.gatherUsageStats", "false"], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    outside: list[str] = []
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.05)
            if proc.poll() is not None or time.perf_counter() - started > 120:
                raise RuntimeError("streamlit did not start")
        out["health_s"] = round(time.perf_counter() - started, 2)
        with sync_playwright() as p:
            xdg = workspace.parent / "xdg"
            b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS,
                                  env={**os.environ, "XDG_CONFIG_HOME": str(xdg / "c"), "XDG_CACHE_HOME": str(xdg / "k")})
            out["browser_s"] = round(time.perf_counter() - started, 2)
            page = b.new_page(viewport={"width": 1440, "height": 1600})
            phases: dict[str, float] = {}

            def frame(payload) -> None:   # the server's messages: when the script first spoke, and sent a figure
                now = round(time.perf_counter() - started, 2)
                phases.setdefault("first_message_s", now)
                raw = payload if isinstance(payload, bytes) else str(payload).encode()
                if b'"layout"' in raw:
                    phases.setdefault("figure_sent_s", now)

            def socket(ws) -> None:
                if "_stcore/stream" in ws.url:
                    phases.setdefault("socket_open_s", round(time.perf_counter() - started, 2))
                    ws.on("framereceived", frame)
            page.on("websocket", socket)

            def seen(request):
                host = urllib.parse.urlsplit(request.url).hostname
                if host not in ("127.0.0.1", None) and not request.url.startswith(("data:", "blob:")):
                    outside.append(request.url)
            page.on("request", seen)
            page.goto(url + "/", wait_until="domcontentloaded")
            out["page_loaded_s"] = round(time.perf_counter() - started, 2)
            page.locator(".js-plotly-plot").first.wait_for(timeout=300_000)
            t = time.perf_counter()
            out.update(phases)
            out["overview_first_figure_s"] = round(t - started, 2)
            out["overview_first_figure_from_health_s"] = round(t - started - out["health_s"], 2)
            idle(page)
            out["overview_idle_s"] = round(time.perf_counter() - started, 2)
            if floor:
                b.close()
                return {**out, "outside_requests": sorted(set(outside))}
            page.goto(url + "/what-if", wait_until="domcontentloaded")
            page.locator(".js-plotly-plot").first.wait_for(timeout=300_000)
            idle(page)
            before = figures(page)
            thumb = page.locator('[data-testid="stSlider"]').filter(has_text="Budget for the whole trace") \
                .get_by_role("slider")
            thumb.focus()
            t0 = time.perf_counter()
            thumb.press("ArrowRight")
            while figures(page) == before and time.perf_counter() - t0 < 300:
                time.sleep(0.02)
            out["whatif_figures_changed_s"] = round(time.perf_counter() - t0, 2)
            idle(page, quiet_s=0.3)
            out["whatif_step_s"] = round(time.perf_counter() - t0, 2)
            text = page.locator('[data-testid="stMarkdownContainer"]').all_inner_texts()
            out["whatif_step_kind"] = "lower bound" if any("at least" in x for x in text) else "exact"
            for path in PAGES:
                page.goto(f"{url}/{path}", wait_until="domcontentloaded")
                idle(page)
            b.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
    out["outside_requests"] = sorted(set(outside))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--workspace", type=Path, help="shared workspace (default: a new temporary folder)")
    ap.add_argument("--out", type=Path, help="write the JSON report here too")
    ap.add_argument("--floor", action="store_true",
                    help="measure only the first figure of a one-figure app (Streamlit + Chromium + Plotly alone)")
    args = ap.parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="sls-dash-timing-"))
    workspace = args.workspace or root / "workspace"
    workspace.mkdir(parents=True, exist_ok=True)
    runs = []
    for k in range(1, args.runs + 1):
        r = one_run(workspace, k, floor=args.floor)
        runs.append(r)
        sys.stdout.write(json.dumps(r) + "\n")
        sys.stdout.flush()
    warm = runs[1:] or runs
    keys = ("health_s", "browser_s", "page_loaded_s", "socket_open_s", "first_message_s", "figure_sent_s",
            "overview_first_figure_s", "overview_first_figure_from_health_s", "whatif_figures_changed_s",
            "whatif_step_s")
    keys = tuple(k for k in keys if all(k in r for r in runs))
    report = {"runs": runs, "cold": {k: runs[0].get(k) for k in keys},
              "warm_median": {k: statistics.median(r[k] for r in warm) for k in keys},
              "warm_runs": len(warm), "outside_requests": sorted({u for r in runs for u in r["outside_requests"]})}
    sys.stdout.write(json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=2) + "\n")
    if args.out:
        args.out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
