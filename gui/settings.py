"""SettingsStore: the saved settings and window layout in QSettings (the configuration itself is gui.config)."""

from __future__ import annotations

from PySide6.QtCore import QByteArray, QSettings

from core.market.markets import SPOT
from core.storage.retention import MAX_DAYS
from gui.app_markets import parse_saved_key
from gui.config import APPLICATION, ORGANIZATION, SavedSettings

KEYED = "keyed"  # symbols/<group>_names: the list holds keys, a bare name is spot's


class SettingsStore:
    """Typed access to QSettings; tests pass a QSettings on a temporary INI file."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        self.q = qsettings if qsettings is not None else QSettings(ORGANIZATION, APPLICATION)

    # --- preferences ---------------------------------------------------------------------------------

    def load(self) -> SavedSettings:
        d = SavedSettings()
        return SavedSettings(
            theme=self._str("ui/theme", d.theme),
            preset=self._str("exchange/preset", d.preset),
            market=self._str("exchange/market", d.market),
            ws_url=self._str("exchange/ws_url", ""),
            rest_url=self._str("exchange/rest_url", ""),
            db_path=self._str("storage/db_path", ""),
            snapshot_depth=self._int("recording/depth", d.snapshot_depth, 1, 100),
            snapshot_interval=self._int("recording/interval", d.snapshot_interval, 1, 3600),
            snapshot_limit=self._int("exchange/snapshot_limit", d.snapshot_limit, 5, 5000),
            symbols=tuple(self._symbols("symbols/live")),
            recording=frozenset(self._symbols("symbols/live_recording")),
            demo_symbols=tuple(self._symbols("symbols/demo")),
            demo_recording=frozenset(self._symbols("symbols/demo_recording")),
            symbols_keyed=self._keyed("live"),
            demo_symbols_keyed=self._keyed("demo"),
            retention_days=self._int("storage/retention_days", d.retention_days, 0, MAX_DAYS),
            retention_per_symbol=self._str("storage/retention_per_symbol", ""),
        )

    def save_preferences(self, saved: SavedSettings) -> None:
        """What the settings dialog edits (the app applies what it can at once, the rest at the next start)."""
        self.q.setValue("exchange/preset", saved.preset)
        self.q.setValue("exchange/market", saved.market)
        self.q.setValue("exchange/ws_url", saved.ws_url)
        self.q.setValue("exchange/rest_url", saved.rest_url)
        self.q.setValue("storage/db_path", saved.db_path)
        self.q.setValue("recording/depth", saved.snapshot_depth)
        self.q.setValue("recording/interval", saved.snapshot_interval)
        self.q.setValue("exchange/snapshot_limit", saved.snapshot_limit)
        self.q.setValue("storage/retention_days", saved.retention_days)
        self.q.setValue("storage/retention_per_symbol", saved.retention_per_symbol)
        self.q.sync()

    def save_theme(self, theme: str) -> None:
        self.q.setValue("ui/theme", theme)

    def save_symbols(self, symbols: list[str], recording: set[str], *, demo: bool) -> None:
        """Keys (gui.app_markets: `BTCUSDT` is spot, `usdm/BTCUSDT` futures), marked as such: in files saved
        before the app followed two markets, a bare name is of the market the run had."""
        group = "demo" if demo else "live"
        self.q.setValue(f"symbols/{group}", ",".join(symbols))
        self.q.setValue(f"symbols/{group}_recording", ",".join(s for s in symbols if s in recording))
        self.q.setValue(f"symbols/{group}_names", KEYED)

    # --- layout --------------------------------------------------------------------------------------

    def save_layout(self, name: str, state: QByteArray) -> None:
        self.q.setValue(f"layout/{name}", state)

    def layout(self, name: str) -> QByteArray | None:
        value = self.q.value(f"layout/{name}")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    def sync(self) -> None:
        self.q.sync()

    # --- typed reads ---------------------------------------------------------------------------------

    def _str(self, key: str, default: str) -> str:
        value = self.q.value(key, default)
        return value if isinstance(value, str) else default

    def _int(self, key: str, default: int, low: int, high: int) -> int:
        try:
            value = int(self.q.value(key, default))
        except (TypeError, ValueError):
            return default
        return value if low <= value <= high else default

    def _symbols(self, key: str) -> list[str]:
        """Saved keys as written (a bare name stays bare: build_config knows its market); bad ones dropped."""
        value = self.q.value(key, "")
        if isinstance(value, list):  # QSettings may hand back a list for a comma-separated INI value
            value = ",".join(str(v) for v in value)
        if not isinstance(value, str):
            return []
        return [s for s in (parse_saved_key(x, SPOT) for x in value.split(",") if x.strip()) if s is not None]

    def _keyed(self, group: str) -> bool:
        return self._str(f"symbols/{group}_names", "") == KEYED
