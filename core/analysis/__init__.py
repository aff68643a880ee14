"""Analysis: what recorded books say, computed from storage.

Top-of-book arithmetic and L1 metrics (`l1`), the per-second derived series (`series`) and its rollups
(`rollups`), the heatmap of a view (`depth_image`, parsing with `decimals`), order flow (`order_flow`),
completeness (`completeness`), and the queries over a database (`history`, `browse`, `library`).

Pure computations plus blocking reads through `core.storage`. It may import storage and the market; never the
feed, recording, the CLI or the simulator.
"""
