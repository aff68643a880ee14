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
    at_least,
    days,
    install_stop_signals,
    positive_float,
    split_symbols,
    symbols,
    whole,
)
from core.feed.errors import ExchangeError
from core.feed.manager import MAX_SYMBOLS_CEILING, SubscriptionLimitError
from core.market.endpoints import resolve_endpoints
from core.paths import default_db_path
from core.recording.config import (
    DEPTH_RANGE,
    INTERVAL_RANGE,
    SNAPSHOT_LIMIT_RANGE,
    RecordingConfig,
    check_symbol,
)
from core.recording.session import RecordingSession
from core.storage.retention import MAX_DAYS, RetentionPolicy
from core.storage.snapshot import SNAPSHOT_DEPTH
from core.storage.store import StorageError

log = logging.getLogger(__name__)

STATUS_EVERY_MIN = 0.1  # seconds: a status line per symbol at most ten times a second


def add_parser(sub) -> None:
    parser = sub.add_parser("record", help="record top-N snapshots every second, headless")
    parser.add_argument(
        "--symbols", required=True, type=symbols, help="comma-separated, e.g. BTCUSDT,ETHUSDT (up to 200)"
    )
    add_db(parser)
    add_endpoints(parser)
    parser.add_argument(
        "--interval",
        type=whole(INTERVAL_RANGE, "seconds"),
        default=1,
        help=f"seconds between snapshots, {INTERVAL_RANGE[0]} to {INTERVAL_RANGE[1]} (default 1)",
    )
    parser.add_argument(
        "--depth",
        type=whole(DEPTH_RANGE, "levels"),
        default=SNAPSHOT_DEPTH,
        help=f"levels per side in each snapshot, {DEPTH_RANGE[0]} to {DEPTH_RANGE[1]} and at most "
        f"--snapshot-limit (default {SNAPSHOT_DEPTH}, the contract's)",
    )
    parser.add_argument("--duration", type=positive_float, default=None, help="stop after this many seconds")
    parser.add_argument(
        "--snapshot-limit",
        type=whole(SNAPSHOT_LIMIT_RANGE, "levels"),
        default=1000,
        help=f"REST snapshot depth, {SNAPSHOT_LIMIT_RANGE[0]} to {SNAPSHOT_LIMIT_RANGE[1]} (default 1000)",
    )
    parser.add_argument(
        "--status-every",
        type=at_least(STATUS_EVERY_MIN, 86_400, "seconds"),
        default=10.0,
        help=f"seconds between status lines, at least {STATUS_EVERY_MIN:g} (default 10)",
    )
    parser.add_argument(
        "--retention-days",
        type=days,
        default=None,
        help="delete snapshots of the recorded symbols older than this many days (at least 1), at start and "
        "hourly (default: keep all)",
    )
    parser.add_argument(
        "--retention",
        default=None,
        metavar="SYMBOL=DAYS,...",
        help="per-symbol retention over --retention-days, e.g. BTCUSDT=30,DOGEUSDT=2 (DAYS 'keep': keep all); "
        "it may name symbols this run does not record",
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
        name, sep, value = (part.strip() for part in item.partition("="))
        if not sep or not name or not (value == "keep" or (value.isascii() and value.isdigit())):
            raise UserError(f"--retention takes SYMBOL=DAYS pairs like BTCUSDT=30, got {item!r}")
        try:
            symbol = check_symbol(name)
        except ValueError as exc:
            raise UserError(f"--retention takes SYMBOL=DAYS pairs: {str(exc).rstrip('.')}") from None
        if value != "keep" and not 1 <= int(value) <= MAX_DAYS:
            raise UserError(
                f"--retention takes SYMBOL=DAYS pairs with DAYS from 1 to {MAX_DAYS} (or keep), got {item!r}"
            )
        policy[symbol] = None if value == "keep" else int(value)
    return policy


def record_config(args, symbols: list[str]) -> RecordingConfig:
    """The frozen configuration of this run, from the parsed flags."""
    if len(symbols) > MAX_SYMBOLS_CEILING:
        raise UserError(f"record takes at most {MAX_SYMBOLS_CEILING} symbols, got {len(symbols)}")
    per_symbol = parse_retention(args.retention)
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
            # Retention covers what this run records and the symbols named in --retention, nothing else.
            retention=RetentionPolicy(args.retention_days, per_symbol, frozenset(symbols)),
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
