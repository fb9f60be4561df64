"""Reading ETL1's star schema (CONTRACT section 1) and refusing input that breaks it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from .contract import (
    ETL1_TABLES,
    FACT_RATE,
    NPI_PATTERN,
    YEAR_MONTH_PATTERN,
    Etl1Table,
)
from .storage_paths import Root


class Etl1InputError(ValueError):
    """ETL1 output that breaks the contract; the message names table, column and value."""


@dataclass(frozen=True)
class Etl1Source:
    """The ETL1 root (local folder or S3 prefix) and how to reach it."""

    root: Root
    storage_options: Mapping[str, str] = field(default_factory=dict)

    def path(self, table: Etl1Table) -> str:
        return self.root.join(table.relative_path)

    def scan(self, table: Etl1Table) -> pl.LazyFrame:
        """The table with exactly its contract columns (extra columns are ignored)."""
        lf = pl.scan_parquet(self.path(table), storage_options=dict(self.storage_options) or None)
        return lf.select([pl.col(c).cast(t) for c, t in table.schema.items()])

    def exists(self, table: Etl1Table) -> bool:
        if self.root.is_s3:
            try:
                pl.scan_parquet(
                    self.path(table), storage_options=dict(self.storage_options) or None
                ).collect_schema()
                return True
            except Exception:
                return False
        return os.path.isfile(self.path(table))


def _fail(table: Etl1Table, column: str, problem: str) -> Etl1InputError:
    return Etl1InputError(f"ETL1 table {table.name}, column {column}: {problem}")


def check_table_schema(source: Etl1Source, table: Etl1Table) -> None:
    if not source.exists(table):
        raise Etl1InputError(f"ETL1 table {table.name} is missing: expected {source.path(table)}")
    raw = pl.scan_parquet(
        source.path(table), storage_options=dict(source.storage_options) or None
    )
    found = raw.collect_schema()
    for column, dtype in table.schema.items():
        if column not in found:
            raise _fail(table, column, f"column is missing (found columns: {', '.join(found)})")
        if not _same_logical_type(found[column], dtype):
            sample = raw.select(pl.col(column).drop_nulls().first()).collect().item()
            raise _fail(
                table, column, f"expected dtype {dtype}, found {found[column]} (e.g. value {sample!r})"
            )


def _same_logical_type(found: pl.DataType, expected: pl.DataType) -> bool:
    """Dictionary-encoded strings (Categorical, Enum) are strings to the contract."""
    if found == expected:
        return True
    if expected == pl.String:
        return isinstance(found, (pl.Categorical, pl.Enum))
    if isinstance(expected, pl.List) and isinstance(found, pl.List):
        return _same_logical_type(found.inner, expected.inner)
    return False


def check_keys(source: Etl1Source, table: Etl1Table, lf: pl.LazyFrame | None = None) -> None:
    """Key columns are non-null and the key is unique."""
    lf = source.scan(table) if lf is None else lf
    key = list(table.key)
    null_rows = (
        lf.filter(pl.any_horizontal(pl.col(key).is_null())).select(key).head(1).collect()
    )
    if null_rows.height:
        row = null_rows.row(0, named=True)
        column = next(c for c in key if row[c] is None)
        raise _fail(table, column, f"key column is null in row with key {row}")
    dupes = lf.group_by(key).agg(pl.len().alias("_n")).filter(pl.col("_n") > 1).head(1).collect()
    if dupes.height:
        row = dupes.row(0, named=True)
        value = tuple(row[c] for c in key) if len(key) > 1 else row[key[0]]
        raise _fail(
            table,
            ", ".join(key),
            f"duplicated key {value!r} appears {row['_n']} times (the key must be unique)",
        )


def check_pattern(source: Etl1Source, table: Etl1Table, column: str, pattern: str, meaning: str) -> None:
    bad = (
        source.scan(table)
        .select(column)
        .filter(pl.col(column).is_not_null() & ~pl.col(column).str.contains(pattern))
        .head(1)
        .collect()
    )
    if bad.height:
        raise _fail(table, column, f"value {bad.item()!r} is not {meaning}")


def validate_etl1(source: Etl1Source, year_month: str | None = None) -> None:
    """Every contract rule that makes enrichment meaningless if broken, checked lazily.

    Dimension keys must be unique (otherwise a left join would repeat fact rows); the
    fact's key must be unique within the month being built.
    """
    for table in ETL1_TABLES:
        check_table_schema(source, table)
    check_pattern(source, FACT_RATE, "year_month", YEAR_MONTH_PATTERN, "a YYYY-MM month")
    for table in ETL1_TABLES:
        if "npi" in table.schema:
            check_pattern(source, table, "npi", NPI_PATTERN, "a 10-digit NPI")
        if table is FACT_RATE:
            month_facts = source.scan(table)
            if year_month is not None:
                month_facts = month_facts.filter(pl.col("year_month") == year_month)
            check_keys(source, table, month_facts)
        else:
            check_keys(source, table)


def fact_months(source: Etl1Source) -> dict[str, int]:
    """Month -> fact row count, computed by a streaming aggregation, not a load."""
    counts = (
        source.scan(FACT_RATE)
        .group_by("year_month")
        .agg(pl.len().alias("rows"))
        .collect(engine="streaming")
    )
    return {r["year_month"]: r["rows"] for r in counts.iter_rows(named=True) if r["year_month"]}


def table_fingerprint(source: Etl1Source, table: Etl1Table) -> str | None:
    """Size and mtime of a local file; None when absent. (S3 uses the ETag: see s3 module.)"""
    try:
        st = os.stat(source.path(table))
    except FileNotFoundError:
        return None
    return f"{st.st_size}-{st.st_mtime_ns}"
