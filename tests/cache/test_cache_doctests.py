"""The docstring examples of the cache modules run (River-style: examples that cannot rot)."""

from __future__ import annotations

import doctest

import pytest

from engine.cache import embedder, log_templates, semantic


@pytest.mark.parametrize("module", [embedder, log_templates, semantic], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
