"""The history charts' value (left) axis, whose ticks the charts' backdrop reads to draw the grid under the
curves before the axis itself paints (the backdrop is drawn first)."""

from __future__ import annotations

import pyqtgraph as pg


class ValueAxis(pg.AxisItem):
    """pyqtgraph's AxisItem whose tick values are kept for the last range asked, whatever the pixel size: the
    backdrop asks first (with the view's height), the axis then draws its labels at the same ticks."""

    def __init__(self, orientation: str = "left", **kwargs) -> None:
        super().__init__(orientation, **kwargs)
        self._ticks: tuple[tuple[float, float], list] | None = None

    def tickValues(self, minVal, maxVal, size):
        if self._ticks is None or self._ticks[0] != (minVal, maxVal):
            self._ticks = ((minVal, maxVal), super().tickValues(minVal, maxVal, size))
        return [(spacing, list(values)) for spacing, values in self._ticks[1]]

    def major_ticks(self, size: float) -> tuple[list[float], float]:
        """The major tick values in range, and how opaque pyqtgraph would draw their grid lines at `size` pixels
        (0..1 of the grid's alpha: it thins a crowded grid)."""
        lo, hi = self.range
        levels = self.tickValues(lo, hi, size)
        if not levels:
            return [], 0.0
        values = levels[0][1]
        return [v for v in values if lo <= v <= hi], min(1.0, max(0.0, 0.05 * size / (len(values) + 1)))
