"""Features of jobs and of models, as River-style dicts.

`job_features(job)` describes the input of a job; `model_features(spec)` describes a candidate model. Both
return plain dicts so River estimators can consume them directly. Job features mix three kinds of keys:

* categorical strings under `CATEGORICAL_KEYS` — `task`, `dataset` and `shape` (a stable hash of the text
  with its variable-like tokens masked: two log lines of the same template usually share a shape);
* continuous numbers under `CONTINUOUS_KEYS` (log lengths, character ratios, variable counts), meant to
  be standardised by the consumer;
* binary indicators (`len_b=<k>` length bucket, `w=<h>` hashed words), 1.0 when present.

Job features are cached per job (id, task, dataset, text), so asking for them once per candidate model
costs one dict lookup. The returned dicts are shared: treat them as read-only.
"""

from __future__ import annotations

import functools
import math
import re
import zlib
from collections.abc import Mapping

from engine.catalog import ModelSpec
from engine.jobs import Job

CATEGORICAL_KEYS: tuple[str, ...] = ("task", "dataset", "shape")
CONTINUOUS_KEYS: tuple[str, ...] = (
    "log_chars", "log_tokens", "digit_ratio", "symbol_ratio", "upper_ratio", "log_vars", "var_ratio",
)
N_WORD_BUCKETS = 256         # hashed word features: few buckets keep the crossed models small
MAX_WORDS = 24               # words hashed per job (the first and last halves of its distinct words)
LEN_BUCKETS = 8              # length buckets: log2(chars) // 1.5, capped
FEATURE_CACHE_SIZE = 8192

# Variable-like substrings, most specific first: UUIDs, IPv4 (with port), hex literals, paths, negative
# numbers, decimals, hex-ish tokens holding a digit, and digit runs not glued to a letter ("blk_123" and
# "blk_-123" yes, "jk2" no). Masking them gives the "shape" of a line. The leading look-ahead is a cheap
# first-character filter (2x faster).
_VARIABLE = re.compile(
    r"(?=[0-9a-fA-F/\-])(?:"
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?"
    r"|0[xX][0-9a-fA-F]+"
    r"|(?:/[\w.\-]+){2,}/?"
    r"|(?<![A-Za-z0-9])-\d+(?:\.\d+)?"
    r"|(?<![A-Za-z])\d+\.\d+"
    r"|\b[0-9a-fA-F]*\d[0-9a-fA-F]*\b"
    r"|(?<![A-Za-z])\d+"
    r")"
)
_WORD = re.compile(r"[A-Za-z_][A-Za-z_]+")
_SPACE = re.compile(r"\s+")
_CHAR_CLASS = str.maketrans({
    chr(c): "d" if chr(c).isdigit() else "u" if chr(c).isupper() else "l" if chr(c).isalnum()
    else "s" if chr(c).isspace() else "p"
    for c in range(128)
})


def stable_hash(text: str) -> int:
    """A hash that is the same in every process (Python's `hash` of a str is salted per process)."""
    return zlib.crc32(text.encode("utf-8", "surrogatepass"))


def mask_variables(text: str) -> str:
    """`text` with variable-like tokens (numbers, hex, IPs, paths, UUIDs) replaced by `<*>`, spaces collapsed."""
    return _SPACE.sub(" ", _VARIABLE.sub("<*>", text)).strip()


def job_features(job: Job) -> dict:
    """Features of `job` (see the module docstring), cached per job; do not mutate the result."""
    return _job_features(job.job_id, job.task, job.dataset, job.text)


@functools.lru_cache(maxsize=FEATURE_CACHE_SIZE)
def _job_features(job_id: str, task: str, dataset: str, text: str) -> dict:
    del job_id  # part of the cache key only
    n_chars = len(text)
    tokens = text.split()
    n_tokens = len(tokens)
    # One C-level pass classifies ASCII characters (non-ASCII ones count as symbols).
    classes = text.translate(_CHAR_CLASS)
    digits, upper = classes.count("d"), classes.count("u")
    symbols = n_chars - digits - upper - classes.count("l") - classes.count("s")
    masked, n_vars = _VARIABLE.subn("<*>", text)
    masked = _SPACE.sub(" ", masked).strip()
    denom = max(1, n_chars)
    feats: dict = {
        "task": task,
        "dataset": dataset,
        "shape": f"{stable_hash(masked):08x}",
        "log_chars": math.log1p(n_chars),
        "log_tokens": math.log1p(n_tokens),
        "digit_ratio": digits / denom,
        "symbol_ratio": symbols / denom,
        "upper_ratio": upper / denom,
        "log_vars": math.log1p(n_vars),
        "var_ratio": n_vars / max(1, n_tokens),
        f"len_b={min(LEN_BUCKETS - 1, int(math.log2(n_chars + 1) / 1.5))}": 1.0,
    }
    words = list(dict.fromkeys(w.lower() for w in _WORD.findall(masked)))
    if len(words) > MAX_WORDS:
        half = MAX_WORDS // 2
        words = words[:half] + words[-half:]
    for word in words:
        feats[f"w={stable_hash(word) % N_WORD_BUCKETS}"] = 1.0
    return feats


def clear_feature_cache() -> None:
    """Forget every cached job's features (tests, or after a very long run)."""
    _job_features.cache_clear()


TIER_RANK = {"cheap": -1.0, "mid": 0.0, "top": 1.0}


def model_features(spec: ModelSpec, running: Mapping[str, float] | None = None) -> dict[str, float]:
    """Features of a candidate model.

    `log_price` is log10 of the blended USD/Mtok price (0 at $1), `log_params` log10 of the size relative
    to 30B parameters; each has an `*_unknown` flag instead when the catalog does not say. Provider and
    tier are one-hot; `tier_rank` is -1/0/+1 for cheap/mid/top. `running` adds caller-supplied running
    statistics (e.g. `{"acc": 0.71}` → `run_acc`).
    """
    feats: dict[str, float] = {}
    price = spec.blended_price
    if price is None:
        feats["price_unknown"] = 1.0
    else:
        feats["log_price"] = math.log10(max(price, 1e-3))
    if spec.params_b is None or spec.params_b <= 0:
        feats["params_unknown"] = 1.0
    else:
        feats["log_params"] = math.log10(spec.params_b / 30.0)
    feats[f"provider={spec.provider}"] = 1.0
    if spec.tier:
        feats[f"tier={spec.tier}"] = 1.0
        if spec.tier in TIER_RANK:
            feats["tier_rank"] = TIER_RANK[spec.tier]
    if running:
        for key, value in running.items():
            feats[f"run_{key}"] = float(value)
    return feats
