"""Uploaded trace files stay inside the workspace, whatever their names say and whatever links lie in wait.

`Gateway.save_upload` is the only place the dashboard writes a user's bytes to disk. Outcomes:

| upload | outcome |
|---|---|
| "../../models.csv", "/etc/models.csv", "a/b/../models.csv" | stored as models.csv in `<workspace>/uploads/<digest>/`; nothing outside |
| "../../etc/passwd", "models.csv\\x00.txt", "..", "", a 1 MB name, "models.csv.exe", a non-string | `ValueError` "… is not a trace file", the name shown quoted, escaped and shortened |
| a payload that is not bytes, or larger than the limit | `ValueError` |
| `<workspace>/uploads` or `<workspace>/uploads/<digest>` a symbolic link to elsewhere | `ValueError` "escapes the workspace"; nothing written there |
| `<digest>/models.csv.part` or `<digest>/models.csv` a symbolic link to a file outside | the link is replaced, the file outside untouched |
| any name at all (property) | a `ValueError` or a folder inside `<workspace>/uploads`; no file appears outside the workspace |
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard import gateway
from tests.badinput.strategies import BADINPUT, messy_text

MODELS = b"model,provider,input_usd_per_mtok,output_usd_per_mtok,params_b\na,p,1,2,\n"
QUERIES = b"query_id,task,dataset,text,reference\nq1,log_parsing,d,user 1 in,user <*> in\n"
OUTCOMES = (b"query_id,model,output,raw_output,score,input_tokens,output_tokens,cost_usd,latency_s\n"
            b"q1,a,user <*> in,user <*> in,1,3,3,0.0001,\n")
GOOD = [("models.csv", MODELS), ("queries.csv", QUERIES), ("outcomes.csv", OUTCOMES)]


@pytest.fixture
def sandbox(tmp_path, monkeypatch) -> tuple[Path, Path]:
    """(workspace, outside): the workspace the dashboard uses and a folder beside it that must stay as it is."""
    workspace, outside = tmp_path / "ws", tmp_path / "outside"
    workspace.mkdir()
    outside.mkdir()
    (outside / "keep.txt").write_text("original")
    monkeypatch.setenv("SLS_WORKSPACE", str(workspace))
    return workspace.resolve(), outside


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def digest_of(files: list[tuple[str, bytes]]) -> str:
    h = hashlib.blake2b(digest_size=8)
    for base, payload in sorted((Path(n).name.lower(), p) for n, p in files):
        h.update(base.encode())
        h.update(payload)
    return h.hexdigest()


@pytest.mark.parametrize("models_name", ["../../models.csv", "/etc/models.csv", "a/b/../models.csv", "MODELS.CSV",
                                         "./models.csv", "uploads/../../models.csv"])
def test_a_name_with_folders_is_stored_by_its_file_name_inside_the_workspace(sandbox, models_name):
    workspace, outside = sandbox
    before = snapshot(outside)
    folder = gateway.Gateway().save_upload([(models_name, MODELS), *GOOD[1:]])
    assert folder.resolve().is_relative_to(workspace / "uploads")
    assert sorted(p.name for p in folder.iterdir()) == ["models.csv", "outcomes.csv", "queries.csv"]
    assert (folder / "models.csv").read_bytes() == MODELS
    assert snapshot(outside) == before
    assert not Path("/etc/models.csv").exists()


@pytest.mark.parametrize("name", ["../../etc/passwd", "models.csv\x00.txt", "..", "", ".", "models.csv.exe",
                                  "models.csv\n", "x" * 1_000_000, "..\\..\\models.csv", "models.csv ", None, 7,
                                  b"models.csv"])
def test_a_name_that_is_not_a_trace_file_is_refused(sandbox, name):
    workspace, _ = sandbox
    with pytest.raises(ValueError, match="is not a trace file") as info:
        gateway.Gateway().save_upload([(name, MODELS), *GOOD[1:]])
    message = str(info.value)
    assert len(message) < 250 and "\x00" not in message and "\n" not in message
    assert not (workspace / "uploads").exists()


@pytest.mark.parametrize("payload", ["text, not bytes", None, 42])
def test_a_payload_that_is_not_bytes_is_refused(sandbox, payload):
    with pytest.raises(ValueError, match="expected the file's bytes"):
        gateway.Gateway().save_upload([("models.csv", payload), *GOOD[1:]])


def test_an_oversized_file_is_refused(sandbox, monkeypatch):
    monkeypatch.setattr(gateway, "MAX_UPLOAD_BYTES", 100)
    with pytest.raises(ValueError, match="larger than"):
        gateway.Gateway().save_upload([("models.csv", b"x" * 101), *GOOD[1:]])


def test_an_uploads_folder_that_links_outside_is_refused(sandbox):
    workspace, outside = sandbox
    before = snapshot(outside)
    (workspace / "uploads").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match="escapes the workspace"):
        gateway.Gateway().save_upload(GOOD)
    assert snapshot(outside) == before


def test_a_digest_folder_that_links_elsewhere_is_refused(sandbox):
    workspace, outside = sandbox
    before = snapshot(outside)
    (workspace / "uploads").mkdir()
    (workspace / "uploads" / digest_of(GOOD)).symlink_to(outside, target_is_directory=True)
    with pytest.raises(ValueError, match="escapes the workspace"):
        gateway.Gateway().save_upload(GOOD)
    assert snapshot(outside) == before


def test_links_planted_at_the_file_names_are_replaced_not_followed(sandbox):
    """The digest is predictable (it is the content's hash), so a link can wait at `models.csv.part` (the old
    temporary name, which was written through) or at `models.csv` itself."""
    workspace, outside = sandbox
    folder = workspace / "uploads" / digest_of(GOOD)
    folder.mkdir(parents=True)
    for name in ("models.csv.part", "queries.csv", "outcomes.csv.part"):
        (folder / name).symlink_to(outside / "keep.txt")
    assert gateway.Gateway().save_upload(GOOD) == folder
    assert (outside / "keep.txt").read_text() == "original"
    for name, payload in GOOD:
        assert not (folder / name).is_symlink() and (folder / name).read_bytes() == payload
    assert gateway.Gateway().load_trace(folder).n_queries == 1


@BADINPUT
@given(names=st.lists(st.one_of(messy_text, st.sampled_from(["models.csv", "queries.csv.gz", "../outcomes.csv",
                                                             "/tmp/queries.csv", "outcomes.CSV", "..", "/"])),
                      min_size=1, max_size=4))
def test_any_names_stay_inside_the_workspace(tmp_path_factory, names):
    root = tmp_path_factory.mktemp("upload")
    workspace, outside = root / "ws", root / "outside"
    outside.mkdir()
    os.environ["SLS_WORKSPACE"] = str(workspace)
    try:
        folder = gateway.Gateway().save_upload([(name, b"a,b\n1,2\n") for name in names])
    except ValueError:
        folder = None
    finally:
        del os.environ["SLS_WORKSPACE"]
    if folder is not None:
        assert folder.resolve().is_relative_to(workspace.resolve() / "uploads")
    assert [p for p in root.rglob("*") if p.is_file() and not p.resolve().is_relative_to(workspace.resolve())] == []
