"""The History tab: the library of recorded symbols, linked charts and heatmap over one time axis, the cursor's
recorded ladder and analytics, replay, and the export dialog. Widgets only: they draw gui.history_values and
emit what the user asked for; the app runs the queries (gui.history_browse) off the event loop."""

from gui.widgets.history.panel import HistoryPanel

__all__ = ["HistoryPanel"]
