"""IO managers: the staged enriched month, and the partitioned warehouse month."""

import os
import tempfile
from typing import Optional

import dagster as dg
import polars as pl

from etl3_assets.lib.enrich import STAGING_BATCH_ROWS, EnrichedMonth
from etl3_assets.lib.hive.writer import WriterSettings, write_month
from etl3_assets.lib.quality.metrics import month_quality_metadata
from etl3_assets.defs.resources import UPLOAD_THREADS, Etl3S3Resource, s3_connection
from etl3_assets.lib.storage.s3 import S3Storage
from etl3_assets.lib.storage.local import LocalStorage, WarehouseStorage
from etl3_assets.lib.storage.roots import Root
from etl3_assets.lib.hive.reader import scan_month

STAGING_PREFIX = "_etl3/staging"


def warehouse_storage(
    root: str, s3: Optional[Etl3S3Resource] = None, max_workers: int = 4
) -> WarehouseStorage:
    """Local folder or ``s3://bucket/prefix``. On S3, each writing process uploads with
    ``max(max_workers, s3.upload_threads)`` threads (uploads wait on the network, so
    they need more threads than encoding needs processes)."""
    if Root(root).is_s3:
        threads = max(max_workers, s3.upload_threads if s3 is not None else UPLOAD_THREADS)
        return S3Storage(Root(root), s3_connection(s3), max_workers=threads)
    return LocalStorage(root)


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
        return Root(self.warehouse_root).join(
            f"{STAGING_PREFIX}/{name}/{context.asset_partition_key}.parquet"
        )

    def handle_output(self, context: dg.OutputContext, obj: EnrichedMonth) -> None:
        path = self._path(context)
        with tempfile.TemporaryDirectory(prefix="etl3-staging-") as tmp:
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
        year_month = context.asset_partition_key
        rows = obj.select(pl.len()).collect().item()
        storage = warehouse_storage(self.warehouse_root, self.s3, self.max_workers)
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
                **{f"seconds_{k}": round(v, 3) for k, v in result.seconds.items()},
                **result.metrics(),
            }
        )
        context.add_output_metadata(
            month_quality_metadata(obj, warehouse_storage(self.warehouse_root, self.s3), year_month)
        )

    def load_input(self, context: dg.InputContext) -> pl.LazyFrame:
        """The month as written, read back through its manifest (for the month's checks)."""
        return scan_month(
            warehouse_storage(self.warehouse_root, self.s3, self.max_workers),
            context.asset_partition_key,
            _storage_options(self.warehouse_root, self.s3),
        )
