"""Every malformed trace in conftest.MALFORMED raises TraceError saying where and what was expected."""

from __future__ import annotations

import pytest

from engine.errors import EngineError, TraceError
from engine.traces import load_trace


def test_malformed_trace_is_reported_precisely(malformed):
    path, case, file = malformed

    with pytest.raises(TraceError) as caught:
        load_trace(path)

    error = caught.value
    message = str(error)
    assert isinstance(error, EngineError)
    assert error.file == file
    assert message.startswith(file)
    assert error.row == case.row
    assert error.column == case.column
    if case.row is not None:
        assert f"row {case.row}" in message
    if case.column is not None:
        assert f"column '{case.column}'" in message
    for fragment in case.expect:
        assert fragment in message


def test_the_table_covers_many_distinct_mistakes():
    from conftest import MALFORMED

    assert len({case.id for case in MALFORMED}) == len(MALFORMED) >= 14


def test_only_the_first_offending_row_is_named(tmp_path):
    from conftest import OUTCOMES, make_trace

    outcomes = OUTCOMES.replace(",1,", ",2,").replace(",1.0,", ",3,")
    folder = make_trace(tmp_path / "many", outcomes_csv=outcomes)
    with pytest.raises(TraceError, match=r"row 1, column 'score'.* got '3'"):
        load_trace(folder)
