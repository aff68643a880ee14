"""Where the desktop app's memory goes while it records: the app itself, with a thread that logs every PERIOD s its
RSS, Python's allocated blocks, glibc malloc's bytes in use and free-but-held, and the RocksDB memtables of every
open database handle. Optionally (TRACE_AT) tracemalloc starts after the warm-up and the allocations still alive
are listed by line at each SNAP_AT, with the growth between two listings; optionally (TRIM_AT) malloc_trim(0)
shows how much of the RSS is free memory malloc holds. SIGTERM at END. docs/RELIABILITY.md (the soak) has a run.

    OUT=mem.log END=900 TRACE_AT=240 SNAP_AT=480,840 TRIM_AT=600 xvfb-run -a python -m soak.app_memory \\
        --ws-url ws://127.0.0.1:8765 --rest-url http://127.0.0.1:8765 --db /tmp/memdb --record BTCUSDT,...

tracemalloc costs the app much of its speed and taking a listing holds the GIL for minutes on a loaded machine:
use it for where Python memory is allocated, the untraced figures for rates. Linux (glibc) only.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
import tracemalloc

import psutil

from core.storage.store import SnapshotStorage

MEMTABLES = "rocksdb.cur-size-all-mem-tables"
MIB = 2**20


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost"
    )]  # fmt: skip


def _seconds(name: str, default: str) -> list[float]:
    return [float(x) for x in os.environ.get(name, default).split(",") if x]


class Probe:
    def __init__(self) -> None:
        self.period = float(os.environ.get("PERIOD", "30"))
        self.end = float(os.environ.get("END", "900"))
        self.trace_at = _seconds("TRACE_AT", "")
        self.snaps = _seconds("SNAP_AT", "")
        self.trims = _seconds("TRIM_AT", "")
        self.out = open(os.environ.get("OUT", "app-memory.log"), "a", buffering=1)  # noqa: SIM115 - the run's log
        self.libc = ctypes.CDLL("libc.so.6")
        self.libc.mallinfo2.restype = _MallInfo2
        self.stores: list[SnapshotStorage] = []
        self.process = psutil.Process()
        self.started = time.monotonic()
        self.first: tracemalloc.Snapshot | None = None
        opened = SnapshotStorage.__init__

        def tracked(storage, *args, **kwargs) -> None:  # every handle the app opens, to read its memtables
            opened(storage, *args, **kwargs)
            self.stores.append(storage)

        SnapshotStorage.__init__ = tracked

    def memtables(self) -> int:
        total = 0
        for storage in self.stores:
            db = getattr(storage, "_db", None)
            if db is not None:
                total += sum(f.property_int_value(MEMTABLES) or 0 for f in [db, *storage._views.values()])
        return total

    def line(self, note: str = "") -> str:
        m = self.libc.mallinfo2()
        traced = tracemalloc.get_traced_memory()[0] / MIB if tracemalloc.is_tracing() else 0.0
        return (
            f"t={time.monotonic() - self.started:.0f} rss={self.process.memory_info().rss / MIB:.1f} "
            f"pyblocks={sys.getallocatedblocks()} malloc_inuse={(m.uordblks + m.hblkhd) / MIB:.1f} "
            f"malloc_free={m.fordblks / MIB:.1f} memtables={self.memtables() / MIB:.1f} traced={traced:.1f}{note}\n"
        )

    def listing(self) -> None:
        snap = tracemalloc.take_snapshot().filter_traces((tracemalloc.Filter(False, tracemalloc.__file__),))
        self.out.write("-- alive, allocated since tracing started, by line:\n")
        self.out.writelines(f"   {stat}\n" for stat in snap.statistics("lineno")[:20])
        if self.first is not None:
            self.out.write("-- growth since the first listing:\n")
            self.out.writelines(f"   {stat}\n" for stat in snap.compare_to(self.first, "lineno")[:15])
        self.first = self.first or snap

    def run(self) -> None:
        while True:
            time.sleep(self.period)
            t = time.monotonic() - self.started
            self.out.write(self.line())
            if self.trace_at and t >= self.trace_at[0]:
                self.trace_at.clear()
                tracemalloc.start(4)
            if self.snaps and t >= self.snaps[0] and tracemalloc.is_tracing():
                self.snaps.pop(0)
                self.listing()
            if self.trims and t >= self.trims[0]:
                self.trims.pop(0)
                self.libc.malloc_trim(0)
                self.out.write(self.line(" after malloc_trim(0)"))
            if t >= self.end:
                self.out.write("end: SIGTERM\n")
                os.kill(os.getpid(), signal.SIGTERM)
                return


def main() -> int:
    threading.Thread(target=Probe().run, name="app-memory", daemon=True).start()
    from gui.entry import main as app_main

    return app_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
