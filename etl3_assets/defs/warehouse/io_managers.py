"""The staged month's IO manager: it stores the enriched month as one parquet file in the
warehouse storage and loads it back as a lazy scan. It runs nothing else."""

from __future__ import annotations

import os
import tempfile
import time

import dagster as dg
import polars as pl

from etl3_assets.defs.warehouse.resources import WarehouseResource
from etl3_assets.lib.enrich import STAGING_BATCH_ROWS, EnrichedMonth
from etl3_assets.lib.staging import expired_staged, month_staging_prefix, staged_key


class StagedMonthIOManager(dg.ConfigurableIOManager):
    """Keeps each run's staged month as one parquet file under ``<warehouse>/_etl3/staging/``
    (``lib/staging.py``).

    Downstream steps (the warehouse writers, checks) scan it lazily, so no step holds a
    month in memory and steps in separate processes (or pods) share it.
    """

    warehouse: WarehouseResource
    batch_rows: int = STAGING_BATCH_ROWS

    def handle_output(self, context: dg.OutputContext, obj: EnrichedMonth) -> None:
        asset, year_month = context.asset_key.path[-1], context.asset_partition_key
        storage = self.warehouse.storage()
        now = time.time()
        key = staged_key(asset, year_month, context.run_id, now)
        fd, local = tempfile.mkstemp(prefix="etl3-staged-", suffix=".parquet")
        os.close(fd)
        try:
            with self.warehouse.month_lock(asset, year_month, run_id=context.run_id, log=context.log.info):
                rows = obj.write_parquet(local, self.batch_rows)
                storage.put_file(key, local)
                storage.delete(expired_staged(storage, asset, year_month, keep=key, now=now))
        finally:
            if os.path.exists(local):
                os.remove(local)
            storage.close()
        context.add_output_metadata(
            {"path": dg.MetadataValue.path(storage.uri(key)), "rows": rows, "dagster/uri": storage.uri(key)}
        )

    def load_input(self, context: dg.InputContext) -> pl.LazyFrame:
        """This run's staged month (its upstream output names the run that staged it: the
        parent run when steps are re-executed); else, for a run that did not stage the
        month, the month's newest staged file."""
        upstream = context.upstream_output
        asset, year_month = upstream.asset_key.path[-1], context.asset_partition_key
        staged = self.warehouse.staged_month(asset, year_month, [upstream.run_id])
        if staged is None:
            storage = self.warehouse.storage()
            raise dg.Failure(
                f"no staged month {year_month} under {storage.uri(month_staging_prefix(asset, year_month))}: "
                f"materialize {upstream.asset_key.to_user_string()} for it first"
            )
        return staged
