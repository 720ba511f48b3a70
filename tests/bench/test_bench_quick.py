"""The benchmark suite in its reduced form (`python -m bench --quick`, about 10 s): it runs on the sample
trace, writes its JSON report where it is told, prints the table, and every figure is either measured
beside a reference or skipped with a reason. Timings themselves are not asserted (they belong to the
benchmark, not to a test), only that they are sane numbers."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_FIGURES = {"replay.sample", "sweep.sample", "whatif.sample", "whatif.page", "memory.peak",
                  *(f"overhead.sample.{n}.{q}" for n in (1000, 5000) for q in ("p50", "p95", "p99"))}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bench")
    out = tmp / "bench-quick.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    # no real traces here: their figures must be skipped, the sample's measured
    proc = subprocess.run([sys.executable, "-m", "bench", "--quick", "--data-dir", str(tmp / "no-data"),
                           "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text(encoding="utf-8")), proc.stdout, tmp


def measured(report):
    return [f for f in report["figures"] if "skipped" not in f]


def positive(x):
    return isinstance(x, int | float) and math.isfinite(x) and x > 0


def test_the_report_says_what_ran_and_where(run):
    report, _, _ = run
    assert report["schema"] == "sls-bench/1"
    assert report["mode"] == "quick" and report["repeats"] == 1
    assert report["failures"] == []
    machine = report["machine"]
    assert machine["cpu_model"] and machine["os"] and machine["python"].startswith("CPython 3.")
    assert machine["cores"] >= 1 and positive(machine["ram_gib"])


def test_the_sample_figures_are_all_measured(run):
    report, _, _ = run
    assert {f["id"] for f in measured(report)} == SAMPLE_FIGURES


def test_every_measured_figure_stands_beside_a_reference(run):
    report, _, _ = run
    for f in measured(report):
        ref = f["reference"]
        assert positive(f["value"]) and f["unit"], f
        assert positive(ref["value"]) and ref["unit"] == f["unit"] and ref["what"].strip(), f
        assert positive(f["ratio"]), f
        assert f["better"] in ("higher", "lower"), f
        assert f["repeats"] == 1 and len(f["samples"]) == len(f["reference_samples"]) == 1, f
        if f["target"] is not None:
            assert f["target"]["op"] in (">=", "<=") and positive(f["target"]["value"]), f
            assert f["met"] is None, "quick mode measures subsets: targets are not evaluated"


def test_the_issue_targets_are_attached_to_their_figures(run):
    report, _, _ = run
    targets = {f["id"]: f["target"] for f in measured(report) if f["target"]}
    assert targets == {"whatif.sample": {"op": "<=", "value": 1.5, "unit": "s"},
                       "whatif.page": {"op": "<=", "value": 1.5, "unit": "s"},
                       "memory.peak": {"op": "<=", "value": 1024.0, "unit": "MiB"}}


def test_missing_data_skips_those_figures_with_the_reason(run):
    report, _, tmp = run
    skipped = [f for f in report["figures"] if "skipped" in f]
    assert skipped and all(f["trace"] == "loghub-dev" for f in skipped)
    assert {f["id"] for f in skipped} >= {"replay.loghub-dev", "sweep.loghub-dev", "overhead.loghub-dev.1000.p95"}
    assert all(f["skipped"] == f"skipped: data not found at {tmp / 'no-data' / 'loghub-dev'}" for f in skipped)


def test_overhead_quantiles_are_ordered_and_the_cache_was_filled(run):
    report, _, _ = run
    by_id = {f["id"]: f for f in measured(report)}
    for n in (1000, 5000):
        p50, p95, p99 = (by_id[f"overhead.sample.{n}.{q}"]["value"] for q in ("p50", "p95", "p99"))
        assert p50 <= p95 <= p99
        assert by_id[f"overhead.sample.{n}.p95"]["details"]["entries_at_start"] >= 0.95 * n


def test_a_readable_table_is_printed(run):
    _, stdout, _ = run
    assert stdout.splitlines()[0].split()[:2] == ["figure", "value"]
    assert "machine:" in stdout and "What-if re-run, sample" in stdout
