"""What can go wrong talking to the exchange: one exception family, each message one sentence for the user."""

from __future__ import annotations


class ExchangeError(Exception):
    """Anything the exchange (or the way to it) did wrong; str(error) is one sentence for the user."""


class InvalidSymbolError(ExchangeError):
    """The exchange does not list this symbol, or the name cannot be a symbol at all."""

    def __init__(self, message: str, symbol: str = "") -> None:
        super().__init__(message)
        self.symbol = symbol

    @classmethod
    def unknown(cls, symbol: str) -> InvalidSymbolError:
        return cls(f"{symbol} is not a symbol on this exchange.", symbol)

    @classmethod
    def bad_name(cls, symbol: str) -> InvalidSymbolError:
        return cls(f"{symbol!r} is not a valid symbol name (use letters and digits, like BTCUSDT).", symbol)


class RateLimitedError(ExchangeError):
    """HTTP 429 (slow down) or 418 (this IP is banned); no request may go out for `retry_after` s."""

    def __init__(self, message: str, retry_after: float, banned: bool) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.banned = banned


class ExchangeUnavailableError(ExchangeError):
    """Network error, timeout, 5xx or an unreadable answer: worth retrying later."""


class ExchangeRejectedError(ExchangeError):
    """Any other 4xx, with Binance's error code and text when it sent them."""

    def __init__(self, message: str, status: int, code: int | None, exchange_msg: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.exchange_msg = exchange_msg


class SubscriptionLimitError(Exception):
    """More symbols than the manager is configured for (`ManagerConfig.max_symbols`)."""
