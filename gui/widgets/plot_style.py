"""What every Depthbook chart does to its pyqtgraph plot: a quiet, fixed frame that is cheap to repaint."""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtWidgets import QGraphicsItem

from gui.values import ThemeColors


def quiet_plot(plot: pg.PlotItem, grid_alpha: float, left_width: int) -> None:
    """No menu, buttons or mouse zoom (the charts follow the data), a faint grid, plain axis numbers."""
    plot.setMenuEnabled(False)
    plot.hideButtons()
    plot.setMouseEnabled(x=False, y=False)
    plot.showGrid(x=True, y=True, alpha=grid_alpha)
    plot.getAxis("left").setWidth(left_width)
    for side in ("left", "bottom"):
        axis = plot.getAxis(side)
        axis.enableAutoSIPrefix(False)  # prices and bps read better as they are than rescaled by 1e3
        # An axis draws its grid over the whole plot, so every curve update repainted its text too
        # (3 ms an axis in software rendering). Cached, it is redrawn only when its range moves.
        axis.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def color_axes(plot: pg.PlotItem, colors: ThemeColors) -> None:
    """The theme's colours on a plot's left and bottom axes: grid-coloured lines, muted numbers."""
    for side in ("left", "bottom"):
        axis = plot.getAxis(side)
        axis.setPen(pg.mkPen(colors.grid))
        axis.setTextPen(pg.mkPen(colors.muted))
