"""Other engines over an archive Depthbook wrote: DuckDB, ClickHouse (chdb, embedded) and Spark (pyspark, local).

    .venv/bin/pip install 'depthbook[engines]'       # chdb and pyspark: ~1 GB, so not in the test extra
    .venv/bin/python -m bench.engines [--keep DIR]

Writes the archive tests' database (tests/core/archive/recorded.py: BTCUSDT, ETHUSDT, SOLUSDT on 2025-06-02),
archives it to a directory with `Archiver` (what `depthbook archive` runs), then runs the same three queries
in each engine that is installed and prints what it answers: snapshots and gaps per symbol, mid and spread per
minute, and the exchange's exact strings of one second. docs/ARCHIVE.md shows a run. Not part of `make bench`
(it measures nothing); an engine that is not installed is skipped with a line saying so.
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

from core.archive.archiver import ArchiveOptions, Archiver
from core.archive.location import open_location
from core.storage.store import SnapshotStorage
from tests.core.archive.recorded import DAY, write_database

GLOB = "market=*/symbol=*/date=*/*.parquet"

PER_SYMBOL = """
SELECT symbol, sum(CASE WHEN gap IS NULL THEN 1 ELSE 0 END) AS snapshots, count(gap) AS gaps, min(ts) AS first,
       max(ts) AS last
FROM {src} GROUP BY symbol ORDER BY symbol"""
PER_MINUTE = """
SELECT {minute} AS minute, avg((bid_price_0 + ask_price_0) / 2) AS mid, avg(ask_price_0 - bid_price_0) AS spread,
       count(*) AS seconds
FROM {src} WHERE symbol = 'BTCUSDT' AND gap IS NULL AND ts >= {t0} AND ts < {t1}
GROUP BY 1 ORDER BY 1"""
EXACT = """
SELECT ts, update_id, CAST(bid_price_0 AS {string}) AS best_bid, CAST(bid_qty_0 AS {string}) AS bid_qty,
       CAST(ask_price_0 AS {string}) AS best_ask
FROM {src} WHERE symbol = 'SOLUSDT' AND ts = {t}"""

T0, T1, T = "2025-06-02 11:30:00", "2025-06-02 11:33:00", "2025-06-02 10:00:09"


def duckdb_queries(root: Path) -> None:
    import duckdb

    src = f"read_parquet('{root}/{GLOB}', hive_partitioning = true)"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    print(f"-- DuckDB {duckdb.__version__}")
    for sql in (
        PER_SYMBOL.format(src=src),
        PER_MINUTE.format(src=src, minute="time_bucket(INTERVAL 1 MINUTE, ts)",
                          t0=f"TIMESTAMPTZ '{T0}+00'", t1=f"TIMESTAMPTZ '{T1}+00'"),
        EXACT.format(src=src, string="VARCHAR", t=f"TIMESTAMPTZ '{T}+00'"),
    ):  # fmt: skip
        show(sql, con.sql(sql).fetchall())


def clickhouse_queries(root: Path) -> None:
    import chdb

    src = f"file('{root}/{GLOB}', Parquet)"
    settings = " SETTINGS use_hive_partitioning = 1, session_timezone = 'UTC'"
    print(f"-- ClickHouse (chdb {chdb.__version__}, embedded)")
    for sql in (
        PER_SYMBOL.format(src=src),
        PER_MINUTE.format(src=src, minute="toStartOfMinute(ts)", t0=f"toDateTime64('{T0}', 3, 'UTC')",
                          t1=f"toDateTime64('{T1}', 3, 'UTC')"),
        # CAST(... AS String) drops trailing zeros in ClickHouse: toDecimalString writes the 8 decimals
        re.sub(r"CAST\((\w+) AS String\)", r"toDecimalString(\1, 8)",
               EXACT.format(src=src, string="String", t=f"toDateTime64('{T}', 3, 'UTC')")),
    ):  # fmt: skip
        result = chdb.query(sql + settings, "TabSeparated")
        show(sql, [tuple(line.split("\t")) for line in str(result).strip().splitlines()])


def spark_queries(root: Path) -> None:
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[2]").appName("depthbook-archive")
        .config("spark.sql.session.timeZone", "UTC").config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false").getOrCreate()
    )  # fmt: skip
    spark.sparkContext.setLogLevel("ERROR")
    try:
        # Spark discovers market=, symbol= and date= as partition columns from the directory names.
        spark.read.parquet(str(root)).createOrReplaceTempView("archive")
        print(f"-- Spark {spark.version} (pyspark, local)")
        for sql in (
            PER_SYMBOL.format(src="archive"),
            PER_MINUTE.format(src="archive", minute="date_trunc('minute', ts)", t0=f"TIMESTAMP '{T0}'",
                              t1=f"TIMESTAMP '{T1}'"),
            EXACT.format(src="archive", string="STRING", t=f"TIMESTAMP '{T}'"),
        ):  # fmt: skip
            show(sql, [tuple(row) for row in spark.sql(sql).collect()])
    finally:
        spark.stop()


def show(sql: str, rows: list[tuple]) -> None:
    print(" ".join(sql.split()))
    for row in rows:
        print("   ", " | ".join(str(value) for value in row))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.engines", description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, default=None, help="write the database and archive here and keep them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="depthbook-engines-") as tmp:
        base = args.keep or Path(tmp)
        db, root = base / "db", base / "archive"
        if not db.exists():
            write_database(db)
        with SnapshotStorage.open(db, mode="read_only") as storage:
            report = Archiver(storage, open_location(str(root)), ArchiveOptions(now=lambda: DAY + 86_400 * 30)).run()
        print(f"archive: {root} ({len(report.uploaded)} hours written now, {report.skipped} already there)\n")
        for name, run in (("duckdb", duckdb_queries), ("chdb", clickhouse_queries), ("pyspark", spark_queries)):
            began = time.perf_counter()
            try:
                run(root)
            except ImportError:
                print(f"-- {name} is not installed: skipped (pip install 'depthbook[engines]')")
            print(f"   ({time.perf_counter() - began:.1f} s)\n")


if __name__ == "__main__":
    main()
