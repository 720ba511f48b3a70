"""Bad input for the model catalog (`ModelSpec`, `Catalog.from_json`, `Catalog.load` = `SLS_CATALOG`).

Outcomes asserted here:

| input | outcome |
|---|---|
| price 0 | a free model: every call costs 0.0 and fits any budget (defined behaviour) |
| price None (unknown) in a trace or the dashboard's edited catalog | allowed: costs come from the trace's records |
| price missing or null in the `SLS_CATALOG` file (live models) | `SettingsError` naming the entry: a live model without prices would be called at an unknown cost, counted as 0 |
| price NaN, ±inf, negative, a bool, a string | `SettingsError` naming the model and the field |
| price above 1,000,000 USD per million tokens | `SettingsError` (1e308 made a call's cost infinite and crashed the budget ledger) |
| empty or non-text name, non-text provider/api_model/tier, lone surrogates | `SettingsError` |
| any JSON document (wrong shapes, unknown keys, deep nesting) | a `Catalog` or `SettingsError`, nothing else |
| a catalog file that is missing, not UTF-8 or not JSON | `SettingsError` |
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.catalog import MAX_PRICE_USD_PER_MTOK, Catalog, ModelSpec
from engine.errors import SettingsError
from tests.badinput.strategies import BADINPUT, awkward_floats, broken_text, messy_text

NUMBER_FIELDS = ("input_usd_per_mtok", "output_usd_per_mtok", "params_b", "latency_base_s", "latency_per_token_s")
field_values = st.one_of(st.none(), awkward_floats, st.integers(-10, 10**7), st.booleans(),
                         st.sampled_from(["1.0", "", "free", [1.0], {"usd": 1}]))


def allowed(field: str, value) -> bool:
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        return False
    return not (field.endswith("_usd_per_mtok") and value > MAX_PRICE_USD_PER_MTOK)


@BADINPUT
@given(field=st.sampled_from(NUMBER_FIELDS), value=field_values)
def test_a_number_field_is_valid_or_a_clear_error(field, value):
    if allowed(field, value):
        spec = ModelSpec("m", "anthropic", **{field: value})
        got = getattr(spec, field)
        assert got is None or (isinstance(got, float) and got == value)
        cost = spec.cost(1_000_000, 1_000_000)
        assert cost is None or (math.isfinite(cost) and cost >= 0)
        base, per_token = spec.latency_model
        assert math.isfinite(base) and math.isfinite(per_token)
        return
    with pytest.raises(SettingsError) as info:
        ModelSpec("m", "anthropic", **{field: value})
    assert f"model 'm': {field}" in str(info.value)


@pytest.mark.parametrize(("changes", "message"), [
    ({"name": ""}, "a catalog model needs a name"),
    ({"name": "  "}, "a catalog model needs a name"),
    ({"name": None}, "a catalog model needs a name"),
    ({"name": 7}, "a catalog model needs a name"),
    ({"name": "m\ud800"}, "a catalog model needs a name"),
    ({"provider": None}, "provider must be text"),
    ({"api_model": 3}, "api_model must be text"),
    ({"tier": ["cheap"]}, "tier must be text"),
    ({"input_usd_per_mtok": 1e308}, "more than 1,000,000"),
])
def test_bad_names_and_labels_are_clear_errors(changes, message):
    with pytest.raises(SettingsError, match=message):
        ModelSpec(**({"name": "m", "provider": "anthropic"} | changes))


def test_a_zero_price_is_a_free_model():
    spec = ModelSpec("free", "anthropic", 0.0, 0, None)
    assert spec.has_prices and spec.cost(10**9, 10**9) == 0.0 and spec.blended_price == 0.0


# -- JSON catalogs ----------------------------------------------------------------------------------------
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), awkward_floats, messy_text, broken_text),
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(messy_text, children, max_size=3)),
    max_leaves=8)
entries = st.fixed_dictionaries(
    {"name": st.one_of(st.sampled_from(["a", "b", ""]), messy_text), "provider": st.sampled_from(["anthropic", "x"])},
    optional={field: field_values for field in NUMBER_FIELDS} | {"tier": st.one_of(st.none(), messy_text),
                                                                   "colour": st.just("red")})


@BADINPUT
@given(document=st.one_of(json_values, st.lists(entries, max_size=3), st.lists(json_values, max_size=3)),
       require_prices=st.booleans())
def test_any_json_is_a_catalog_or_a_settings_error(document, require_prices):
    text = json.dumps(document)
    try:
        catalog = Catalog.from_json(text, require_prices=require_prices)
    except SettingsError as exc:
        assert str(exc).startswith("catalog: ")
        return
    for spec in catalog:
        assert isinstance(spec.name, str) and spec.name.strip()
        if require_prices:
            assert spec.has_prices
        cost = spec.cost(1000, 1000)
        assert cost is None or (math.isfinite(cost) and cost >= 0)


@pytest.mark.parametrize("text", ["", "[", "{}", "null", "[1]", "[" * 100_000 + "]" * 100_000,
                                  '[{"name": "a"}]', '[{"name": "a", "provider": "p", "speed": 1}]',
                                  '[{"name": "a", "provider": "p", "input_usd_per_mtok": NaN}]',
                                  '[{"name": "a", "provider": "p", "input_usd_per_mtok": -Infinity}]',
                                  '[{"name": "a", "provider": "p"}, {"name": "a", "provider": "p"}]'])
def test_malformed_catalog_json_is_a_settings_error(text):
    with pytest.raises(SettingsError):
        Catalog.from_json(text)


def test_the_catalog_file_needs_prices_for_every_live_model(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps([{"name": "paid", "provider": "anthropic", "input_usd_per_mtok": 1.0,
                                 "output_usd_per_mtok": 5.0},
                                {"name": "mystery", "provider": "anthropic", "input_usd_per_mtok": 2.0}]))
    with pytest.raises(SettingsError, match=r"entry 2 \('mystery'\) has no output_usd_per_mtok; a model called "
                                            r"live needs both prices"):
        Catalog.load(path)
    path.write_text(json.dumps([{"name": "free", "provider": "anthropic", "input_usd_per_mtok": 0,
                                 "output_usd_per_mtok": 0, "params_b": None}]))
    assert Catalog.load(path).get("free").cost(100, 100) == 0.0


@pytest.mark.parametrize(("content", "message"), [(None, "does not exist"), (b"\xff\xfe[]", "cannot be read as UTF-8"),
                                                  (b"not json", "not valid JSON"),
                                                  (b'[{"name": "a", "provider": "p", "input_usd_per_mtok": "1",'
                                                   b' "output_usd_per_mtok": 1}]', "must be a finite number")])
def test_a_bad_catalog_file_is_a_settings_error(tmp_path, content, message):
    path = tmp_path / "catalog.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(SettingsError, match=message):
        Catalog.load(path)
