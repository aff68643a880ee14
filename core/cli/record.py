"""`depthbook record`: the headless recorder for servers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time

from core.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    UserError,
    add_db,
    add_endpoints,
    add_log_level,
    install_stop_signals,
    split_symbols,
)
from core.feed.errors import ExchangeError
from core.feed.manager import MAX_SYMBOLS_CEILING, SubscriptionLimitError
from core.market.endpoints import resolve_endpoints
from core.paths import default_db_path
from core.recording.config import RecordingConfig
from core.recording.session import RecordingSession
from core.storage.retention import RetentionPolicy
from core.storage.snapshot import SNAPSHOT_DEPTH
from core.storage.store import StorageError

log = logging.getLogger(__name__)


def add_parser(sub) -> None:
    parser = sub.add_parser("record", help="record top-N snapshots every second, headless")
    parser.add_argument("--symbols", required=True, help="comma-separated, e.g. BTCUSDT,ETHUSDT (up to 200)")
    add_db(parser)
    add_endpoints(parser)
    parser.add_argument("--interval", type=int, default=1, help="seconds between snapshots (default 1)")
    parser.add_argument(
        "--depth",
        type=int,
        default=SNAPSHOT_DEPTH,
        help=f"levels per side in each snapshot (default {SNAPSHOT_DEPTH})",
    )
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--snapshot-limit", type=int, default=1000, help="REST snapshot depth (default 1000)")
    parser.add_argument("--status-every", type=float, default=10.0, help="seconds between status lines")
    parser.add_argument(
        "--retention-days",
        type=int,
        default=None,
        help="delete snapshots older than this, hourly (default: keep all)",
    )
    parser.add_argument(
        "--retention",
        default=None,
        metavar="SYMBOL=DAYS,...",
        help="per-symbol retention over --retention-days, e.g. BTCUSDT=30,DOGEUSDT=2 (DAYS 'keep': keep all)",
    )
    add_log_level(parser, "INFO")


def run(args) -> int:
    return asyncio.run(run_record(args))


def status_line(session: RecordingSession, symbol: str) -> str:
    status = session.symbol_status(symbol)
    state = status.state if status is not None else "unsubscribed"
    rec = session.recording_status(symbol)
    stored = rec.stored if rec else 0
    gaps = rec.gaps if rec else 0
    waiting = rec.waiting if rec else 0
    last = rec.last_stored if rec and rec.last_stored else "-"
    line = f"{symbol:<12} {state!s:<10} stored={stored} gaps={gaps} waiting={waiting} last={last}"
    if session.write_errors:
        line += f" write_errors={session.write_errors} last_error={session.last_write_error or 'recovered'}"
    if session.ticks_lost:
        line += f" ticks_lost={session.ticks_lost}"
    return line


def parse_retention(text: str | None) -> dict[str, int | None]:
    """`BTCUSDT=30,DOGEUSDT=2,ETHUSDT=keep` -> {symbol: days, or None to keep everything}."""
    policy: dict[str, int | None] = {}
    for item in filter(None, (part.strip() for part in (text or "").split(","))):
        symbol, sep, days = item.partition("=")
        if not sep or not symbol.strip() or not (days.strip() == "keep" or days.strip().isdigit()):
            raise UserError(f"--retention takes SYMBOL=DAYS pairs like BTCUSDT=30, got {item!r}")
        policy[symbol.strip().upper()] = None if days.strip() == "keep" else int(days)
    return policy


def record_config(args, symbols: list[str]) -> RecordingConfig:
    """The frozen configuration of this run, from the parsed flags."""
    if len(symbols) > MAX_SYMBOLS_CEILING:
        raise UserError(f"record takes at most {MAX_SYMBOLS_CEILING} symbols, got {len(symbols)}")
    try:
        endpoints = resolve_endpoints(args.preset, args.ws_url, args.rest_url)
    except (ValueError, KeyError) as exc:
        raise UserError(str(exc).strip("'\"")) from None
    try:
        return RecordingConfig(
            db_path=args.db or default_db_path(),
            ws_url=endpoints.ws_url,
            rest_url=endpoints.rest_url,
            interval=args.interval,
            depth=args.depth,
            snapshot_limit=args.snapshot_limit,
            max_symbols=max(20, len(symbols)),
            retention=RetentionPolicy(args.retention_days, parse_retention(args.retention)),
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None


async def run_record(args) -> int:
    symbols = split_symbols(args.symbols)
    config = record_config(args, symbols)
    stop = asyncio.Event()
    install_stop_signals(stop)

    def on_failure(sentence: str, stopped: bool) -> None:
        print(f"depthbook: {sentence}", file=sys.stderr, flush=True)
        if stopped:  # recording cannot go on: stop cleanly and say so in the exit code
            stop.set()

    session = RecordingSession(config, on_failure=on_failure)
    try:
        await session.start()
    except StorageError as exc:  # nothing was started: the database is checked first
        raise UserError(str(exc)) from None
    try:
        try:
            await session.follow(symbols)
        except (ExchangeError, SubscriptionLimitError) as exc:
            print(f"depthbook: {exc}", file=sys.stderr, flush=True)
            return EXIT_FAILED
        for symbol in symbols:
            session.set_recording(symbol, True)
        print(f"recording {len(symbols)} symbols from {config.ws_url} into {config.db_path}", flush=True)
        started = time.monotonic()
        while not stop.is_set():
            timeout = args.status_every
            if args.duration is not None:
                timeout = min(timeout, max(0.0, args.duration - (time.monotonic() - started)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout)
            for symbol in symbols:
                print(status_line(session, symbol), flush=True)
            if args.duration is not None and time.monotonic() - started >= args.duration:
                stop.set()
    finally:
        write_errors, last_error, lost = session.write_errors, session.last_write_error, session.ticks_lost
        await session.stop()  # the tick in flight is flushed, the session closed, then the database
    if write_errors:
        lost_text = f", {lost} ticks lost" if lost else ""
        print(f"finished with {write_errors} failed writes{lost_text}: {last_error or 'recovered'}", flush=True)
    return EXIT_FAILED if session.failure else EXIT_OK
