"""Shared test set-up. Tests never touch the user's real settings or data directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# Real captured Binance frames, copied from shared/fixtures (see fixtures/binance/README.md).
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "binance"


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Point platformdirs and QSettings at a throwaway home so no test reads or writes real user data."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES
