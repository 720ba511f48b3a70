"""Prequential evaluation of `engine.predictors` on recorded traces.

For every job, in arrival order: predict every model (timed), score the quality predictions against
the graded outcomes, then learn every model's outcome (timed). Quality is compared with two simple
references that see exactly the same stream:

* `ref_global`  — a running mean per model, (successes + 1) / (trials + 2) (add-one smoothed, so the
  first predictions are 0.5 rather than undefined, and no log-loss is infinite);
* `ref_dataset` — the same per (model, dataset).

Ungraded outcomes are neither scored nor learned. Log-loss clips probabilities to [1e-6, 1 - 1e-6].
Also reported: output-token MAE and bias, cost MAPE and total predicted / actual cost, timings, and
newcomer runs (each model in turn joins at the midpoint; its first predictions are scored).

    .venv/bin/python bench/predictor_eval.py --data-dir ../shared/data

The data directory holds one folder per trace (models.csv, queries.csv[.gz], outcomes.csv[.gz]).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from engine.catalog import ModelSpec
from engine.jobs import Job
from engine.predictors import Predictors, QualityPredictor, estimate_input_tokens, job_features

log = logging.getLogger("predictor_eval")

EPS = 1e-6
DEFAULT_TRACES = ("loghub-dev", "mbpp-dev", "arc-dev")
NEWCOMER_SCORED = 200
N_BINS = 10


@dataclass
class TraceData:
    """A trace as dense (job × model) matrices, NaN where a value is missing."""

    name: str
    specs: list[ModelSpec]
    jobs: list[Job]
    scores: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    costs: np.ndarray
    latency: np.ndarray


def _read(folder: Path, stem: str) -> pd.DataFrame:
    for name in (f"{stem}.csv", f"{stem}.csv.gz"):
        if (folder / name).is_file():
            return pd.read_csv(folder / name, keep_default_na=False, dtype=str)
    raise FileNotFoundError(f"{folder}: neither {stem}.csv nor {stem}.csv.gz")


def _num(value: str) -> float | None:
    return float(value) if value not in ("", None) else None


def load_trace(folder: Path) -> TraceData:
    """Read a trace folder (the format of ../shared/data/README.md) into matrices."""
    models = _read(folder, "models")
    specs = [ModelSpec(r.model, r.provider, _num(r.input_usd_per_mtok), _num(r.output_usd_per_mtok),
                       _num(r.params_b)) for r in models.itertuples()]
    queries = _read(folder, "queries")
    outcomes = _read(folder, "outcomes")
    names = [s.name for s in specs]

    def matrix(column: str) -> np.ndarray:
        values = pd.to_numeric(outcomes[column].replace("", np.nan), errors="coerce")
        table = outcomes.assign(_v=values).pivot(index="query_id", columns="model", values="_v")
        return table.reindex(index=queries["query_id"], columns=names).to_numpy(dtype=float)

    jobs = [Job(r.query_id, r.task, r.text, r.dataset, r.reference or None) for r in queries.itertuples()]
    return TraceData(folder.name, specs, jobs, matrix("score"), matrix("input_tokens"), matrix("output_tokens"),
                 matrix("cost_usd"), matrix("latency_s"))


def _loss(p: float, y: float) -> float:
    p = min(max(p, EPS), 1.0 - EPS)
    return -(y * math.log(p) + (1.0 - y) * math.log(1.0 - p))


@dataclass
class Scores:
    """Accumulated log-loss, Brier score and calibration bins of one predictor on one model."""

    n: int = 0
    loss: float = 0.0
    brier: float = 0.0
    bins: np.ndarray = field(default_factory=lambda: np.zeros((N_BINS, 3)))   # sum p, sum y, count

    def add(self, p: float, y: float) -> None:
        self.n += 1
        self.loss += _loss(p, y)
        self.brier += (p - y) ** 2
        row = self.bins[min(N_BINS - 1, int(p * N_BINS))]
        row += (p, y, 1.0)

    def merge(self, other: Scores) -> None:
        self.n += other.n
        self.loss += other.loss
        self.brier += other.brier
        self.bins += other.bins

    @property
    def ece(self) -> float:
        """Expected calibration error over `N_BINS` equal-width bins of the predicted probability."""
        sum_p, sum_y, count = self.bins.T
        used = count > 0
        return float(np.sum(np.abs(sum_p[used] - sum_y[used])) / max(1.0, count.sum()))


@dataclass
class Result:
    """Everything measured on one trace."""

    trace: str
    models: list[str]
    accuracy: dict[str, float] = field(default_factory=dict)
    ours: dict[str, Scores] = field(default_factory=dict)
    ref_global: dict[str, Scores] = field(default_factory=dict)
    ref_dataset: dict[str, Scores] = field(default_factory=dict)
    token_abs: float = 0.0
    token_bias: float = 0.0
    token_n: int = 0
    cost_ape: float = 0.0
    cost_pred: float = 0.0
    cost_true: float = 0.0
    cost_n: int = 0
    features_us: list[float] = field(default_factory=list)
    predict_us: list[float] = field(default_factory=list)
    learn_us: list[float] = field(default_factory=list)
    kappas: dict = field(default_factory=dict)


def _input_tokens(trace: TraceData, i: int) -> int:
    row = trace.input_tokens[i]
    known = row[np.isfinite(row)]
    return int(np.median(known)) if known.size else estimate_input_tokens(trace.jobs[i])


def evaluate(trace: TraceData, quality_kwargs: dict) -> Result:
    """Prequential run of a fresh `Predictors` over the whole trace."""
    predictors = Predictors(trace.specs, quality=QualityPredictor(**quality_kwargs))
    names = [s.name for s in trace.specs]
    res = Result(trace.name, names)
    for name in names:
        res.ours[name], res.ref_global[name], res.ref_dataset[name] = Scores(), Scores(), Scores()
    counts: dict[tuple, list[float]] = {}
    perf = time.perf_counter_ns
    for i, job in enumerate(trace.jobs):
        t0 = perf()
        job_features(job)
        t1 = perf()
        preds = predictors.predict(job, trace.specs, _input_tokens(trace, i))
        t2 = perf()
        res.features_us.append((t1 - t0) / 1e3)
        res.predict_us.append((t2 - t1) / 1e3)
        for j, spec in enumerate(trace.specs):
            pred = preds[spec.name]
            y, out, cost = trace.scores[i, j], trace.output_tokens[i, j], trace.costs[i, j]
            if math.isfinite(out):
                res.token_abs += abs(pred.output_tokens - out)
                res.token_bias += pred.output_tokens - out
                res.token_n += 1
            if math.isfinite(cost) and cost > 0:
                # scored at the model's own recorded prompt size where known: the predictor is under
                # test here, not the tokenizer-free prompt estimate passed to `predict`
                predicted = pred.cost_usd
                if math.isfinite(trace.input_tokens[i, j]):
                    predicted = predictors.cost.predict(job_features(job), spec, trace.input_tokens[i, j],
                                                        pred.output_tokens)
                res.cost_ape += abs(predicted - cost) / cost
                res.cost_pred += predicted
                res.cost_true += cost
                res.cost_n += 1
            if not math.isfinite(y):
                continue
            res.ours[spec.name].add(pred.p_success, y)
            for key, table in (((spec.name,), res.ref_global), ((spec.name, job.dataset), res.ref_dataset)):
                s, n = counts.get(key, (0.0, 0.0))
                table[spec.name].add((s + 1.0) / (n + 2.0), y)
                counts[key] = (s + y, n + 1.0)
        for j, spec in enumerate(trace.specs):
            t3 = perf()
            predictors.learn(job, spec, score=_nan_none(trace.scores[i, j]),
                             output_tokens=_nan_none(trace.output_tokens[i, j]),
                             input_tokens=_nan_none(trace.input_tokens[i, j]),
                             cost_usd=_nan_none(trace.costs[i, j]), latency_s=_nan_none(trace.latency[i, j]))
            res.learn_us.append((perf() - t3) / 1e3)
    for j, name in enumerate(names):
        graded = trace.scores[:, j][np.isfinite(trace.scores[:, j])]
        res.accuracy[name] = float(graded.mean()) if graded.size else float("nan")
    res.kappas = predictors.quality.kappas
    return res


def newcomer(trace: TraceData, j_new: int, quality_kwargs: dict) -> tuple[Scores, Scores, Scores]:
    """Model `j_new` joins at the midpoint; score its first `NEWCOMER_SCORED` graded predictions
    (ours, running mean per model, running mean per (model, dataset))."""
    newbie = trace.specs[j_new]
    others = [spec for j, spec in enumerate(trace.specs) if j != j_new]
    predictors = Predictors(others, quality=QualityPredictor(**quality_kwargs))
    start = len(trace.jobs) // 2
    ours, ref_g, ref_d = Scores(), Scores(), Scores()
    counts: dict[tuple, tuple[float, float]] = {}
    for i, job in enumerate(trace.jobs):
        if i == start:
            predictors.add_model(newbie)
        if i >= start:
            if ours.n >= NEWCOMER_SCORED:
                break
            y = trace.scores[i, j_new]
            if math.isfinite(y):
                ours.add(predictors.predict_one(job, newbie, _input_tokens(trace, i)).p_success, y)
                for key, table in (((newbie.name,), ref_g), ((newbie.name, job.dataset), ref_d)):
                    s, n = counts.get(key, (0.0, 0.0))
                    table.add((s + 1.0) / (n + 2.0), y)
                    counts[key] = (s + y, n + 1.0)
        for j, spec in enumerate(trace.specs):
            if j == j_new and i < start:
                continue
            predictors.learn(job, spec, score=_nan_none(trace.scores[i, j]),
                             output_tokens=_nan_none(trace.output_tokens[i, j]),
                             input_tokens=_nan_none(trace.input_tokens[i, j]),
                             cost_usd=_nan_none(trace.costs[i, j]), latency_s=None)
    return ours, ref_g, ref_d


def newcomers_report(trace: TraceData, quality_kwargs: dict) -> str:
    """Each model in turn joins at the midpoint: log-loss of its first predictions, all models pooled."""
    totals = [Scores(), Scores(), Scores()]
    better = 0
    for j in range(len(trace.specs)):
        runs = newcomer(trace, j, quality_kwargs)
        better += runs[0].loss < min(runs[1].loss, runs[2].loss)
        for total, run in zip(totals, runs, strict=True):
            total.merge(run)
    ours, ref_g, ref_d = totals
    return (f"newcomers (each model in turn joins at job {len(trace.jobs) // 2}; its first "
            f"{NEWCOMER_SCORED} graded predictions): log-loss {ours.loss / ours.n:.4f} vs "
            f"{ref_g.loss / ref_g.n:.4f} (global) and {ref_d.loss / ref_d.n:.4f} (per dataset); "
            f"better than both for {better}/{len(trace.specs)} models")


def _nan_none(value: float) -> float | None:
    return None if not math.isfinite(value) else float(value)


def _row(label: str, n: int, acc: float, ours: Scores, ref_g: Scores, ref_d: Scores) -> str:
    def avg(s: Scores, attr: str) -> float:
        return getattr(s, attr) / s.n if s.n else float("nan")

    return (f"{label[:34]:<34} {n:>7} {acc:>5.3f} | {avg(ours, 'loss'):>7.4f} {avg(ref_g, 'loss'):>7.4f} "
            f"{avg(ref_d, 'loss'):>7.4f} | {avg(ours, 'brier'):>7.4f} {avg(ref_g, 'brier'):>7.4f} "
            f"{avg(ref_d, 'brier'):>7.4f}")


def _total(scores: dict[str, Scores]) -> Scores:
    total = Scores()
    for s in scores.values():
        total.merge(s)
    return total


def report(res: Result) -> str:
    """The per-model table of one trace, plus token, cost and timing lines."""
    head = (f"{'model':<34} {'graded':>7} {'acc':>5} | {'LL ours':>7} {'LL glob':>7} {'LL ds':>7} | "
            f"{'BS ours':>7} {'BS glob':>7} {'BS ds':>7}")
    lines = [f"== {res.trace}", head, "-" * len(head)]
    for name in res.models:
        lines.append(_row(name, res.ours[name].n, res.accuracy[name], res.ours[name], res.ref_global[name],
                          res.ref_dataset[name]))
    ours, ref_g, ref_d = _total(res.ours), _total(res.ref_global), _total(res.ref_dataset)
    mean_acc = statistics.fmean(v for v in res.accuracy.values() if math.isfinite(v))
    lines += ["-" * len(head), _row("ALL", ours.n, mean_acc, ours, ref_g, ref_d)]
    beats = sum(res.ours[m].loss < min(res.ref_global[m].loss, res.ref_dataset[m].loss) for m in res.models)
    lines.append(f"log-loss beats both references on {beats}/{len(res.models)} models; overall "
                 f"{ours.loss / ours.n:.4f} vs {ref_g.loss / ref_g.n:.4f} (global) and "
                 f"{ref_d.loss / ref_d.n:.4f} (per dataset)")
    lines.append(f"calibration error (ECE, {N_BINS} bins): {ours.ece:.4f} vs {ref_g.ece:.4f} (global) and "
                 f"{ref_d.ece:.4f} (per dataset)")
    if res.token_n:
        lines.append(f"output tokens: MAE {res.token_abs / res.token_n:.2f}, bias {res.token_bias / res.token_n:+.2f}")
    else:
        lines.append("output tokens: not recorded in this trace (predictions are task defaults)")
    if res.cost_n:
        lines.append(f"cost: MAPE {100 * res.cost_ape / res.cost_n:.1f} %, total predicted / actual "
                     f"{res.cost_pred / res.cost_true:.3f}")
    n_models = len(res.models)
    lines.append(
        f"timing: features {statistics.fmean(res.features_us):.0f} us/job (once per job); predict "
        f"{n_models} models {statistics.fmean(res.predict_us):.0f} us/job (p95 "
        f"{np.percentile(res.predict_us, 95):.0f}); learn {statistics.fmean(res.learn_us):.0f} us/event "
        f"(p95 {np.percentile(res.learn_us, 95):.0f})")
    kappa_text = "; ".join(f"{task}: " + ", ".join(f"{k} {v:.1f}" for k, v in levels.items())
                           for task, levels in res.kappas.items())
    lines.append(f"empirical-Bayes concentrations: {kappa_text}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    repo = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("SLS_DATA_DIR", repo.parent / "shared" / "data")),
                        help="folder holding one sub-folder per trace (default: $SLS_DATA_DIR or ../shared/data)")
    parser.add_argument("--traces", nargs="*", default=list(DEFAULT_TRACES), help="trace folder names")
    parser.add_argument("--discount", type=float, default=1.0, help="quality counts' forgetting factor")
    parser.add_argument("--no-newcomers", action="store_true", help="skip the mid-stream newcomer runs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)

    quality_kwargs = {"discount": args.discount}
    found = [name for name in args.traces if (args.data_dir / name).is_dir()]
    for name in sorted(set(args.traces) - set(found)):
        log.warning("trace %s not found under %s: skipped", name, args.data_dir)
    if not found:
        log.error("no trace to evaluate under %s (use --data-dir)", args.data_dir)
        return 2
    log.info("prequential evaluation (predict every model, then learn every outcome, in arrival order); "
             "LL = log-loss, BS = Brier score; glob / ds = running mean per model / per (model, dataset)")
    for name in found:
        trace = load_trace(args.data_dir / name)
        started = time.perf_counter()
        res = evaluate(trace, quality_kwargs)
        log.info("%s\n(%d jobs x %d models in %.1f s)\n", report(res), len(trace.jobs), len(trace.specs),
                 time.perf_counter() - started)
        if not args.no_newcomers:
            log.info("%s\n", newcomers_report(trace, quality_kwargs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
