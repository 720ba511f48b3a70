"""Layering of the dashboard: pages → dashboard → engine, never back; pure modules stay pure; and importing
anything does no work (engine imports happen inside functions)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PURE = ("charts.py", "data.py", "formatting.py")


def _imports(path: Path, *, top_level_only: bool = False) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_pages_use_the_dashboard_package_only():
    for page in sorted((REPO / "pages").glob("*.py")):
        imported = _imports(page)
        assert not any(n == "engine" or n.startswith("engine.") for n in imported), page.name
        assert "dashboard" in imported or any(n.startswith("dashboard") for n in imported), page.name


def test_pure_modules_import_neither_streamlit_nor_the_engine():
    for name in PURE:
        imported = _imports(REPO / "dashboard" / name)
        assert not any(n.split(".")[0] in ("streamlit", "engine") for n in imported), name


def test_dashboard_modules_import_the_engine_lazily():
    for path in sorted((REPO / "dashboard").glob("*.py")):
        top = _imports(path, top_level_only=True)
        assert not any(n.split(".")[0] == "engine" for n in top), path.name


def test_engine_does_not_import_the_dashboard():
    for path in sorted((REPO / "engine").rglob("*.py")):
        assert not any(n.split(".")[0] in ("dashboard", "pages") for n in _imports(path)), path
