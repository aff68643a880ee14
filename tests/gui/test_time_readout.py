"""The hover and cursor readouts name a second in local time and in UTC, once where the two are the same."""

from __future__ import annotations

import time

import pytest

from gui.widgets.history.time_axis import local_and_utc

SECOND = 1_737_158_405  # 2025-01-18 00:00:05 UTC


@pytest.fixture
def zone(monkeypatch):
    def set_zone(name: str) -> None:
        monkeypatch.setenv("TZ", name)
        time.tzset()

    yield set_zone
    monkeypatch.undo()
    time.tzset()


def test_local_time_and_utc_both_where_they_differ(zone):
    zone("CET-1")  # a POSIX rule: no time zone database needed
    assert local_and_utc(SECOND) == "2025-01-18 01:00:05 CET · 00:00:05 UTC"


def test_utc_once_where_local_time_is_utc(zone):
    zone("UTC0")
    assert local_and_utc(SECOND) == "2025-01-18 00:00:05 UTC"
