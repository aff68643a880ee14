"""One archived hour as a Parquet file, and the exact round trip between that file and the contract's snapshots.

Columns (one row per recorded second of the hour: a snapshot, or a gap record), in time order:

    ts                 timestamp, UTC        the capture second (the key's), never null: written as Arrow's
                                             timestamp[s, tz=UTC]; Parquet has no seconds unit, so the file
                                             holds milliseconds (whole seconds) and readers see timestamp[ms]
    update_id          int64                 the book's last applied update id; null on a gap row
    gap                string (dictionary)   null on a snapshot row; on a gap row the GapReason value
    bid_price_0 … 19   decimal128(18, P)     level i of the bids (0 the best), null past the book's last level
    bid_qty_0 … 19     decimal128(38, Q)
    ask_price_0 … 19   decimal128(18, P)     level i of the asks (0 the best)
    ask_qty_0 … 19     decimal128(38, Q)
    raw                binary                only in a file whose metadata says exact=raw (below)

P and Q are the number of decimals the exchange writes (8 on Binance spot), the same for every value of the
file. The exact string is then the decimal written with exactly that many decimals (`format(value, "f")` in
Python, `CAST(col AS VARCHAR)` in DuckDB): the reader gives back the exchange's strings byte for byte. A file
whose strings do not all have that one form (decimals that vary, a leading zero, more than 20 levels, an update
id beyond int64) keeps the numbers in the same columns (scale = the most decimals seen) and adds a `raw` column
holding each snapshot's contract value (MessagePack) unchanged; its metadata says `exact=raw` and the reader
uses it. Prices take 18 digits (stored as int64) unless a price of the file needs more (then 38).

Key-value metadata (Parquet footer; every key starts with `depthbook.`): format, format_version, market,
symbol, hour (its first second), snapshots, gaps, rows, first and last (the first and last snapshot second, ""
when none), completeness (snapshots / (snapshots + gaps): of the seconds the recorder looked at, the share
stored), coverage (snapshots / 3600), damaged (snapshots of the database that could not be read and were left
out), price_scale, qty_scale, exact (`decimal` or `raw`), shard (`K/N`, only when a sharded recorder archived it),
and checksum: `sha256:` and the SHA-256 of the
hour's content as a MessagePack stream: each snapshot's contract value `[bids, asks, update_id, timestamp]` in
time order, then each gap as `[timestamp, reason]` in time order. Any reader can recompute it from the rows.

Pure apart from pyarrow: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain

import msgpack
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.archive.layout import HOUR, HourKey
from core.storage.gaps import GapReason, GapRecord
from core.storage.snapshot import SNAPSHOT_DEPTH, OrderBookSnapshot

FORMAT = "depthbook-archive"
FORMAT_VERSION = 1
DEPTH = SNAPSHOT_DEPTH
META_PREFIX = "depthbook."
EXACT_DECIMAL = "decimal"
EXACT_RAW = "raw"
DEFAULT_SCALE = 8  # Binance spot: every price and quantity string has 8 decimals
_INT64_MAX = 2**63 - 1
_SIDES = ("bid", "ask")
_KINDS = ("price", "qty")
LEVEL_COLUMNS = tuple(f"{side}_{kind}_{i}" for i in range(DEPTH) for side in _SIDES for kind in _KINDS)
_WRITE_OPTIONS = {
    "compression": "zstd",
    "use_dictionary": ["gap"],  # measured: dictionaries make the level columns of an hour larger, not smaller
    "store_decimal_as_integer": True,  # decimal(18, P) as INT64: smaller and several times faster to read
    "write_statistics": True,
}


class ArchiveFormatError(ValueError):
    """A file that is not a Depthbook archive hour this version can read, or that does not round-trip."""


@dataclass(frozen=True, slots=True)
class FileMeta:
    """The key-value metadata of one archived hour."""

    market: str
    symbol: str
    hour: int
    snapshots: int
    gaps: int
    first: int | None
    last: int | None
    checksum: str
    price_scale: int = DEFAULT_SCALE
    qty_scale: int = DEFAULT_SCALE
    exact: str = EXACT_DECIMAL
    damaged: int = 0
    format_version: int = FORMAT_VERSION
    shard: str = ""  # "K/N" of the recorder that archived it (`record --shard K/N --archive URL`), "" otherwise

    @property
    def rows(self) -> int:
        return self.snapshots + self.gaps

    @property
    def completeness(self) -> float:
        return self.snapshots / self.rows if self.rows else 0.0

    @property
    def coverage(self) -> float:
        return self.snapshots / HOUR

    @property
    def key(self) -> HourKey:
        return HourKey(self.market, self.symbol, self.hour)

    def to_kv(self) -> dict[str, str]:
        values = {
            "format": FORMAT,
            "format_version": str(self.format_version),
            "market": self.market,
            "symbol": self.symbol,
            "hour": str(self.hour),
            "snapshots": str(self.snapshots),
            "gaps": str(self.gaps),
            "rows": str(self.rows),
            "first": "" if self.first is None else str(self.first),
            "last": "" if self.last is None else str(self.last),
            "completeness": f"{self.completeness:.6f}",
            "coverage": f"{self.coverage:.6f}",
            "damaged": str(self.damaged),
            "price_scale": str(self.price_scale),
            "qty_scale": str(self.qty_scale),
            "exact": self.exact,
            "checksum": self.checksum,
        }
        if self.shard:
            values["shard"] = self.shard
        return {META_PREFIX + name: value for name, value in values.items()}

    @classmethod
    def from_kv(cls, kv: dict[bytes, bytes] | dict[str, str] | None, where: str = "the file") -> FileMeta:
        values = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in (kv or {}).items()
        }
        if values.get(META_PREFIX + "format") != FORMAT:
            raise ArchiveFormatError(f"{where} is not a Depthbook archive file (no depthbook.format metadata)")
        get = lambda name: values.get(META_PREFIX + name, "")  # noqa: E731
        try:
            version = int(get("format_version"))
            if version > FORMAT_VERSION:
                raise ArchiveFormatError(
                    f"{where} has archive format version {version}; this Depthbook reads up to {FORMAT_VERSION}"
                )
            meta = cls(
                market=get("market"),
                symbol=get("symbol"),
                hour=int(get("hour")),
                snapshots=int(get("snapshots")),
                gaps=int(get("gaps")),
                first=int(get("first")) if get("first") else None,
                last=int(get("last")) if get("last") else None,
                checksum=get("checksum"),
                price_scale=int(get("price_scale")),
                qty_scale=int(get("qty_scale")),
                exact=get("exact"),
                damaged=int(get("damaged") or 0),
                format_version=version,
                shard=get("shard"),
            )
        except ValueError as exc:
            if isinstance(exc, ArchiveFormatError):
                raise
            raise ArchiveFormatError(f"{where} has damaged Depthbook metadata: {exc}") from exc
        if meta.exact not in (EXACT_DECIMAL, EXACT_RAW):
            raise ArchiveFormatError(f"{where} has an unknown exact-strings mode {meta.exact!r}")
        return meta


@dataclass(frozen=True, slots=True)
class EncodedHour:
    """One hour ready to upload: the Parquet bytes, their metadata and the SHA-256 of the bytes."""

    key: HourKey
    data: bytes
    meta: FileMeta

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def content_checksum(snapshots: Iterable[OrderBookSnapshot], gaps: Iterable[GapRecord]) -> str:
    """`sha256:` + the SHA-256 of the snapshots' contract values then the gaps as [second, reason]."""
    digest = hashlib.sha256()
    for snap in snapshots:
        digest.update(snap.to_bytes())
    for gap in gaps:
        digest.update(msgpack.packb((gap.timestamp, str(gap.reason))))
    return "sha256:" + digest.hexdigest()


# ---- writing -------------------------------------------------------------------------------------------------


def schema(price_type: pa.DataType, qty_type: pa.DataType, raw: bool) -> pa.Schema:
    fields = [
        pa.field("ts", pa.timestamp("s", tz="UTC"), nullable=False),
        pa.field("update_id", pa.int64()),
        pa.field("gap", pa.string()),
    ]
    for name in LEVEL_COLUMNS:
        fields.append(pa.field(name, price_type if "_price_" in name else qty_type))
    if raw:
        fields.append(pa.field("raw", pa.binary()))
    return pa.schema(fields)


def encode_hour(
    key: HourKey,
    snapshots: Sequence[OrderBookSnapshot],
    gaps: Sequence[GapRecord],
    damaged: int = 0,
    shard: str = "",
) -> EncodedHour:
    """The Parquet file of one hour, checked: decoded again, it gives back exactly `snapshots` and `gaps`
    (every level string byte for byte), else ArchiveFormatError. Both sequences in time order, within the hour."""
    for ts in [s.timestamp for s in snapshots] + [g.timestamp for g in gaps]:
        if not key.start <= ts <= key.end:
            raise ValueError(f"second {ts} is outside the hour {key.label}")
    table, meta, levels = _build(key, snapshots, gaps, damaged, shard)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, **_WRITE_OPTIONS)
    data = sink.getvalue().to_pybytes()
    _check_round_trip(data, meta, table, levels)
    return EncodedHour(key, data, meta)


def _build(
    key: HourKey, snapshots: Sequence[OrderBookSnapshot], gaps: Sequence[GapRecord], damaged: int, shard: str
) -> tuple[pa.Table, FileMeta, dict[str, pa.Array]]:
    # Row order: by second, a snapshot before a gap record of the same second (a database may hold both).
    order = sorted([(s.timestamp, 0, i) for i, s in enumerate(snapshots)] + [(g.timestamp, 1, i) for i, g in enumerate(gaps)])
    n_snap = len(snapshots)
    # Index of each row into the snapshot arrays; None on gap rows (take() makes those null).
    snap_index = pa.array([i if kind == 0 else None for _, kind, i in order], pa.int64())
    raw = any(len(s.bids) > DEPTH or len(s.asks) > DEPTH or s.update_id > _INT64_MAX for s in snapshots)

    # Every level string of the hour in one array per kind: row r, level i of side s at [r * 2*DEPTH + s*DEPTH + i].
    pad = ((None, None),) * DEPTH
    padded = []
    for snap in snapshots:
        for levels in (snap.bids, snap.asks):
            padded.append(levels if len(levels) == DEPTH else (levels + pad)[:DEPTH])
    flat = list(chain.from_iterable(chain.from_iterable(padded)))  # price, qty, price, qty, ...
    prices = _strings(flat[0::2])
    qtys = _strings(flat[1::2])
    price_scale, price_ok = _scale(prices)
    qty_scale, qty_ok = _scale(qtys)
    exact = EXACT_DECIMAL if price_ok and qty_ok and not raw else EXACT_RAW
    price_type, price_dec = _to_decimal(prices, price_scale, 18)
    qty_type, qty_dec = _to_decimal(qtys, qty_scale, 38)

    columns: dict[str, pa.Array] = {
        "ts": pa.array([ts for ts, _, _ in order], pa.timestamp("s", tz="UTC")),
        "update_id": pa.array(
            [snapshots[i].update_id if kind == 0 and snapshots[i].update_id <= _INT64_MAX else None for _, kind, i in order],
            pa.int64(),
        ),
        "gap": pa.array([str(gaps[i].reason) if kind == 1 else None for _, kind, i in order], pa.string()),
    }
    source_levels: dict[str, pa.Array] = {}
    stride = 2 * DEPTH
    for s_index, side in enumerate(_SIDES):
        for i in range(DEPTH):
            offset = s_index * DEPTH + i
            take = pc.add(pc.multiply(snap_index, stride), offset) if n_snap else snap_index
            for kind, strings, decimals in (("price", prices, price_dec), ("qty", qtys, qty_dec)):
                name = f"{side}_{kind}_{i}"
                if n_snap:
                    source_levels[name] = strings.take(take)
                    columns[name] = decimals.take(take)
                else:
                    source_levels[name] = pa.nulls(len(order), pa.string())
                    columns[name] = pa.nulls(len(order), price_type if kind == "price" else qty_type)
    if exact == EXACT_RAW:
        columns["raw"] = pa.array(
            [snapshots[i].to_bytes() if kind == 0 else None for _, kind, i in order], pa.binary()
        )
    ordered_snaps = [snapshots[i] for _, kind, i in order if kind == 0]
    ordered_gaps = [gaps[i] for _, kind, i in order if kind == 1]
    meta = FileMeta(
        market=key.market,
        symbol=key.symbol,
        hour=key.start,
        snapshots=n_snap,
        gaps=len(gaps),
        first=ordered_snaps[0].timestamp if ordered_snaps else None,
        last=ordered_snaps[-1].timestamp if ordered_snaps else None,
        checksum=content_checksum(ordered_snaps, ordered_gaps),
        price_scale=price_scale,
        qty_scale=qty_scale,
        exact=exact,
        damaged=damaged,
        shard=shard,
    )
    table = pa.table(
        [columns[f.name] for f in schema(price_type, qty_type, exact == EXACT_RAW)],
        schema=schema(price_type, qty_type, exact == EXACT_RAW),
    ).replace_schema_metadata(meta.to_kv())
    return table, meta, source_levels


def _strings(values: list, chunk: int = 8192) -> pa.Array:
    """Python strings as one Arrow array, converted a chunk at a time: a conversion holds the GIL throughout, and
    one of a whole hour (~150,000 strings) would keep the recorder's event loop, in another thread, waiting."""
    parts = [pa.array(values[i : i + chunk], pa.string()) for i in range(0, len(values), chunk)]
    return pa.chunked_array(parts, pa.string()).combine_chunks()


def _scale(strings: pa.Array) -> tuple[int, bool]:
    """The number of decimals of these level strings, and whether every one is written in the one canonical
    form with exactly that many (no leading zero, a point when there are decimals): then the decimal alone gives
    the string back. Otherwise the most decimals seen (so every value is exact as a number) and False."""
    present = strings.drop_null()
    if len(present) == 0:
        return DEFAULT_SCALE, True
    first = present[0].as_py()
    scale = len(first.partition(".")[2])
    pattern = r"^(0|[1-9][0-9]*)" + (rf"\.[0-9]{{{scale}}}$" if scale else "$")
    if pc.all(pc.match_substring_regex(present, pattern)).as_py():
        return scale, True
    most = max(len(text.partition(".")[2]) for text in pc.unique(present).to_pylist())
    return most, False


def _to_decimal(strings: pa.Array, scale: int, precision: int) -> tuple[pa.DataType, pa.Array]:
    for p in (precision, 38) if precision < 38 else (38,):
        kind = pa.decimal128(p, scale)
        try:
            return kind, pc.cast(strings, kind)
        except pa.ArrowInvalid:
            continue
    raise ArchiveFormatError(f"level values do not fit a 38-digit decimal with {scale} decimals")


# ---- reading -------------------------------------------------------------------------------------------------


def read_meta(metadata: pq.FileMetaData, where: str = "the file") -> FileMeta:
    return FileMeta.from_kv(metadata.metadata, where)


def decimal_strings(values: pa.Array | pa.ChunkedArray, scale: int) -> pa.Array:
    """The exact strings of decimal values written with `scale` decimals (nulls stay null).

    Arrow's decimal-to-string cast is used for speed; it writes very small values in scientific notation
    (0 -> "0E-8", 1e-7 -> "1.0E-7"), and those few are written again in plain notation."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    strings = pc.cast(values, pa.string())
    scientific = pc.match_substring(strings, "E")
    if not pc.any(scientific).as_py():
        return strings
    fixed = [
        None if value is None else (format(value, "f") if _has_e(text) else text)
        for value, text in zip(values.to_pylist(), strings.to_pylist(), strict=True)
    ]
    return pa.array(fixed, pa.string())


def _has_e(text: str | None) -> bool:
    return text is not None and "E" in text


def level_strings(table: pa.Table, meta: FileMeta) -> dict[str, pa.Array]:
    """Every level column of an hour as its exact strings (decimal mode), by column name."""
    out = {}
    for name in LEVEL_COLUMNS:
        scale = meta.price_scale if "_price_" in name else meta.qty_scale
        column = table.column(name)
        if not pa.types.is_decimal(column.type):
            raise ArchiveFormatError(f"column {name} is {column.type}, not a decimal")
        out[name] = decimal_strings(column, scale)
    return out


def seconds(table: pa.Table) -> pa.ChunkedArray:
    """The `ts` column as Unix seconds (int64), whatever unit it was read back in."""
    return table.column("ts").cast(pa.timestamp("s", tz="UTC")).cast(pa.int64())


def decode_hour(table: pa.Table, meta: FileMeta) -> tuple[list[OrderBookSnapshot], list[GapRecord]]:
    """The snapshots (the contract's exact strings) and gap records of one archived hour, in time order."""
    n = table.num_rows
    ts = seconds(table).to_pylist()
    gap = table.column("gap").to_pylist()
    update_id = table.column("update_id").to_pylist()
    symbol = meta.symbol
    gaps = [GapRecord(symbol, ts[r], GapReason.from_stored(gap[r])) for r in range(n) if gap[r] is not None]
    snaps: list[OrderBookSnapshot] = []
    if meta.exact == EXACT_RAW:
        raw = table.column("raw").to_pylist()
        for r in range(n):
            if gap[r] is None:
                snap = OrderBookSnapshot.from_bytes(symbol, raw[r])
                if snap.timestamp != ts[r]:
                    raise ArchiveFormatError(f"{symbol} row {r}: raw snapshot second {snap.timestamp} is not {ts[r]}")
                snaps.append(snap)
        return snaps, gaps
    strings = level_strings(table, meta)
    sides = []
    for side in _SIDES:
        # Per level the (price, qty) pairs of every row, then per row its levels: both transposes run in C.
        pairs = [
            zip(strings[f"{side}_price_{i}"].to_pylist(), strings[f"{side}_qty_{i}"].to_pylist(), strict=True)
            for i in range(DEPTH)
        ]
        sides.append(list(zip(*pairs, strict=True)))
    bids, asks = sides
    append = snaps.append
    for r in range(n):
        if gap[r] is None:
            b, a = bids[r], asks[r]
            if b[-1][0] is None:
                b = _trim(b)
            if a[-1][0] is None:
                a = _trim(a)
            append(OrderBookSnapshot(symbol, b, a, update_id[r], ts[r]))
    return snaps, gaps


def _trim(levels: tuple) -> tuple:
    """A side with fewer than DEPTH levels: drop the empty (None, None) ones."""
    return levels[: next(i for i, (price, _) in enumerate(levels) if price is None)]


def _check_round_trip(data: bytes, meta: FileMeta, table: pa.Table, source_levels: dict[str, pa.Array]) -> None:
    """Decode the written bytes again and compare with what was meant: every level string, second, update id,
    gap and the metadata. Vectorised: no Python object per value."""
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data))
        back_meta = read_meta(parquet.metadata)
        back = parquet.read()
    except (pa.ArrowException, OSError) as exc:
        raise ArchiveFormatError(f"{meta.key.label}: the Parquet file does not read back: {exc}") from exc
    if back_meta != meta:
        raise ArchiveFormatError(f"{meta.key.label}: the metadata does not read back as written")
    if not seconds(back).equals(seconds(table)):
        raise ArchiveFormatError(f"{meta.key.label}: column ts does not read back as written")
    for name in ("update_id", "gap", *(("raw",) if meta.exact == EXACT_RAW else ())):
        if not back.column(name).equals(table.column(name)):
            raise ArchiveFormatError(f"{meta.key.label}: column {name} does not read back as written")
    if meta.exact == EXACT_DECIMAL:
        for name, strings in level_strings(back, meta).items():
            if not strings.equals(source_levels[name]):
                raise ArchiveFormatError(f"{meta.key.label}: {name} does not give back the exchange's strings")

