"""The Iceberg table of the warehouse (CONTRACT section 4) as a Dagster resource."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, Optional

import dagster as dg
import polars as pl

from etl3_assets.defs.executors import run_process_pid
from etl3_assets.defs.s3 import s3_connection
from etl3_assets.defs.warehouse.resources import WarehouseResource
from etl3_assets.lib.iceberg import table as iceberg
from etl3_assets.lib.progress import MIB
from etl3_assets.lib.settings import Settings
from etl3_assets.lib.storage import is_catalogued

_DEFAULTS = Settings()


class IcebergTableResource(dg.ConfigurableResource):
    """Where the table lives (the warehouse's storage, under ``iceberg/``) and its catalog.

    ``catalog``: ``glue``, ``sqlite`` or ``auto`` (Glue when the warehouse is on S3, else
    the SQLite catalog at ``<warehouse>/iceberg/catalog.db``); ``sqlite_path`` puts the
    SQLite catalog elsewhere (required for an S3 warehouse without Glue).
    """

    warehouse: WarehouseResource
    catalog: str = _DEFAULTS.iceberg_catalog
    glue_endpoint_url: Optional[str] = None
    sqlite_path: Optional[str] = _DEFAULTS.iceberg_sqlite_path
    target_file_mb: int = _DEFAULTS.iceberg_target_file_mb
    snapshot_retention_hours: float = _DEFAULTS.iceberg_snapshot_retention_hours

    def _uses_glue(self) -> bool:
        if self.catalog == "auto":
            return is_catalogued(self.warehouse.storage())
        return self.catalog == "glue"

    def table(self) -> Any:
        storage = self.warehouse.storage()
        glue = None
        if self._uses_glue():
            glue = s3_connection(self.warehouse.s3).client("glue", endpoint_url=self.glue_endpoint_url)
        catalog = iceberg.open_catalog(storage, glue_client=glue, sqlite_path=self.sqlite_path)
        return iceberg.ensure_table(catalog, storage, target_file_bytes=self.target_file_mb * MIB)

    def write_month(
        self, year_month: str, staged: pl.LazyFrame, *, log: Callable[[str], None], warn: Callable[[str], None]
    ) -> tuple[iceberg.IcebergWriteResult, dict[str, Any]]:
        """Replace the month in one commit, then expire old snapshots and sweep orphans."""
        table = self.table()
        settings = iceberg.IcebergWriteSettings(
            memory_limit_mb=self.warehouse.memory_limit_mb,
            chunk_rows=self.warehouse.chunk_size,
            target_file_bytes=self.target_file_mb * MIB,
            memory_root_pid=run_process_pid(),
        )
        result = iceberg.write_month(table, staged, year_month, settings, log=log, warn=warn)
        maintenance = iceberg.maintain(table, timedelta(hours=self.snapshot_retention_hours))
        return result, maintenance

    def table_facts(self) -> tuple[str, int]:
        """The table's location and its rows in the current snapshot (every month)."""
        table = self.table()
        snapshot = table.current_snapshot()
        rows = int(snapshot.summary.get("total-records", 0)) if snapshot and snapshot.summary else 0
        return table.location(), rows

    def check_month(self, year_month: str, staged: pl.LazyFrame, snapshot_id: int | None) -> dict[str, Any]:
        """Rows and content digest of the month in the table against the staged month."""
        return iceberg.check_month(self.table(), year_month, staged, snapshot_id=snapshot_id)
