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

from core.feed.manager import MAX_SYMBOLS_CEILING
from core.market.endpoints import PRESETS, resolve_endpoints
from core.market.markets import SPOT, Market, market_named
from core.paths import default_db_path
from core.recording.config import check_recording_settings, parse_symbols
from core.storage.keys import MARKET_SEPARATOR
from core.storage.retention import RetentionPolicy
from core.storage.snapshot import SNAPSHOT_DEPTH
from gui.app_markets import parse_saved_key, split_key, symbol_key

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
    "binance-usdm": "Binance USD-M futures",
    SIMULATOR: "Built-in simulator (demo)",
    CUSTOM: "Custom URLs",
}
DEMO_SYMBOLS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "LTCUSDT")
DEMO_KEYS = ("BTCUSDT", "ETHUSDT", "BNBUSDT", "usdm/BTCUSDT")  # a first demo shows both markets
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
    # The lists hold keys (gui.app_markets: `usdm/BTCUSDT`, a bare name spot's); False for files saved when the
    # app followed one market per run, whose bare names are of the run's market.
    symbols_keyed: bool = False
    demo_symbols_keyed: bool = False
    market: str = "spot"  # of the demo and of custom URLs; a preset names its own market
    retention_days: int = 0  # keep recorded data this many days; 0 keeps everything
    retention_per_symbol: str = ""  # overrides, as `record --retention` takes them: "BTCUSDT=30,ETHUSDT=keep"


@dataclass(frozen=True)
class AppConfig:
    """The app's configuration for this run; built once, never changed."""

    db_path: Path
    demo: bool = False
    endpoint_name: str = "binance"
    ws_url: str | None = None  # None in demo mode: the simulator's address is known once it runs
    rest_url: str | None = None
    symbols: tuple[str, ...] = ()  # keys (gui.app_markets): BTCUSDT on spot, usdm/BTCUSDT on futures
    recording: frozenset[str] = frozenset()
    snapshot_depth: int = SNAPSHOT_DEPTH
    snapshot_interval: int = 1
    snapshot_limit: int = 1000
    theme: str = "dark"
    max_symbols: int = MAX_SYMBOLS_CEILING  # the whole market fits (Symbols → Follow the whole market…)
    sim_symbols: tuple[str, ...] = DEMO_SYMBOLS
    sim_interval_ms: int = 100
    screenshot_dir: Path | None = None
    screenshot_after: float = 8.0
    # The run's own market (spot or USDⓈ-M futures), from --market or the preset: the endpoints above are its,
    # and the add box offers it first; the other market is followed too where the exchange offers it.
    market: Market = SPOT


def split_symbols(text: str | None) -> list[str]:
    """'btcusdt, ETHUSDT' -> ['BTCUSDT', 'ETHUSDT']; ConfigError for a name that cannot be a symbol (the same
    check as every command's symbol flags: core.recording.config.check_symbol)."""
    try:
        return parse_symbols(text or "")
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def record_keys(text: str | None, market: Market) -> list[str]:
    """`--record BTCUSDT,usdm/ETHUSDT`: keys (gui.app_markets), a bare name of the run's market; ConfigError,
    one sentence, for a name that is neither."""
    keys = []
    for part in (p.strip() for p in (text or "").split(",")):
        if MARKET_SEPARATOR in part:
            key = parse_saved_key(part, market)
            if key is None:
                raise ConfigError(f"{part!r} is not a symbol of a known market, like BTCUSDT or usdm/BTCUSDT.")
            keys.append(key)
        elif part:
            keys.extend(symbol_key(market, s) for s in split_symbols(part))
    return list(dict.fromkeys(keys))


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
    market = _market(args, saved, preset)
    if not demo:
        try:
            if flag_endpoints:
                base = args.preset if args.preset in PRESETS else None  # None: the market's own preset
                if preset not in PRESETS and preset not in (SIMULATOR, CUSTOM):
                    resolve_endpoints(preset)  # raises the one-sentence "Unknown exchange preset"
                endpoints = resolve_endpoints(base, args.ws_url, args.rest_url, getattr(args, "market", None))
            elif preset == CUSTOM:
                endpoints = resolve_endpoints(None, saved.ws_url or None, saved.rest_url or None, market)
            else:  # the saved preset, unless --market asks for another market's
                same = preset in PRESETS and PRESETS[preset].market is market
                endpoints = resolve_endpoints(preset if same else None, market=market)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        name, ws_url, rest_url, market = endpoints.name, endpoints.ws_url, endpoints.rest_url, endpoints.market

    if args.db is not None:
        db_path = Path(args.db).expanduser()
    elif demo:
        db_path = demo_db_path()
    else:
        db_path = Path(saved.db_path).expanduser() if saved.db_path else default_db_path()

    record = record_keys(args.record, market)
    keyed = saved.demo_symbols_keyed if demo else saved.symbols_keyed
    bare = SPOT if keyed else market  # an old file's bare names are of the market its run had

    def keys(saved_names) -> list[str]:
        return [k for k in (parse_saved_key(name, bare) for name in saved_names) if k is not None]

    remembered = keys(saved.demo_symbols if demo else saved.symbols)
    recording = set(keys(saved.demo_recording if demo else saved.recording))
    symbols = list(dict.fromkeys([*remembered, *record]))
    if demo and not symbols:
        symbols = list(DEMO_KEYS)
    sim_symbols = tuple(dict.fromkeys([*DEMO_SYMBOLS, *(split_key(k)[1] for k in symbols)]))
    recording_settings = (saved.snapshot_interval, saved.snapshot_depth, saved.snapshot_limit)
    try:
        check_recording_settings(*recording_settings)
    except ValueError as exc:  # saved settings the user cannot see on a command line: keep the app starting
        log.warning("saved recording settings cannot work, using the defaults: %s", exc)
        defaults = SavedSettings()
        recording_settings = (defaults.snapshot_interval, defaults.snapshot_depth, defaults.snapshot_limit)
    interval, depth, limit = recording_settings
    if limit > market.max_depth_limit:  # e.g. 5000 saved for spot, then a futures run: their deepest is 1000
        log.info("snapshot limit %d is above what %s serves, using %d", limit, market.label, market.max_depth_limit)
        limit = market.max_depth_limit
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
        market=market,
    )


def _market(args, saved: SavedSettings, preset: str) -> Market:
    """--market, else the saved preset's market, else the saved market (demo, custom URLs)."""
    flag = getattr(args, "market", None)
    if flag is not None:
        return market_named(flag)
    if preset in PRESETS:
        return PRESETS[preset].market
    try:
        return market_named(saved.market)
    except ValueError:
        return SPOT


def retention_overrides(per_symbol: str) -> dict[str, int | None]:
    """`BTCUSDT=30, usdm/ETHUSDT=keep` -> {stored name: days, None to keep everything}: pairs as `record
    --retention` takes them, a futures symbol by its stored name (core.storage.keys); ConfigError, one sentence,
    for a pair that does not read."""
    from core.cli.common import UserError  # the parser of `record --retention`, shared
    from core.cli.record import parse_retention
    from core.storage.keys import MARKET_SEPARATOR, storage_symbol

    overrides: dict[str, int | None] = {}
    for item in filter(None, (part.strip() for part in per_symbol.split(","))):
        prefix, separator, pair = item.rpartition(MARKET_SEPARATOR)
        try:
            market = market_named(prefix) if separator else SPOT
        except ValueError:
            raise ConfigError(f"Per-symbol retention names an unknown market in {item!r}.") from None
        try:
            parsed = parse_retention(pair)
        except UserError as exc:
            raise ConfigError(str(exc).replace("--retention takes", "Per-symbol retention takes")) from None
        overrides.update({storage_symbol(market, symbol): days for symbol, days in parsed.items()})
    return overrides


def retention_policy(days: int, per_symbol: str) -> RetentionPolicy:
    """The settings' retention: `days` (0 keeps everything) and the per-symbol overrides (`retention_overrides`);
    ConfigError, one sentence, for overrides that do not read."""
    return RetentionPolicy(days or None, retention_overrides(per_symbol))
