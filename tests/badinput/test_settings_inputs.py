"""Bad input for the engine settings (`SLS_*` variables through `load_settings`).

Outcomes asserted here: any text in a number variable gives finite settings or a `SettingsError` that
names the variable (`SLS_BUDGET_USD=nan`, `inf` and `1e309` used to be accepted as an infinite budget);
a path holding a NUL character is a `SettingsError` (it used to fail later, in `mkdir`, with a ValueError).
"""

from __future__ import annotations

import math
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import SettingsError
from engine.settings import load_settings
from tests.badinput.strategies import BADINPUT, number_cell

NUMBER_VARIABLES = {"SLS_BUDGET_USD": "budget_usd", "SLS_COST_WEIGHT": "cost_weight",
                    "SLS_LATENCY_WEIGHT": "latency_weight", "SLS_MAX_ATTEMPTS": "max_attempts"}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in [n for n in os.environ if n.startswith("SLS_")]:
        monkeypatch.delenv(name)


@BADINPUT
@given(variable=st.sampled_from(sorted(NUMBER_VARIABLES)),
       value=number_cell.filter(lambda v: "\x00" not in v and v.strip() != ""))
def test_a_number_variable_is_valid_or_names_itself(variable, value):
    os.environ[variable] = value
    try:
        settings = load_settings()
    except SettingsError as exc:
        assert f"{variable}:" in str(exc)
        return
    finally:
        del os.environ[variable]
    number = getattr(settings, NUMBER_VARIABLES[variable])
    assert math.isfinite(number) and number >= 0


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e309", "-1"])
def test_a_non_finite_or_negative_budget_is_an_error(monkeypatch, value):
    monkeypatch.setenv("SLS_BUDGET_USD", value)
    with pytest.raises(SettingsError, match="SLS_BUDGET_USD"):
        load_settings()


@pytest.mark.parametrize("name", ["workspace", "trace", "catalog", "data_dir"])
def test_a_path_with_a_nul_character_is_an_error(name):
    with pytest.raises(SettingsError, match=f"SLS_{name.upper()}: .*NUL character"):
        load_settings(**{name: "work\x00space"})
