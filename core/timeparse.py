"""Times on the command line: ISO 8601 or Unix seconds, always to whole UTC seconds."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(text: str) -> int:
    """'1737158400', '2025-01-18T00:00:00Z', '2025-01-18 00:00:00+01:00' or '2025-01-18' -> Unix seconds.

    A time without a zone is taken as UTC (recordings are keyed in UTC seconds)."""
    text = text.strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is neither a Unix time in seconds nor an ISO 8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def iso_utc(ts: int | float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
