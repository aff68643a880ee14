"""Analysis: what recorded books say, computed from storage.

Top-of-book arithmetic and L1 metrics (`l1`), the per-second derived series (`series`), the liquidity heatmap
(`heatmap`), order flow (`order_flow`), and the queries over a database (`history`).

Pure computations plus blocking reads through `core.storage`. It may import storage and the market; never the
feed, recording, the CLI or the simulator.
"""
