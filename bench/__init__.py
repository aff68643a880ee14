"""Depthbook's benchmarks: `python -m bench` runs them all, `python -m bench NAME` one of them.

Each benchmark prints its figures beside their targets (PASS / MISS); docs/PERFORMANCE.md holds the tables.
Benchmarks are never part of `make test` (nothing here is named test_*.py).
"""
