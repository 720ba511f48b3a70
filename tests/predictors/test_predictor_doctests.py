"""The docstring examples of the predictor modules run (River style: examples are tests)."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["engine.predictors.quality", "engine.predictors.tokens", "engine.predictors.cost",
           "engine.predictors.latency", "engine.predictors.predictors", "engine.prices"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name))
    assert result.attempted > 0
    assert result.failed == 0
