"""The resources of every deployment, chosen in one place: ``build_resources`` wires
them from a ``Settings`` for the definitions, the CLI, the tests and the benchmarks."""

from __future__ import annotations

from etl3_assets.defs.catalog.resources import GlueCatalogResource
from etl3_assets.defs.etl1.resources import Etl1Resource
from etl3_assets.defs.iceberg.resources import IcebergTableResource
from etl3_assets.defs.monitoring.resources import MonitoringResource
from etl3_assets.defs.s3 import Etl3S3Resource
from etl3_assets.defs.warehouse.io_managers import StagedMonthIOManager
from etl3_assets.defs.warehouse.resources import WarehouseResource
from etl3_assets.lib.settings import Settings


def build_resources(
    settings: Settings,
    *,
    glue_endpoint_url: str | None = None,
    s3: Etl3S3Resource | None = None,
    monitoring_endpoint_url: str | None = None,
) -> dict:
    """Every resource of the Definitions, configured from ``settings``.

    ``s3`` replaces the S3 resource (tests pass one with a loopback endpoint and keys);
    ``glue_endpoint_url`` points the catalog at another Glue endpoint (tests: moto), and
    ``monitoring_endpoint_url`` CloudWatch and SNS.
    """
    s3 = s3 or Etl3S3Resource(
        region_name=settings.s3_region, retry_mode=settings.s3_retry_mode, max_attempts=settings.s3_max_attempts
    )
    warehouse = WarehouseResource(
        root=settings.warehouse_root,
        chunk_size=settings.chunk_size,
        memory_limit_mb=settings.memory_limit_mb,
        max_rows_per_file=settings.max_rows_per_file,
        max_workers=settings.max_workers,
        upload_threads=settings.upload_threads,
        lock_lease_seconds=settings.month_lock_lease_seconds,
        lock_wait_seconds=settings.month_lock_wait_seconds,
        step_retries=settings.step_retries,
        step_retry_delay_seconds=settings.step_retry_delay_seconds,
        s3=s3,
    )
    return {
        "s3": s3,
        "etl1": Etl1Resource(
            root=settings.etl1_root,
            raw_root=settings.etl1_raw_root,
            memory_limit_mb=settings.memory_limit_mb,
            lock_lease_seconds=settings.month_lock_lease_seconds,
            lock_wait_seconds=settings.month_lock_wait_seconds,
            s3=s3,
        ),
        "warehouse": warehouse,
        "staging_io_manager": StagedMonthIOManager(warehouse=warehouse),
        "iceberg": IcebergTableResource(
            warehouse=warehouse,
            catalog=settings.iceberg_catalog,
            glue_endpoint_url=glue_endpoint_url,
            sqlite_path=settings.iceberg_sqlite_path,
            target_file_mb=settings.iceberg_target_file_mb,
            snapshot_retention_hours=settings.iceberg_snapshot_retention_hours,
        ),
        "glue": GlueCatalogResource(warehouse=warehouse, endpoint_url=glue_endpoint_url, threads=settings.glue_threads),
        "monitoring": MonitoringResource.from_settings(settings, endpoint_url=monitoring_endpoint_url, s3=s3),
    }
