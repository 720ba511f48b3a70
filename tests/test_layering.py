"""The layering rule: pages → dashboard → engine, never back; engine imports neither streamlit nor plotly."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "engine").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_engine_does_not_import_ui_libraries(path):
    assert not imported_modules(path) & {"streamlit", "plotly", "dashboard", "pages"}


def test_chart_builders_do_not_import_streamlit():
    charts = ROOT / "dashboard" / "charts.py"
    if not charts.exists():
        pytest.skip("dashboard/charts.py not present")
    assert "streamlit" not in imported_modules(charts)


def test_importing_the_engine_does_no_heavy_work():
    import subprocess
    import sys
    code = ("import sys, engine.cli, engine.simulation.replay, engine.catalog;"
            "heavy = [m for m in ('anthropic', 'langchain_anthropic', 'chromadb', 'streamlit') if m in sys.modules];"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == ""
