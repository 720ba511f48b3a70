"""`sls baselines` on a malformed trace: exit status 2 and one line `error: …` naming the file."""

from __future__ import annotations

import pytest

cli = pytest.importorskip("engine.cli")


def test_cli_reports_malformed_trace_in_one_line(malformed, capsys):
    path, _case, file = malformed

    status = cli.main(["baselines", str(path)])

    err = capsys.readouterr().err
    assert status == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert file in lines[0]
