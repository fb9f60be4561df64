"""The warehouse as a Dagster resource: where months are written and how."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Optional

import dagster as dg
import polars as pl

from etl3_assets.defs.executors import run_process_pid
from etl3_assets.defs.retries import step_retry_policy
from etl3_assets.defs.s3 import Etl3S3Resource, s3_connection
from etl3_assets.lib.hive.manifest import MonthManifest, committed_rows
from etl3_assets.lib.hive.plan import MonthPlan, plan_month
from etl3_assets.lib.hive.reader import scan_month
from etl3_assets.lib.hive.writer import MonthWriteResult, WriterSettings, write_month
from etl3_assets.lib.quality.validation import QualitySettings
from etl3_assets.lib.settings import Settings
from etl3_assets.lib.staging import find_staged
from etl3_assets.lib.storage import WarehouseStorage, open_storage
from etl3_assets.lib.storage.lock import month_lock

_DEFAULTS = Settings()


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse root and how months are written into it and read back.

    ``memory_limit_mb`` bounds the whole process tree of a month's write and checks
    (plus a fixed overhead); ``max_workers`` partition-writing processes;
    ``upload_threads`` S3 uploads in flight per process.
    """

    root: str = _DEFAULTS.warehouse_root
    chunk_size: int = _DEFAULTS.chunk_size
    memory_limit_mb: int = _DEFAULTS.memory_limit_mb
    max_rows_per_file: int = _DEFAULTS.max_rows_per_file
    max_workers: int = _DEFAULTS.max_workers
    upload_threads: int = _DEFAULTS.upload_threads
    lock_lease_seconds: float = _DEFAULTS.month_lock_lease_seconds
    lock_wait_seconds: float = _DEFAULTS.month_lock_wait_seconds
    step_retries: int = _DEFAULTS.step_retries
    step_retry_delay_seconds: float = _DEFAULTS.step_retry_delay_seconds
    s3: Optional[Etl3S3Resource] = None

    def retry_policy(self) -> dg.RetryPolicy:
        """The retries of the steps that write to or read from this warehouse (and Glue,
        CloudWatch): ``defs/retries.py``."""
        return step_retry_policy(self.step_retries, self.step_retry_delay_seconds)

    def storage(self) -> WarehouseStorage:
        return open_storage(
            self.root, s3_connection(self.s3), upload_threads=self.upload_threads, setting="warehouse root"
        )

    @contextlib.contextmanager
    def month_lock(self, output: str, year_month: str, *, run_id: str, log: Callable[[str], None]) -> Iterator[None]:
        """Hold ``output``'s month for the block: one writer per month, whatever started
        the run (lib/storage/lock.py)."""
        with month_lock(
            self.storage(), output, year_month, run_id=run_id, log=log,
            lease_seconds=self.lock_lease_seconds, wait_seconds=self.lock_wait_seconds,
        ):
            yield

    def writer_settings(self, full_rewrite: bool = False) -> WriterSettings:
        return WriterSettings(
            full_rewrite=full_rewrite,
            chunk_size=self.chunk_size,
            memory_limit_mb=self.memory_limit_mb,
            max_rows_per_file=self.max_rows_per_file,
            max_workers=self.max_workers,
            memory_root_pid=run_process_pid(),
        )

    def quality_settings(self) -> QualitySettings:
        """The checks stream in the writer's chunks, within the writer's budget."""
        return QualitySettings(chunk_rows=self.chunk_size, memory_limit_mb=self.memory_limit_mb)

    def write_month(
        self,
        year_month: str,
        enriched: pl.LazyFrame,
        *,
        log: Callable[[str], None],
        warn: Callable[[str], None],
        full_rewrite: bool = False,
    ) -> tuple[MonthWriteResult, dict[str, int], dict[str, int]]:
        """Replace the month in the Hive layout (only the files that changed, unless
        ``full_rewrite``); the result, the storage requests sent and the retries among them."""
        rows = enriched.select(pl.len()).collect().item()
        storage = self.storage()
        try:
            result = write_month(
                storage, year_month, enriched,
                expected_rows=rows, settings=self.writer_settings(full_rewrite), log=log, warn=warn,
            )
        finally:
            storage.close()
        return result, dict(storage.requests), dict(storage.retries)

    def plan_month(self, year_month: str, enriched: pl.LazyFrame) -> MonthPlan:
        return plan_month(enriched, self.storage(), year_month, max_rows_per_file=self.max_rows_per_file)

    def scan_month(self, year_month: str) -> pl.LazyFrame:
        """The month as written, read back through its manifest."""
        return scan_month(self.storage(), year_month)

    def staged_month(self, asset: str, year_month: str, run_ids: Sequence[str]) -> pl.LazyFrame | None:
        """The month as staged by the first of ``run_ids`` that staged it, else its newest
        staged file (``lib/staging.py``); None when the month was never staged."""
        storage = self.storage()
        key = find_staged(storage, asset, year_month, run_ids)
        return None if key is None else pl.scan_parquet(storage.uri(key), storage_options=storage.reader_options())

    def committed_rows(self) -> int:
        """Rows of every committed month: the Hive table's row count."""
        return committed_rows(self.storage())

    def committed_files(self, year_month: str) -> pl.DataFrame:
        """Key, rows and bytes of every file of the month's committed manifest."""
        return MonthManifest(self.storage(), year_month).committed()


