"""PySide6 6.12.0 on CPython 3.11 aborts after enough Qt → Python callbacks (platform-notes.md).

About 20,000 timer callbacks and signal emissions through the qasync loop: the bad pair dies with
`none_dealloc` / `bool_dealloc` well before the end; a good pair finishes in a few seconds.
"""

from __future__ import annotations

import asyncio

import pytest
import qasync
from PySide6.QtCore import QObject, QTimer, Signal

CALLBACKS = 20_000


class _Pinger(QObject):
    ping = Signal(bool)


@pytest.mark.asyncio
async def test_qt_timer_and_signal_soak_on_the_qasync_loop():
    loop = asyncio.get_running_loop()
    assert isinstance(loop, qasync.QEventLoop)
    done = asyncio.Event()
    counts = {"timer": 0, "signal": 0, "soon": 0}
    pinger = _Pinger()
    pinger.ping.connect(lambda flag: counts.__setitem__("signal", counts["signal"] + int(flag)))
    timer = QTimer()
    timer.setInterval(0)

    def on_timeout() -> None:  # returns None to Qt: the reference the bad pair drops
        counts["timer"] += 1
        pinger.ping.emit(True)  # a bool through Signal.emit: the other one
        if counts["timer"] >= CALLBACKS:
            timer.stop()
            done.set()

    def soon() -> None:  # asyncio callbacks run from qasync's timerEvent
        counts["soon"] += 1
        if counts["soon"] < CALLBACKS // 4:
            loop.call_soon(soon)

    timer.timeout.connect(on_timeout)
    timer.start()
    loop.call_soon(soon)
    await asyncio.wait_for(done.wait(), timeout=40)  # a pair that crashes never gets here
    assert counts["timer"] == CALLBACKS
    assert counts["signal"] == CALLBACKS
    assert counts["soon"] >= CALLBACKS // 4 - 1


@pytest.mark.asyncio
async def test_closing_the_last_window_does_not_end_the_loop():
    from PySide6.QtWidgets import QWidget

    window = QWidget()
    window.show()
    await asyncio.sleep(0)
    window.close()  # the last visible window: with quit-on-last-window-closed Qt would quit the loop here
    for _ in range(5):
        await asyncio.sleep(0)
    assert not window.isVisible()
