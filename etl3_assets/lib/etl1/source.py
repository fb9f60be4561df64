"""Reading ETL1's star schema (CONTRACT section 1); its rules are checked in ``quality_validation``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import polars as pl
import pyarrow.parquet as pq

from etl3_assets.lib.contract import ETL1_TABLES, FACT_RATE, Etl1Table
from etl3_assets.lib.storage import WarehouseStorage


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
    """ETL1's output: its tables in a storage (a local folder or an S3 prefix)."""

    storage: WarehouseStorage

    def path(self, table: Etl1Table) -> str:
        return self.storage.uri(table.relative_path)

    def scan_raw(self, table: Etl1Table) -> pl.LazyFrame:
        """The table's file as written, but for dictionary-encoded strings (Categorical,
        Enum), which are strings to the contract and are read as such."""
        lf = pl.scan_parquet(self.path(table), storage_options=self.storage.reader_options())
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

        Read with pyarrow's batch reader, whose memory follows the batch, not the file's
        row groups (polars' reader holds a whole row group, which ETL1 may make as large
        as the file).
        """
        this_month = pl.col("year_month") == year_month
        reader = pq.ParquetFile(self.storage.open_input_file(FACT_RATE.relative_path))
        for batch in reader.iter_batches(batch_size=batch_rows, columns=list(FACT_RATE.schema)):
            frame = pl.from_arrow(batch)
            yield frame.select(
                [pl.col(c).cast(_decoded(frame.schema[c])).cast(t) for c, t in FACT_RATE.schema.items()]
            ).filter(this_month)

    def exists(self, table: Etl1Table) -> bool:
        return self.storage.stat(table.relative_path) is not None

    def fingerprints(self, tables: Iterable[Etl1Table] = ETL1_TABLES) -> dict[str, str | None]:
        """Table name -> fingerprint of its file (changes whenever ETL1 rewrites it; None
        when the file is absent)."""
        stats = {t.name: self.storage.stat(t.relative_path) for t in tables}
        return {name: None if stat is None else stat.fingerprint for name, stat in stats.items()}


def fact_months(source: Etl1Source) -> dict[str, int]:
    """Month -> fact row count, computed by a streaming aggregation, not a load."""
    counts = (
        source.scan(FACT_RATE)
        .group_by("year_month")
        .agg(pl.len().alias("rows"))
        .collect(engine="streaming")
    )
    return {r["year_month"]: r["rows"] for r in counts.iter_rows(named=True) if r["year_month"]}
