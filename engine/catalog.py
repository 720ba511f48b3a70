"""The model catalog: prices, size and a latency model for every candidate model.

Latency model (used wherever a trace records no latency, and always labelled "modelled"):
    latency_s = base_s + per_output_token_s * output_tokens
Defaults by size (documented in the README), from typical hosted-inference figures:

| size (params_b)  | base_s | per_output_token_s |
|------------------|--------|--------------------|
| unknown          | 0.60   | 0.020              |
| < 10             | 0.25   | 0.008              |
| 10 – 40          | 0.35   | 0.012              |
| 40 – 100         | 0.50   | 0.018              |
| >= 100           | 0.80   | 0.030              |
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from engine.errors import SettingsError, UnknownNameError
from engine.jobs import is_valid_text
from engine.prices import list_prices, size_from_name

LATENCY_DEFAULTS_BY_SIZE: tuple[tuple[float, float, float], ...] = (
    # (upper bound of params_b, base_s, per_output_token_s)
    (10.0, 0.25, 0.008),
    (40.0, 0.35, 0.012),
    (100.0, 0.50, 0.018),
    (math.inf, 0.80, 0.030),
)
LATENCY_DEFAULT_UNKNOWN = (0.60, 0.020)
#: The highest price a catalog accepts, USD per million tokens (a dollar a token): anything above is a unit
#: mistake, and a price near the float limit turned a call's cost into infinity.
MAX_PRICE_USD_PER_MTOK = 1_000_000.0
_NUMBER_FIELDS = ("input_usd_per_mtok", "output_usd_per_mtok", "params_b", "latency_base_s", "latency_per_token_s",
                  "list_input_usd_per_mtok", "list_output_usd_per_mtok")


def default_latency(params_b: float | None) -> tuple[float, float]:
    """(base_s, per_output_token_s) for a model of this size."""
    if params_b is None or not math.isfinite(params_b) or params_b <= 0:
        return LATENCY_DEFAULT_UNKNOWN
    for bound, base, per_token in LATENCY_DEFAULTS_BY_SIZE:
        if params_b < bound:
            return base, per_token
    return LATENCY_DEFAULT_UNKNOWN




@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One catalog entry. Prices are USD per million tokens; None means unknown (cost then comes from
    recorded or reported usage only), 0 means free (the model's calls cost nothing and fit any budget).

    Validated on construction (`SettingsError`): a non-empty name; numbers finite, >= 0 and not bools
    (prices at most `MAX_PRICE_USD_PER_MTOK`); provider, api_model and tier strings.
    """

    name: str
    provider: str
    input_usd_per_mtok: float | None = None
    output_usd_per_mtok: float | None = None
    params_b: float | None = None
    latency_base_s: float | None = None
    latency_per_token_s: float | None = None
    api_model: str | None = None     # the provider's model id for live calls (e.g. "claude-haiku-4-5")
    tier: str | None = None          # "cheap" | "mid" | "top", informative
    # List prices from the price database (`engine.prices`) where the catalog or trace gives none: a prior
    # only (cheapness order, the cost predictor's start, the quality prior's price feature); never charged.
    list_input_usd_per_mtok: float | None = None
    list_output_usd_per_mtok: float | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.strip() or not is_valid_text(self.name):
            raise SettingsError(f"a catalog model needs a name (non-empty text), got {self.name!r}")
        for field_name in ("provider", "api_model", "tier"):
            value = getattr(self, field_name)
            if not (isinstance(value, str) and is_valid_text(value)) and not (value is None and field_name != "provider"):
                raise SettingsError(f"model '{self.name}': {field_name} must be text, got {value!r}")
        for field_name in _NUMBER_FIELDS:
            value = getattr(self, field_name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value < 0:
                raise SettingsError(f"model '{self.name}': {field_name} must be a finite number >= 0 "
                                    f"(or null when unknown), got {value!r}")
            if field_name.endswith("_usd_per_mtok") and value > MAX_PRICE_USD_PER_MTOK:
                raise SettingsError(f"model '{self.name}': {field_name} is {value!r} USD per million tokens, more "
                                    f"than {MAX_PRICE_USD_PER_MTOK:,.0f}; prices are USD per million tokens")
            object.__setattr__(self, field_name, float(value))

    @property
    def latency_model(self) -> tuple[float, float]:
        base, per_token = default_latency(self.params_b)
        return (self.latency_base_s if self.latency_base_s is not None else base,
                self.latency_per_token_s if self.latency_per_token_s is not None else per_token)

    @property
    def has_prices(self) -> bool:
        return self.input_usd_per_mtok is not None and self.output_usd_per_mtok is not None

    def cost(self, input_tokens: float, output_tokens: float) -> float | None:
        """USD for a call with this usage, or None when the prices are unknown."""
        if not self.has_prices:
            return None
        return (input_tokens * self.input_usd_per_mtok + output_tokens * self.output_usd_per_mtok) / 1e6

    def modelled_latency(self, output_tokens: float) -> float:
        base, per_token = self.latency_model
        return base + per_token * max(0.0, output_tokens)

    @property
    def blended_price(self) -> float | None:
        """A single price per million tokens (input weighted 3:1 over output), for ordering by cheapness: from
        the given prices, else from the list prices."""
        if self.has_prices:
            return 0.75 * self.input_usd_per_mtok + 0.25 * self.output_usd_per_mtok
        if self.list_input_usd_per_mtok is not None and self.list_output_usd_per_mtok is not None:
            return 0.75 * self.list_input_usd_per_mtok + 0.25 * self.list_output_usd_per_mtok
        return None


# Live models shipped with the product. List prices (USD / million tokens) as published by Anthropic.
ANTHROPIC_MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("claude-haiku-4-5", "anthropic", 1.0, 5.0, None, 0.35, 0.006, "claude-haiku-4-5", "cheap"),
    ModelSpec("claude-sonnet-4-5", "anthropic", 3.0, 15.0, None, 0.60, 0.012, "claude-sonnet-4-5", "mid"),
    ModelSpec("claude-opus-4-5", "anthropic", 5.0, 25.0, None, 0.90, 0.020, "claude-opus-4-5", "top"),
)


class Catalog:
    """An ordered, name-indexed set of `ModelSpec`s."""

    def __init__(self, models: Iterable[ModelSpec]):
        self._models: dict[str, ModelSpec] = {}
        for spec in models:
            if spec.name in self._models:
                raise SettingsError(f"catalog: model '{spec.name}' is listed twice")
            self._models[spec.name] = spec

    def __iter__(self):
        return iter(self._models.values())

    def __len__(self) -> int:
        return len(self._models)

    def __contains__(self, name: object) -> bool:
        return name in self._models

    @property
    def names(self) -> list[str]:
        return list(self._models)

    def get(self, name: str) -> ModelSpec:
        try:
            return self._models[name]
        except KeyError:
            raise UnknownNameError(
                f"unknown model '{name}'; the catalog has: {', '.join(self._models) or '(none)'}") from None

    def with_model(self, spec: ModelSpec) -> Catalog:
        """A copy with `spec` added or replacing the entry of the same name."""
        models = dict(self._models)
        models[spec.name] = spec
        return Catalog(models.values())

    def updated(self, name: str, **changes) -> Catalog:
        return self.with_model(replace(self.get(name), **changes))

    @classmethod
    def from_trace_models(cls, rows) -> Catalog:
        """Catalog of a trace's models.csv rows (`engine.traces.model.ModelRow`), with what is known before
        the first call where a row leaves it empty (`with_known_facts`)."""
        return cls(with_known_facts(ModelSpec(r.model, r.provider, r.input_usd_per_mtok, r.output_usd_per_mtok,
                                              r.params_b, _opt_float(r.extra.get("latency_base_s")),
                                              _opt_float(r.extra.get("latency_per_token_s"))))
                   for r in rows)

    @classmethod
    def default(cls) -> Catalog:
        return cls(ANTHROPIC_MODELS)

    def to_json(self) -> str:
        return json.dumps([asdict(m) for m in self], indent=2)

    @classmethod
    def from_json(cls, text: str, source: str = "catalog", *, require_prices: bool = False) -> Catalog:
        """A catalog from a JSON list of models. `require_prices`: every entry must give both prices (0 for a
        free model) — a live model without prices would be called at an unknown cost, counted as 0."""
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SettingsError(f"{source}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
        except RecursionError:
            raise SettingsError(f"{source}: not valid JSON (nested too deeply)") from None
        if not isinstance(items, list):
            raise SettingsError(f"{source}: expected a JSON list of models")
        specs = []
        for i, item in enumerate(items, 1):
            if not isinstance(item, dict) or "name" not in item or "provider" not in item:
                raise SettingsError(f"{source}: entry {i} needs at least 'name' and 'provider'")
            unknown = set(item) - set(ModelSpec.__dataclass_fields__)
            if unknown:
                raise SettingsError(f"{source}: entry {i} has unknown keys {sorted(unknown)}")
            if require_prices:
                missing = [k for k in ("input_usd_per_mtok", "output_usd_per_mtok") if item.get(k) is None]
                if missing:
                    raise SettingsError(f"{source}: entry {i} ({item['name']!r}) has no {' or '.join(missing)}; "
                                        "a model called live needs both prices in USD per million tokens "
                                        "(0 for a free model), or its calls would count as free")
            try:
                specs.append(ModelSpec(**item))
            except SettingsError as exc:
                raise SettingsError(f"{source}: entry {i}: {exc}") from None
        return cls(specs)

    @classmethod
    def load(cls, path: str | Path) -> Catalog:
        """The catalog file `SLS_CATALOG` names: the live models, so every entry needs both prices."""
        path = Path(path)
        if not path.is_file():
            raise SettingsError(f"catalog file {path} does not exist")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise SettingsError(f"catalog file {path} cannot be read as UTF-8 text ({exc})") from None
        return cls.from_json(text, source=str(path), require_prices=True)


def with_known_facts(spec: ModelSpec) -> ModelSpec:
    """`spec` with the list prices of the price database when it has no prices, and the size its name states
    when it has none (`engine.prices`)."""
    changes = {}
    if not spec.has_prices and spec.list_input_usd_per_mtok is None:
        listed = list_prices(spec.name, spec.provider)
        if listed is not None:
            changes["list_input_usd_per_mtok"], changes["list_output_usd_per_mtok"] = listed
    if spec.params_b is None:
        size = size_from_name(spec.name)
        if size is not None:
            changes["params_b"] = size
    return replace(spec, **changes) if changes else spec


def _opt_float(value) -> float | None:
    if value is None or value == "":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
