"""Gap records: a second that was to be recorded and was not, with the reason why.

A gap's reason is stored as the UTF-8 of its `GapReason` value; the values are the strings every version
has written, so old databases read back unchanged. A stored string that is not a member (written by a newer
version, or by hand) reads back as `GapReason.UNKNOWN`: the record still counts as a gap, and reading never
fails or rewrites what is stored.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class GapReason(enum.StrEnum):
    """Why a recorded symbol has no snapshot for a second. The values are stored: never change one."""

    NOT_SUBSCRIBED = "not_subscribed"  # the symbol could not be subscribed
    SYNCING = "syncing"  # the book was not live yet: first sync or a resync
    DISCONNECTED = "disconnected"  # the book was stale because the connection dropped
    STALE = "stale"  # the book was stale because its stream went silent
    EMPTY_BOOK = "empty_book"  # the book was live but had no level
    LATE = "late"  # the recorder woke up too late for this second (the loop was blocked)
    SERIALIZE_ERROR = "serialize_error"  # the snapshot could not be encoded
    UNVERIFIED = "unverified"  # the book was live but its top levels reached beyond its snapshot's horizon
    UNKNOWN = "unknown"  # read back from a stored string this version does not know; never written by it

    @classmethod
    def from_stored(cls, value: bytes | str) -> GapReason:
        """The reason of a stored gap record; UNKNOWN for a string this version does not know."""
        text = value.decode(errors="replace") if isinstance(value, bytes) else value
        try:
            return cls(text)
        except ValueError:
            return cls.UNKNOWN

    @property
    def text(self) -> str:
        """The reason in a few words, for people."""
        return _GAP_REASON_TEXT[self]


_GAP_REASON_TEXT = {
    GapReason.NOT_SUBSCRIBED: "not subscribed",
    GapReason.SYNCING: "book syncing",
    GapReason.DISCONNECTED: "disconnected",
    GapReason.STALE: "stream silent",
    GapReason.EMPTY_BOOK: "empty book",
    GapReason.LATE: "recorder late",
    GapReason.SERIALIZE_ERROR: "could not encode",
    GapReason.UNVERIFIED: "beyond the snapshot horizon",
    GapReason.UNKNOWN: "unknown reason",
}


@dataclass(frozen=True, slots=True)
class GapRecord:
    symbol: str
    timestamp: int
    reason: GapReason
