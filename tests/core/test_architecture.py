"""The architecture's rules: the import-linter contracts hold, core never imports Qt, headless commands run
without it, and core keeps a handful of top-level modules."""

import pkgutil
import subprocess
import sys
from pathlib import Path

import core

ROOT = Path(__file__).resolve().parents[2]
QT_PACKAGES = ("PySide6", "pyqtgraph", "qasync", "shiboken6", "gui")


def core_modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(core.__path__, "core.") if not m.name.endswith("__main__"))


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_every_core_module_imports_without_qt():
    modules = core_modules()
    assert "core.feed.manager" in modules and "core.simulator.server" in modules
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({QT_PACKAGES!r})))\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_headless_commands_do_not_load_qt(tmp_path):
    code = (
        "import sys\n"
        "from gui.entry import main\n"
        f"status = main(['stats', '--db', {str(tmp_path / 'none')!r}])\n"
        "print(status, sorted({m.split('.')[0] for m in sys.modules} & {'PySide6', 'pyqtgraph', 'qasync'}))\n"
    )
    result = run_python(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "2 []"  # exit status 2: there is no database there, said in one line
    assert result.stderr.strip() == f"depthbook: there is no database at {tmp_path / 'none'} (record something first, or pass --db)"


def test_import_contracts_hold_and_there_is_no_cycle():
    """The layers, the simulator's independence, the views' limits and acyclicity (pyproject.toml)."""
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


def test_core_has_a_handful_of_top_level_modules():
    modules = sorted(p.name for p in (ROOT / "core").glob("*.py") if p.name != "__init__.py")
    assert len(modules) <= 6, modules
