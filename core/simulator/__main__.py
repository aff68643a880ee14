"""`python -m core.simulator`: run the exchange simulator until Ctrl-C (or SIGTERM)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from core.simulator.server import serve_forever


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m core.simulator",
        description="Run a Binance-compatible exchange simulator (WebSocket streams and REST) on one port.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    parser.add_argument(
        "--port", type=int, default=8765, help="port, 0 for any free one (default: %(default)s)"
    )
    parser.add_argument(
        "--symbols", default="BTCUSDT,ETHUSDT,BNBUSDT", help="comma-separated (default: %(default)s)"
    )
    parser.add_argument(
        "--interval-ms", type=int, default=100, help="event interval per symbol (default: %(default)s)"
    )
    parser.add_argument("--seed", type=int, default=1, help="market seed (default: %(default)s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log connections and faults")
    args = parser.parse_args(argv)
    symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
    if not symbols or args.interval_ms <= 0:
        parser.error("need at least one symbol and a positive --interval-ms")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    try:
        asyncio.run(_run(symbols, args.host, args.port, args.interval_ms, args.seed))
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 0
    except OSError as exc:
        print(f"error: cannot start the simulator: {exc}", file=sys.stderr)
        return 1
    return 0


async def _run(symbols: list[str], host: str, port: int, interval_ms: int, seed: int) -> None:
    # SIGINT is turned into KeyboardInterrupt by asyncio.run; SIGTERM should stop as quietly.
    task = asyncio.current_task()
    assert task is not None
    with contextlib.suppress(NotImplementedError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await serve_forever(symbols, host, port, interval_ms, seed)


if __name__ == "__main__":
    sys.exit(main())
