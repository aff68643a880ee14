"""`python -m soak [--minutes M] [--symbols N] [--report PATH] [--app]`: run a soak, print its figures, write them as
JSON; exit status 1 if a hard promise failed (a wrong stored snapshot, an unexplained second, a crash)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from soak import report
from soak.driver import Soak, SoakConfig


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soak", description=__doc__)
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", 30)))
    parser.add_argument("--symbols", type=int, default=int(os.environ.get("SOAK_SYMBOLS", 50)))
    parser.add_argument("--report", default=os.environ.get("SOAK_REPORT", "soak-report.json"))
    parser.add_argument("--workdir", default="/tmp/depthbook-soak", help="database and logs (emptied first)")
    parser.add_argument("--app", action="store_true", help="soak the desktop app under Xvfb instead of record")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.symbols < 1 or args.minutes <= 0:
        parser.error("--minutes and --symbols must be above 0")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s soak %(levelname)s %(name)s: %(message)s")
    config = SoakConfig(
        minutes=args.minutes,
        symbols=args.symbols,
        report=args.report,
        workdir=args.workdir,
        app=args.app,
        seed=args.seed,
        command=" ".join(["python -m soak", *(argv if argv is not None else sys.argv[1:])])
        + f" (minutes={args.minutes:g} symbols={args.symbols})",
    )
    try:
        soak = Soak(config)
    except ValueError as exc:
        print(f"soak: {exc}", file=sys.stderr)
        return 2
    result = asyncio.run(soak.run())
    report.write(result, args.report)
    print(report.show(result))
    print(f"report written to {args.report}")
    return 1 if result["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
