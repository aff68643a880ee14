"""The app's configuration: the frozen AppConfig built once from flags and saved settings. Pure: no Qt.

Precedence: command-line flags, then saved settings, then defaults. Settings changed in the dialog are
saved at once and applied at the next start (AppConfig never changes while the app runs). The demo
mode keeps its own symbol list, so simulated symbols never end up in the real one. `gui.settings` reads
and writes the saved settings in QSettings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from core.market.endpoints import PRESETS, resolve_endpoints
from core.paths import default_db_path
from core.recording.config import check_recording_settings, parse_symbols
from core.storage.snapshot import SNAPSHOT_DEPTH

log = logging.getLogger(__name__)

ORGANIZATION = "Depthbook"
APPLICATION = "Depthbook"

SIMULATOR = "simulator"
CUSTOM = "custom"
# The endpoint choices the settings dialog offers, in order, with their labels.
ENDPOINT_CHOICES: dict[str, str] = {
    "binance": "Binance",
    "binance-us": "Binance US",
    "testnet": "Binance spot testnet",
    "binance-data": "Binance market-data hosts",
    SIMULATOR: "Built-in simulator (demo)",
    CUSTOM: "Custom URLs",
}
DEMO_SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "LTCUSDT")
SNAPSHOT_LIMITS = (100, 500, 1000, 5000)
THEMES = ("dark", "light")


class ConfigError(ValueError):
    """A flag or saved setting that cannot work; the message is one sentence for the user."""


@dataclass(frozen=True)
class SavedSettings:
    """Everything QSettings holds apart from the window layout."""

    theme: str = "dark"
    preset: str = "binance"
    ws_url: str = ""
    rest_url: str = ""
    db_path: str = ""  # empty: the default location
    snapshot_depth: int = SNAPSHOT_DEPTH
    snapshot_interval: int = 1
    snapshot_limit: int = 1000
    symbols: tuple[str, ...] = ()
    recording: frozenset[str] = frozenset()
    demo_symbols: tuple[str, ...] = ()
    demo_recording: frozenset[str] = frozenset()


@dataclass(frozen=True)
class AppConfig:
    """The app's configuration for this run; built once, never changed."""

    db_path: Path
    demo: bool = False
    endpoint_name: str = "binance"
    ws_url: str | None = None  # None in demo mode: the simulator's address is known once it runs
    rest_url: str | None = None
    symbols: tuple[str, ...] = ()
    recording: frozenset[str] = frozenset()
    snapshot_depth: int = SNAPSHOT_DEPTH
    snapshot_interval: int = 1
    snapshot_limit: int = 1000
    theme: str = "dark"
    max_symbols: int = 50
    sim_symbols: tuple[str, ...] = DEMO_SYMBOLS
    sim_interval_ms: int = 100
    screenshot_dir: Path | None = None
    screenshot_after: float = 8.0


def split_symbols(text: str | None) -> list[str]:
    """'btcusdt, ETHUSDT' -> ['BTCUSDT', 'ETHUSDT']; ConfigError for a name that cannot be a symbol (the same
    check as every command's symbol flags: core.recording.config.check_symbol)."""
    try:
        return parse_symbols(text or "")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def demo_db_path() -> Path:
    return default_db_path().with_name("demo.rocksdb")


def build_config(args, saved: SavedSettings) -> AppConfig:
    """AppConfig from parsed flags (app.parse_args) over saved settings."""
    if args.demo and (args.ws_url or args.rest_url or args.preset):
        raise ConfigError("--demo uses the built-in simulator: leave out --ws-url, --rest-url and --preset.")
    flag_endpoints = any(getattr(args, name, None) for name in ("preset", "ws_url", "rest_url"))
    preset = (args.preset or "binance") if flag_endpoints else saved.preset
    demo = bool(args.demo) or (preset == SIMULATOR and not (args.ws_url or args.rest_url))
    ws_url = rest_url = None
    name = SIMULATOR
    if not demo:
        try:
            if flag_endpoints:
                base = preset if preset in PRESETS else None
                if preset not in PRESETS and preset not in (SIMULATOR, CUSTOM):
                    resolve_endpoints(preset)  # raises the one-sentence "Unknown exchange preset"
                endpoints = resolve_endpoints(base, args.ws_url, args.rest_url)
            elif preset == CUSTOM:
                endpoints = resolve_endpoints(None, saved.ws_url or None, saved.rest_url or None)
            else:
                endpoints = resolve_endpoints(preset if preset in PRESETS else None)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        name, ws_url, rest_url = endpoints.name, endpoints.ws_url, endpoints.rest_url

    if args.db is not None:
        db_path = Path(args.db).expanduser()
    elif demo:
        db_path = demo_db_path()
    else:
        db_path = Path(saved.db_path).expanduser() if saved.db_path else default_db_path()

    record = split_symbols(args.record)
    remembered = saved.demo_symbols if demo else saved.symbols
    recording = saved.demo_recording if demo else saved.recording
    symbols = list(dict.fromkeys([*remembered, *record]))
    if demo and not symbols:
        symbols = list(DEMO_SYMBOLS[:3])
    sim_symbols = tuple(dict.fromkeys([*DEMO_SYMBOLS, *symbols]))
    recording_settings = (saved.snapshot_interval, saved.snapshot_depth, saved.snapshot_limit)
    try:
        check_recording_settings(*recording_settings)
    except ValueError as exc:  # saved settings the user cannot see on a command line: keep the app starting
        log.warning("saved recording settings cannot work, using the defaults: %s", exc)
        defaults = SavedSettings()
        recording_settings = (defaults.snapshot_interval, defaults.snapshot_depth, defaults.snapshot_limit)
    interval, depth, limit = recording_settings
    return AppConfig(
        db_path=db_path,
        demo=demo,
        endpoint_name=name,
        ws_url=ws_url,
        rest_url=rest_url,
        symbols=tuple(symbols),
        recording=frozenset(recording & set(symbols)) | frozenset(record),
        snapshot_depth=depth,
        snapshot_interval=interval,
        snapshot_limit=limit,
        theme=saved.theme if saved.theme in THEMES else "dark",
        sim_symbols=sim_symbols,
        screenshot_dir=Path(args.screenshot) if getattr(args, "screenshot", None) else None,
        screenshot_after=getattr(args, "screenshot_after", 8.0),
    )
