"""How long the app took to show its window: the process's age, read from Linux's /proc."""

from __future__ import annotations

import os


def process_age() -> float | None:
    """Seconds since this process started (Linux /proc), for the start-up time; None elsewhere."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat, open("/proc/uptime", encoding="ascii") as up:
            start_ticks = int(stat.read().rsplit(")", 1)[1].split()[19])
            uptime = float(up.read().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
