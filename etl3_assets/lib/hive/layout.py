"""Hive partition layout of the warehouse (CONTRACT section 3): escaping and paths."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from etl3_assets.lib.contract import (
    DATA_FILE_STEM,
    HIVE_ESCAPED_CHARS,
    HIVE_NULL,
    PARTITION_KEYS,
    PARTITION_SCHEMA,
    WAREHOUSE_DATA_PREFIX,
)

PARTITION_DIR_COLUMN = "_partition_dir"
PARTITION_COLUMN_OF = dict(PARTITION_KEYS)


def hive_escape(value: str | None) -> str:
    """Escape one partition value the way Hive's FileUtils.escapePathName does.

    Null and the empty string become ``__HIVE_DEFAULT_PARTITION__``, as Hive and Spark
    write them both: Spark refuses to read a table with a folder such as ``key=``. So an
    empty value reads back as null (CONTRACT section 3).
    """
    if not value:
        return HIVE_NULL
    return "".join(f"%{ord(ch):02X}" if ch in HIVE_ESCAPED_CHARS else ch for ch in value)


def hive_unescape(segment: str) -> str | None:
    if segment == HIVE_NULL:
        return None
    out, i = [], 0
    while i < len(segment):
        ch = segment[i]
        if ch == "%" and _is_hex(segment[i + 1 : i + 3]):
            out.append(chr(int(segment[i + 1 : i + 3], 16)))
            i += 3
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _is_hex(s: str) -> bool:
    return len(s) == 2 and all(c in "0123456789abcdefABCDEF" for c in s)


def _escape_series(s: pl.Series) -> pl.Series:
    """Escape a string column by escaping each distinct value once (few per batch)."""
    distinct = [v for v in s.unique().drop_nulls().to_list() if v]
    mapping = {v: hive_escape(v) for v in distinct}
    return s.replace_strict(mapping, default=HIVE_NULL, return_dtype=pl.String)


def escaped(column: str) -> pl.Expr:
    return pl.col(column).map_batches(
        _escape_series, return_dtype=pl.String, is_elementwise=True
    )


def partition_dir_expr() -> pl.Expr:
    """The relative partition folder of each enriched row, e.g. ``payer_slug=a/…/month=08``."""
    parts: list[pl.Expr] = []
    for i, (key, column) in enumerate(PARTITION_KEYS):
        parts.append(pl.lit(("/" if i else "") + f"{key}="))
        if key == "year":
            parts.append(pl.col(column).cast(pl.String))
        elif key == "month":
            parts.append(pl.col(column).cast(pl.String).str.zfill(2))
        else:
            parts.append(escaped(column))
    return pl.concat_str(parts).alias(PARTITION_DIR_COLUMN)


def month_suffix(year_month: str) -> str:
    """The trailing folders every file of one month sits in: ``year=2025/month=08``."""
    year, month = year_month.split("-")
    return f"year={int(year)}/month={month}"


def data_file_names(n_files: int) -> list[str]:
    """File names inside one partition: one plain file, or numbered splits, never both."""
    if n_files == 1:
        return [f"{DATA_FILE_STEM}.parquet"]
    return [f"{DATA_FILE_STEM}-{i:05d}.parquet" for i in range(n_files)]


def data_key(partition_dir: str, file_name: str) -> str:
    return f"{WAREHOUSE_DATA_PREFIX}/{partition_dir}/{file_name}"


def key_partition_dir(keys: pl.Expr) -> pl.Expr:
    """The partition folder of data keys (the inverse of ``data_key``'s folder part)."""
    return keys.str.strip_prefix(f"{WAREHOUSE_DATA_PREFIX}/").str.replace(r"/[^/]+$", "")


def parse_partition_dir(partition_dir: str) -> dict[str, str | None]:
    """Partition key -> raw value for a relative partition folder (the inverse of the layout)."""
    values: dict[str, str | None] = {}
    for segment in partition_dir.strip("/").split("/"):
        key, _, raw = segment.partition("=")
        values[key] = hive_unescape(raw)
    return values


def in_partitions(partition_dirs: Iterable[str]) -> pl.Expr:
    """Rows of the enriched month that belong in any of these partition folders, as a
    filter on the partition columns themselves (streams, and prunes row groups; no folder
    string is built per row)."""
    matches = []
    for partition_dir in partition_dirs:
        parts = []
        for key, raw in parse_partition_dir(partition_dir).items():
            column = pl.col(PARTITION_COLUMN_OF[key])
            parts.append(
                _read_back(key, column).is_null() if raw is None else column == pl.lit(raw).cast(PARTITION_SCHEMA[key])
            )
        matches.append(pl.all_horizontal(parts))
    return pl.any_horizontal(matches) if matches else pl.lit(False)


def _read_back(key: str, column: pl.Expr) -> pl.Expr:
    if PARTITION_SCHEMA[key] != pl.String:
        return column
    return pl.when(column != "").then(column)


def as_read_back() -> list[pl.Expr]:
    """The enriched month's partition columns as the Hive layout reads them back: an empty
    string is null (written ``__HIVE_DEFAULT_PARTITION__``). A column that is also stored
    in the files (primary_taxonomy_code, the value of ``taxonomy``) keeps its value."""
    return [_read_back(key, pl.col(column)).alias(column) for key, column in PARTITION_KEYS if key == column]


# --- Keys that cannot exist. ---

MAX_FOLDER_BYTES = 255
"""A partition folder (``key=`` + escaped value) longer than this cannot be created on
local filesystems (ext4, APFS, NTFS: 255 bytes per name) and breaks tools that mirror S3
to disk; S3 itself would take it, but then the warehouse could not be copied down."""
MAX_KEY_BYTES = 1024
"""S3's limit on a whole object key (UTF-8 bytes), prefix included."""
LONGEST_FILE_NAME = data_file_names(2)[0]  # a split partition's file name is the longest


@dataclass(frozen=True)
class OverlongKey:
    """A partition value whose folder, or whose whole object key, is too long to exist."""

    key: str  # partition key, e.g. procedure_class
    value: str | None  # the original (unescaped) value
    length: int  # bytes of the folder name, or of the whole object key
    limit: int
    object_key: str | None = None  # the longest object key, when the whole key is too long

    @property
    def problem(self) -> str:
        from etl3_assets.lib.etl1.source import shorten

        if self.object_key is None:
            return (
                f"value {shorten(self.value)} makes the partition folder {self.key}=… "
                f"{self.length} bytes long; a folder name may have at most {self.limit} bytes"
            )
        shown = self.object_key if len(self.object_key) <= 120 else f"{self.object_key[:60]}…{self.object_key[-50:]}"
        return (
            f"value {shorten(self.value)} makes the object key {shown} {self.length} bytes long;"
            f" S3 allows at most {self.limit} bytes per key"
        )


def overlong_keys(partition_dirs: pl.Series, key_prefix: str = "") -> list[OverlongKey]:
    """The partition folders (as computed by :func:`partition_dir_expr`) that cannot exist:
    one finding per partition key whose longest folder name exceeds ``MAX_FOLDER_BYTES``,
    and one for the longest object key when it exceeds ``MAX_KEY_BYTES``.

    ``key_prefix`` is the warehouse's key prefix in its bucket (empty for a local
    folder, whose keys are checked against the same limit so the warehouse can move to S3).
    """
    dirs = pl.DataFrame({"dir": partition_dirs.unique().drop_nulls()})
    if dirs.is_empty():
        return []
    head = f"{key_prefix.strip('/')}/" if key_prefix.strip("/") else ""
    fixed = len(f"{head}{WAREHOUSE_DATA_PREFIX}//{LONGEST_FILE_NAME}".encode())
    found: list[OverlongKey] = []
    segments = (
        dirs.select(segment=pl.col("dir").str.split("/"))
        .explode("segment")
        .unique()
        .with_columns(bytes=pl.col("segment").str.len_bytes())
        .filter(pl.col("bytes") > MAX_FOLDER_BYTES)
        .with_columns(key=pl.col("segment").str.split_exact("=", 1).struct.field("field_0"))
        .sort("bytes", "segment", descending=[True, False])
        .unique("key", keep="first", maintain_order=True)
    )
    for segment, length, key in segments.select("segment", "bytes", "key").iter_rows():
        found.append(OverlongKey(key, hive_unescape(segment.partition("=")[2]), length, MAX_FOLDER_BYTES))
    longest = (
        dirs.with_columns(bytes=pl.col("dir").str.len_bytes() + fixed)
        .sort("bytes", "dir", descending=[True, False])
        .row(0, named=True)
    )
    if longest["bytes"] > MAX_KEY_BYTES:
        segment = max(longest["dir"].split("/"), key=lambda s: len(s.encode()))
        key, _, raw = segment.partition("=")
        object_key = f"{head}{data_key(longest['dir'], LONGEST_FILE_NAME)}"
        found.append(OverlongKey(key, hive_unescape(raw), longest["bytes"], MAX_KEY_BYTES, object_key))
    return found
