"""`engine/simulation` builds on `engine/scheduling`, never the other way round (the policy registry used to
close a cycle between them); the pipeline and the live engine do not depend on the replay code either."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_scheduling_and_the_pipeline_do_not_import_the_replay_code():
    files = [*(ROOT / "engine" / "scheduling").glob("*.py"), *(ROOT / "engine" / "updates").glob("*.py"),
             ROOT / "engine" / "pipeline.py", ROOT / "engine" / "outcome.py", ROOT / "engine" / "live_backend.py"]
    offenders = {str(f.relative_to(ROOT)): sorted(m for m in imported_modules(f) if m.startswith("engine.simulation"))
                 for f in files}
    assert {f: m for f, m in offenders.items() if m} == {}


def test_the_replay_code_does_use_the_scheduler_and_the_pipeline():
    used = set().union(*(imported_modules(f) for f in (ROOT / "engine" / "simulation").glob("*.py")))
    assert {"engine.pipeline", "engine.scheduling.scheduler"} <= used
