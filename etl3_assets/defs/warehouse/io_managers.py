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

STAGING_PREFIX = "_etl3/staging"
STAGED_RETENTION_SECONDS = 24 * 3600
"""Staged files of earlier runs are kept this long (a run's later steps, or a re-execution
of them, read their own run's file), then removed by the next staging of the month."""


def staged_key(asset: str, year_month: str, run_id: str, staged_at: float) -> str:
    """One staged file per run, named by when it was staged: two runs of a month never
    read each other's file (the month lock serializes each step, not a run's staging and
    its writes), and the newest is found by name."""
    return f"{STAGING_PREFIX}/{asset}/{year_month}/{int(staged_at):011d}-{run_id}.parquet"


def _staged_at(key: str) -> int:
    return int(key.rsplit("/", 1)[-1].split("-", 1)[0])


class StagedMonthIOManager(dg.ConfigurableIOManager):
    """Keeps each run's staged month as one parquet file under ``<warehouse>/_etl3/staging/``.

    Downstream steps (the warehouse writers, checks) scan it lazily, so no step holds a
    month in memory and steps in separate processes (or pods) share it.
    """

    warehouse: WarehouseResource
    batch_rows: int = STAGING_BATCH_ROWS

    def _month_prefix(self, asset_key: dg.AssetKey, year_month: str) -> str:
        return f"{STAGING_PREFIX}/{asset_key.path[-1]}/{year_month}/"

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
                old = [
                    k for k, _ in storage.list(self._month_prefix(context.asset_key, year_month))
                    if k != key and now - _staged_at(k) > STAGED_RETENTION_SECONDS
                ]
                storage.delete(old)
        finally:
            if os.path.exists(local):
                os.remove(local)
            storage.close()
        context.add_output_metadata({"path": dg.MetadataValue.path(storage.uri(key)), "rows": rows})

    def load_input(self, context: dg.InputContext) -> pl.LazyFrame:
        """This run's staged month (its upstream output names the run that staged it: the
        parent run when steps are re-executed); else, for a run that did not stage the
        month, the month's newest staged file."""
        upstream = context.upstream_output
        year_month = context.asset_partition_key
        storage = self.warehouse.storage()
        keys = sorted(k for k, _ in storage.list(self._month_prefix(upstream.asset_key, year_month)))
        own = [k for k in keys if k.endswith(f"-{upstream.run_id}.parquet")]
        if not (own or keys):
            raise dg.Failure(
                f"no staged month {year_month} under {storage.uri(self._month_prefix(upstream.asset_key, year_month))}: "
                f"materialize {upstream.asset_key.to_user_string()} for it first"
            )
        key = (own or keys)[-1]
        return pl.scan_parquet(storage.uri(key), storage_options=storage.reader_options())
