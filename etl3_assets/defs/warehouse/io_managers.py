"""IO managers: the staged enriched month, and the partitioned warehouse month."""

import os
import tempfile
from typing import Optional

import dagster as dg
import polars as pl

from etl3_assets.lib.contract import WAREHOUSE_DATA_PREFIX
from etl3_assets.lib.enrich import STAGING_BATCH_ROWS, EnrichedMonth
from etl3_assets.lib.hive.writer import WriterSettings, write_month
from etl3_assets.lib.quality.metrics import month_quality_metadata
from etl3_assets.defs.resources import UPLOAD_THREADS, Etl3S3Resource, s3_connection
from etl3_assets.lib.storage.s3 import S3Storage
from etl3_assets.lib.storage.local import LocalStorage, WarehouseStorage
from etl3_assets.lib.storage.lock import month_lock
from etl3_assets.lib.storage.roots import Root
from etl3_assets.lib.hive.reader import scan_month

STAGING_PREFIX = "_etl3/staging"
STAGED_ASSET = "enriched_fact_rate"


def staged_key(asset: str, year_month: str, run_id: str) -> str:
    """One staged file per run: two runs of a month never read each other's staging
    (the month lock serializes each step, not a run's staging and its write)."""
    return f"{STAGING_PREFIX}/{asset}/{year_month}/{run_id}.parquet"


def warehouse_storage(
    root: str, s3: Optional[Etl3S3Resource] = None, max_workers: int = 4
) -> WarehouseStorage:
    """Local folder or ``s3://bucket/prefix``. On S3, each writing process uploads with
    ``max(max_workers, s3.upload_threads)`` threads (uploads wait on the network, so
    they need more threads than encoding needs processes)."""
    parsed = Root.parse(root, "warehouse_root")
    if parsed.is_s3:
        threads = max(max_workers, s3.upload_threads if s3 is not None else UPLOAD_THREADS)
        return S3Storage(parsed, s3_connection(s3), max_workers=threads)
    return LocalStorage(parsed.uri)


def _storage_options(root: str, s3: Optional[Etl3S3Resource]) -> dict | None:
    return s3_connection(s3).polars_storage_options() if Root(root).is_s3 else None


class EnrichedStagingIOManager(dg.ConfigurableIOManager):
    """Keeps each enriched month as one parquet file beside the warehouse, streamed.

    Downstream steps (the warehouse writer, checks) scan it lazily, so no step holds a
    month in memory and separate processes can share it.
    """

    warehouse_root: str = "warehouse"
    s3: Optional[Etl3S3Resource] = None
    batch_rows: int = STAGING_BATCH_ROWS

    def _path(self, context: dg.OutputContext | dg.InputContext) -> str:
        name = context.asset_key.path[-1]
        # an input's upstream output names the run that staged it (the parent run when
        # a step is re-executed)
        output = context if isinstance(context, dg.OutputContext) else context.upstream_output
        return Root.parse(self.warehouse_root, "warehouse_root").join(staged_key(name, context.asset_partition_key, output.run_id))

    def handle_output(self, context: dg.OutputContext, obj: EnrichedMonth) -> None:
        path = self._path(context)
        storage = warehouse_storage(self.warehouse_root, self.s3)
        with month_lock(storage, context.asset_key.path[-1], context.asset_partition_key, run_id=context.run_id, log=context.log.info), tempfile.TemporaryDirectory(prefix="etl3-staging-") as tmp:
            local = path if not Root(path).is_s3 else os.path.join(tmp, "month.parquet")
            os.makedirs(os.path.dirname(local), exist_ok=True)
            rows = obj.write_parquet(local, self.batch_rows)
            if Root(path).is_s3:
                pl.scan_parquet(local).sink_parquet(
                    path, compression="zstd", storage_options=_storage_options(path, self.s3)
                )
        context.add_output_metadata({"path": dg.MetadataValue.path(path), "rows": rows})

    def load_input(self, context: dg.InputContext) -> pl.LazyFrame:
        path = self._path(context)
        return pl.scan_parquet(path, storage_options=_storage_options(path, self.s3))


class PartitionedWarehouseIOManager(dg.ConfigurableIOManager):
    """Writes a month, received as a lazy frame, as the contract's Hive-partitioned layout."""

    warehouse_root: str = "warehouse"
    chunk_size: int = 250_000
    memory_limit_mb: int = 1024
    max_rows_per_file: int = 1_000_000
    max_workers: int = 2
    s3: Optional[Etl3S3Resource] = None

    def settings(self) -> WriterSettings:
        return WriterSettings(
            chunk_size=self.chunk_size,
            memory_limit_mb=self.memory_limit_mb,
            max_rows_per_file=self.max_rows_per_file,
            max_workers=self.max_workers,
        )

    def handle_output(self, context: dg.OutputContext, obj: pl.LazyFrame) -> None:
        storage = warehouse_storage(self.warehouse_root, self.s3, self.max_workers)
        with month_lock(storage, context.asset_key.path[-1], context.asset_partition_key, run_id=context.run_id, log=context.log.info):
            self._write(context, obj, storage)

    def _write(self, context: dg.OutputContext, obj: pl.LazyFrame, storage: WarehouseStorage) -> None:
        year_month = context.asset_partition_key
        rows = obj.select(pl.len()).collect().item()
        try:
            result = write_month(
                storage,
                year_month,
                obj,
                expected_rows=rows,
                settings=self.settings(),
                log=context.log.info,
                warn=context.log.warning,
            )
        finally:
            if isinstance(storage, S3Storage):
                storage.close()
        if isinstance(storage, S3Storage):
            context.add_output_metadata(
                {"s3_requests": dg.MetadataValue.json(dict(storage.requests))}
            )
        context.add_output_metadata(
            {
                "rows": result.rows,
                "partitions": result.partitions,
                "files": result.files,
                "bytes": result.bytes,
                "stale_files_deleted": result.stale_deleted,
                "warehouse_root": self.warehouse_root,
                "written_to": storage.uri(WAREHOUSE_DATA_PREFIX),
                **{f"seconds_{k}": round(v, 3) for k, v in result.seconds.items()},
                **result.metrics(),
            }
        )
        context.add_output_metadata(
            month_quality_metadata(obj, warehouse_storage(self.warehouse_root, self.s3), year_month)
        )
        # this run's staged month is written: nothing reads it any more
        storage.delete([staged_key(STAGED_ASSET, year_month, context.run_id)])
        context.log.info(f"wrote {year_month} to {storage.uri(WAREHOUSE_DATA_PREFIX)} ({result.files} files)")

    def load_input(self, context: dg.InputContext) -> pl.LazyFrame:
        """The month as written, read back through its manifest (for the month's checks)."""
        return scan_month(
            warehouse_storage(self.warehouse_root, self.s3, self.max_workers),
            context.asset_partition_key,
            _storage_options(self.warehouse_root, self.s3),
        )
