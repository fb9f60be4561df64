"""Reading one warehouse month back, as the readers of the warehouse see it."""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from etl3_assets.lib.contract import ENRICHED_SCHEMA, PARTITION_KEY_NAMES
from etl3_assets.lib.hive.manifest import MonthManifest
from etl3_assets.lib.storage.local import WarehouseStorage

_HIVE_SCHEMA = {k: (pl.Int32 if k in ("year", "month") else pl.String) for k in PARTITION_KEY_NAMES}


def scan_month(
    storage: WarehouseStorage, year_month: str, storage_options: Mapping[str, str] | None = None
) -> pl.LazyFrame:
    """The month's committed files (its manifest) with Hive partition values decoded, as
    the enriched fact (CONTRACT section 2). A month never written has no rows."""
    keys = MonthManifest(storage, year_month).committed()["key"].to_list()
    if not keys:
        return pl.LazyFrame(schema=ENRICHED_SCHEMA)
    return pl.scan_parquet(
        [storage.uri(k) for k in keys],
        hive_partitioning=True,
        hive_schema=_HIVE_SCHEMA,
        storage_options=dict(storage_options) if storage_options else None,
    ).select(list(ENRICHED_SCHEMA))
