"""Gap records: a second that was to be recorded and was not, with the reason why."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GapRecord:
    symbol: str
    timestamp: int
    reason: str  # "syncing", "disconnected", "stale", "empty_book", "write_error", ...
