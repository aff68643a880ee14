"""Widgets: they import Qt, pyqtgraph, gui.values/formatting/models and core value types, nothing else."""
