"""Figures and how they are printed: each measured value beside its target, PASS or MISS."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Figure:
    bench: str
    name: str
    value: float | None
    unit: str
    target: str = ""  # "< 1 ms", ">= 2.5x"; empty for a figure measured for information
    ok: bool | None = None  # None: no target
    contract: str = ""  # the storage contract's own limit, when it has one
    note: str = ""

    @property
    def verdict(self) -> str:
        return "" if self.ok is None else ("PASS" if self.ok else "MISS")


def below(bench: str, name: str, value: float, limit: float, unit: str, **kw: str) -> Figure:
    return Figure(bench, name, value, unit, f"< {fmt(limit)} {unit}".rstrip(), value < limit, **kw)


def at_least(bench: str, name: str, value: float, limit: float, unit: str, **kw: str) -> Figure:
    return Figure(bench, name, value, unit, f">= {fmt(limit)} {unit}".rstrip(), value >= limit, **kw)


def info(bench: str, name: str, value: float | None, unit: str, **kw: str) -> Figure:
    return Figure(bench, name, value, unit, **kw)


def fmt(value: float | None) -> str:
    """Three significant digits, no exponent for the ranges we print."""
    if value is None:
        return "n/a"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    if magnitude >= 0.01:
        return f"{value:.3f}"
    return f"{value:.2g}"


def line(fig: Figure, with_bench: bool = False) -> str:
    measured = f"{fmt(fig.value)} {fig.unit}".strip()
    target = f"target {fig.target}" if fig.target else "(for information)"
    name = f"{fig.bench:<8} {fig.name}" if with_bench else fig.name
    text = f"  {name:<{61 if with_bench else 52}} {measured:>18}   {target:<26} {fig.verdict:<4}"
    extras = [x for x in (f"contract {fig.contract}" if fig.contract else "", fig.note) if x]
    if extras:
        text += "  " + "; ".join(extras)
    return text.rstrip()


def show(fig: Figure) -> Figure:
    print(line(fig), flush=True)
    return fig


def heading(text: str) -> None:
    print(f"\n== {text}", flush=True)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for row in Path("/proc/cpuinfo").read_text().splitlines():
            if row.startswith("model name"):
                cpu = row.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, Python {platform.python_version()}"


def save(path: str, figures: list[Figure], argv: list[str]) -> None:
    """Append this run's figures to a JSON file (a list of runs), for docs/PERFORMANCE.md."""
    target = Path(path)
    runs = json.loads(target.read_text()) if target.exists() else []
    runs.append(
        {
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "machine": machine(),
            "argv": argv,
            "python": sys.version.split()[0],
            "figures": [asdict(f) | {"verdict": f.verdict} for f in figures],
        }
    )
    target.write_text(json.dumps(runs, indent=1))


def load(path: str) -> list[Figure]:
    figures = []
    for run in json.loads(Path(path).read_text()):
        for f in run["figures"]:
            f.pop("verdict", None)
            figures.append(Figure(**f))
    return figures
