"""Where ETL1's output is read from and written to, and where raw batches land."""

from __future__ import annotations

from collections.abc import Callable
from typing import Optional

import dagster as dg

from etl3_assets.defs.s3 import Etl3S3Resource, s3_connection
from etl3_assets.lib.etl1.source import Etl1Source
from etl3_assets.lib.etl1.writer import Etl1Writer
from etl3_assets.lib.settings import Settings
from etl3_assets.lib.storage import open_storage

_DEFAULTS = Settings()


class Etl1Resource(dg.ConfigurableResource):
    """ETL1's output root (a local folder or an ``s3://bucket/prefix``) and the landing
    folder of payers' raw extracts that the ETL1 assets apply to it."""

    root: str = _DEFAULTS.etl1_root
    raw_root: str = _DEFAULTS.etl1_raw_root
    memory_limit_mb: int = _DEFAULTS.memory_limit_mb
    lock_lease_seconds: float = _DEFAULTS.month_lock_lease_seconds
    lock_wait_seconds: float = _DEFAULTS.month_lock_wait_seconds
    s3: Optional[Etl3S3Resource] = None

    def source(self) -> Etl1Source:
        return Etl1Source(open_storage(self.root, s3_connection(self.s3), setting="etl1 root"))

    def fingerprints(self) -> dict[str, str | None]:
        """Table name -> fingerprint of its file (local: size and mtime; S3: its ETag);
        None when the file is absent."""
        return self.source().fingerprints()

    def writer(
        self, *, run_id: str | None = None, log: Callable[[str], None] = print, warn: Callable[[str], None] = print
    ) -> Etl1Writer:
        connection = s3_connection(self.s3)
        return Etl1Writer(
            open_storage(self.root, connection, setting="etl1 root"),
            open_storage(self.raw_root, connection, setting="etl1 raw root"),
            memory_limit_mb=self.memory_limit_mb,
            lease_seconds=self.lock_lease_seconds,
            wait_seconds=self.lock_wait_seconds,
            run_id=run_id,
            log=log,
            warn=warn,
        )
