"""The parquet files of one bucket's small partitions, encoded together.

A warehouse file holds a few dozen rows, so its cost is a fixed amount per column chunk,
not per value. pyarrow and polars pay it in native code, but both set up a new zstd
compression context for every page (63 per file here), and on a virtual machine that set-up
(a ``cpuid`` the hypervisor traps) costs more than compressing the page.
``BucketEncoder`` does the per-value work once for the whole bucket, in arrow and numpy
(every column's PLAIN bytes, validity, per-file min and max by a polars group-by a column),
then writes each file from slices of that work: one data page per column compressed by one
reused zstd context, the Thrift footer from precomputed pieces.

The files are what pyarrow writes with ``compression="zstd"``, ``write_statistics=True``,
``store_schema=False`` and no dictionary: format version 2, the same schema elements
(nullable columns OPTIONAL, strings as ``STRING``, lists in the three-level ``LIST``
form), V1 data pages (RLE/bit-packed levels, PLAIN values), zstd level 1, column
statistics with pyarrow's rules (min/max ignore NaN, a zero minimum is -0.0 and a zero
maximum +0.0, min/max left out when longer than 4,096 bytes or when the column has no
value), TYPE_ORDER column orders. ``created_by`` names this encoder in the
``<app> version <x.y.z>`` form that parquet-mr, Trino and DuckDB parse before trusting
string statistics. Page-level statistics and size statistics, which pyarrow adds and
readers do not need, are left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import zstandard

CREATED_BY = b"etl3-assets-parquet-encoder version 1.0.0"
ZSTD_LEVEL = 1  # Arrow's default zstd level, what pyarrow's files carry
MAX_STATISTICS_BYTES = 4_096  # pyarrow's max_statistics_size: longer min/max are left out

# Thrift enums of parquet.thrift
_BOOLEAN, _INT32, _INT64, _FLOAT, _DOUBLE, _BYTE_ARRAY = 0, 1, 2, 4, 5, 6
_REQUIRED, _OPTIONAL, _REPEATED = 0, 1, 2
_UTF8, _LIST = 0, 3  # converted types
_ZSTD = 6
_FIXED_WIDTH = {  # arrow type -> (parquet physical type, numpy dtype)
    pa.float64(): (_DOUBLE, np.float64),
    pa.float32(): (_FLOAT, np.float32),
    pa.int64(): (_INT64, np.int64),
    pa.int32(): (_INT32, np.int32),
}


# --- Thrift compact protocol ------------------------------------------------------------

def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


_SMALL_ZIGZAG = [_varint(2 * n) for n in range(1 << 14)]


def _zigzag(n: int) -> bytes:
    """A non-negative i32/i64 as the compact protocol writes it (zigzag varint)."""
    return _SMALL_ZIGZAG[n] if n < 16384 else _varint(2 * n)


def _binary(b: bytes) -> bytes:
    return _varint(len(b)) + b


def _list_header(size: int, element_type: int) -> bytes:
    return bytes([(size << 4) | element_type]) if size < 15 else bytes([0xF0 | element_type]) + _varint(size)


_STRUCT, _BIN = 0x0C, 0x08  # compact-protocol element types of lists


# --- Levels ----------------------------------------------------------------------------

def _rle_run(count: int, value: int, bit_width: int) -> bytes:
    """One RLE run of the RLE/bit-packed hybrid."""
    return _varint(count << 1) + value.to_bytes((bit_width + 7) // 8, "little")


def _bit_packed(levels: np.ndarray, bit_width: int) -> bytes:
    """``levels`` as one bit-packed run of the hybrid (groups of 8, LSB first; the padding
    after the last level is ignored by readers, who know the page's number of values)."""
    groups = (len(levels) + 7) // 8
    if bit_width == 1:  # packbits pads the last byte with zeros itself
        packed = np.packbits(levels, bitorder="little")
    else:
        padded = np.zeros(groups * 8, dtype=np.uint8)
        padded[: len(levels)] = levels
        bits = ((padded[:, None] >> np.arange(bit_width, dtype=np.uint8)) & 1).astype(np.uint8)
        packed = np.packbits(bits.reshape(-1), bitorder="little")
    return _varint((groups << 1) | 1) + packed.tobytes()


def _with_length(encoded: bytes) -> bytes:
    return len(encoded).to_bytes(4, "little") + encoded


def _levels(levels: np.ndarray, bit_width: int) -> bytes:
    """A V1 page's levels: one RLE run when they are all equal, else one bit-packed run."""
    first = int(levels[0])
    if (levels == first).all():
        return _with_length(_rle_run(len(levels), first, bit_width))
    return _with_length(_bit_packed(levels, bit_width))


# --- Columns -----------------------------------------------------------------------------

def _plain_byte_arrays(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """PLAIN encoding of a string/binary array's non-null values (4-byte length, bytes),
    concatenated, and every slot's start in it (a null slot takes no bytes)."""
    values = values.cast(pa.large_binary())
    n = len(values)
    valid = _validity(values)
    present = values if valid is None else values.filter(pa.array(valid))
    offsets = np.frombuffer(present.buffers()[1], dtype=np.int64)[present.offset : present.offset + len(present) + 1]
    lengths = np.diff(offsets)
    data = present.buffers()[2]
    data = np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]] if data is not None else np.empty(0, np.uint8)
    slot_bytes = np.zeros(n, dtype=np.int64)
    if valid is None:
        slot_bytes[:] = lengths + 4
    else:
        slot_bytes[valid] = lengths + 4
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(slot_bytes, out=starts[1:])
    plain = np.empty(int(starts[-1]), dtype=np.uint8)
    prefix_at = starts[:-1] if valid is None else starts[:-1][valid]
    is_data = np.ones(len(plain), dtype=bool)
    for k in range(4):
        plain[prefix_at + k] = (lengths >> (8 * k)) & 0xFF
        is_data[prefix_at + k] = False
    plain[is_data] = data
    return plain, starts


def _validity(values: pa.Array) -> np.ndarray | None:
    """Which slots hold a value, or None when all do."""
    if values.null_count == 0:
        return None
    return values.is_valid().to_numpy(zero_copy_only=False)


@dataclass
class _Column:
    """One leaf column of the bucket, prepared for slicing into files."""

    name: str
    physical: int
    max_def: int  # 0 (required), 1 (optional) or 3 (optional list of optional values)
    plain: bytes  # the bucket's PLAIN values (not for booleans, packed per file)
    value_starts: np.ndarray | None  # per level entry: where its PLAIN bytes start in ``plain``
    entry_starts: np.ndarray | None  # lists: per row, its first level entry; None for flat columns
    def_levels: np.ndarray | None  # per entry (None: every entry at max_def)
    rep_levels: np.ndarray | None  # lists only
    booleans: np.ndarray | None  # booleans: the bucket's values, one byte each
    schema: bytes  # this column's schema elements (compact protocol)
    chunk_head: bytes  # ColumnMetaData fields 1-4 (type, encodings, path, codec)
    stats_kind: str  # "bytes", "fixed" (with legacy min/max) or "bool"
    # per file of the bucket (set by BucketEncoder): its first level entry (lists only) and
    # where its PLAIN bytes start, as lists so that the per-file loop indexes plain ints
    file_entries: list[int] | None = None
    file_values: list[int] | None = None
    null_counts: list[int] | None = None  # per file
    lows: pl.Series | None = None  # per file, min and max (null where no value)
    highs: pl.Series | None = None
    statistics: list[bytes] | None = None  # per file of the encoder's window, the Statistics struct


def _is_string(t: pa.DataType) -> bool:
    return pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)


def _kind(field: pa.Field) -> str | None:
    """How ``BucketEncoder`` writes a column: "string_list" (a nullable list of nullable
    strings), "string", "fixed" (fixed-width numbers, booleans), or None when it cannot."""
    t = field.type
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return "string_list" if field.nullable and t.value_field.nullable and _is_string(t.value_type) else None
    if _is_string(t):
        return "string"
    if t in _FIXED_WIDTH or pa.types.is_boolean(t):
        return "fixed"
    return None


def supports(schema: pa.Schema) -> bool:
    """Whether ``BucketEncoder`` writes every column of ``schema``."""
    return all(_kind(field) for field in schema)


def _prepare(field: pa.Field, column: pa.Array) -> _Column:
    t = field.type
    name = field.name.encode()
    optional = field.nullable
    kind = _kind(field)
    if kind is None:
        raise TypeError(f"column {field.name}: arrow type {t} is not supported")
    if kind == "string_list":
        return _prepare_string_list(field, column.cast(pa.large_list(pa.large_string())))
    if kind == "string":
        plain, starts = _plain_byte_arrays(column)
        schema = (
            bytes([0x15, 2 * _BYTE_ARRAY, 0x25, 2 * (_OPTIONAL if optional else _REQUIRED), 0x18])
            + _binary(name)
            + bytes([0x25, 2 * _UTF8, 0x4C, 0x1C, 0x00, 0x00, 0x00])
        )
        return _Column(
            field.name, _BYTE_ARRAY, int(optional), plain.tobytes(), starts, None,
            _def_levels(column, optional), None, None, schema, _chunk_head(_BYTE_ARRAY, [name]), "bytes",
        )
    if kind == "fixed":
        physical = _BOOLEAN if pa.types.is_boolean(t) else _FIXED_WIDTH[t][0]
        schema = (
            bytes([0x15, 2 * physical, 0x25, 2 * (_OPTIONAL if optional else _REQUIRED), 0x18]) + _binary(name) + b"\x00"
        )
        valid = _validity(column)
        if physical == _BOOLEAN:
            values = column.fill_null(False).to_numpy(zero_copy_only=False).astype(np.uint8)
            plain, starts, booleans = b"", np.zeros(0, dtype=np.int64), values
        else:
            dtype = _FIXED_WIDTH[t][1]
            values = column.fill_null(0).to_numpy(zero_copy_only=False).astype(dtype, copy=False)
            present = values if valid is None else values[valid]
            width = np.dtype(dtype).itemsize
            slot_bytes = np.full(len(values), width, dtype=np.int64) if valid is None else valid.astype(np.int64) * width
            starts_arr = np.zeros(len(values) + 1, dtype=np.int64)
            np.cumsum(slot_bytes, out=starts_arr[1:])
            plain, starts, booleans = present.astype(f"<{np.dtype(dtype).str[1:]}").tobytes(), starts_arr, None
        return _Column(
            field.name, physical, int(optional), plain, starts, None, _def_levels(column, optional), None,
            booleans, schema, _chunk_head(physical, [name]), "bool" if physical == _BOOLEAN else "fixed",
        )
    raise AssertionError(kind)


def _def_levels(column: pa.Array, optional: bool) -> np.ndarray | None:
    valid = _validity(column) if optional else None
    return None if valid is None else valid.astype(np.uint8)


def _prepare_string_list(field: pa.Field, column: pa.Array) -> _Column:
    """A nullable list of nullable strings: per row one level entry when the list is null
    (def 0) or empty (def 1), else one per element (def 2 null, 3 value; rep 0 on a row's
    first entry, 1 after)."""
    n = len(column)
    name = field.name.encode()
    offsets = np.frombuffer(column.buffers()[1], dtype=np.int64)[column.offset : column.offset + n + 1]
    sizes = np.diff(offsets)
    row_valid = _validity(column)
    row_valid = np.ones(n, dtype=bool) if row_valid is None else row_valid
    sizes = np.where(row_valid, sizes, 0)
    entries_per_row = np.maximum(sizes, 1)
    entry_starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(entries_per_row, out=entry_starts[1:])
    n_entries = int(entry_starts[-1])
    rep = np.ones(n_entries, dtype=np.uint8)
    rep[entry_starts[:-1]] = 0
    # elements of the valid, non-empty rows, in order (the values child may hold others)
    rows_with_items = sizes > 0
    items = pc.list_flatten(column)  # skips null lists' slots, keeps empty lists empty
    item_valid = _validity(items)
    deflev = np.empty(n_entries, dtype=np.uint8)
    first_entries = entry_starts[:-1]
    deflev[first_entries[~row_valid]] = 0
    deflev[first_entries[row_valid & ~rows_with_items]] = 1
    has_item = np.zeros(n_entries, dtype=bool)
    # entries of rows with items are exactly those rows' ranges, in order
    mask_rows = np.repeat(rows_with_items, entries_per_row)
    has_item[mask_rows] = True
    deflev[has_item] = 3 if item_valid is None else np.where(item_valid, 3, 2)
    plain_items, item_starts = _plain_byte_arrays(items)
    value_starts = np.zeros(n_entries + 1, dtype=np.int64)
    entry_bytes = np.zeros(n_entries, dtype=np.int64)
    entry_bytes[has_item] = np.diff(item_starts)
    np.cumsum(entry_bytes, out=value_starts[1:])
    optional = field.nullable
    element = field.type.value_field
    schema = (
        bytes([0x35, 2 * (_OPTIONAL if optional else _REQUIRED), 0x18])
        + _binary(name)
        + bytes([0x15, 0x02, 0x15, 2 * _LIST, 0x4C, 0x3C, 0x00, 0x00, 0x00])
        + bytes([0x35, 2 * _REPEATED, 0x18]) + _binary(b"list") + bytes([0x15, 0x02, 0x00])
        + bytes([0x15, 2 * _BYTE_ARRAY, 0x25, 2 * (_OPTIONAL if element.nullable else _REQUIRED), 0x18])
        + _binary(b"element")
        + bytes([0x25, 2 * _UTF8, 0x4C, 0x1C, 0x00, 0x00, 0x00])
    )
    return _Column(
        field.name, _BYTE_ARRAY, 3, plain_items.tobytes(), value_starts, entry_starts,
        deflev, rep, None, schema, _chunk_head(_BYTE_ARRAY, [name, b"list", b"element"]), "bytes",
    )


def _chunk_head(physical: int, path: list[bytes]) -> bytes:
    """ColumnMetaData's fixed fields: type, encodings [RLE, PLAIN], path, codec ZSTD."""
    return (
        bytes([0x15, 2 * physical, 0x19, 0x25, 0x06, 0x00, 0x19])
        + _list_header(len(path), _BIN)
        + b"".join(_binary(p) for p in path)
        + bytes([0x15, 2 * _ZSTD])
    )


# --- Statistics --------------------------------------------------------------------------

def _min_max_bytes(c: _Column, low: pl.Series, high: pl.Series) -> tuple[list, list]:
    """Per file, a column's min and max PLAIN-encoded (None where it has no value), with
    pyarrow's rules for floating point: NaN is ignored (polars' min/max are NaN only
    when every value is), a zero minimum is -0.0 and a zero maximum +0.0."""
    if c.stats_kind == "bytes":
        return low.cast(pl.Binary).to_list(), high.cast(pl.Binary).to_list()
    if c.stats_kind == "bool":
        as_byte = {True: b"\x01", False: b"\x00", None: None}
        return [as_byte[v] for v in low.to_list()], [as_byte[v] for v in high.to_list()]
    dtype = {_DOUBLE: "<f8", _FLOAT: "<f4", _INT64: "<i8", _INT32: "<i4"}[c.physical]
    missing = low.is_null().to_numpy()
    lo = low.fill_null(0).to_numpy().astype(dtype)
    hi = high.fill_null(0).to_numpy().astype(dtype)
    if c.physical in (_DOUBLE, _FLOAT):
        missing |= np.isnan(lo)
        lo[lo == 0] = -0.0
        hi[hi == 0] = 0.0
    width = np.dtype(dtype).itemsize
    lo_bytes, hi_bytes = lo.tobytes(), hi.tobytes()
    return (
        [None if m else lo_bytes[i * width : (i + 1) * width] for i, m in enumerate(missing.tolist())],
        [None if m else hi_bytes[i * width : (i + 1) * width] for i, m in enumerate(missing.tolist())],
    )


_LENGTH = [_varint(n) for n in range(MAX_STATISTICS_BYTES + 1)]  # a min/max's length prefix


def _statistics(legacy: bool, low: bytes | None, high: bytes | None, null_count: int) -> bytes:
    """The Statistics struct as pyarrow writes it: min/max (and for every type but byte
    arrays the deprecated min/max too), null count, exactness flags; min/max are left out
    when the column has no value or either is over MAX_STATISTICS_BYTES."""
    if low is None or high is None or len(low) > MAX_STATISTICS_BYTES or len(high) > MAX_STATISTICS_BYTES:
        return b"\x36%b\x00" % _zigzag(null_count)
    hi, lo = _LENGTH[len(high)] + high, _LENGTH[len(low)] + low
    if legacy:
        return b"\x18%b\x18%b\x16%b\x28%b\x18%b\x11\x11\x00" % (hi, lo, _zigzag(null_count), hi, lo)
    return b"\x36%b\x28%b\x18%b\x11\x11\x00" % (_zigzag(null_count), hi, lo)


_FILE_INDEX = "__etl3_file_index__"
_ENCODING_STATS = bytes([0x19, 0x1C, 0x15, 0x00, 0x15, 0x00, 0x15, 0x02, 0x00])  # one PLAIN data page
_PAGE_HEADER = b"\x15\x00\x15%b\x15%b\x2c\x15%b\x15\x00\x15\x06\x15\x06\x00\x00"
# ColumnChunk: file_offset 0, ColumnMetaData (head, num_values, sizes, data page offset,
# statistics, encoding stats)
_COLUMN_CHUNK = b"\x26\x00\x1c%b\x16%b\x16%b\x16%b\x26%b\x3c%b" + _ENCODING_STATS + b"\x00\x00"


STATISTICS_WINDOW = 1_024  # files whose Statistics structs are formatted at a time


class BucketEncoder:
    """Parquet files of consecutive row ranges of one bucket's columns.

    ``columns`` are the bucket's columns in ``schema``'s order, in file order, each taken
    and released in turn: an iterator that produces them one at a time means the bucket is
    never held twice (as its columns and as their encoding). ``lengths`` cut the rows into
    files; ``encode(i)`` returns file ``i``'s bytes. Deterministic: the same rows give the
    same bytes.
    """

    def __init__(self, schema: pa.Schema, columns: Iterable[pa.Array | pa.ChunkedArray], lengths: Sequence[int]):
        self.lengths = list(lengths)
        bounds = np.zeros(len(self.lengths) + 1, dtype=np.int64)
        np.cumsum(self.lengths, out=bounds[1:])
        self.starts = bounds.tolist()
        file_of_row = pl.Series(_FILE_INDEX, np.repeat(np.arange(len(self.lengths), dtype=np.int64), self.lengths))
        self.columns: list[_Column] = []
        for field, column in zip(schema, columns, strict=True):
            if isinstance(column, pa.ChunkedArray):
                column = column.combine_chunks() if column.num_chunks else pa.array([], field.type)
            if len(column) != bounds[-1]:
                raise ValueError(f"file lengths sum to {bounds[-1]} rows but column {field.name} has {len(column)}")
            c = _prepare(field, column)
            entry_bounds = bounds if c.entry_starts is None else c.entry_starts[bounds]
            c.file_entries = None if c.entry_starts is None else entry_bounds.tolist()
            c.file_values = c.value_starts[entry_bounds].tolist() if c.booleans is None else None
            c.value_starts = c.entry_starts = None  # per row (8 bytes a row), not needed any more
            self._file_statistics(c, column, file_of_row, entry_bounds)
            del column
            self.columns.append(c)
        n_cols = len(self.columns)
        self.schema = (
            bytes([0x15, 0x04, 0x19])  # version 2, schema list
            + _list_header(1 + sum(3 if c.file_entries is not None else 1 for c in self.columns), _STRUCT)
            + bytes([0x35, 0x00, 0x18]) + _binary(b"schema") + b"\x15" + _zigzag(n_cols) + b"\x00"
            + b"".join(c.schema for c in self.columns)
            + b"\x16"  # num_rows follows
        )
        self.row_group = b"\x19\x1c\x19" + _list_header(n_cols, _STRUCT)
        self.tail = (
            b"\x28" + _binary(CREATED_BY) + b"\x19" + _list_header(n_cols, _STRUCT) + b"\x1c\x00\x00" * n_cols + b"\x00"
        )
        self.compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        self.uniform_levels: dict[tuple[int, int, int], bytes] = {}
        self.window = (0, 0)  # the files whose Statistics structs are in each column's ``statistics``

    @classmethod
    def of_table(cls, table: pa.Table, lengths: Sequence[int]) -> BucketEncoder:
        return cls(table.schema, (table.column(i) for i in range(table.num_columns)), lengths)

    @staticmethod
    def _file_statistics(c: _Column, column: pa.Array, file_of_row: pl.Series, entry_bounds: np.ndarray) -> None:
        """Per file of one column: the null count (level entries below the column's max),
        and min and max by a polars group-by over the file index (kept as Series, compact;
        formatted into Statistics structs a window of files at a time)."""
        if c.def_levels is None:
            c.null_counts = [0] * (len(entry_bounds) - 1)
        else:
            missing = np.zeros(len(c.def_levels) + 1, dtype=np.int64)
            np.cumsum(c.def_levels < c.max_def, out=missing[1:])
            c.null_counts = (missing[entry_bounds[1:]] - missing[entry_bounds[:-1]]).tolist()
        frame = pl.DataFrame([file_of_row, pl.Series("value", column)])
        if c.file_entries is not None:
            frame = frame.explode("value", empty_as_null=True, keep_nulls=True)
        ranges = frame.group_by(_FILE_INDEX, maintain_order=True).agg(
            pl.col("value").min().alias("min"), pl.col("value").max().alias("max")
        )
        c.lows, c.highs = ranges["min"], ranges["max"]

    def _format_statistics(self, first: int) -> None:
        """The Statistics structs of every column for the window of files from ``first``."""
        last = min(first + STATISTICS_WINDOW, len(self.lengths))
        for c in self.columns:
            lows, highs = _min_max_bytes(c, c.lows[first:last], c.highs[first:last])
            legacy = c.stats_kind != "bytes"
            c.statistics = [
                _statistics(legacy, lo, hi, n) for lo, hi, n in zip(lows, highs, c.null_counts[first:last], strict=True)
            ]
        self.window = (first, last)

    def _uniform(self, entries: int, value: int, bit_width: int) -> bytes:
        """Levels that are all ``value``: one RLE run, cached by size."""
        key = (entries, value, bit_width)
        levels = self.uniform_levels.get(key)
        if levels is None:
            levels = self.uniform_levels[key] = _with_length(_rle_run(entries, value, bit_width))
        return levels

    def _def_levels(self, c: _Column, first: int, last: int, nulls: int) -> bytes:
        if c.max_def == 1:  # a flat optional column: no null, all null, or a bitmap
            if nulls == 0:
                return self._uniform(last - first, 1, 1)
            if nulls == last - first:
                return self._uniform(last - first, 0, 1)
            return _with_length(_bit_packed(c.def_levels[first:last], 1))
        return _levels(c.def_levels[first:last], 2)

    def encode(self, i: int) -> bytes:
        start, end = self.starts[i], self.starts[i + 1]
        parts = [b"PAR1"]
        chunks = []
        offset = 4
        total_uncompressed = total_compressed = 0
        compress = self.compressor.compress
        if not self.window[0] <= i < self.window[1]:
            self._format_statistics(i)
        in_window = i - self.window[0]
        for c in self.columns:
            nulls = c.null_counts
            entries = c.file_entries
            if entries is None:
                first, last = start, end
                levels = b"" if c.max_def == 0 else self._def_levels(c, first, last, nulls[i])
            else:
                first, last = entries[i], entries[i + 1]
                if last - first == end - start:  # one entry per row: no row has two values
                    repetition = self._uniform(last - first, 0, 1)
                else:
                    repetition = _levels(c.rep_levels[first:last], 1)
                levels = repetition + self._def_levels(c, first, last, nulls[i])
            if c.booleans is None:
                page = levels + c.plain[c.file_values[i] : c.file_values[i + 1]]
            else:
                present = c.booleans[first:last]
                if nulls[i]:
                    present = present[c.def_levels[first:last] == 1]
                page = levels + np.packbits(present, bitorder="little").tobytes()
            compressed = compress(page)
            values = _zigzag(last - first)
            header = _PAGE_HEADER % (_zigzag(len(page)), _zigzag(len(compressed)), values)
            uncompressed_size = len(header) + len(page)
            compressed_size = len(header) + len(compressed)
            parts += (header, compressed)
            chunks.append(
                _COLUMN_CHUNK % (
                    c.chunk_head, values, _zigzag(uncompressed_size), _zigzag(compressed_size), _zigzag(offset),
                    c.statistics[in_window],
                )
            )
            offset += compressed_size
            total_uncompressed += uncompressed_size
            total_compressed += compressed_size
        rows = _zigzag(end - start)
        footer = b"".join((
            self.schema, rows, self.row_group, *chunks,
            b"\x16", _zigzag(total_uncompressed), b"\x16", rows,
            b"\x26\x08\x16", _zigzag(total_compressed), b"\x00",
            self.tail,
        ))
        parts += (footer, len(footer).to_bytes(4, "little"), b"PAR1")
        return b"".join(parts)
