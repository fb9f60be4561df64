"""The staged month's IO manager: it stores the enriched month as one parquet file in the
warehouse storage and loads it back as a lazy scan. It runs nothing else."""

from __future__ import annotations

import os
import tempfile

import dagster as dg
import polars as pl

from etl3_assets.defs.warehouse.resources import WarehouseResource
from etl3_assets.lib.enrich import STAGING_BATCH_ROWS, EnrichedMonth

STAGING_PREFIX = "_etl3/staging"


class StagedMonthIOManager(dg.ConfigurableIOManager):
    """Keeps each staged month as one parquet file under ``<warehouse>/_etl3/staging/``.

    Downstream steps (the warehouse writers, checks) scan it lazily, so no step holds a
    month in memory and steps in separate processes (or pods) share it.
    """

    warehouse: WarehouseResource
    batch_rows: int = STAGING_BATCH_ROWS

    @staticmethod
    def key(asset_key: dg.AssetKey, year_month: str) -> str:
        return f"{STAGING_PREFIX}/{asset_key.path[-1]}/{year_month}.parquet"

    def handle_output(self, context: dg.OutputContext, obj: EnrichedMonth) -> None:
        storage = self.warehouse.storage()
        key = self.key(context.asset_key, context.asset_partition_key)
        fd, local = tempfile.mkstemp(prefix="etl3-staged-", suffix=".parquet")
        os.close(fd)
        try:
            rows = obj.write_parquet(local, self.batch_rows)
            storage.put_file(key, local)
        finally:
            if os.path.exists(local):
                os.remove(local)
            storage.close()
        context.add_output_metadata({"path": dg.MetadataValue.path(storage.uri(key)), "rows": rows})

    def load_input(self, context: dg.InputContext) -> pl.LazyFrame:
        storage = self.warehouse.storage()
        key = self.key(context.upstream_output.asset_key, context.asset_partition_key)
        return pl.scan_parquet(storage.uri(key), storage_options=storage.reader_options())
