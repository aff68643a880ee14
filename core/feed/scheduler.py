"""SnapshotScheduler: the only path that fetches depth snapshots.

It queues symbols, keeps at most a few requests in flight, and survives rate limits, outages and unknown
symbols without ever raising. A failure it did not foresee (a bug) is logged with its traceback and handed
to `on_failure` (core.tasks.FailureHandler), and the workers carry on: a fetch that failed is tried again
later; a snapshot that `deliver` failed to take is not (the receiver must recover, as the manager does).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator

from core.feed.backoff import backoff
from core.feed.errors import ExchangeError, ExchangeUnavailableError, InvalidSymbolError, RateLimitedError
from core.feed.rest import RestClient
from core.market.wire import DepthSnapshot
from core.tasks import FailureHandler, cancel_and_wait, error_text, spawn

log = logging.getLogger(__name__)

RETRY_INITIAL = 0.5  # seconds before a failed snapshot is tried again, doubling …
RETRY_MAX = 30.0  # … up to this


class SnapshotScheduler:
    """Fetches REST depth snapshots for many symbols without a storm.

    FIFO queue, at most `max_concurrent` requests in flight, each inside the RestClient's weight budget.
    Symbol names are uppercased. `deliver(symbol, snapshot)` is called on the loop, synchronously; it may
    call `request` again (the symbol is no longer in flight by then).
    """

    def __init__(
        self,
        rest: RestClient,
        deliver: Callable[[str, DepthSnapshot], None],
        *,
        limit: int = 1000,
        max_concurrent: int = 2,
        retry_delay: float = 0.5,
        clock: Callable[[], float] = time.time,
        on_failure: FailureHandler | None = None,
    ) -> None:
        self._rest = rest
        self._deliver = deliver
        self._limit = limit
        self._max_concurrent = max(1, max_concurrent)
        self._retry_delay = retry_delay
        self._clock = clock
        self._on_failure = on_failure
        self._queue: deque[str] = deque()
        self._queued: set[str] = set()
        self._in_flight: set[str] = set()
        self._dropped: set[str] = set()  # cancelled while in flight: do not deliver
        self._not_before: dict[str, float] = {}
        self._retry_delays: dict[str, Iterator[float]] = {}  # symbol -> its retry delays
        self._changed = asyncio.Event()
        self._workers: list[asyncio.Task[None]] = []
        self.errors = 0
        self.last_error: str | None = None
        self.rate_limited_until = 0.0

    @property
    def pending(self) -> set[str]:
        """Symbols queued or in flight."""
        return (self._queued | self._in_flight) - self._dropped

    def request(self, symbol: str, retry: bool = False) -> None:
        """Queue a snapshot for `symbol`; a no-op while it is already queued or in flight.

        `retry=True` (the previous snapshot was older than the stream) waits `retry_delay` first, so the
        next snapshot has a chance to cover the buffered events.
        """
        symbol = symbol.upper()
        if symbol in self._in_flight:
            self._dropped.discard(symbol)  # re-requested after a cancel: the answer is wanted again
            return
        if symbol in self._queued:
            return
        if retry:
            self._not_before[symbol] = self._clock() + self._retry_delay
        self._queue.append(symbol)
        self._queued.add(symbol)
        self._changed.set()

    def cancel(self, symbol: str) -> None:
        """Forget `symbol` (e.g. unsubscribed); an answer already on its way is not delivered."""
        symbol = symbol.upper()
        if symbol in self._queued:
            self._queued.discard(symbol)
            self._queue.remove(symbol)
        if symbol in self._in_flight:
            self._dropped.add(symbol)
        self._not_before.pop(symbol, None)
        self._retry_delays.pop(symbol, None)

    async def start(self) -> None:
        if self._workers:
            return
        self._workers = [
            spawn(self._worker(), f"snapshot-worker-{i}", what="snapshot worker", on_failure=self._on_failure)
            for i in range(self._max_concurrent)
        ]

    async def stop(self) -> None:
        workers, self._workers = self._workers, []
        await cancel_and_wait(workers)

    # --- internals --------------------------------------------------------------------------------

    async def _worker(self) -> None:
        pauses = backoff(RETRY_INITIAL, RETRY_MAX)  # after a failure, so that a persistent bug cannot spin
        while True:
            try:
                symbol = await self._next_symbol()
                self._in_flight.add(symbol)
                try:
                    snapshot = await self._fetch(symbol)
                finally:
                    self._in_flight.discard(symbol)
                    dropped = symbol in self._dropped
                    self._dropped.discard(symbol)
                if snapshot is not None and not dropped:
                    self._deliver_safely(symbol, snapshot)
            except Exception as exc:  # a bug must not stop every future snapshot
                pause = next(pauses)
                log.error("snapshot worker failed, continuing in_s=%.2f", pause, exc_info=exc)
                self._report(f"The snapshot worker failed and continues: {error_text(exc)}.", exc)
                await asyncio.sleep(pause)
            else:
                pauses = backoff(RETRY_INITIAL, RETRY_MAX)

    async def _next_symbol(self) -> str:
        """The first queued symbol allowed to go now, waiting for rate limits and per-symbol delays."""
        while True:
            now = self._clock()
            wake_at: float | None = None
            if now < self.rate_limited_until:
                wake_at = self.rate_limited_until
            else:
                for symbol in self._queue:
                    not_before = self._not_before.get(symbol, 0.0)
                    if not_before <= now:
                        self._queue.remove(symbol)
                        self._queued.discard(symbol)
                        self._not_before.pop(symbol, None)
                        return symbol
                    wake_at = not_before if wake_at is None else min(wake_at, not_before)
            self._changed.clear()
            timeout = None if wake_at is None else max(0.0, wake_at - now)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout)

    async def _fetch(self, symbol: str) -> DepthSnapshot | None:
        try:
            snapshot = await self._rest.depth(symbol, self._limit)
        except RateLimitedError as exc:
            self._note_error(str(exc))
            self.rate_limited_until = max(self.rate_limited_until, self._clock() + exc.retry_after)
            log.warning(
                "snapshot rate limited symbol=%s retry_after_s=%g banned=%s",
                symbol,
                exc.retry_after,
                exc.banned,
            )
            self._requeue(symbol, front=True, delay=0.0)
        except InvalidSymbolError as exc:
            self._note_error(str(exc))
            self._retry_delays.pop(symbol, None)
            log.error("snapshot dropped symbol=%s reason=%r", symbol, str(exc))
        except ExchangeError as exc:
            # Unavailable (network, 5xx, garbage) or rejected (403 WAF, odd 4xx): back off, try again.
            self._note_error(str(exc))
            delay = self._retry_later(symbol)
            level = logging.WARNING if isinstance(exc, ExchangeUnavailableError) else logging.ERROR
            log.log(level, "snapshot failed symbol=%s retry_in_s=%.2f reason=%r", symbol, delay, str(exc))
        except Exception as exc:  # a bug or something unforeseen: keep the symbol, retry slowly
            message = f"The {symbol} snapshot failed unexpectedly: {error_text(exc)}."
            self._note_error(message)
            delay = self._retry_later(symbol)
            log.error("snapshot fetch error symbol=%s retry_in_s=%.2f", symbol, delay, exc_info=exc)
            self._report(message, exc)
        else:
            self._retry_delays.pop(symbol, None)
            return snapshot
        return None

    def _requeue(self, symbol: str, *, front: bool, delay: float) -> None:
        if symbol in self._dropped or symbol in self._queued:
            return  # cancelled meanwhile, or re-requested already
        if delay > 0:
            self._not_before[symbol] = self._clock() + delay
        if front:
            self._queue.appendleft(symbol)
        else:
            self._queue.append(symbol)
        self._queued.add(symbol)
        self._changed.set()

    def _retry_later(self, symbol: str) -> float:
        """Re-queue after this symbol's next backoff delay; returns the delay."""
        delays = self._retry_delays.get(symbol)
        if delays is None:
            delays = self._retry_delays[symbol] = backoff(RETRY_INITIAL, RETRY_MAX)
        delay = next(delays)
        self._requeue(symbol, front=False, delay=delay)
        return delay

    def _note_error(self, message: str) -> None:
        self.errors += 1
        self.last_error = message

    def _deliver_safely(self, symbol: str, snapshot: DepthSnapshot) -> None:
        try:
            self._deliver(symbol, snapshot)
        except Exception as exc:  # a bug in the receiver, which must recover by itself (the manager does)
            log.error("snapshot delivery failed symbol=%s", symbol, exc_info=exc)
            self._report(f"The {symbol} snapshot could not be applied: {error_text(exc)}.", exc)

    def _report(self, sentence: str, exc: BaseException) -> None:
        if self._on_failure is None:
            return
        try:
            self._on_failure(sentence, exc)
        except Exception:
            log.exception("failure handler failed")
