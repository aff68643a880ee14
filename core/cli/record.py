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
from core.feed.manager import MAX_SYMBOLS_CEILING, ManagerConfig, OrderBookManager, SubscriptionLimitError
from core.market.endpoints import resolve_endpoints
from core.paths import default_db_path
from core.recording.recorder import SnapshotRecorder
from core.storage.retention import RetentionPolicy
from core.storage.store import SnapshotStorage, StorageError, StorageOptions

log = logging.getLogger(__name__)


def add_parser(sub) -> None:
    parser = sub.add_parser("record", help="record top-N snapshots every second, headless")
    parser.add_argument("--symbols", required=True, help="comma-separated, e.g. BTCUSDT,ETHUSDT (up to 200)")
    add_db(parser)
    add_endpoints(parser)
    parser.add_argument("--interval", type=int, default=1, help="seconds between snapshots (default 1)")
    parser.add_argument("--depth", type=int, default=20, help="levels per side in each snapshot (default 20)")
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


def status_line(manager: OrderBookManager, recorder: SnapshotRecorder, symbol: str) -> str:
    state = manager.status(symbol).state if symbol in manager.symbols else "unsubscribed"
    rec = recorder.status(symbol)
    stored = rec.stored if rec else 0
    gaps = rec.gaps if rec else 0
    waiting = rec.waiting if rec else 0
    last = rec.last_stored if rec and rec.last_stored else "-"
    line = f"{symbol:<12} {state!s:<10} stored={stored} gaps={gaps} waiting={waiting} last={last}"
    if recorder.write_errors:
        line += f" write_errors={recorder.write_errors} last_error={recorder.last_error or 'recovered'}"
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


async def run_record(args) -> int:
    symbols = split_symbols(args.symbols)
    if len(symbols) > MAX_SYMBOLS_CEILING:
        raise UserError(f"record takes at most {MAX_SYMBOLS_CEILING} symbols, got {len(symbols)}")
    try:
        endpoints = resolve_endpoints(args.preset, args.ws_url, args.rest_url)
    except (ValueError, KeyError) as exc:
        raise UserError(str(exc).strip("'\"")) from None
    db_path = args.db or default_db_path()
    db_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        options = StorageOptions(retention=RetentionPolicy(args.retention_days, parse_retention(args.retention)))
        storage = SnapshotStorage.open(db_path, mode="writer", options=options)
    except StorageError as exc:
        raise UserError(str(exc)) from None

    config = ManagerConfig(
        ws_url=endpoints.ws_url,
        rest_url=endpoints.rest_url,
        max_symbols=max(20, len(symbols)),
        snapshot_limit=args.snapshot_limit,
    )
    stop = asyncio.Event()
    install_stop_signals(stop)
    manager = OrderBookManager(config)
    recorder = SnapshotRecorder(storage, manager, symbols, interval=args.interval, depth=args.depth)
    exit_code = EXIT_OK
    await manager.start()
    try:
        try:
            await manager.subscribe_many(symbols)
        except (ExchangeError, SubscriptionLimitError) as exc:
            print(f"depthbook: {exc}", file=sys.stderr, flush=True)
            return EXIT_FAILED
        print(f"recording {len(symbols)} symbols from {endpoints.ws_url} into {db_path}", flush=True)
        task = asyncio.get_running_loop().create_task(recorder.run(stop))
        started = time.monotonic()
        while not stop.is_set():
            timeout = args.status_every
            if args.duration is not None:
                timeout = min(timeout, max(0.0, args.duration - (time.monotonic() - started)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout)
            for symbol in symbols:
                print(status_line(manager, recorder, symbol), flush=True)
            if args.duration is not None and time.monotonic() - started >= args.duration:
                stop.set()
        await task  # the tick in flight completes and the session is closed
    finally:
        await manager.stop()
        await storage.aclose()
    if recorder.write_errors:
        print(
            f"finished with {recorder.write_errors} failed writes: {recorder.last_error or 'recovered'}",
            flush=True,
        )
    return exit_code
