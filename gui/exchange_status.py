"""What the app says about a symbol the exchange stopped (core.feed.listing stops it): its state and why.

The listing refresh unsubscribes a symbol whose exchangeInfo status leaves TRADING (or that is delisted) and
follows it again when it trades; meanwhile its row stays in the table with the exchange's own status word, so
the user sees which of Binance's states it is in rather than a book that merely looks stale.
"""

from __future__ import annotations

DELISTED = "DELISTED"  # core.feed.listing's status for a symbol exchangeInfo no longer lists

# Binance's status words (reference/binance-protocol.md, exchangeInfo), read as a user would say them.
_WORDS = {
    "HALT": "halted",
    "BREAK": "on a break",
    "END_OF_DAY": "closed for the day",
    "CANCEL_ONLY": "cancel-only",
    "PRE_TRADING": "not trading yet",
    "POST_TRADING": "closed",
}


def stopped_state(status: str) -> str:
    """The table's state of a stopped symbol: "halted (HALT)", "delisted", ..."""
    if status == DELISTED:
        return "delisted"
    word = _WORDS.get(status, "stopped")
    return f"{word} ({status})"


def stopped_why(status: str) -> str:
    """Why a stopped symbol has no book, for the details panel and the row's tooltip."""
    if status == DELISTED:
        what = "The exchange no longer lists it (delisted)"
    else:
        what = f"The exchange stopped trading it (status {status})"
    return f"{what}: not followed or recorded until it trades again, then Depthbook follows it by itself."
