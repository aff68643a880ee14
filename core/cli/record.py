"""`depthbook record`: the headless recorder for servers.

What it records: `--symbols A,B` (those of them that trade; the others are named in one warning and skipped), or
`--all` (every TRADING spot symbol, optionally only `--quote` assets and one `--shard K/N` of the market, new
listings included). The two are exclusive: a run records either a named list or a part of the market, so what it
recorded is always said by its flags. Symbols that stop trading are paused until they trade again
(core.feed.listing). An exchange that does not answer at start is asked again with backoff for as long as it
takes, the status line saying so: a recorder started on a server waits for the network rather than exit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import shutil
import sys

from core.cli.archive import add_record_flag, record_follower
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
    quote_assets,
    run_headless,
    shard,
    split_symbols,
    symbols,
    whole,
)
from core.feed.errors import ExchangeError
from core.feed.listing import MarketSelection
from core.feed.manager import MAX_SYMBOLS_CEILING, SubscriptionLimitError
from core.market.endpoints import resolve_endpoints
from core.paths import default_db_path
from core.recording.collector import settle_collector
from core.recording.config import (
    DEPTH_RANGE,
    INTERVAL_RANGE,
    SNAPSHOT_LIMIT_RANGE,
    RecordingConfig,
    check_symbol,
)
from core.recording.session import RecordingSession
from core.storage.keys import storage_symbol
from core.storage.retention import MAX_DAYS, RetentionPolicy
from core.storage.snapshot import SNAPSHOT_DEPTH
from core.storage.store import StorageError
from core.timeparse import iso_utc

log = logging.getLogger(__name__)

STATUS_EVERY_MIN = 0.1  # seconds: a status line per symbol at most ten times a second
STATUS_LINES_MAX = 50  # more symbols than this get one summary status line, not one line each
LISTING_EVERY_RANGE = (10.0, 86_400.0)  # seconds between exchangeInfo refreshes (weight 20 each)


def add_parser(sub) -> None:
    parser = sub.add_parser("record", help="record top-N snapshots every second, headless")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--symbols",
        type=symbols,
        help=f"comma-separated, e.g. BTCUSDT,ETHUSDT (up to {MAX_SYMBOLS_CEILING}); those not trading are skipped",
    )
    which.add_argument(
        "--all", action="store_true", help="every TRADING symbol of the market, new listings included"
    )
    parser.add_argument(
        "--quote",
        type=quote_assets,
        default=None,
        help="with --all: only symbols quoted in these assets, e.g. USDT",
    )
    parser.add_argument(
        "--shard",
        type=shard,
        default=None,
        metavar="K/N",
        help="with --all: only the K-th of N shards of the market (by a hash of the symbol name), so N recorders "
        "split it with no overlap and no hole",
    )
    parser.add_argument(
        "--listing-every",
        type=at_least(*LISTING_EVERY_RANGE, "seconds"),
        default=180.0,
        help="seconds between exchangeInfo checks that pause symbols which stop trading and add new listings "
        f"(at least {LISTING_EVERY_RANGE[0]:g}, default 180)",
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
    parser.add_argument(
        "--duration",
        type=positive_float,
        default=None,
        help="stop this many seconds after starting (waiting for the exchange included)",
    )
    parser.add_argument(
        "--snapshot-limit",
        type=whole(SNAPSHOT_LIMIT_RANGE, "levels"),
        default=1000,
        help=f"REST snapshot depth, {SNAPSHOT_LIMIT_RANGE[0]} to {SNAPSHOT_LIMIT_RANGE[1]}, at most 1000 on usdm "
        "(default 1000)",
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
    add_record_flag(parser)
    add_log_level(parser, "INFO")


def run(args) -> int:
    return run_headless(run_record(args))


def status_line(session: RecordingSession, symbol: str) -> str:
    status = session.symbol_status(symbol)
    stopped = session.manager.stopped_symbols.get(symbol)
    state = status.state if status is not None else f"stopped:{stopped}" if stopped else "unsubscribed"
    rec = session.recording_status(symbol)
    stored = rec.stored if rec else 0
    gaps = rec.gaps if rec else 0
    unverified = rec.unverified if rec else 0
    waiting = rec.waiting if rec else 0
    last = iso_utc(rec.last_stored) if rec and rec.last_stored else "-"  # the second of the last snapshot on disk
    line = (
        f"{symbol:<12} {state!s:<10} stored={stored} gaps={gaps} unverified={unverified} waiting={waiting} "
        f"last={last}"
    )
    return line + trouble(session)


def trouble(session: RecordingSession) -> str:
    """What went wrong with writing, for the end of a status line ("" when nothing did)."""
    text = ""
    if session.write_errors:
        text += f" write_errors={session.write_errors} last_error={session.last_write_error or 'recovered'}"
    if session.ticks_lost:
        text += f" ticks_lost={session.ticks_lost}"
    return text


def summary_line(session: RecordingSession, symbols: list[str]) -> str:
    """One line for many symbols: how many are live, and the recording's totals."""
    live = sum(session.manager.is_live(s) for s in symbols)
    stopped = len(session.manager.stopped_symbols)
    recs = [r for r in (session.recording_status(s) for s in symbols) if r is not None]
    conn = session.connection_status()
    line = (
        f"{len(symbols)} symbols live={live} not_live={len(symbols) - live - stopped} stopped={stopped} "
        f"stored={sum(r.stored for r in recs)} gaps={sum(r.gaps for r in recs)} "
        f"unverified={sum(r.unverified for r in recs)} waiting={sum(r.waiting for r in recs)} "
        f"connections={conn.connections} reconnects={conn.reconnects}"
    )
    return line + trouble(session)


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
    if not args.all and (args.quote is not None or args.shard is not None):
        raise UserError(
            f"{'--quote' if args.quote is not None else '--shard'} chooses part of the market: use it with --all"
        )
    per_symbol = parse_retention(args.retention)
    try:
        endpoints = resolve_endpoints(args.preset, args.ws_url, args.rest_url, args.market)
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
            max_symbols=MAX_SYMBOLS_CEILING if args.all else max(20, len(symbols)),
            # Retention covers what this run records and the symbols named in --retention, nothing else: this
            # market's, by the names they are stored under (usdm/BTCUSDT on futures). --all learns what it
            # records as it runs (and a shard never reaches another shard's symbols): `recorded`.
            retention=RetentionPolicy(
                args.retention_days,
                {storage_symbol(endpoints.market, s): days for s, days in per_symbol.items()},
                frozenset(storage_symbol(endpoints.market, s) for s in symbols),
                recorded=args.all,
            ),
            market=endpoints.market,
        )
    except ValueError as exc:
        raise UserError(str(exc)) from None


async def run_record(args) -> int:
    symbols = [] if args.all else split_symbols(args.symbols)
    config = record_config(args, symbols)
    stop = asyncio.Event()
    install_stop_signals(stop)

    def on_failure(sentence: str, stopped: bool) -> None:
        print(f"depthbook: {sentence}", file=sys.stderr, flush=True)
        if stopped:  # recording cannot go on: stop cleanly and say so in the exit code
            stop.set()

    config, follower = record_follower(args, config, lambda sentence: on_failure(sentence, False))
    session = RecordingSession(
        config, on_failure=on_failure, manager_options={"listing_interval": args.listing_every}
    )
    created = not config.db_path.exists()  # by this run: removed again if nothing comes to be recorded in it
    followed: list[str] | None = None
    try:
        await session.start()
    except StorageError as exc:  # nothing was started: the database is checked first
        raise UserError(str(exc)) from None
    duration_over = asyncio.Event()  # --duration counts from here: waiting for the exchange is part of the run
    if args.duration is not None:
        asyncio.get_running_loop().call_later(args.duration, lambda: (duration_over.set(), stop.set()))
    try:
        try:
            followed = await _unless_stopped(stop, _follow(session, args, symbols))
        except (ExchangeError, SubscriptionLimitError) as exc:
            print(f"depthbook: {exc}", file=sys.stderr, flush=True)
            return EXIT_FAILED
        if followed is None:  # stopped while waiting for the exchange
            if duration_over.is_set():
                print(f"depthbook: the exchange could not be reached within --duration {args.duration:g} s; "
                      "nothing was recorded", file=sys.stderr, flush=True)  # fmt: skip
                return EXIT_FAILED
            return EXIT_OK
        if not followed:
            return EXIT_FAILED  # _follow said why
        symbols = followed
        settle_collector(len(symbols))  # after start-up: fewer young collections, none over what start-up built
        what = "1 symbol" if len(symbols) == 1 else f"{len(symbols)} symbols"
        print(f"recording {what} from {config.ws_url} into {config.db_path}", flush=True)
        if follower is not None:
            follower.start(str(config.db_path))
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.status_every)  # the duration's timer sets `stop` too
            symbols = list(dict.fromkeys([*symbols, *session.symbols]))  # with new listings
            if len(symbols) > STATUS_LINES_MAX:
                print(summary_line(session, symbols), flush=True)
            else:
                for symbol in symbols:
                    print(status_line(session, symbol), flush=True)
            if follower is not None:
                print(follower.status.line(follower.location.url), flush=True)
    finally:
        if follower is not None:
            await follower.stop()  # the hour in flight finishes before the database closes
        write_errors, last_error, lost = session.write_errors, session.last_write_error, session.ticks_lost
        await session.stop()  # the tick in flight is flushed, the session closed, then the database
        if created and not followed:  # no symbol was ever recorded: leave no empty database behind
            shutil.rmtree(config.db_path, ignore_errors=True)
    if write_errors:
        lost_text = f", {lost} ticks lost" if lost else ""
        print(
            f"finished with {write_errors} failed writes{lost_text}: {last_error or 'recovered'}", flush=True
        )
    return EXIT_FAILED if session.failure else EXIT_OK


async def _follow(session: RecordingSession, args, symbols: list[str]) -> list[str]:
    """Follow and record what the flags ask for; the symbols recorded, [] (said why) if none can be."""

    def waiting(sentence: str, delay: float) -> None:
        print(f"waiting for the exchange: {sentence.rstrip('.')}; next try in {delay:.0f} s", flush=True)

    if args.all:
        selection = MarketSelection(args.quote, args.shard)
        followed = await session.follow_market(selection, record=True, retry_for=math.inf, on_retry=waiting)
        if not followed:
            chosen = [f"--quote {','.join(sorted(args.quote))}"] if args.quote else []
            chosen += [f"--shard {args.shard[0]}/{args.shard[1]}"] if args.shard else []
            with_flags = f" with {' and '.join(chosen)}" if chosen else ""
            print(f"depthbook: no TRADING symbol matches --all{with_flags}.", file=sys.stderr)
        return followed
    check = await session.follow_valid(symbols, retry_for=math.inf, on_retry=waiting)
    if not check.valid:
        print(f"depthbook: {check.describe()} Nothing to record.", file=sys.stderr, flush=True)
        return []
    if check.invalid:
        log.warning("%s Recording the other %d.", check.describe(), len(check.valid))
    for symbol in check.valid:
        session.set_recording(symbol, True)
    return check.valid


async def _unless_stopped(stop: asyncio.Event, coro) -> list[str] | None:
    """`await coro`, or None as soon as `stop` is set (Ctrl-C while waiting for the exchange)."""
    work = asyncio.ensure_future(coro)
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if work.done():
        return work.result()
    work.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await work
    return None
