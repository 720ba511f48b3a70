"""Fixtures of the dashboard tests."""

from __future__ import annotations

import pytest
from dashboard_samples import synthetic_run


@pytest.fixture
def run_data():
    """(job records, extras) of a synthetic `sls` run."""
    return synthetic_run()
