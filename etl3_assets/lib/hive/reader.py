"""Reading one warehouse month back, as the readers of the warehouse see it."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from etl3_assets.lib.contract import ENRICHED_SCHEMA, PARTITION_SCHEMA
from etl3_assets.lib.hive.manifest import MonthManifest
from etl3_assets.lib.storage import WarehouseStorage


def scan_month(storage: WarehouseStorage, year_month: str) -> pl.LazyFrame:
    """The month's committed files (its manifest) with Hive partition values decoded, as
    the enriched fact (CONTRACT section 2). A month never written has no rows."""
    return scan_files(storage, MonthManifest(storage, year_month).committed()["key"].to_list())


def scan_files(storage: WarehouseStorage, keys: Sequence[str]) -> pl.LazyFrame:
    """Some warehouse files read back with their Hive partition values decoded, as the
    enriched fact."""
    if not keys:
        return pl.LazyFrame(schema=ENRICHED_SCHEMA)
    return pl.scan_parquet(
        [storage.uri(k) for k in keys],
        hive_partitioning=True,
        hive_schema=PARTITION_SCHEMA,
        storage_options=storage.reader_options(),
    ).select(list(ENRICHED_SCHEMA))
