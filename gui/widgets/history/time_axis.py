"""The history charts' time axis: local time, labelled from seconds to months by the zoom; UTC on hover."""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import ClassVar

import numpy as np
import pyqtgraph as pg
from pyqtgraph.graphicsItems import DateAxisItem as _date_axis
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPen

from gui.widgets.history.backdrop import over


class TimeAxis(pg.DateAxisItem):
    """pyqtgraph's DateAxisItem in the local time zone, without the millisecond level (recordings are whole
    seconds): HH:MM:SS, HH:MM, weekday and day, day and month, month and year, as the view widens."""

    def __init__(self, orientation: str = "bottom", **kwargs) -> None:
        super().__init__(orientation, utcOffset=None, **kwargs)
        # pyqtgraph sets this at the axis's first paint; the ticks of an axis not yet painted (or hidden: the
        # charts' backdrop draws their grid) are worked out with the default font's until then.
        self.fontMetrics = QFontMetrics(QFont())
        self.zoomLevels = OrderedDict(
            [
                (np.inf, _date_axis.YEAR_MONTH_ZOOM_LEVEL),
                (5 * 86_400, _date_axis.MONTH_DAY_ZOOM_LEVEL),
                (6 * 3600, _date_axis.DAY_HOUR_ZOOM_LEVEL),
                (15 * 60, _date_axis.HOUR_MINUTE_ZOOM_LEVEL),
                # pyqtgraph's key for this level: ticks up to 30 s apart. (It was 1, the key of the millisecond
                # level left out, so a 90-second view was labelled by the minute: one label.)
                (30, _date_axis.HMS_ZOOM_LEVEL),
            ]
        )

    # The five linked charts' time axes have the same range and width: the first to redraw works the ticks
    # out (time zones, zoom level: most of an axis's redraw) and the other four reuse them.
    _shared: ClassVar[dict[tuple, tuple]] = {}

    # When set, the grid lines are drawn opaque, blended over this colour once: Qt's raster engine hands a
    # translucent line taller than ~96 scanlines to its GUI thread pool, and on two loaded cores that hand-off
    # costs more than the line (the heatmap's axis; its empty cells are this background).
    opaque_over: QColor | None = None

    def drawPicture(self, p, axisSpec, tickSpecs, textSpecs):
        if self.opaque_over is not None:
            tickSpecs = [(self._opaque(pen), a, b) for pen, a, b in tickSpecs]
        super().drawPicture(p, axisSpec, tickSpecs, textSpecs)

    def _opaque(self, pen: QPen) -> QPen:
        c = pen.color()
        if c.alpha() == 255:
            return pen
        opaque = QPen(pen)
        opaque.setColor(over((c.red(), c.green(), c.blue(), c.alpha()), self.opaque_over))
        return opaque

    def tickValues(self, minVal, maxVal, size):
        key = (minVal, maxVal, size, self.fontMetrics.height(), self.utcOffset)
        shared = TimeAxis._shared.get(key)
        if shared is None:
            values = super().tickValues(minVal, maxVal, size)
            if len(TimeAxis._shared) >= 16:
                TimeAxis._shared.clear()
            shared = TimeAxis._shared[key] = (self.zoomLevel, self.minSpacing, values)
        self.zoomLevel, self.minSpacing, values = shared
        self.zoomLevel.utcOffset = self.utcOffset
        return [(spacing, ticks.copy()) for spacing, ticks in values]  # copies: the caller may edit them


def local_and_utc(ts: float) -> str:
    """'2025-01-18 01:00:05 CET · 00:00:05 UTC' for the hover readouts; the UTC part once where local time is
    UTC ('2025-01-18 00:00:05 UTC')."""
    second = int(ts)
    local = time.localtime(second)
    if local.tm_gmtoff == 0:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(second))
    utc = time.strftime("%H:%M:%S UTC", time.gmtime(second))
    return f"{time.strftime('%Y-%m-%d %H:%M:%S %Z', local)} · {utc}"
