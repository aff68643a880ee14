"""CoreBridge: the one path from core events to Qt signals, coalesced to the display rate.

The manager calls the listener synchronously on the loop, up to thousands of times a second; the
listener only marks what changed. A QTimer at REFRESH_HZ turns the marks into a few signals, and a
slower tick samples the sparkline series and rebuilds the symbols table's rows. Nothing repaints per
message. Signals carry value types (gui.values), never core service objects.

Qt paints everything that changed in one tick as one pass over the window, so the costly repaints (the
symbols table, the depth chart, the sparkline: 3-8 ms each in software rendering) get ticks of their own
within each second and never pile up on one frame; only the ladder and header repaint every tick.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

from PySide6.QtCore import QObject, QTimer, Signal

from core.analysis.completeness import completeness as recorded_completeness
from core.analysis.l1 import compute_l1_metrics
from core.feed.events import BookUpdated, ConnectionChanged, ManagerEvent, SymbolStateChanged
from core.market.book_sync import SyncReason, SyncState
from core.market.markets import SPOT, Market
from core.storage.snapshot import SNAPSHOT_DEPTH
from gui.app_markets import split_key, symbol_key
from gui.models.series_buffer import SeriesBuffer
from gui.services import RETRY_SECONDS, Services
from gui.values import (
    ConnectionView,
    DisplayState,
    LiveFrame,
    StorageView,
    SymbolDetail,
    SymbolRow,
    display_state,
)

REFRESH_HZ = 10  # Binance sends 10 updates a second per symbol: a faster ladder shows nothing new
SLOW_TICKS = REFRESH_HZ // 2  # rows, series samples and status about twice a second
# Ticks within each second (REFRESH_HZ of them) on which each costly repaint is due:
ROWS_TICKS = (0, SLOW_TICKS)  # the symbols table, the status bar and the details
DEPTH_TICKS = (SLOW_TICKS // 2 + 1, SLOW_TICKS + SLOW_TICKS // 2 + 1)  # the depth chart, twice a second
SERIES_TICKS = (SLOW_TICKS // 2,)  # the sparkline, once a second (its points are a second apart)
LIVE_FRAME_DEPTH = 100  # levels per side handed to the live view (the ladder shows the top SNAPSHOT_DEPTH)
RATE_WINDOW_SECONDS = 60.0
RATE_MIN_SPAN_SECONDS = 20.0


class CoreBridge(QObject):
    books_changed = Signal(object)  # set[str] of symbols whose book changed since the last refresh
    states_changed = Signal(object)  # set[str] of symbols whose sync state changed
    connection_changed = Signal(object)  # ConnectionView
    rows_changed = Signal(object)  # list[SymbolRow], the symbols table
    frame_ready = Signal(object)  # LiveFrame of the selected symbol: the ladder and header
    depth_ready = Signal(object)  # LiveFrame of the selected symbol for the depth chart, twice a second
    series_changed = Signal(object)  # SeriesView of the selected symbol
    storage_changed = Signal(object)  # StorageView: path, size, write errors
    detail_changed = Signal(object)  # SymbolDetail of the selected symbol

    def __init__(
        self, services: Services, parent: QObject | None = None, refresh_hz: int = REFRESH_HZ
    ) -> None:
        super().__init__(parent)
        self.services = services
        self.series = SeriesBuffer()
        self.selected: str | None = None
        self._dirty_books: set[str] = set()
        self._dirty_states: set[str] = set()
        self._connection_dirty = True
        self._force_frame = False
        self._depth_stale = False  # the selected book changed since the depth chart was drawn
        self._depth_now = False  # draw the depth chart on the next tick (a new selection)
        self._ticks = 0
        self._stored_history: dict[str, deque[tuple[float, int]]] = {}
        self._last_storage: StorageView | None = None
        self._last_connection: ConnectionView | None = None
        self.refreshes = 0  # how many refresh ticks ran (tests and benchmarks read it)
        self._timer = QTimer(self)
        self._timer.setInterval(max(1, round(1000 / refresh_hz)))
        self._timer.timeout.connect(self._on_timer)
        self._attached = False

    # --- life cycle ------------------------------------------------------------------------------------

    def attach(self) -> None:
        """Listen to every market's manager (those started later too) and start the refresh timer."""
        if not self._attached:
            self.services.add_listener(self._listener_for)
            self._attached = True
        self._timer.start()
        self.refresh_now()

    def detach(self) -> None:
        self._timer.stop()
        if self._attached:
            self.services.markets.remove_listener(self._listener_for)
        self._attached = False

    def set_selected(self, symbol: str | None) -> None:
        self.selected = symbol
        self._force_frame = True
        self._depth_now = True
        if symbol is not None:
            self.series_changed.emit(self.series.view(symbol))
            self.detail_changed.emit(self.build_detail(symbol))

    def refresh_now(self) -> None:
        """Rebuild rows and status at once (after a command), instead of waiting for the slow tick."""
        self._connection_dirty = True
        self._force_frame = True
        self._slow_refresh()
        self._slow_charts(time.time())

    # --- the listener: called per core event, must stay O(1) -----------------------------------------

    def _listener_for(self, market: Market) -> Callable[[ManagerEvent], None]:
        """The listener of one market's manager: its events name the exchange's symbol, the app keys it by
        market (gui.app_markets); a spot symbol is its own key, so spot events need no translation."""
        if market is SPOT:
            return self._on_manager_event
        prefix = symbol_key(market, "")  # "usdm/"

        def on_event(event: ManagerEvent) -> None:
            kind = type(event)
            if kind is BookUpdated:
                self._dirty_books.add(prefix + event.symbol)  # type: ignore[attr-defined]
            elif kind is SymbolStateChanged:
                self._dirty_states.add(prefix + event.symbol)  # type: ignore[attr-defined]
            elif kind is ConnectionChanged:
                self._connection_dirty = True

        return on_event

    def _on_manager_event(self, event: ManagerEvent) -> None:
        kind = type(event)
        if kind is BookUpdated:
            self._dirty_books.add(event.symbol)
        elif kind is SymbolStateChanged:
            self._dirty_states.add(event.symbol)
        elif kind is ConnectionChanged:
            self._connection_dirty = True

    # --- the refresh tick ------------------------------------------------------------------------------

    def _on_timer(self) -> None:
        self.refreshes += 1
        self._ticks += 1
        books, self._dirty_books = self._dirty_books, set()
        states, self._dirty_states = self._dirty_states, set()
        if books:
            self.books_changed.emit(books)
        if states:
            self.states_changed.emit(states)
        slot = self._ticks % REFRESH_HZ
        slow = bool(states) or slot in ROWS_TICKS
        if slow:
            self._force_frame = True  # the header's state also changes without book events (errors)
        selected = self.selected
        frame = None
        if selected is not None and (selected in books or selected in states or self._force_frame):
            self._force_frame = False
            self._depth_stale = True
            frame = self.build_frame(selected)
            if frame is not None:
                self.frame_ready.emit(frame)
        if selected is not None and (self._depth_now or (self._depth_stale and slot in DEPTH_TICKS)):
            frame = frame or self.build_frame(selected)
            if frame is not None:
                self._depth_now = self._depth_stale = False
                self.depth_ready.emit(frame)
        if self._connection_dirty:
            self._connection_dirty = False
            self._emit_connection(force=True)
        if slow:
            self._slow_refresh()
        if slot in SERIES_TICKS:
            self._slow_charts(time.time())

    def _emit_connection(self, force: bool = False) -> None:
        view = self.connection_view()
        if force or view != self._last_connection:
            self._last_connection = view
            self.connection_changed.emit(view)

    def _slow_refresh(self) -> None:
        self._emit_connection()
        self.rows_changed.emit(self.build_rows(time.monotonic()))
        view = self.storage_view()
        if view != self._last_storage:
            self._last_storage = view
            self.storage_changed.emit(view)
        if self.selected is not None:
            self.detail_changed.emit(self.build_detail(self.selected))

    def _slow_charts(self, now: float) -> None:
        self._sample_series(now)
        if self.selected is not None:
            self.series_changed.emit(self.series.view(self.selected))

    # --- building the values ---------------------------------------------------------------------------

    def build_frame(self, key: str) -> LiveFrame | None:
        session, symbol = self.services.route(key)
        book = session.manager.book(symbol) if session is not None else None
        state = self._state_of(key)
        if book is None:
            return LiveFrame(key, state, (), (), None, 0, int(time.time() * 1000))
        bids = tuple(book.top_bids(LIVE_FRAME_DEPTH))
        asks = tuple(book.top_asks(LIVE_FRAME_DEPTH))
        now_ms = int(time.time() * 1000)
        metrics = None
        if bids and asks:
            top = SNAPSHOT_DEPTH  # the header's numbers are those of a recorded snapshot
            metrics = compute_l1_metrics(symbol, bids[:top], asks[:top], now_ms, book.last_update_id)
        return LiveFrame(key, state, bids, asks, metrics, book.last_update_id, now_ms)

    def build_rows(self, now_mono: float) -> list[SymbolRow]:
        services = self.services
        rows = []
        can_record = services.can_record
        stopped = services.stopped_symbols  # by the exchange: shown with its status, not recorded meanwhile
        for symbol in services.symbols:  # keys: BTCUSDT, usdm/BTCUSDT
            stored = services.stored_count(symbol)
            recording = services.wants_recording(symbol) and symbol not in stopped
            recorder, name = services.recorder_of(symbol)
            rec = recorder.status(name) if recorder is not None else None
            completeness = gaps = None
            if rec is not None:
                # The one definition of completeness (core.analysis.completeness), over this session's seconds
                # from each recording's first snapshot on: the seconds its book took to sync when recording was
                # switched on are the start of the recording, not data lost (as History and `stats` count them).
                gaps = rec.gaps
                completeness = recorded_completeness(rec.stored, gaps)
            rows.append(
                SymbolRow(
                    symbol=symbol,
                    state=self._state_of(symbol, stopped),
                    reason=self._reason_of(symbol),
                    error=services.errors.get(symbol),
                    recording=recording,
                    can_record=can_record,
                    stored=stored,
                    last_write=services.last_write(symbol),
                    rate_per_min=self._rate(symbol, stored, now_mono) if recording else self._forget(symbol),
                    completeness=completeness,
                    gaps=gaps,
                    market=split_key(symbol)[0].name,
                    exchange_status=stopped.get(symbol),
                )
            )
        for gone in self._stored_history.keys() - set(services.symbols):
            del self._stored_history[gone]
            self.series.drop(gone)
        return rows

    def build_detail(self, key: str) -> SymbolDetail:
        services = self.services
        session, symbol = services.route(key)
        manager = session.manager if session is not None else None
        recorder = session.recorder if session is not None else None
        rec = recorder.status(symbol) if recorder is not None else None
        span = services.stored_span(key)
        book = {}
        if manager is not None and symbol in manager.symbols and key not in services.errors:
            st = manager.status(symbol)
            book = {
                "last_update_id": st.last_update_id,
                "last_event_time": st.last_event_time,
                "events_applied": st.events_applied,
                "sequence_gaps": st.gaps,
                "resyncs": st.resyncs,
                "bid_levels": st.bid_levels,
                "ask_levels": st.ask_levels,
                "snapshots_requested": st.snapshots_requested,
                "snapshots_too_old": st.snapshots_too_old,
                "crossed_books": st.crossed_books,
                "bad_levels": st.bad_levels,
                "snapshot_limit": st.snapshot_limit,
                "refreshes": st.refreshes,
                "refreshes_requested": st.refreshes_requested,
                "refresh_mismatches": st.refresh_mismatches,
                "quiet_checks": st.quiet_checks,
            }
            live_book = manager.book(symbol)
            if live_book is not None and st.state in (SyncState.LIVE, SyncState.STALE):
                depth = recorder.depth if recorder is not None else SNAPSHOT_DEPTH
                bids_room, asks_room = live_book.horizon_distance(depth)  # counts levels: this symbol only
                book.update(horizon_depth=depth, horizon_bids=bids_room, horizon_asks=asks_room, horizon_known=True)
        connection = {}
        if manager is not None:
            conn = manager.connection_status()
            connection = {
                "streams": conn.streams,
                "reconnects": conn.reconnects,
                "rotations": conn.rotations,
                "bad_frames": conn.bad_frames,
                "snapshot_errors": conn.snapshot_errors,
            }
        stopped = services.stopped_symbols
        return SymbolDetail(
            symbol=key,
            state=self._state_of(key, stopped),
            reason=self._reason_of(key),
            error=services.errors.get(key),
            recording=services.wants_recording(key) and key not in stopped,
            can_record=services.can_record,
            exchange_status=stopped.get(key),
            session_stored=rec.stored if rec else None,
            session_gaps=rec.gaps if rec else None,
            session_waiting=rec.waiting if rec else None,
            session_unverified=rec.unverified if rec else None,
            session_completeness=recorded_completeness(rec.stored, rec.gaps) if rec else None,
            last_gap_reason=rec.last_gap_reason if rec else None,
            ticks=recorder.ticks if recorder is not None else None,
            write_errors=recorder.write_errors if recorder is not None else None,
            ticks_lost=recorder.ticks_lost if recorder is not None else None,
            stored_total=services.stored_count(key),
            first_stored=span[0] if span else None,
            last_stored=span[1] if span else None,
            **book,
            **connection,
        )

    def connection_view(self) -> ConnectionView:
        """One line for every market's connection: connected while each started market is; its error first."""
        services = self.services
        sessions = services.sessions
        if not sessions:
            return ConnectionView(False, services.endpoint_name, "", "starting")
        statuses = [(market, session.manager.connection_status()) for market, session in sessions.items()]
        several = len(statuses) > 1
        error = None
        for market, status in statuses:
            problem = status.last_error or status.snapshot_last_error
            if problem is not None:
                error = f"{market.name}: {problem}" if several else problem
                break
        if error is None and not all(status.connected for _, status in statuses) and services.exchange_problem:
            error = f"{services.exchange_problem.rstrip('.')}; retrying every {RETRY_SECONDS:g} s"
        url = " · ".join(f"{market.name} {status.url}" if several else status.url for market, status in statuses)
        return ConnectionView(
            all(status.connected for _, status in statuses),
            services.endpoint_name,
            url,
            error,
            sum(status.reconnects for _, status in statuses),
            sum(len(session.manager.symbols) for session in sessions.values()),
        )

    def storage_view(self) -> StorageView:
        services = self.services
        recorders = [s.recorder for s in services.sessions.values() if s.recorder is not None]
        return StorageView(
            path=str(services.db_path),
            mode=services.storage_mode,
            size_bytes=services.db_size if services.storage is not None else None,
            write_errors=sum(r.write_errors for r in recorders),
            last_error=next((r.last_error for r in recorders if r.last_error is not None), None),
            problem=services.storage_problem,
        )

    # --- helpers ---------------------------------------------------------------------------------------

    def _state_of(self, key: str, stopped: dict[str, str] | None = None) -> DisplayState:
        services = self.services
        session, symbol = services.route(key)
        manager = session.manager if session is not None else None
        error = services.errors.get(key)
        if not error and key in (services.stopped_symbols if stopped is None else stopped):
            return DisplayState.STALE  # the exchange stopped it: no book until it trades (the row says why)
        if error or manager is None or symbol not in manager.symbols:
            return display_state(None, error)
        return display_state(manager.status(symbol).state)

    def _reason_of(self, key: str) -> SyncReason | None:
        """Why the book is in its state; None while it is not subscribed (or failed: see services.errors)."""
        services = self.services
        session, symbol = services.route(key)
        manager = session.manager if session is not None else None
        if key in services.errors or manager is None or symbol not in manager.symbols:
            return None
        return manager.status(symbol).reason

    def _rate(self, symbol: str, stored: int | None, now: float) -> float | None:
        """Snapshots per minute over the last minute (over what there is, in the first minute)."""
        if stored is None:
            return None
        history = self._stored_history.setdefault(symbol, deque())
        history.append((now, stored))
        while len(history) > 2 and now - history[1][0] >= RATE_WINDOW_SECONDS:
            history.popleft()
        first_t, first_n = history[0]
        span = now - first_t
        # Counts step once a second while this samples twice a second: over a short span the step
        # quantisation alone is worth several per minute, so say nothing until the span is long enough.
        if span < RATE_MIN_SPAN_SECONDS:
            return None
        # The same quantisation can read a little over the tick rate ("61/min" at 1 Hz): the true rate
        # cannot exceed one snapshot per interval, so that is the ceiling.
        ceiling = 60.0 / max(1, self.services.config.snapshot_interval)
        return min((stored - first_n) / span * 60.0, ceiling)

    def _forget(self, symbol: str) -> None:
        self._stored_history.pop(symbol, None)  # a rate restarts when recording does

    def _sample_series(self, now: float) -> None:
        for market, session in self.services.sessions.items():
            manager = session.manager
            for symbol in manager.symbols:
                if not manager.is_live(symbol):
                    continue
                book = manager.book(symbol)
                bid = book.best_bid() if book is not None else None
                ask = book.best_ask() if book is not None else None
                if bid is None or ask is None:
                    continue
                b, a = float(bid[0]), float(ask[0])
                if math.isfinite(b) and math.isfinite(a):
                    self.series.append(symbol_key(market, symbol), now, b, a)
