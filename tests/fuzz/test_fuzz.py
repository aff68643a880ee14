"""Every fuzz target of `fuzz.targets`, briefly and deterministically: part of `make test` (a few seconds).

`make fuzz` runs the same targets at length with fresh inputs (`python -m fuzz`). A failure here names the
target and the smallest input hypothesis found; run `python -m fuzz --only NAME` to hunt for more.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from fuzz.targets import BY_NAME, counted

# Fixed inputs: derandomize makes every run (and CI) see the same ones; no example database on disk.
EXAMPLES = {"wire-bytes": 300, "snapshot-bytes": 300, "book-sync": 40}  # the others: 120
CI = settings(
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


@pytest.mark.parametrize("name", list(BY_NAME))
def test_fuzz_target(name):
    target = BY_NAME[name]
    run = settings(CI, max_examples=EXAMPLES.get(name, 120))(given(target.strategy)(counted(target)))
    run()
