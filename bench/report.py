"""Figures as data: each measured value beside a reference measured in the same run, a target where the
issue sets one, and the machine it ran on. Pure functions, plus the table printed at the end."""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections.abc import Sequence
from pathlib import Path

SCHEMA = "sls-bench/1"
_OPS = {">=": lambda v, t: v >= t, "<=": lambda v, t: v <= t}


def figure(fid: str, title: str, *, unit: str, better: str, values: Sequence[float], references: Sequence[float],
           reference_what: str, trace: str | None = None, jobs: int | None = None,
           target: tuple[str, float] | None = None, evaluate_target: bool = True,
           details: dict | None = None) -> dict:
    """One figure: the median of `values` over the repeats, the median of the `references` measured beside
    them (same process, same run), and the median of the per-repeat ratios value / reference.

    `target` is (">=" or "<=", threshold) in `unit`; `met` is None when the target is not evaluated
    (quick mode measures subsets, which say nothing about the full-size targets)."""
    if not values or len(values) != len(references):
        raise ValueError(f"{fid}: need as many references as values, got {len(values)} and {len(references)}")
    ratios = [v / r for v, r in zip(values, references, strict=True) if r]
    value = statistics.median(values)
    out = {
        "id": fid, "title": title, "trace": trace, "jobs": jobs,
        "value": _round(value), "unit": unit, "better": better,
        "reference": {"value": _round(statistics.median(references)), "unit": unit, "what": reference_what},
        "ratio": _round(statistics.median(ratios)) if ratios else None,
        "target": None, "met": None,
        "repeats": len(values), "samples": [_round(v) for v in values],
        "reference_samples": [_round(r) for r in references],
        "details": details or {},
    }
    if target is not None:
        op, threshold = target
        out["target"] = {"op": op, "value": threshold, "unit": unit}
        out["met"] = bool(_OPS[op](value, threshold)) if evaluate_target else None
    return out


def skipped(fid: str, title: str, reason: str, trace: str | None = None) -> dict:
    """A figure that could not be measured here, and why (e.g. "skipped: data not found at …")."""
    return {"id": fid, "title": title, "trace": trace, "skipped": reason}


def _round(x: float | None) -> float | None:
    if x is None or not math.isfinite(x):
        return x
    magnitude = abs(x)
    digits = 1 if magnitude >= 100 else 3 if magnitude >= 1 else 5
    return round(float(x), digits)


# -- the machine ------------------------------------------------------------------------------------------
def machine_info() -> dict:
    """CPU model, cores, RAM, OS, Python and the load at the time: what a figure has to be read against."""
    return {
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "os": _os_name(),
        "kernel": platform.release(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "blas_threads": {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
        "load_avg_1m_5m_15m": [round(x, 2) for x in os.getloadavg()],
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except (OSError, ValueError):
        pass
    return None


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


# -- the table --------------------------------------------------------------------------------------------
def _num(x: float | None) -> str:
    if x is None:
        return "—"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    if abs(x) >= 1:
        return f"{x:.2f}"
    return f"{x:.3f}"


def table_rows(figures: Sequence[dict]) -> list[list[str]]:
    """Rows (figure, value, reference, ratio, target, met) for the printed table and the README."""
    rows = []
    for f in figures:
        if "skipped" in f:
            rows.append([f["title"], f["skipped"], "", "", "", ""])
            continue
        ref = f["reference"]
        target = f["target"]
        met = "—" if f["met"] is None else ("yes" if f["met"] else "NO")
        rows.append([f["title"], f"{_num(f['value'])} {f['unit']}", f"{_num(ref['value'])} {f['unit']} ({ref['what']})",
                     _num(f["ratio"]), f"{target['op']} {_num(target['value'])} {target['unit']}" if target else "",
                     met if target else ""])
    return rows


def format_table(report: dict, width: int = 64) -> str:
    """A plain-text table of every figure, then the machine and the targets."""
    header = ["figure", "value", "reference (measured in the same run)", "ratio", "target", "met"]
    rows = [[c if len(c) <= width else c[:width - 1] + "…" for c in row] for row in table_rows(report["figures"])]
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    m = report["machine"]
    lines.append("")
    lines.append(f"machine: {m['cpu_model']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}, {m['python']}; "
                 f"load {m['load_avg_1m_5m_15m']} at start, {report['load_avg_at_end']} at end")
    lines.append(f"mode: {report['mode']} ({report['repeats']} repeat(s), medians); ratio = value / reference")
    met = [f for f in report["figures"] if f.get("target")]
    if met:
        lines.append("targets: " + "; ".join(
            f"{f['title']} {'met' if f['met'] else 'not met' if f['met'] is False else 'not evaluated'}"
            for f in met))
    return "\n".join(lines)
