"""Dry-run: what materializing a month would write, computed without writing it."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import polars as pl

from etl3_assets.lib.contract import FILE_COLUMNS, WAREHOUSE_DATA_PREFIX
from etl3_assets.lib.hive.layout import PARTITION_DIR_COLUMN, partition_dir_expr
from etl3_assets.lib.hive.manifest import MonthManifest
from etl3_assets.lib.hive.writer import encode_files
from etl3_assets.lib.storage import WarehouseStorage

SAMPLE_ROWS = 2_000


@dataclass(frozen=True)
class MonthPlan:
    year_month: str
    rows: int
    partitions: int
    files: int
    estimated_bytes: int
    rows_per_partition_min: int
    rows_per_partition_median: float
    rows_per_partition_max: int
    target: str  # where the files would go
    replaces_files: int  # the month's files in the warehouse now, which would be replaced
    replaces_bytes: int

    def as_metadata(self) -> dict:
        return {f"plan_{k}": v for k, v in asdict(self).items()}


def parquet_cost(sample: pl.DataFrame) -> tuple[float, float]:
    """(bytes per file, bytes per row) of the warehouse's files, fitted on ``sample``:
    a one-row file gives the fixed cost, the whole sample the cost of a row."""
    one = len(next(encode_files(sample.head(1), [1])))
    if sample.height < 2:
        return float(one), 0.0
    per_row = (len(next(encode_files(sample.clone(), [sample.height]))) - one) / (sample.height - 1)
    return max(0.0, one - per_row), per_row


def plan_month(
    enriched: pl.LazyFrame, storage: WarehouseStorage, year_month: str, *, max_rows_per_file: int
) -> MonthPlan:
    """Partitions and rows by a streaming group-by on the partition folder; bytes estimated
    from a sample of the month's rows encoded the way the writer encodes them."""
    sizes = (
        enriched.select(partition_dir_expr())
        .group_by(PARTITION_DIR_COLUMN)
        .agg(pl.len().alias("rows"))
        .collect(engine="streaming")["rows"]
    )
    rows = int(sizes.sum())
    files = sum(math.ceil(n / max_rows_per_file) for n in sizes.to_list())
    per_file, per_row = parquet_cost(enriched.select(FILE_COLUMNS).head(SAMPLE_ROWS).collect())
    current = MonthManifest(storage, year_month).committed()
    return MonthPlan(
        year_month=year_month,
        rows=rows,
        partitions=sizes.len(),
        files=files,
        estimated_bytes=round(files * per_file + rows * per_row),
        rows_per_partition_min=int(sizes.min() or 0),
        rows_per_partition_median=float(sizes.median() or 0),
        rows_per_partition_max=int(sizes.max() or 0),
        target=storage.uri(WAREHOUSE_DATA_PREFIX),
        replaces_files=current.height,
        replaces_bytes=int(current["bytes"].sum()),
    )
