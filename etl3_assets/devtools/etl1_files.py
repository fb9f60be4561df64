"""ETL1's files as the real ETL1 writes them (CONTRACT section 1): a contract-schema frame
with the extra columns ETL1 adds and NaN for missing reference numbers, written under an
ETL1 root (a folder or an S3 prefix). Used by the sample data, the benchmarks and the tests.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone

import polars as pl

from etl3_assets.lib.contract import ETL1_BY_NAME, FACT_RATE, Etl1Table
from etl3_assets.lib.storage import open_storage

# When ETL1 wrote the files: the value of every `created_date` column it adds.
CREATED = datetime(2025, 10, 2, 14, 30, tzinfo=timezone.utc)

__all__ = ["as_etl1_writes", "conform_to_contract", "etl1_extra_columns", "write_etl1_table"]


def conform_to_contract(table: Etl1Table, df: pl.DataFrame) -> pl.DataFrame:
    """Cast and order ``df`` to the contract schema; columns it lacks become nulls."""
    unknown = [c for c in df.columns if c not in table.schema]
    if unknown:
        raise ValueError(f"{table.name}: columns not in the contract: {unknown}")
    return df.select(
        pl.col(c).cast(dtype) if c in df.columns else pl.repeat(None, df.height, dtype=dtype).alias(c)
        for c, dtype in table.schema.items()
    )


def etl1_extra_columns(table: Etl1Table) -> list[str]:
    """The columns :func:`as_etl1_writes` adds to the table (none of them a contract column)."""
    return list(as_etl1_writes(table, pl.DataFrame(schema=table.schema)).columns[: -len(table.schema)])


def as_etl1_writes(table: Etl1Table, frame: pl.DataFrame) -> pl.DataFrame:
    """A contract-schema frame as the real ETL1 writes it: its extra columns (a version,
    a `created_date` timestamp, a boolean, an all-null `modifier`, and per table the ones
    ETL1 adds), and, in the reference tables, every other missing number as NaN (pandas)."""
    n = frame.height
    if table is not FACT_RATE:
        odd_row = pl.int_range(pl.len()) % 2 == 0
        frame = frame.with_columns(
            pl.when(pl.col(c).is_null() & odd_row).then(float("nan")).otherwise(pl.col(c)).alias(c)
            for c, dtype in table.schema.items()
            if dtype == pl.Float64
        )
    extras = {
        "version": pl.repeat("1.3.0", n, eager=True, dtype=pl.String),
        "created_date": pl.repeat(CREATED, n, eager=True, dtype=pl.Datetime("us", "UTC")),
        "modifier": pl.repeat(None, n, eager=True, dtype=pl.Null),
    }
    if table is FACT_RATE:
        extras["provider_group_id_raw"] = pl.int_range(n, eager=True, dtype=pl.Int64) * 7 + 1000
        extras["reporting_entity_name"] = pl.repeat("Aetna Life Insurance Company", n, eager=True)
    if table.name == "dim_npi":
        extras["nppes_fetched"] = frame.select(pl.any_horizontal(pl.exclude("npi").is_not_null())).to_series()
        extras["replacement_npi"] = pl.repeat(None, n, eager=True, dtype=pl.String)
    # extra columns first, so the contract's columns are not where the contract lists them
    frame = frame.with_columns(series.alias(name) for name, series in extras.items())
    return frame.select(*extras, *[c for c in frame.columns if c not in extras])


def write_etl1_table(root: str | os.PathLike, table_name: str, df: pl.DataFrame) -> str:
    """Write ``df`` as ``<root>/<folder>/<table_name>.parquet`` as the real ETL1 writes it
    (:func:`as_etl1_writes`); returns the path.

    Columns missing from ``df`` are written as nulls, so tests can hand-make small frames.
    """
    if table_name not in ETL1_BY_NAME:
        raise ValueError(f"unknown ETL1 table {table_name!r}; expected one of {sorted(ETL1_BY_NAME)}")
    table = ETL1_BY_NAME[table_name]
    # a frame read back from a written table: its extra columns are written anew
    df = df.drop([c for c in etl1_extra_columns(table) if c not in table.schema], strict=False)
    frame = as_etl1_writes(table, conform_to_contract(table, df))
    storage = open_storage(os.fspath(root))
    fd, local = tempfile.mkstemp(prefix=f"etl1-{table.name}-", suffix=".parquet")
    os.close(fd)
    frame.write_parquet(local)
    storage.put_file(table.relative_path, local)
    return storage.uri(table.relative_path)
