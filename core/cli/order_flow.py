"""`depthbook order-flow`: bid/ask pressure over a recorded window, from a database or an archive. Read-only,
safe while recording."""

from __future__ import annotations

import sys

import orjson

from core.analysis.history import History
from core.analysis.order_flow import InsufficientDataError
from core.cli.archive import add_source, open_source
from core.cli.common import EXIT_OK, UserError, add_log_level, no_snapshots, symbol, unix_time
from core.timeparse import iso_utc


def add_parser(sub) -> None:
    parser = sub.add_parser("order-flow", help="bid/ask pressure over a recorded window")
    add_source(parser)
    parser.add_argument("--symbol", required=True, type=symbol)
    parser.add_argument("--window", type=int, default=60, help="seconds, 10 to 300 (default 60)")
    parser.add_argument(
        "--end", type=unix_time, default=None, help="window end, ISO 8601 or Unix seconds (default: last stored)"
    )
    parser.add_argument("--json", action="store_true", help="JSON instead of text")
    add_log_level(parser, "WARNING")


def run(args) -> int:
    symbol = args.symbol
    with open_source(args) as storage:
        if storage.first_last(symbol) is None:
            raise no_snapshots(symbol, storage)
        try:
            flow = History(storage).get_order_flow(symbol, args.window, args.end)
        except (ValueError, InsufficientDataError) as exc:
            raise UserError(str(exc)) from None
        finally:
            damaged = storage.damage.seconds(symbol)
        if damaged:  # left out of the window; the log names each
            shown = ", ".join(iso_utc(ts) for ts in damaged[:3]) + (", …" if len(damaged) > 3 else "")
            print(f"depthbook: left out {len(damaged)} damaged snapshots of {symbol} ({shown}).", file=sys.stderr)
    if args.json:
        sys.stdout.write(orjson.dumps(flow.to_dict()).decode() + "\n")
        return EXIT_OK
    print(
        f"{symbol} order flow {flow.time_window_start} → {flow.time_window_end} ({flow.window_duration_secs} s)"
    )
    print(f"  bid flow rate     {flow.bid_flow_rate:.3f} level increases/s")
    print(f"  ask flow rate     {flow.ask_flow_rate:.3f} level increases/s")
    print(f"  net flow          {flow.net_flow:+.3f}")
    print(f"  direction         {flow.flow_direction.value}")
    print(f"  cumulative delta  {flow.cumulative_delta:+.6f}")
    print(f"  snapshots         {flow.snapshot_count} covering {flow.covered_secs} s")
    return EXIT_OK
