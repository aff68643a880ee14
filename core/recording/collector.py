"""The garbage collector in a recording process: fewer young collections, none over what start-up left.

Every received frame allocates a few containers (its parsed levels, an event, actions) that die within the frame,
and Python's default first threshold (700 allocations) runs a young collection every few dozen frames: at the whole
market's thousands of frames a second that is tens of collections a second, each walking whatever survived since
the last. Nothing of a frame lives on in a cycle, so collecting less often frees the same memory, later.
`gc.freeze()` moves what start-up built (modules, the books' ladders, the tasks) out of every future collection.

Each second's tick holds tracked objects per recorded book from its capture until its write is done (the
snapshot, its numbers, the series and minute entries; then they are freed): about 47 while a capture made the
levels' tuples, 3 since it keeps them packed (13 in a tick that opens the books' minutes). With the whole market's
1,500 books and 47 each, a fixed threshold of 20,000 ran two young collections inside every tick, each walking
the tick's objects (and the cold books they point to) at about 5 ms, 4-6 µs of CPU per received frame. The
threshold grows with the books, PER_BOOK each, so a tick's objects and its frames' come and go between
collections.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000  # allocations minus deallocations between two young collections (Python's default: 700)
PER_BOOK = 80  # of the young threshold per recorded book: a tick's tracked objects, and room for its frames'


def young_threshold(books: int) -> int:
    return max(YOUNG_THRESHOLD, PER_BOOK * books)


def settle_collector(books: int = 0) -> None:
    """Collect once, freeze the survivors and collect the young generation less often (call after start-up, with
    the number of books recorded)."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(young_threshold(books), older, oldest)
