"""Retention: how long each symbol's recorded seconds are kept."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

_DAY = 86_400


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long snapshots (and their gap records and series rows) are kept: `days` for every symbol, and
    `per_symbol` overrides (a symbol mapped to None is kept forever). Off by default."""

    days: int | None = None  # None keeps everything
    per_symbol: Mapping[str, int | None] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.days is not None or any(d is not None for d in self.per_symbol.values())

    def days_for(self, symbol: str) -> int | None:
        return self.per_symbol.get(symbol, self.days)

    def cutoff(self, now_ts: int, symbol: str) -> int | None:
        """Snapshots of `symbol` strictly before this second are deleted (None: keep them all)."""
        days = self.days_for(symbol)
        return None if days is None else now_ts - days * _DAY
