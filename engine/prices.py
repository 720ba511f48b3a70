"""What is known about a model before its first call: list prices from a maintained price database, and the
size its name states.

A trace or catalog that leaves a model's prices empty (RouterBench traces record only what each call cost)
should not mean a scheduler that knows nothing about it: `genai-prices` (Pydantic's price database, its
snapshot is bundled with the package — no request leaves the machine) knows most well-known models. Its
prices are *list prices*: they order models by cheapness and give the cost predictor and the quality
prior their starting point, but what a call costs is still learned from the calls (a trace's recorded
costs, a provider's reported usage) — a host may charge more or less than the list.

Looked up as written and without its organisation prefix (`mistralai/mixtral-8x7b-chat` → `mixtral-8x7b-chat`)
and a trailing `-chat`, first at the model's own provider, then at any provider, then at two hosts of
open models (Together, OpenRouter). A model the database does not know stays unpriced.
"""

from __future__ import annotations

import re
from functools import lru_cache

PRICE_DATABASE = "genai-prices"
_HOSTS = ("together", "openrouter")
_CHAT_SUFFIX = re.compile(r"-chat$", re.IGNORECASE)
_MIXTURE = re.compile(r"(?<![\w.])(\d+)x(\d+(?:\.\d+)?)b(?![a-z])", re.IGNORECASE)
_SIZE = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)b(?![a-z])", re.IGNORECASE)


def _refs(name: str) -> list[str]:
    base = name.rsplit("/", 1)[-1]
    refs = [name]
    for ref in (base, _CHAT_SUFFIX.sub("", base)):
        if ref and ref not in refs:
            refs.append(ref)
    return refs


@lru_cache(maxsize=1024)
def list_prices(name: str, provider: str | None = None) -> tuple[float, float] | None:
    """(input, output) list price in USD per million tokens of the model `name` served by `provider`, or None
    when the price database does not know it.

    >>> list_prices("gpt-3.5-turbo-1106", "openai")
    (1.0, 2.0)
    >>> list_prices("no-such-model-anywhere") is None
    True
    """
    from genai_prices import Usage, calc_price  # imported on first use: most runs never need it

    for host in dict.fromkeys((provider, None, *_HOSTS)):
        for ref in _refs(name):
            try:
                per_input = calc_price(Usage(input_tokens=1_000_000, output_tokens=0), ref, provider_id=host)
                per_output = calc_price(Usage(input_tokens=0, output_tokens=1_000_000), ref, provider_id=host)
            except (LookupError, ValueError):
                continue
            return float(per_input.total_price), float(per_output.total_price)
    return None


def size_from_name(name: str) -> float | None:
    """Billions of parameters a model's name states (`llama-2-70b-chat` → 70; a mixture `mixtral-8x7b` → 56,
    the sum of its experts), or None when it states none.

    >>> size_from_name("meta/llama-2-70b-chat"), size_from_name("mixtral-8x7b"), size_from_name("gpt-4")
    (70.0, 56.0, None)
    """
    mixture = _MIXTURE.search(name)
    if mixture:
        return float(mixture.group(1)) * float(mixture.group(2))
    size = _SIZE.search(name)
    return float(size.group(1)) if size else None
