"""Widgets and item models see values, never services: checked on the source, like import-linter would."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

GUI = Path(__file__).resolve().parents[2] / "gui"
FORBIDDEN = (
    "gui.app",
    "gui.services",
    "gui.bridge",
    "core.manager",
    "core.storage",
    "core.persistence",
    "core.simulator",
    "core.rest",
    "core.stream",
    "qasync",
    "asyncio",
)
VIEW_MODULES = sorted([*GUI.glob("widgets/*.py"), *GUI.glob("models/*.py"), GUI / "main_window.py"])


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", VIEW_MODULES, ids=lambda p: str(p.relative_to(GUI)))
def test_views_import_no_services(path):
    bad = {m for m in imported_modules(path) if m.startswith(FORBIDDEN)}
    assert not bad, f"{path.name} imports {sorted(bad)}"


def test_only_the_composition_root_builds_services():
    builders = [p.name for p in GUI.rglob("*.py") if "Services(" in p.read_text(encoding="utf-8")]
    assert builders == ["app.py"]


def test_modules_stay_one_concept_sized():
    for path in GUI.rglob("*.py"):
        lines = path.read_text(encoding="utf-8").count("\n")
        assert lines <= 500, f"{path.relative_to(GUI)} has {lines} lines"
