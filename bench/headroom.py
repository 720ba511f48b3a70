"""Headroom: what any online scheduler can reach on a trace, whatever it does about cost.

    python bench/headroom.py [TRACE ...] [--orders 200] [--seed 0] [--json]

(default traces: mbpp-dev, arc-dev and loghub-dev under `$SLS_DATA_DIR` or ../shared/data, and the
sample.) Accuracy only, cost ignored: an upper bound on what trading cost for quality can give.
Over `--orders` random orders of each trace's jobs, and separately per task and dataset (as the engine
learns: a model's record on one says little about another), these policies each pick one model per job:

* ``best-single``: the best model in hindsight (the target of the scheduler issue is 95% of it);
* ``ftl-full-info``: follow the leader with *full information*: before each job, the model with the best
  mean on all earlier jobs, having seen every model's outcome on every earlier job, which no online
  scheduler sees (it only learns the outcome of the model it called);
* ``thompson`` and ``ucb1``: textbook bandits (Beta(1, 1) posterior per model; mean + sqrt(2 ln t / n)),
  which start knowing nothing of the models and see only the called model's outcome, as the engine does;
* ``oracle``: the best model for each job, in hindsight.

With `--costs`, the same Thompson sampler also trades cost: it maximises a sampled success probability
minus λ × the model's mean cost / the median model's, knowing every model's mean cost from the first job
(the engine has to learn unpriced models' costs). Over a range of λ this gives the cost-accuracy frontier
of a textbook cost-aware bandit, to set beside the single models at equal cost.

For tasks whose answers compare by equality (multiple choice, classification), `--schemes` also lists the
hindsight frontier of the engine's second-opinion schemes: model A answers, model B answers too, and
model C decides when they disagree; for every cost, the best such triple chosen *knowing every outcome*.
Where even that frontier stays below a single model at equal cost, no scheduler of this kind can lie
above that model there.

Accuracy is over graded picks (an ungraded outcome is neither scored nor learned from, as in a replay).
For each policy: the median accuracy over orders, its 10th and 90th percentiles, and the share of orders
that reach 95% of the best single model. A trace whose best single
model stands clear of the others by less than the bandits can resolve in its number of jobs shows here:
even ``ftl-full-info`` falls short of the best single model, and the bandits further still.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGET_SHARE = 0.95
CLOSED_ANSWER_TASKS = {"multiple_choice", "text_classification"}
POLICIES = ("best-single", "ftl-full-info", "thompson", "ucb1", "oracle")


# Each policy takes one group's score matrix (jobs × models, NaN = ungraded) in arrival order and returns the
# index of the model it picks for each job.

def _ftl(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The full-information leader before each job (ties broken at random)."""
    n, m = scores.shape
    graded = ~np.isnan(scores)
    sums, counts = np.zeros(m), np.zeros(m)
    picks = np.empty(n, dtype=int)
    for i in range(n):
        means = np.divide(sums, counts, out=np.zeros(m), where=counts > 0)
        picks[i] = np.argmax(means + rng.random(m) * 1e-9)
        sums += np.where(graded[i], scores[i], 0.0)
        counts += graded[i]
    return picks


def _thompson(scores: np.ndarray, rng: np.random.Generator, penalty: np.ndarray | float = 0.0) -> np.ndarray:
    """The model with the best Beta(1 + successes, 1 + failures) draw minus `penalty` (a cost term)."""
    n, m = scores.shape
    wins, losses = np.ones(m), np.ones(m)
    picks = np.empty(n, dtype=int)
    for i in range(n):
        picks[i] = j = np.argmax(rng.beta(wins, losses) - penalty)
        s = scores[i, j]
        if s == s:                          # an ungraded outcome teaches nothing
            wins[j] += s
            losses[j] += 1.0 - s
    return picks


def _ucb1(scores: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Each model once (catalog order), then the best mean + sqrt(2 ln t / n)."""
    n, m = scores.shape
    sums, counts = np.zeros(m), np.zeros(m)
    picks = np.empty(n, dtype=int)
    for i in range(n):
        if i < m:
            j = i
        else:
            seen = np.maximum(counts, 1e-9)
            j = int(np.argmax(sums / seen + np.sqrt(2.0 * math.log(i) / seen) + rng.random(m) * 1e-9))
        picks[i] = j
        s = scores[i, j]
        if s == s:
            sums[j] += s
            counts[j] += 1.0
    return picks


def _picked(matrix: np.ndarray, picks: np.ndarray) -> np.ndarray:
    return matrix[np.arange(len(picks)), picks]


def _orders(groups: np.ndarray, orders: int, rng: np.random.Generator):
    """For each of `orders` job orders (the trace's own first, then random ones), the rows of each group
    in that order."""
    n = len(groups)
    names = np.unique(groups)
    for k in range(orders):
        order = np.arange(n) if k == 0 else rng.permutation(n)
        yield [order[groups[order] == name] for name in names]


_ONLINE = {"ftl-full-info": _ftl, "thompson": _thompson, "ucb1": _ucb1}
LAMBDAS = (0.0, 0.003, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2)


def cost_aware_frontier(scores: np.ndarray, costs: np.ndarray, groups: np.ndarray, *,
                        lambdas=LAMBDAS, orders: int = 30, seed: int = 0) -> list[dict]:
    """Median accuracy and spend of cost-aware Thompson sampling (known mean costs) at each λ."""
    scores, costs = np.asarray(scores, dtype=float), np.nan_to_num(np.asarray(costs, dtype=float))
    rng = np.random.default_rng(seed)
    points = []
    for lam in lambdas:
        accs, spends = [], []
        for per_group in _orders(groups, orders, rng):
            picked, spent = [], 0.0
            for rows in per_group:
                mean_cost = costs[rows].mean(axis=0)
                penalty = lam * mean_cost / (np.median(mean_cost) or 1.0)
                picks = _thompson(scores[rows], rng, penalty=penalty)
                picked.append(_picked(scores[rows], picks))
                spent += float(_picked(costs[rows], picks).sum())
            accs.append(float(np.nanmean(np.concatenate(picked))))
            spends.append(spent)
        points.append({"lambda": lam, "accuracy": float(np.median(accs)), "cost_usd": float(np.median(spends))})
    return points


def headroom(scores: np.ndarray, groups: np.ndarray, *, orders: int = 200, seed: int = 0) -> dict:
    """Accuracy of each policy over `orders` random job orders (the first is the trace's own order)."""
    scores = np.asarray(scores, dtype=float)
    n = len(scores)
    rng = np.random.default_rng(seed)
    graded = (~np.isnan(scores)).sum(axis=0)
    best = float(np.max(np.nansum(scores, axis=0) / np.maximum(graded, 1), where=graded > 0, initial=0.0))
    results: dict[str, list[float]] = {name: [] for name in _ONLINE}
    for per_group in _orders(groups, orders, rng):
        picked = {name: [] for name in _ONLINE}
        for rows in per_group:
            for name, policy in _ONLINE.items():
                picked[name].append(_picked(scores[rows], policy(scores[rows], rng)))
        for name in _ONLINE:
            results[name].append(float(np.nanmean(np.concatenate(picked[name]))))
    out = {"jobs": n, "models": int(scores.shape[1]), "orders": orders,
           "best-single": {"median": best}, "target": TARGET_SHARE * best,
           "oracle": {"median": float(np.nanmean(np.nanmax(scores, axis=1)))}}
    for name, values in results.items():
        arr = np.array(values)
        out[name] = {"median": float(np.median(arr)), "p10": float(np.percentile(arr, 10)),
                     "p90": float(np.percentile(arr, 90)), "own_order": float(arr[0]),
                     "share_reaching_target": float(np.mean(arr >= out["target"] - 1e-12))}
    return out


def agreement_frontier(trace) -> list[dict]:
    """Hindsight cost-accuracy frontier of "A and B answer, C decides when they disagree" over all triples.
    Answers agree as the engine's second opinions compare them (`answer_key`)."""
    from engine.scheduling.scheduler import answer_key
    scores = np.nan_to_num(trace.scores.astype(float), nan=0.0)
    costs = trace.costs.astype(float)
    keys = np.vectorize(lambda a: answer_key(str(a)), otypes=[object])(trace.outputs)
    names = trace.model_names
    schemes = []
    for a in range(len(names)):
        for b in range(len(names)):
            if b == a:
                continue
            agree = keys[:, a] == keys[:, b]
            for c in range(len(names)):
                if c in (a, b):
                    continue
                acc = float(np.where(agree, scores[:, a], scores[:, c]).mean())
                cost = float((costs[:, a] + costs[:, b] + np.where(agree, 0.0, costs[:, c])).sum())
                schemes.append((cost, -acc, names[a], names[b], names[c], float(agree.mean())))
    frontier, best = [], -1.0
    for cost, neg_acc, a, b, c, agree in sorted(schemes):
        if -neg_acc > best:
            best = -neg_acc
            frontier.append({"cost_usd": cost, "accuracy": best, "first": a, "second": b, "arbiter": c,
                             "agreement": agree})
    return frontier


def _default_traces() -> list[str]:
    data = Path(os.environ.get("SLS_DATA_DIR", str(ROOT.parent / "shared" / "data")))
    found = [str(data / name) for name in ("mbpp-dev", "arc-dev", "loghub-dev") if (data / name).is_dir()]
    return [*found, str(ROOT / "sample_data" / "demo")]


def main(argv: list[str] | None = None) -> int:
    from engine.traces import load_trace
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("traces", nargs="*", help="trace folders (default: the real traces found, and the sample)")
    parser.add_argument("--orders", type=int, default=200, help="random job orders per trace (default 200)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--costs", action="store_true",
                        help="also the frontier of cost-aware Thompson sampling over a range of λ")
    parser.add_argument("--schemes", action="store_true",
                        help="also the hindsight frontier of second-opinion schemes (closed-answer traces)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.orders < 1:
        parser.error("--orders must be at least 1")
    report = {}
    for path in args.traces or _default_traces():
        trace = load_trace(path)
        groups = (trace.queries["task"].astype(str) + "/" + trace.queries["dataset"].astype(str)).to_numpy()
        report[trace.name] = headroom(trace.scores, groups, orders=args.orders, seed=args.seed)
        if args.costs:
            report[trace.name]["cost_aware_thompson"] = cost_aware_frontier(
                trace.scores, trace.costs, groups, orders=min(args.orders, 30), seed=args.seed)
            report[trace.name]["singles"] = [
                {"model": m, "accuracy": float(np.nanmean(trace.scores[:, k])),
                 "cost_usd": float(np.nansum(trace.costs[:, k]))} for k, m in enumerate(trace.model_names)]
        if args.schemes and set(trace.queries["task"]) <= CLOSED_ANSWER_TASKS:
            report[trace.name]["schemes"] = agreement_frontier(trace)
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(f"{'trace':<14}{'jobs':>7}{'models':>7}  " + "".join(f"{p:>15}" for p in POLICIES)
          + f"{'95% target':>12}  reach target (ftl / thompson / ucb1)")
    for name, r in report.items():
        cells = "".join(f"{r[p]['median']:>15.4f}" for p in POLICIES)
        reach = " / ".join(f"{r[p]['share_reaching_target']:.2f}" for p in _ONLINE)
        print(f"{name:<14}{r['jobs']:>7}{r['models']:>7}  {cells}{r['target']:>12.4f}  {reach}")
    print(f"medians over {args.orders} job orders; accuracy only (cost ignored)")
    for name, r in report.items():
        if r.get("cost_aware_thompson"):
            print(f"\n{name}: cost-aware Thompson sampling (known mean costs), median over orders; single models")
            points = [(p["cost_usd"], p["accuracy"], f"thompson λ={p['lambda']:g}") for p in r["cost_aware_thompson"]]
            points += [(p["cost_usd"], p["accuracy"], p["model"]) for p in r["singles"]]
            for cost, acc, label in sorted(points):
                print(f"  ${cost:>8.3f}  {acc:.4f}  {label}")
        if r.get("schemes"):
            print(f"\n{name}: hindsight frontier of second-opinion schemes (A + B, C on disagreement)")
            for point in r["schemes"]:
                print(f"  ${point['cost_usd']:>8.3f}  {point['accuracy']:.4f}  {point['first']} + {point['second']}"
                      f" -> {point['arbiter']}  (agree {point['agreement']:.2f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
