"""Number formatting for the tables and the header: pure functions, no Qt."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable


def decimals_of(text: str) -> int:
    """Significant decimals of an exchange number string: "67650.01000000" -> 2, "3.0" -> 0."""
    _, dot, frac = text.partition(".")
    return len(frac.rstrip("0")) if dot else 0


def common_decimals(values: Iterable[str], minimum: int = 0, maximum: int = 8) -> int:
    """Enough decimals to show every value of a column exactly (so the column lines up)."""
    best = minimum
    for value in values:
        best = max(best, decimals_of(value))
        if best >= maximum:
            return maximum
    return best


def trim_to(text: str, decimals: int) -> str:
    """An exchange string shown with exactly `decimals` decimals (it never needs more)."""
    whole, dot, frac = text.partition(".")
    if decimals <= 0:
        return whole
    return f"{whole}.{(frac if dot else '').ljust(decimals, '0')[:decimals]}"


def fmt_float(value: float | None, decimals: int) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:,.{decimals}f}"


def fmt_sig(value: float | None, digits: int = 3) -> str:
    """A small ratio with `digits` significant digits and no exponent: 0.00167, 1.52, 12.3."""
    if value is None or not math.isfinite(value):
        return "—"
    if value == 0:
        return "0"
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"


def fmt_qty(value: float) -> str:
    """A size for a bar label: few digits, thousands separated."""
    if not math.isfinite(value):
        return "—"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:,.2f}"
    return f"{value:,.4f}"


def fmt_count(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def fmt_percent(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value * 100:.1f} %"


def fmt_rate(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.0f}"


def fmt_clock(ts: int | None) -> str:
    """A Unix second as local HH:MM:SS."""
    if ts is None:
        return "—"
    return time.strftime("%H:%M:%S", time.localtime(ts))


def fmt_datetime(ts: int | None) -> str:
    if ts is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(ts))


def fmt_span(first: int | None, last: int | None) -> str:
    """Two Unix seconds as a local range; the date is written once when both fall on the same day."""
    if first is None or last is None:
        return "—"
    a, b = time.localtime(first), time.localtime(last)
    start = time.strftime("%Y-%m-%d %H:%M:%S", a)
    same_day = (a.tm_year, a.tm_yday) == (b.tm_year, b.tm_yday)
    end = time.strftime("%H:%M:%S" if same_day else "%Y-%m-%d %H:%M:%S", b)
    return f"{start} → {end}"


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "—"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"  # pragma: no cover
