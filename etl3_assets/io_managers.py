"""IO managers: the staged enriched month, and the partitioned warehouse month."""


import dagster as dg
import polars as pl

from .month_writer import WriterSettings, write_month
from .storage import LocalStorage, WarehouseStorage
from .storage_paths import Root

STAGING_PREFIX = "_etl3/staging"


def warehouse_storage(root: str) -> WarehouseStorage:
    if Root(root).is_s3:
        raise NotImplementedError("S3 warehouses are not supported yet")
    return LocalStorage(root)


class EnrichedStagingIOManager(dg.ConfigurableIOManager):
    """Keeps each enriched month as one parquet file beside the warehouse, streamed.

    Downstream steps (the warehouse writer, checks) scan it lazily, so no step holds a
    month in memory and separate processes can share it.
    """

    warehouse_root: str = "warehouse"

    def _path(self, context: dg.OutputContext | dg.InputContext) -> str:
        name = context.asset_key.path[-1]
        return Root(self.warehouse_root).join(
            f"{STAGING_PREFIX}/{name}/{context.asset_partition_key}.parquet"
        )

    def handle_output(self, context: dg.OutputContext, obj: pl.LazyFrame) -> None:
        path = self._path(context)
        if not Root(path).is_s3:
            import os

            os.makedirs(os.path.dirname(path), exist_ok=True)
        obj.sink_parquet(path, compression="zstd", engine="streaming")
        context.add_output_metadata({"path": dg.MetadataValue.path(path)})

    def load_input(self, context: dg.InputContext) -> pl.LazyFrame:
        return pl.scan_parquet(self._path(context))


class PartitionedWarehouseIOManager(dg.ConfigurableIOManager):
    """Writes a month, received as a lazy frame, as the contract's Hive-partitioned layout."""

    warehouse_root: str = "warehouse"
    chunk_size: int = 250_000
    memory_limit_mb: int = 1024
    max_rows_per_file: int = 1_000_000
    max_workers: int = 2

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
        result = write_month(
            warehouse_storage(self.warehouse_root),
            year_month,
            obj,
            expected_rows=rows,
            settings=self.settings(),
            log=context.log.info,
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
            }
        )

    def load_input(self, context: dg.InputContext) -> pl.LazyFrame:
        raise NotImplementedError("read the warehouse with a Hive-aware reader")
