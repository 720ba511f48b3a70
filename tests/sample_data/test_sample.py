"""The embedded demo trace (sample_data/demo): reproducible, well-formed, calibrated and honestly graded."""

from __future__ import annotations

import gzip
import importlib.util
import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
DEMO = SAMPLE / "demo"
FILES = ("models.csv", "queries.csv.gz", "outcomes.csv.gz", "EVENTS.json")
TASKS = {"log_parsing", "code_generation", "text_classification", "multiple_choice"}


def _ws(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def gen():
    """The generator module (for its documented calibration ranges and constants)."""
    spec = importlib.util.spec_from_file_location("demo_make_sample", SAMPLE / "make_sample.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module          # dataclasses look their module up while the class is built
    saved_path = list(sys.path)
    try:
        spec.loader.exec_module(module)      # the script puts its own folder on sys.path
    finally:
        sys.path[:] = saved_path
    return module


@pytest.fixture(scope="module")
def trace():
    read = {"keep_default_na": False, "dtype": str}
    models = pd.read_csv(DEMO / "models.csv", **read)
    queries = pd.read_csv(DEMO / "queries.csv.gz", **read)
    outcomes = pd.read_csv(DEMO / "outcomes.csv.gz", **read)
    for col in ("score", "cost_usd", "input_tokens", "output_tokens"):
        outcomes[col] = outcomes[col].astype(float)
    queries["index"] = range(len(queries))
    merged = outcomes.merge(queries, on="query_id", validate="many_to_one")
    events = json.loads((DEMO / "EVENTS.json").read_text(encoding="utf-8"))
    return {"models": models, "queries": queries, "outcomes": outcomes, "merged": merged, "events": events}


def _content(path):
    # Compare what the files say: gzip's compressed bytes can differ between zlib builds.
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def test_regenerating_gives_identical_files(tmp_path):
    out = tmp_path / "demo"
    subprocess.run([sys.executable, str(SAMPLE / "make_sample.py"), "--out", str(out), "--quiet"],
                   check=True, timeout=120)
    for name in FILES:
        assert _content(out / name) == _content(DEMO / name), f"{name} differs from the committed one"


def test_gzip_files_carry_no_timestamp_or_name():
    for name in ("queries.csv.gz", "outcomes.csv.gz"):
        header = (DEMO / name).read_bytes()[:10]
        assert header[:2] == b"\x1f\x8b"
        assert header[3] & 0x08 == 0, f"{name}: gzip header stores a file name"
        assert header[4:8] == b"\x00\x00\x00\x00", f"{name}: gzip header stores a timestamp"


def test_the_folder_is_commit_sized():
    total = sum(p.stat().st_size for p in DEMO.iterdir())
    assert total < 1.5e6


def test_shape_and_format(trace, gen):
    q, o, m = trace["queries"], trace["outcomes"], trace["models"]
    assert 2900 <= len(q) <= 3100
    assert set(q["task"]) == TASKS
    assert 6 <= len(m) <= 7
    assert list(m.columns[:5]) == ["model", "provider", "input_usd_per_mtok", "output_usd_per_mtok", "params_b"]
    assert q["query_id"].is_unique and m["model"].is_unique
    assert list(q["query_id"]) == [gen.QUERY_ID.format(i + 1) for i in range(len(q))]
    # one outcome per (query, model), nothing else
    assert len(o) == len(q) * len(m)
    assert not o.duplicated(["query_id", "model"]).any()
    assert set(o["model"]) == set(m["model"]) and set(o["query_id"]) == set(q["query_id"])
    assert (q["reference"] != "").all()
    is_cls = q["task"] == "text_classification"
    assert (q.loc[is_cls, "labels"] != "").all() and (q.loc[~is_cls, "labels"] == "").all()
    assert (o["latency_s"] == "").all(), "latency is modelled by the engine, not recorded"
    assert o["score"].isin([0.0, 1.0]).all()


def test_everything_is_labelled_simulated(trace):
    assert "SIMULATED" in (SAMPLE / "README.md").read_text(encoding="utf-8").splitlines()[0]
    assert trace["events"]["simulated"] is True
    assert (trace["models"]["provider"] == "simulated").all()
    assert trace["models"]["model"].str.startswith("sim-").all()
    assert trace["queries"]["dataset"].str.startswith("sim-").all()


def test_log_references_match_their_lines(trace):
    logs = trace["queries"][trace["queries"]["task"] == "log_parsing"]
    for line, ref in zip(logs["text"], logs["reference"], strict=True):
        pattern = "(?:.+?)".join(re.escape(part) for part in _ws(ref).split("<*>"))
        assert re.fullmatch(pattern, _ws(line), re.DOTALL), (line, ref)


def test_templates_recur(trace):
    """Zipf-like template frequencies: a template cache must be able to pay."""
    logs = trace["queries"][trace["queries"]["task"] == "log_parsing"]
    per_dataset = logs.groupby("dataset")["reference"].nunique()
    assert per_dataset.between(10, 40).all()
    assert len(per_dataset) >= 5
    counts = logs["reference"].value_counts()
    assert counts.iloc[:10].sum() > 0.3 * len(logs)


def test_scores_and_costs_follow_the_documented_rules(trace):
    mg, models = trace["merged"], trace["models"].set_index("model")
    exact = mg["task"].isin(["text_classification", "multiple_choice"])
    assert ((mg.loc[exact, "output"] == mg.loc[exact, "reference"]) == (mg.loc[exact, "score"] == 1.0)).all()
    logs = mg[mg["task"] == "log_parsing"]
    same = [_ws(a) == _ws(b) for a, b in zip(logs["output"], logs["reference"], strict=True)]
    assert (pd.Series(same, index=logs.index) == (logs["score"] == 1.0)).all()
    price_in = mg["model"].map(models["input_usd_per_mtok"].astype(float))
    price_out = mg["model"].map(models["output_usd_per_mtok"].astype(float))
    expected = (mg["input_tokens"] * price_in + mg["output_tokens"] * price_out) / 1e6
    assert ((mg["cost_usd"] - expected).abs() <= 1e-5 * expected + 1e-12).all()
    assert (mg["input_tokens"] > 0).all() and (mg["output_tokens"] > 0).all()


def test_accuracy_per_task_and_model_is_within_the_calibrated_ranges(trace, gen):
    acc = trace["merged"].groupby(["task", "model"])["score"].mean()
    for task, ranges in gen.EXPECTED_ACCURACY.items():
        for model, (lo, hi) in ranges.items():
            assert lo <= acc[(task, model)] <= hi, f"{task} {model}: {acc[(task, model)]:.3f} not in [{lo}, {hi}]"
    oracle = trace["merged"].groupby(["task", "query_id"])["score"].max().groupby("task").mean()
    for task, (lo, hi) in gen.ORACLE_EXPECTED.items():
        assert lo <= oracle[task] <= hi, f"{task} oracle {oracle[task]:.3f}"


def test_no_single_model_is_best_on_every_log_system(trace):
    logs = trace["merged"][trace["merged"]["task"] == "log_parsing"]
    best = logs.groupby(["dataset", "model"])["score"].mean().unstack().idxmax(axis=1)
    assert best.nunique() >= 3


def test_errors_correlate_with_template_difficulty(trace):
    logs = trace["merged"][trace["merged"]["task"] == "log_parsing"].copy()
    logs["variables"] = logs["reference"].str.count(re.escape("<*>"))
    few = logs[logs["variables"] <= 1]["score"].mean()
    many = logs[logs["variables"] >= 4]["score"].mean()
    assert many < few - 0.15


def test_drift_model_is_clearly_worse_after_the_drift_point(trace, gen):
    (drift,) = trace["events"]["drift"]
    q = trace["queries"]
    start = int(q.index[q["query_id"] == drift["from_query_id"]][0])
    assert start == drift["from_index"] == gen.DRIFT_INDEX
    rows = trace["merged"][(trace["merged"]["model"] == drift["model"]) & (trace["merged"]["task"] == drift["task"])]
    before = rows[rows["index"] < start]["score"].mean()
    after = rows[rows["index"] >= start]["score"].mean()
    assert gen.DRIFT_EXPECTED["before"][0] <= before <= gen.DRIFT_EXPECTED["before"][1]
    assert gen.DRIFT_EXPECTED["after"][0] <= after <= gen.DRIFT_EXPECTED["after"][1]
    assert after < before - 0.3
    assert (round(before, 3), round(after, 3)) == (drift["before"], drift["after"])


def test_newcomer_is_available_mid_stream_and_good_and_cheap_on_classification(trace):
    (intro,) = trace["events"]["model_introduced"]
    models = trace["models"].set_index("model")
    assert models.loc[intro["model"], "available_from"] == intro["available_from"]
    assert (models.drop(index=intro["model"])["available_from"] == "").all()
    q = trace["queries"]
    assert int(q.index[q["query_id"] == intro["available_from"]][0]) == intro["from_index"]
    cls = trace["merged"][trace["merged"]["task"] == "text_classification"]
    by_model = cls.groupby("model").agg(acc=("score", "mean"), cost=("cost_usd", "sum"))
    newcomer, frontier = by_model.loc[intro["model"]], by_model.loc["sim-frontier"]
    assert newcomer["acc"] >= frontier["acc"] - 0.05
    assert newcomer["cost"] < frontier["cost"] / 10


def test_code_generation_scores_are_honest(trace):
    code = trace["merged"][trace["merged"]["task"] == "code_generation"]
    rng = random.Random(7)
    passed = code[code["score"] == 1.0].index.tolist()
    failed = code[code["score"] == 0.0].index.tolist()
    sample = rng.sample(passed, 10) + rng.sample(failed, 10)
    for i in sample:
        row = code.loc[i]
        source = f"{row['output']}\n\n{row['reference']}\n"
        done = subprocess.run([sys.executable, "-I", "-c", source], capture_output=True, timeout=5, check=False)
        assert (done.returncode == 0) == (row["score"] == 1.0), (row["query_id"], row["model"])


def test_engine_loads_the_demo_trace():
    try:
        from engine.traces import load_trace
    except ImportError:
        pytest.skip("engine.traces.load_trace is not available yet")
    loaded = load_trace(DEMO)
    assert loaded.n_queries == 3000
    assert loaded.model_names == list(pd.read_csv(DEMO / "models.csv")["model"])
    newcomer = loaded.models[loaded.model_index("sim-newcomer-14b")]
    assert newcomer.extra.get("available_from") == "demo-01001"
