"""One backoff schedule for every retry in the feed: reconnects and REST snapshot retries.

Exponential, capped, and jittered to 50–100 % of the nominal delay so that clients (or symbols) that failed
together do not all come back in the same instant. Callers reset it after a healthy stretch by starting a new
generator.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator


def backoff(
    initial: float = 1.0,
    maximum: float = 60.0,
    factor: float = 2.0,
    rng: Callable[[], float] = random.random,
) -> Iterator[float]:
    """Delays before retry 1, 2, …: `initial` growing by `factor` up to `maximum`, each jittered."""
    delay = initial
    while True:
        yield delay * (0.5 + 0.5 * rng())
        delay = min(delay * factor, maximum)
