"""Where ETL1's output is read from."""

from __future__ import annotations

from typing import Optional

import dagster as dg

from etl3_assets.defs.s3 import Etl3S3Resource, s3_connection
from etl3_assets.lib.etl1.source import Etl1Source
from etl3_assets.lib.settings import Settings
from etl3_assets.lib.storage import open_storage

_DEFAULTS = Settings()


class Etl1Resource(dg.ConfigurableResource):
    """ETL1's output root: a local folder or an ``s3://bucket/prefix``."""

    root: str = _DEFAULTS.etl1_root
    s3: Optional[Etl3S3Resource] = None

    def source(self) -> Etl1Source:
        return Etl1Source(open_storage(self.root, s3_connection(self.s3), setting="etl1 root"))

    def fingerprints(self) -> dict[str, str | None]:
        """Table name -> fingerprint of its file (local: size and mtime; S3: its ETag);
        None when the file is absent."""
        return self.source().fingerprints()


