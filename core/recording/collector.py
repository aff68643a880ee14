"""The garbage collector in a recording process: fewer young collections, none over what start-up left.

Every received frame allocates a few containers (its parsed levels, an event, actions) that die within the frame,
and Python's default first threshold (700 allocations) runs a young collection every few dozen frames: at the whole
market's thousands of frames a second that is tens of collections a second, each walking whatever survived since
the last. Nothing of a frame lives on in a cycle, so collecting less often frees the same memory, later.
`gc.freeze()` moves what start-up built (modules, the books' ladders, the tasks) out of every future collection.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000  # allocations minus deallocations between two young collections (Python's default: 700)


def settle_collector(young: int = YOUNG_THRESHOLD) -> None:
    """Collect once, freeze the survivors and collect the young generation less often (call after start-up)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(young, older, oldest)
