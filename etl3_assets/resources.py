"""Dagster resources: where ETL1 is read from, and how S3 is reached."""


from collections.abc import Sequence
from dataclasses import fields
from typing import Optional

import dagster as dg
from dagster_aws.s3 import S3Resource

from .contract import ETL1_BY_NAME, ETL1_TABLES, GLUE_DATABASE, GLUE_TABLE, Etl1Table
from .etl1 import Etl1Source, table_fingerprint
from .glue_catalog import CatalogResult, register_month
from .month_manifest import MonthManifest
from .s3_storage import S3Connection, S3Storage, etl1_object_stats
from .storage_paths import Root


UPLOAD_THREADS = 8


class Etl3S3Resource(S3Resource):
    """dagster-aws's ``S3Resource`` with adaptive retries and a sized connection pool.

    Leave ``endpoint_url`` and the keys unset to use the standard AWS resolution
    (``AWS_ENDPOINT_URL``/``AWS_ENDPOINT_URL_S3``, profiles, the credential chain).
    ``upload_threads``: concurrent uploads per writing process (the connection pool is
    sized to match).
    """

    retry_mode: str = "adaptive"
    max_pool_connections: int = 10
    upload_threads: int = UPLOAD_THREADS
    request_checksum_calculation: str = "when_required"

    def connection(self) -> S3Connection:
        """This configuration as plain, picklable settings (same field names)."""
        return S3Connection(**{f.name: getattr(self, f.name) for f in fields(S3Connection)})

    def get_client(self):
        return self.connection().client("s3")


def s3_connection(s3: Optional[Etl3S3Resource]) -> S3Connection:
    """The connection of a configured S3 resource, or the standard AWS resolution."""
    return S3Connection() if s3 is None else s3.connection()


class Etl1Resource(dg.ConfigurableResource):
    """The ETL1 output root: a local folder or an ``s3://bucket/prefix``."""

    root: str = "data/etl1"
    s3: Optional[Etl3S3Resource] = None

    def source(self) -> Etl1Source:
        root = Root(self.root)
        if root.is_s3:
            return Etl1Source(root, s3_connection(self.s3).polars_storage_options())
        return Etl1Source(root)

    def fingerprint(self, table: Etl1Table | str) -> str | None:
        """The table file's fingerprint (local: size and mtime; S3: its ETag); None when
        the file is absent."""
        table = ETL1_BY_NAME[table] if isinstance(table, str) else table
        return self.fingerprints([table])[table.name]

    def fingerprints(self, tables: Sequence[Etl1Table] = ETL1_TABLES) -> dict[str, str | None]:
        """Table name -> fingerprint, for several tables at once (one S3 client for all)."""
        root = Root(self.root)
        if not root.is_s3:
            source = self.source()
            return {t.name: table_fingerprint(source, t) for t in tables}
        stats = etl1_object_stats(root, s3_connection(self.s3), tables=tables)
        return {name: None if stat is None else f"etag:{stat.etag}" for name, stat in stats.items()}


class GlueCatalogResource(dg.ConfigurableResource):
    """Registers warehouse months in the Glue catalog (Athena's), when the warehouse is on S3.

    The Glue endpoint is ``endpoint_url`` if set, else boto3's own resolution
    (``AWS_ENDPOINT_URL_GLUE``, ``AWS_ENDPOINT_URL``, AWS); credentials and region are
    the S3 resource's.
    """

    warehouse_root: str = "warehouse"
    database: str = GLUE_DATABASE
    table: str = GLUE_TABLE
    endpoint_url: Optional[str] = None
    max_workers: int = 4
    s3: Optional[Etl3S3Resource] = None

    @property
    def enabled(self) -> bool:
        return Root(self.warehouse_root).is_s3

    def client(self):
        connection = s3_connection(self.s3).with_pool(self.max_workers + 2)
        return connection.client("glue", endpoint_url=self.endpoint_url)

    def register_month(self, year_month: str, log=lambda _msg: None) -> CatalogResult:
        """Make the month's Glue partitions exactly those of its committed manifest."""
        root = Root(self.warehouse_root)
        storage = S3Storage(root, s3_connection(self.s3))
        keys = MonthManifest(storage, year_month).committed()["key"].to_list()
        if not keys:
            raise ValueError(
                f"month {year_month} has no committed files under {root.uri}: materialize "
                "fact_rate_enriched for it first"
            )
        return register_month(
            self.client(), root, year_month, keys,
            database=self.database, table=self.table, max_workers=self.max_workers, log=log,
        )
