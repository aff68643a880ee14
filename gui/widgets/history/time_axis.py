"""The history charts' time axis: local time, labelled from seconds to months by the zoom; UTC on hover."""

from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np
import pyqtgraph as pg
from pyqtgraph.graphicsItems import DateAxisItem as _date_axis


class TimeAxis(pg.DateAxisItem):
    """pyqtgraph's DateAxisItem in the local time zone, without the millisecond level (recordings are whole
    seconds): HH:MM:SS, HH:MM, weekday and day, day and month, month and year, as the view widens."""

    def __init__(self, orientation: str = "bottom", **kwargs) -> None:
        super().__init__(orientation, utcOffset=None, **kwargs)
        self.zoomLevels = OrderedDict(
            [
                (np.inf, _date_axis.YEAR_MONTH_ZOOM_LEVEL),
                (5 * 86_400, _date_axis.MONTH_DAY_ZOOM_LEVEL),
                (6 * 3600, _date_axis.DAY_HOUR_ZOOM_LEVEL),
                (15 * 60, _date_axis.HOUR_MINUTE_ZOOM_LEVEL),
                (1, _date_axis.HMS_ZOOM_LEVEL),
            ]
        )


def local_and_utc(ts: float) -> str:
    """'2025-01-18 01:00:05 CET · 00:00:05 UTC' for the hover readouts."""
    second = int(ts)
    local = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(second))
    utc = time.strftime("%H:%M:%S UTC", time.gmtime(second))
    return f"{local} · {utc}"
