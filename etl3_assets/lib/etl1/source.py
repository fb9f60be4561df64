"""Reading ETL1's star schema (CONTRACT section 1); its rules are checked in ``quality_validation``."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import polars as pl
import pyarrow.parquet as pq

from etl3_assets.lib.contract import FACT_RATE, Etl1Table
from etl3_assets.lib.storage.roots import Root


def _decoded(dtype: pl.DataType) -> pl.DataType:
    if isinstance(dtype, (pl.Categorical, pl.Enum)):
        return pl.String
    if isinstance(dtype, pl.List):
        return pl.List(_decoded(dtype.inner))
    return dtype


class Etl1InputError(ValueError):
    """ETL1 output that breaks the contract; the message names table, column and value."""


@dataclass(frozen=True)
class Etl1Source:
    """The ETL1 root (local folder or S3 prefix) and how to reach it."""

    root: Root
    storage_options: Mapping[str, str] = field(default_factory=dict)

    def path(self, table: Etl1Table) -> str:
        return self.root.join(table.relative_path)

    def scan_raw(self, table: Etl1Table) -> pl.LazyFrame:
        """The table's file as written, but for dictionary-encoded strings (Categorical,
        Enum), which are strings to the contract and are read as such."""
        lf = pl.scan_parquet(self.path(table), storage_options=dict(self.storage_options) or None)
        return lf.with_columns(
            pl.col(name).cast(_decoded(dtype))
            for name, dtype in lf.collect_schema().items()
            if _decoded(dtype) != dtype
        )

    def scan(self, table: Etl1Table) -> pl.LazyFrame:
        """The table with exactly its contract columns (extra columns are ignored)."""
        return self.scan_raw(table).select([pl.col(c).cast(t) for c, t in table.schema.items()])

    def fact_batches(self, year_month: str, batch_rows: int) -> Iterator[pl.DataFrame]:
        """The month's fact rows in slices of at most ``batch_rows`` rows (contract columns).

        A local file is read with pyarrow's batch reader, whose memory follows the batch,
        not the file's row groups (polars' reader holds a whole row group, which ETL1 may
        make as large as the file).
        """
        this_month = pl.col("year_month") == year_month
        if self.root.is_s3:
            yield from self.scan(FACT_RATE).filter(this_month).collect_batches(chunk_size=batch_rows)
            return
        reader = pq.ParquetFile(self.path(FACT_RATE))
        for batch in reader.iter_batches(batch_size=batch_rows, columns=list(FACT_RATE.schema)):
            frame = pl.from_arrow(batch)
            yield frame.select(
                [pl.col(c).cast(_decoded(frame.schema[c])).cast(t) for c, t in FACT_RATE.schema.items()]
            ).filter(this_month)

    def exists(self, table: Etl1Table) -> bool:
        if self.root.is_s3:
            from etl3_assets.lib.storage.s3 import S3Connection, etl1_object_stats

            connection = S3Connection.from_storage_options(self.storage_options)
            # one HeadObject; raises (naming the endpoint) when S3 cannot be reached
            return etl1_object_stats(self.root, connection, tables=[table])[table.name] is not None
        return os.path.isfile(self.path(table))


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
