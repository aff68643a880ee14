"""What import-linter cannot say: one composition root, and modules of one concept's size.

Which modules the widgets may import is an import-linter contract in pyproject.toml (run by
tests/core/test_architecture.py).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUI = ROOT / "gui"


def test_only_the_composition_root_builds_services():
    builders = [p.name for p in GUI.rglob("*.py") if "Services(" in p.read_text(encoding="utf-8")]
    assert builders == ["app.py"]


def test_modules_stay_one_concept_sized():
    for path in [*GUI.rglob("*.py"), *(ROOT / "core").rglob("*.py")]:
        lines = path.read_text(encoding="utf-8").count("\n")
        assert lines <= 600, f"{path.relative_to(ROOT)} has {lines} lines"  # the database handle is the largest
