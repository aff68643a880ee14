"""`depthbook sim`: run the built-in exchange simulator until Ctrl-C or SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys

from core.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_log_level,
    add_market,
    port,
    split_symbols,
    symbols,
    whole,
)
from core.market.markets import USDM
from core.simulator.server import serve_forever

SIM_INTERVAL_MS_RANGE = (1, 60_000)


def add_parser(sub) -> None:
    parser = sub.add_parser(
        "sim",
        help="run the built-in exchange simulator (Binance-compatible streams and REST on one port)",
        description="Run a Binance-compatible exchange simulator (WebSocket streams and REST) on one port.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument("--port", type=port, default=8765, help="port, 0 for any free one (default: %(default)s)")
    parser.add_argument(
        "--symbols", type=symbols, default="BTCUSDT,ETHUSDT,BNBUSDT", help="comma-separated (default: %(default)s)"
    )
    parser.add_argument(
        "--interval-ms",
        type=whole(SIM_INTERVAL_MS_RANGE, "milliseconds"),
        default=100,
        help="event interval per symbol, 1 to 60000 (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=1, help="market seed (default: %(default)s)")
    parser.add_argument(
        "--fast-market",
        action="store_true",
        help="resting levels stay put until the touch reaches them while the mid runs thousands of ticks a minute",
    )
    parser.add_argument(
        "--long-tail",
        action="store_true",
        help="a whole market's activity: the first 50 symbols at 10 events/s, a power law down to 1/s at the median",
    )
    # usdm: /fapi/v1 REST and `pu`-chained events under ws://HOST:PORT/public; record it with --market usdm.
    add_market(parser, stores=False)
    add_log_level(parser, "WARNING")


def run(args) -> int:
    names = split_symbols(args.symbols)  # argparse parses a default given as text too
    try:
        asyncio.run(
            _run(names, args.host, args.port, args.interval_ms, args.seed, args.market is USDM,
                 args.fast_market, args.long_tail)
        )
    except (KeyboardInterrupt, asyncio.CancelledError):
        return EXIT_OK
    except OSError as exc:
        print(f"depthbook: cannot start the simulator on {args.host}:{args.port}: {exc.strerror or exc}.", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


async def _run(
    symbols: list[str], host: str, port: int, interval_ms: int, seed: int, usdm: bool, fast: bool, long_tail: bool
) -> None:
    # SIGINT and SIGTERM stop it quietly, as `record` does: handled here, not left to asyncio.run's KeyboardInterrupt,
    # which never comes when SIGINT was ignored by whoever started this (a shell's `&` ignores it).
    task = asyncio.current_task()
    assert task is not None
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            asyncio.get_running_loop().add_signal_handler(sig, task.cancel)
    await serve_forever(symbols, host, port, interval_ms, seed, usdm, fast, long_tail)

