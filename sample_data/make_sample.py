"""Write the embedded demo trace (SIMULATED data) in the project's trace format.

    python sample_data/make_sample.py [--out sample_data/demo] [--seed N] [--quiet]

Deterministic: the same seed gives byte-identical files (gzip is written with mtime 0 and no file name).
Standard library only. Nothing here is copied from a real corpus: the log systems, problems, tickets and
quiz questions are written for the demo (see demo_logs.py, demo_code.py, demo_text.py), and model outcomes
are drawn from a documented skill model (below), then graded honestly:

* log parsing: ``score`` = 1 when the post-processed ``output`` equals the reference after collapsing
  whitespace;
* code generation: ``score`` = 1 when ``output`` (the extracted code) followed by the reference asserts exits
  with status 0 under ``python -I -c`` within 5 s (each distinct program is really run once);
* classification and multiple choice: ``score`` = 1 when the parsed label/letter equals the reference.

Skill model. For job j and model m, P(m intends a correct answer) = sigmoid(c[m, task, dataset, segment]
+ h[item] + a[m, item] + e[j] - beta_task * beta_m * (difficulty_j - mean difficulty)), where `item` is the
log template / code problem / text (so errors repeat per template, as with real models), h is hardness
shared by all models (it keeps the per-query oracle realistic), a a model-specific affinity and e a
per-job effect. The intercepts c are solved so that each model's accuracy per dataset meets TARGETS.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import math
import os
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import demo_code  # noqa: E402
import demo_logs  # noqa: E402
import demo_text  # noqa: E402

SEED = 20240611
N_LOG, N_CODE, N_TICKETS, N_REVIEWS, N_QUIZ = 1800, 300, 380, 260, 260
DRIFT_MODEL, DRIFT_TASK, DRIFT_INDEX = "sim-medium-34b", "log_parsing", 1500   # 0-based arrival index
NEWCOMER, NEWCOMER_INDEX = "sim-newcomer-14b", 1000
QUERY_ID = "demo-{:05d}"   # 1-based: index i has id QUERY_ID.format(i + 1)
CODE_TIMEOUT_S = 5


@dataclass(frozen=True)
class ModelDef:
    name: str
    input_usd_per_mtok: float
    output_usd_per_mtok: float
    params_b: float | None
    token_factor: float                      # tokenizer differences: tokens per 4 characters
    log_style: dict                          # named / quote / junk probabilities of log answers
    log_errors: dict                         # error kind -> weight
    label_junk: float                        # chance a classification answer names a distractor first
    code_styles: dict                        # completion style -> weight
    beta: float = 1.0                        # sensitivity to difficulty (reasoners are less sensitive)
    hidden_tokens: dict = field(default_factory=dict)   # task -> (lo, hi) billed reasoning tokens


MODELS: tuple[ModelDef, ...] = (
    ModelDef("sim-tiny-1b", 0.05, 0.10, 1.0, 1.08, {"named": 0.5, "quote": 0.25, "junk": 0.12},
             {"under": 35, "drop": 20, "over": 20, "tail": 10, "merge": 15}, 0.30,
             {"unfenced": 3, "fenced": 3, "fenced_usage": 2, "doctest_after": 2}, 1.2),
    ModelDef("sim-small-8b", 0.20, 0.20, 8.0, 1.0, {"named": 0.6, "quote": 0.2, "junk": 0.08},
             {"under": 35, "over": 25, "drop": 15, "tail": 10, "merge": 15}, 0.20,
             {"unfenced": 2, "fenced": 4, "fenced_usage": 2, "doctest_after": 2}, 1.1),
    ModelDef("sim-medium-34b", 0.80, 0.80, 34.0, 1.05, {"named": 0.3, "quote": 0.15, "junk": 0.04},
             {"under": 30, "over": 35, "merge": 20, "drop": 5, "tail": 10}, 0.10,
             {"fenced": 5, "fenced_usage": 2, "bare_fence": 2, "unfenced": 1}),
    ModelDef("sim-large-70b", 0.90, 0.90, 70.0, 1.0, {"named": 0.6, "quote": 0.1, "junk": 0.05},
             {"under": 40, "over": 30, "merge": 20, "drop": 10}, 0.10,
             {"fenced": 5, "fenced_usage": 3, "unfenced": 1, "doctest_after": 1}),
    ModelDef("sim-frontier", 10.0, 30.0, None, 0.95, {"named": 0.1, "quote": 0.1, "junk": 0.02},
             {"over": 50, "merge": 30, "under": 20}, 0.03,
             {"fenced": 5, "bare_fence": 3, "fenced_usage": 2}, 0.8),
    ModelDef("sim-reasoner", 15.0, 60.0, None, 0.95, {"named": 0.1, "quote": 0.05, "junk": 0.05},
             {"over": 40, "merge": 30, "under": 30}, 0.05,
             {"fenced": 6, "bare_fence": 3, "fenced_usage": 1}, 0.6,
             {"log_parsing": (120, 380), "code_generation": (400, 1400), "text_classification": (80, 260),
              "multiple_choice": (150, 700)}),
    ModelDef(NEWCOMER, 0.25, 0.25, 14.0, 1.02, {"named": 0.4, "quote": 0.2, "junk": 0.06},
             {"under": 35, "over": 25, "drop": 15, "tail": 10, "merge": 15}, 0.05,
             {"fenced": 4, "fenced_usage": 3, "unfenced": 2, "bare_fence": 1}),
)
MODEL_NAMES = tuple(m.name for m in MODELS)

# After the drift point the medium model answers chattily and over-generalises (e.g. a bad model update).
DRIFT_STYLE = {"named": 0.3, "quote": 0.1, "junk": 0.35}
DRIFT_ERRORS = {"over": 30, "tail": 40, "merge": 30}

_LOG_SYSTEMS = tuple(demo_logs.SYSTEMS)
# Target accuracies (score means) per task and dataset, in MODEL_NAMES order; see the module docstring.
_T = dict(zip(MODEL_NAMES, range(len(MODEL_NAMES)), strict=True))
TARGETS: dict[tuple[str, str], tuple[float, ...]] = {
    # log parsing           tiny  small  medium large frontier reasoner newcomer
    ("log_parsing", "sim-webserver"):    (0.62, 0.82, 0.92, 0.84, 0.85, 0.78, 0.70),
    ("log_parsing", "sim-orchestrator"): (0.25, 0.45, 0.86, 0.62, 0.66, 0.64, 0.40),
    ("log_parsing", "sim-database"):     (0.30, 0.50, 0.88, 0.66, 0.64, 0.62, 0.45),
    ("log_parsing", "sim-sshd"):         (0.50, 0.70, 0.74, 0.90, 0.80, 0.76, 0.62),
    ("log_parsing", "sim-javaapp"):      (0.10, 0.20, 0.40, 0.38, 0.50, 0.60, 0.22),
    ("log_parsing", "sim-storage"):      (0.15, 0.28, 0.45, 0.45, 0.62, 0.55, 0.25),
    ("code_generation", "sim-pyfuncs"):  (0.22, 0.38, 0.52, 0.48, 0.66, 0.70, 0.45),
    ("text_classification", "sim-support-tickets"): (0.50, 0.70, 0.82, 0.84, 0.91, 0.89, 0.90),
    ("text_classification", "sim-product-reviews"): (0.62, 0.76, 0.84, 0.80, 0.88, 0.90, 0.87),
    ("multiple_choice", "sim-science-quiz"): (0.45, 0.68, 0.90, 0.84, 0.95, 0.96, 0.78),
}
# The drifted model's log-parsing targets from DRIFT_INDEX on.
DRIFT_TARGETS = {"sim-webserver": 0.45, "sim-orchestrator": 0.28, "sim-database": 0.28, "sim-sshd": 0.30,
                 "sim-javaapp": 0.10, "sim-storage": 0.15}

# Hardness structure per task: (sigma shared item hardness, sigma model affinity, sigma job effect, beta).
LATENT = {
    "log_parsing": (1.5, 0.6, 0.7, 0.8),
    "code_generation": (2.2, 0.6, 0.8, 0.5),
    "text_classification": (2.0, 0.5, 1.0, 0.9),
    "multiple_choice": (2.0, 0.5, 0.8, 0.8),
}
TRAP_PENALTY = 6.0    # extra shared hardness of demo_logs.TRAPS templates
PROMPT_OVERHEAD_TOKENS = {"log_parsing": 85, "code_generation": 45, "text_classification": 70,
                          "multiple_choice": 40}

# Accuracy ranges per task and model that the generated trace must fall in (checked by the tests and
# documented in sample_data/README.md). For the drift model, log parsing is also checked per segment.
EXPECTED_ACCURACY: dict[str, dict[str, tuple[float, float]]] = {
    #                         tiny          small         medium        large         frontier      reasoner      newcomer
    "log_parsing": dict(zip(MODEL_NAMES, (
        (0.30, 0.40), (0.47, 0.58), (0.50, 0.62), (0.60, 0.70), (0.65, 0.75), (0.61, 0.71), (0.40, 0.50)),
        strict=True)),
    "code_generation": dict(zip(MODEL_NAMES, (
        (0.14, 0.28), (0.32, 0.46), (0.45, 0.60), (0.44, 0.58), (0.58, 0.73), (0.63, 0.78), (0.37, 0.52)),
        strict=True)),
    "text_classification": dict(zip(MODEL_NAMES, (
        (0.48, 0.60), (0.65, 0.76), (0.77, 0.87), (0.77, 0.87), (0.86, 0.95), (0.82, 0.92), (0.83, 0.93)),
        strict=True)),
    "multiple_choice": dict(zip(MODEL_NAMES, (
        (0.37, 0.53), (0.62, 0.77), (0.84, 0.95), (0.80, 0.92), (0.90, 0.99), (0.91, 0.99), (0.70, 0.84)),
        strict=True)),
}
ORACLE_EXPECTED = {"log_parsing": (0.82, 0.90), "code_generation": (0.80, 0.92)}
DRIFT_EXPECTED = {"before": (0.65, 0.85), "after": (0.20, 0.40)}


@dataclass
class Job:
    task: str
    dataset: str
    text: str
    reference: str
    labels: str
    item: str
    difficulty: float
    payload: dict


# --------------------------------------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------------------------------------
def log_jobs(system: str, n: int, rng: random.Random) -> list[Job]:
    """`n` lines of `system`: Zipf-like template frequencies, with short runs of the same template."""
    templates = demo_logs.SYSTEMS[system][1]
    ranks = list(range(len(templates)))
    rng.shuffle(ranks)
    weights = [1.0 / (r + 1) ** 1.1 for r in ranks]
    values = demo_logs.Values(rng)
    jobs, prev = [], None
    for _ in range(n):
        t = prev if prev is not None and rng.random() < 0.3 else rng.choices(range(len(templates)), weights)[0]
        prev = t
        line, used = demo_logs.fill(templates[t], values, system)
        jobs.append(Job("log_parsing", system, line, demo_logs.reference_of(templates[t]), "",
                        f"{system}#{t:02d}", demo_logs.difficulty(templates[t]),
                        {"template": templates[t], "values": used, "trap": templates[t] in demo_logs.TRAPS}))
    return jobs


def code_jobs(n: int, rng: random.Random) -> list[Job]:
    problems = list(demo_code.PROBLEMS)
    weights = [1.0 / (i + 1) ** 0.5 for i in range(len(problems))]
    rng.shuffle(weights)
    jobs = []
    for _ in range(n):
        p = rng.choices(problems, weights)[0]
        jobs.append(Job("code_generation", "sim-pyfuncs", demo_code.job_text(p, rng.choice(p.requests)),
                        p.reference, "", p.pid, float(p.difficulty), {"problem": p}))
    return jobs


def text_jobs(maker, n: int, rng: random.Random) -> list[Job]:
    jobs = []
    for _ in range(n):
        it = maker(rng)
        jobs.append(Job("text_classification", it.dataset, it.text, it.label, "|".join(it.labels),
                        f"{it.dataset}#{it.text}", it.difficulty, {"item": it}))
    return jobs


def quiz_jobs(n: int, rng: random.Random) -> list[Job]:
    jobs = []
    for _ in range(n):
        q = demo_text.make_quiz(rng)
        jobs.append(Job("multiple_choice", "sim-science-quiz", q.text, q.answer, "", q.text.split("\n")[0],
                        q.difficulty, {"quiz": q}))
    return jobs


def interleave(streams: dict[str, list[Job]], mean_burst: dict[str, float], rng: random.Random) -> list[Job]:
    """Merge the streams in bursts: pick a stream in proportion to what it has left, emit a geometric run."""
    queues = {k: list(v) for k, v in streams.items()}
    pos = dict.fromkeys(queues, 0)
    out: list[Job] = []
    names = sorted(queues)
    while True:
        left = [len(queues[k]) - pos[k] for k in names]
        if not any(left):
            return out
        k = rng.choices(names, weights=left)[0]
        burst = 1
        while rng.random() > 1.0 / mean_burst[k]:
            burst += 1
        take = min(burst, len(queues[k]) - pos[k])
        out.extend(queues[k][pos[k]:pos[k] + take])
        pos[k] += take


def build_jobs(seed: int) -> list[Job]:
    streams: dict[str, list[Job]] = {}
    bursts: dict[str, float] = {}
    for system in _LOG_SYSTEMS:
        streams[system] = log_jobs(system, demo_logs.SYSTEMS[system][0], random.Random(f"{seed}:logs:{system}"))
        bursts[system] = 14.0
    streams["code"] = code_jobs(N_CODE, random.Random(f"{seed}:code"))
    streams["tickets"] = text_jobs(demo_text.make_ticket, N_TICKETS, random.Random(f"{seed}:tickets"))
    streams["reviews"] = text_jobs(demo_text.make_review, N_REVIEWS, random.Random(f"{seed}:reviews"))
    streams["quiz"] = quiz_jobs(N_QUIZ, random.Random(f"{seed}:quiz"))
    bursts.update(code=4.0, tickets=8.0, reviews=6.0, quiz=5.0)
    return interleave(streams, bursts, random.Random(f"{seed}:order"))


# --------------------------------------------------------------------------------------------------------
# Who gets what right
# --------------------------------------------------------------------------------------------------------
def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x > -40 else 0.0


def _solve_intercept(offsets: list[float], target: float) -> float:
    """c such that mean(sigmoid(c + o)) == target (bisection; the mean is increasing in c)."""
    target = min(max(target, 0.005), 0.995)
    lo, hi = -20.0, 20.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if sum(_sigmoid(mid + o) for o in offsets) / len(offsets) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _format_loss(model: ModelDef, job: Job, drifted: bool) -> float:
    """Expected share of intended-correct answers that the recorded post-processing spoils."""
    if job.task == "log_parsing":
        return (DRIFT_STYLE if drifted else model.log_style)["junk"]
    if job.task == "text_classification":
        return model.label_junk * 0.5 if job.payload["item"].distractor else 0.0
    return 0.0


def intended_correct(jobs: list[Job], seed: int) -> list[list[bool]]:
    """correct[j][m]: does model m intend a correct answer on job j (before formatting mishaps)."""
    lat = random.Random(f"{seed}:latent")
    items = sorted({(j.task, j.item) for j in jobs})
    shared = {key: lat.gauss(0, LATENT[key[0]][0]) for key in items}
    trap_items = {(j.task, j.item) for j in jobs if j.payload.get("trap")}
    for key in sorted(trap_items):
        shared[key] -= TRAP_PENALTY
    affinity = {(m.name, key): lat.gauss(0, LATENT[key[0]][1]) for m in MODELS for key in items}
    job_effect = [lat.gauss(0, LATENT[j.task][2]) for j in jobs]
    mean_diff: dict[tuple[str, str], float] = {}
    for key in TARGETS:
        ds = [j.difficulty for j in jobs if (j.task, j.dataset) == key]
        mean_diff[key] = sum(ds) / len(ds)

    correct = [[False] * len(MODELS) for _ in jobs]
    for mi, m in enumerate(MODELS):
        groups: dict[tuple, list[int]] = {}
        for idx, j in enumerate(jobs):
            drifted = m.name == DRIFT_MODEL and j.task == DRIFT_TASK and idx >= DRIFT_INDEX
            groups.setdefault((j.task, j.dataset, drifted), []).append(idx)
        draw = random.Random(f"{seed}:draw:{m.name}")
        for (task, dataset, drifted), idxs in sorted(groups.items()):
            beta = LATENT[task][3] * m.beta
            offsets = [shared[(task, jobs[i].item)] + affinity[(m.name, (task, jobs[i].item))] + job_effect[i]
                       - beta * (jobs[i].difficulty - mean_diff[(task, dataset)]) for i in idxs]
            target = DRIFT_TARGETS[dataset] if drifted else TARGETS[(task, dataset)][mi]
            loss = sum(_format_loss(m, jobs[i], drifted) for i in idxs) / len(idxs)
            c = _solve_intercept(offsets, target / (1.0 - loss))
            for i, o in zip(idxs, offsets, strict=True):
                correct[i][mi] = draw.random() < _sigmoid(c + o)
    return correct


# --------------------------------------------------------------------------------------------------------
# What they answer
# --------------------------------------------------------------------------------------------------------
def _weighted(rng: random.Random, weights: dict) -> str:
    keys = sorted(weights)
    return rng.choices(keys, [weights[k] for k in keys])[0]


def answer_log(job: Job, model: ModelDef, ok: bool, drifted: bool, rng: random.Random,
               seed: int) -> tuple[str, str]:
    template, values = job.payload["template"], job.payload["values"]
    kinds = demo_logs.slot_types(template)
    if ok:
        answer = job.reference
    else:
        weights = DRIFT_ERRORS if drifted else model.log_errors
        # The same model tends to make the same mistake on the same template.
        habit = random.Random(f"{seed}:habit:{model.name}:{drifted}:{job.item}")
        preferred = "over" if job.payload["trap"] and habit.random() < 0.6 else _weighted(habit, weights)
        order = [preferred if rng.random() < 0.75 else _weighted(rng, weights)]
        order += [k for k in sorted(weights, key=lambda k: -weights[k]) if k not in order] + ["drop", "over"]
        answer = ""
        for kind in order:
            answer = demo_logs.wrong_template(template, values, kind, habit)
            if answer and demo_logs.normalize_ws(answer) != demo_logs.normalize_ws(job.reference):
                break
        if not answer:
            answer = job.reference + " " + demo_logs.WILDCARD
    raw = demo_logs.render_raw(answer, kinds, DRIFT_STYLE if drifted else model.log_style, rng)
    return raw, demo_logs.postprocess(raw)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(w.title() for w in rest)


def answer_code(job: Job, model: ModelDef, ok: bool, rng: random.Random, seed: int) -> tuple[str, str]:
    p: demo_code.Problem = job.payload["problem"]
    if ok:
        code = p.correct
    elif model.name in ("sim-tiny-1b", "sim-small-8b") and rng.random() < 0.15:
        # Names the function its own way, so the tests cannot find it.
        own = _camel(p.func) if "_" in p.func else "solution"
        code = p.correct.replace(f"def {p.func}(", f"def {own}(")
    else:
        habit = random.Random(f"{seed}:habit:{model.name}:{p.pid}")
        k = habit.randrange(len(p.wrong)) if rng.random() < 0.7 else rng.randrange(len(p.wrong))
        code = p.wrong[k]
    raw = demo_code.render_completion(code, p, _weighted(rng, model.code_styles), rng)
    return raw, demo_code.extract_code(raw)


def answer_label(job: Job, model: ModelDef, ok: bool, rng: random.Random) -> tuple[str, str]:
    it: demo_text.TextItem = job.payload["item"]
    label = it.label if ok else demo_text.confusion(it, rng)
    other = it.distractor if ok else None
    raw = demo_text.render_label(label, other, model.label_junk, rng)
    return raw, demo_text.parse_label(raw, it.labels)


def answer_choice(job: Job, ok: bool, rng: random.Random) -> tuple[str, str]:
    q: demo_text.QuizItem = job.payload["quiz"]
    if ok:
        letter = q.answer
    elif rng.random() < 0.6:
        letter = q.near_miss
    else:
        letter = rng.choice([c for c in "ABCD" if c != q.answer])
    options = {line[0]: line[3:] for line in job.text.split("\n")[1:]}
    raw = demo_text.render_choice(letter, options[letter], q.work if ok else "", rng)
    return raw, demo_text.parse_choice(raw)


@dataclass
class Outcome:
    output: str
    raw: str
    score: float | None
    input_tokens: int
    output_tokens: int
    cost: float


def run_program(source: str) -> bool:
    """True when `source` runs to completion (exit status 0) in an isolated interpreter within the timeout."""
    try:
        done = subprocess.run([sys.executable, "-I", "-S", "-c", source], capture_output=True,
                              timeout=CODE_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


def run_programs(sources: list[str]) -> dict[str, bool]:
    distinct = sorted(set(sources))
    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(distinct, pool.map(run_program, distinct), strict=True))


def check_problems(verdicts: dict[str, bool]) -> None:
    """Every correct solution passes its tests and every wrong variant fails one (else the data would lie)."""
    for p in demo_code.PROBLEMS:
        if not verdicts[demo_code.program(p.correct, p.reference)]:
            raise SystemExit(f"demo_code: the correct solution of '{p.pid}' fails its tests")
        for k, w in enumerate(p.wrong):
            if verdicts[demo_code.program(w, p.reference)]:
                raise SystemExit(f"demo_code: wrong variant {k} of '{p.pid}' passes all its tests")


def check_templates() -> None:
    """The clean answer to every template survives post-processing (so errors come only from the model)."""
    for system, (_, templates) in demo_logs.SYSTEMS.items():
        refs = set()
        for t in templates:
            ref = demo_logs.reference_of(t)
            if ref in refs:
                raise SystemExit(f"demo_logs: duplicate template in {system}: {ref}")
            refs.add(ref)
            for wrapped in (ref, f'"{ref}"', f"Template: {ref}", f"`{ref}`\n"):
                if demo_logs.postprocess(wrapped) != demo_logs.normalize_ws(ref):
                    raise SystemExit(f"demo_logs: post-processing spoils the clean answer {wrapped!r}")


def make_outcomes(jobs: list[Job], seed: int) -> list[list[Outcome]]:
    correct = intended_correct(jobs, seed)
    rngs = {m.name: random.Random(f"{seed}:render:{m.name}") for m in MODELS}
    pending: list[tuple[int, int, str, str]] = []
    rows: list[list[Outcome]] = []
    for idx, job in enumerate(jobs):
        row = []
        for mi, m in enumerate(MODELS):
            rng, ok = rngs[m.name], correct[idx][mi]
            drifted = m.name == DRIFT_MODEL and job.task == DRIFT_TASK and idx >= DRIFT_INDEX
            if job.task == "log_parsing":
                raw, out = answer_log(job, m, ok, drifted, rng, seed)
                score = 1.0 if demo_logs.normalize_ws(out) == demo_logs.normalize_ws(job.reference) else 0.0
            elif job.task == "code_generation":
                raw, out = answer_code(job, m, ok, rng, seed)
                score = None   # graded below by running the program
                pending.append((idx, mi, out, job.reference))
            elif job.task == "text_classification":
                raw, out = answer_label(job, m, ok, rng)
                score = 1.0 if out == job.reference else 0.0
            else:
                raw, out = answer_choice(job, ok, rng)
                score = 1.0 if out == job.reference else 0.0
            tin = round((len(job.text) / 4 + PROMPT_OVERHEAD_TOKENS[job.task]) * m.token_factor)
            tout = max(1, round(len(raw) / 3.6 * m.token_factor))
            if job.task in m.hidden_tokens:
                lo, hi = m.hidden_tokens[job.task]
                harder = 0.7 + 0.15 * job.difficulty if job.task == "code_generation" else 1.0
                tout += round(rng.uniform(lo, hi) * harder)
            cost = (tin * m.input_usd_per_mtok + tout * m.output_usd_per_mtok) / 1e6
            row.append(Outcome(out, raw, score, tin, tout, cost))
        rows.append(row)

    programs = [demo_code.program(out, ref) for _, _, out, ref in pending]
    programs += [demo_code.program(src, p.reference)
                 for p in demo_code.PROBLEMS for src in (p.correct, *p.wrong)]
    verdicts = run_programs(programs)
    check_problems(verdicts)
    for idx, mi, out, ref in pending:
        rows[idx][mi].score = 1.0 if verdicts[demo_code.program(out, ref)] else 0.0
    return rows


# --------------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------------
def _csv_bytes(header: list[str], rows) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8")


def _write_gz(path: Path, data: bytes) -> None:
    with open(path, "wb") as f, gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=9) as gz:
        gz.write(data)


def _num(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def accuracy_table(jobs: list[Job], rows: list[list[Outcome]]) -> dict:
    """{task: {model: (accuracy, cost_usd)}} plus the per-query oracle per task."""
    table: dict = {}
    for task in sorted({j.task for j in jobs}):
        idxs = [i for i, j in enumerate(jobs) if j.task == task]
        per = {}
        for mi, m in enumerate(MODELS):
            per[m.name] = (sum(rows[i][mi].score for i in idxs) / len(idxs), sum(rows[i][mi].cost for i in idxs))
        per["oracle"] = (sum(max(o.score for o in rows[i]) for i in idxs) / len(idxs), None)
        table[task] = per
    return table


def segment_accuracy(jobs, rows, model: str, task: str, start: int, stop: int) -> float:
    mi = MODEL_NAMES.index(model)
    s = [rows[i][mi].score for i in range(start, stop) if jobs[i].task == task]
    return sum(s) / len(s)


def write_trace(out: Path, seed: int) -> dict:
    check_templates()
    jobs = build_jobs(seed)
    rows = make_outcomes(jobs, seed)
    out.mkdir(parents=True, exist_ok=True)
    ids = [QUERY_ID.format(i + 1) for i in range(len(jobs))]

    models_csv = _csv_bytes(
        ["model", "provider", "input_usd_per_mtok", "output_usd_per_mtok", "params_b", "available_from"],
        [[m.name, "simulated", _num(m.input_usd_per_mtok), _num(m.output_usd_per_mtok), _num(m.params_b),
          ids[NEWCOMER_INDEX] if m.name == NEWCOMER else ""] for m in MODELS])
    (out / "models.csv").write_bytes(models_csv)
    _write_gz(out / "queries.csv.gz", _csv_bytes(
        ["query_id", "task", "dataset", "text", "reference", "labels"],
        [[qid, j.task, j.dataset, j.text, j.reference, j.labels] for qid, j in zip(ids, jobs, strict=True)]))
    _write_gz(out / "outcomes.csv.gz", _csv_bytes(
        ["query_id", "model", "output", "raw_output", "score", "input_tokens", "output_tokens", "cost_usd",
         "latency_s"],
        [[qid, m.name, o.output, o.raw, f"{o.score:.1f}", o.input_tokens, o.output_tokens, f"{o.cost:.6g}", ""]
         for qid, row in zip(ids, rows, strict=True) for m, o in zip(MODELS, row, strict=True)]))

    before = segment_accuracy(jobs, rows, DRIFT_MODEL, DRIFT_TASK, 0, DRIFT_INDEX)
    after = segment_accuracy(jobs, rows, DRIFT_MODEL, DRIFT_TASK, DRIFT_INDEX, len(jobs))
    events = {
        "simulated": True,
        "description": "Events built into the SIMULATED demo trace by sample_data/make_sample.py.",
        "seed": seed,
        "drift": [{"model": DRIFT_MODEL, "task": DRIFT_TASK, "from_query_id": ids[DRIFT_INDEX],
                   "from_index": DRIFT_INDEX, "before": round(before, 3), "after": round(after, 3)}],
        "model_introduced": [{"model": NEWCOMER, "available_from": ids[NEWCOMER_INDEX],
                              "from_index": NEWCOMER_INDEX}],
    }
    (out / "EVENTS.json").write_text(json.dumps(events, indent=2) + "\n", encoding="utf-8")
    return {"jobs": jobs, "rows": rows, "events": events, "table": accuracy_table(jobs, rows)}


def print_summary(result: dict, out: Path, seconds: float) -> None:
    jobs = result["jobs"]
    print(f"wrote {out} ({len(jobs)} jobs x {len(MODELS)} models) in {seconds:.1f} s")
    for name in ("models.csv", "queries.csv.gz", "outcomes.csv.gz", "EVENTS.json"):
        print(f"  {name:16s} {(out / name).stat().st_size:>9,d} bytes")
    for task, per in result["table"].items():
        n = sum(j.task == task for j in jobs)
        print(f"\n{task} ({n} jobs)          accuracy   cost_usd")
        for model, (acc, cost) in per.items():
            print(f"  {model:18s} {acc:8.3f}   {'' if cost is None else f'{cost:9.4f}'}")
    d = result["events"]["drift"][0]
    print(f"\ndrift: {d['model']} on {d['task']} from {d['from_query_id']}: {d['before']:.3f} -> {d['after']:.3f}")
    print(f"newcomer: {NEWCOMER} available from {result['events']['model_introduced'][0]['available_from']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the SIMULATED demo trace.")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "demo")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    result = write_trace(args.out, args.seed)
    if not args.quiet:
        print_summary(result, args.out, time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
