"""Compute and keep the default trace's first results before the dashboard opens (`./dev up` runs this), so
the first visit after setup is a warm one: the Overview is drawn from kept results at once.

    .venv/bin/python -m dashboard.prepare

What is kept is exactly what the Overview asks for on a first visit — the quick baselines, the current run
(the default engine settings with the default budget), the published baselines and the pacing ablation —
under the same keys (`components.run_params` / `baseline_params`, `gateway.Gateway.result_key`), so
changing the trace, the catalog or the code invalidates it as it does for the pages. Results already kept
are not computed again, and when everything is kept the engine is not even imported.
"""

from __future__ import annotations

import logging
import sys
import time

# (streamlit-using modules are imported in the functions: outside a server, streamlit's caches say at import
# that they run without one — true and harmless — and `main` quiets that first)


def default_jobs(gw, ref) -> list[tuple[str, dict]]:
    """(policy, params) of the replays the Overview shows first for `ref` (a `gateway.TraceRef`) with the
    default settings (the quick baselines are kept apart: `Gateway.baselines`)."""
    from dashboard import components, data, gateway
    settings = components.default_engine_settings()
    key = gateway.trace_signature(ref.path)
    table = data.metrics_table(gw.baselines(key, gateway.params_key(components.baseline_params(settings))),
                               gw.policy_kinds())
    if settings.get("budget_usd") is None and not table.empty:      # as `components.default_budget` does
        settings["budget_usd"] = data.budget_options(table)[1]
    run = components.run_params(settings)
    jobs = [(components.current_policy(settings), run)]
    jobs += [(p, components.baseline_params(settings)) for p in gateway.PUBLISHED]
    if run.get("budget_usd") is not None and components.current_policy(settings) == "sls":
        jobs.append(("sls-no-pacing", run))
    return jobs


def prepare(say=print) -> int:
    """Keep the default trace's first results; returns how many replays ran (0: all were kept)."""
    from dashboard import gateway
    ref = gateway.default_trace_ref()
    if ref is None:
        return 0
    gw = gateway.Gateway()
    key = gateway.trace_signature(ref.path)
    t0 = time.perf_counter()
    jobs = default_jobs(gw, ref)
    todo = [(p, params) for p, params in jobs if gw.cached_metrics(gw.result_key(key, p, params, None)) is None]
    for i, (policy, params) in enumerate(todo, 1):
        if gw.policy_missing(policy):
            continue
        say(f"dashboard: replaying {policy} on {ref.label} ({i}/{len(todo)}, once per trace and code) …")
        gw.run_cached(key, policy, params)
    if todo:
        say(f"dashboard: {ref.label} ready in {time.perf_counter() - t0:.0f} s")
    return len(todo)


def main() -> int:
    from streamlit.runtime.caching import cache_data_api
    logging.getLogger(cache_data_api.__name__).setLevel(logging.ERROR)
    try:
        prepare(lambda text: print(text, file=sys.stderr, flush=True))
    except Exception as exc:     # the dashboard computes what is missing itself: never block `./dev up`
        print(f"dashboard: results not prepared ahead ({type(exc).__name__}: {exc})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
