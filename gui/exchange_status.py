"""What the app says about a symbol the exchange stopped (core.feed.listing stops it): its state and why.

The listing refresh unsubscribes a symbol whose exchangeInfo status leaves TRADING (or that is delisted) and
follows it again when it trades; meanwhile its row stays in the table with the exchange's own status, so the user
sees which of Binance's states it is in rather than a book that merely looks stale.
"""

from __future__ import annotations

DELISTED = "DELISTED"  # core.feed.listing's status for a symbol exchangeInfo no longer lists

# Binance's status words (reference/binance-protocol.md, exchangeInfo) as the table says them: short, because
# the state column is narrow; the details panel and the tooltip add the exchange's own word.
_WORDS = {
    "HALT": "halted",
    "BREAK": "break",
    "END_OF_DAY": "closed",
    "CANCEL_ONLY": "cancel-only",
    "PRE_TRADING": "pre-trading",
    "POST_TRADING": "closed",
    DELISTED: "delisted",
}


def stopped_word(status: str) -> str:
    """The table's state of a stopped symbol: "halted", "closed", "delisted", ..."""
    return _WORDS.get(status, "stopped")


def stopped_state(status: str) -> str:
    """The state with the exchange's word: "halted (HALT)", "closed (END_OF_DAY)", "delisted"."""
    word = stopped_word(status)
    return word if status == DELISTED else f"{word} ({status})"


def stopped_why(status: str) -> str:
    """Why a stopped symbol has no book, for the details panel and the row's tooltip."""
    if status == DELISTED:
        return "no longer listed by the exchange: followed again by itself if it is listed again"
    return "the exchange stopped trading it: not recorded now, followed again by itself when it trades"
