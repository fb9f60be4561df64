"""Hive partition layout of the warehouse (CONTRACT section 3): escaping and paths."""

from __future__ import annotations

import polars as pl

from etl3_assets.lib.contract import (
    DATA_FILE_STEM,
    HIVE_ESCAPED_CHARS,
    HIVE_NULL,
    PARTITION_KEYS,
    WAREHOUSE_DATA_PREFIX,
)

PARTITION_DIR_COLUMN = "_partition_dir"


def hive_escape(value: str | None) -> str:
    """Escape one partition value the way Hive's FileUtils.escapePathName does.

    Null becomes ``__HIVE_DEFAULT_PARTITION__``. The empty string is written as is
    (``key=``), which pyarrow, polars and DuckDB read back as ``""``; Spark would have
    turned it into null on write, losing the distinction.
    """
    if value is None:
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
    distinct = s.unique().drop_nulls().to_list()
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


def parse_partition_dir(partition_dir: str) -> dict[str, str | None]:
    """Partition key -> raw value for a relative partition folder (the inverse of the layout)."""
    values: dict[str, str | None] = {}
    for segment in partition_dir.strip("/").split("/"):
        key, _, raw = segment.partition("=")
        values[key] = hive_unescape(raw)
    return values
