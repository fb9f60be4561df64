"""Dagster resources: where ETL1 is read from, and how S3 is reached."""


from typing import Optional

import dagster as dg
from dagster_aws.s3 import S3Resource

from .contract import ETL1_BY_NAME, Etl1Table
from .etl1 import Etl1Source, table_fingerprint
from .s3_storage import S3Connection, etl1_object_stats
from .storage_paths import Root


class Etl3S3Resource(S3Resource):
    """dagster-aws's ``S3Resource`` with adaptive retries and a sized connection pool.

    Leave ``endpoint_url`` and the keys unset to use the standard AWS resolution
    (``AWS_ENDPOINT_URL``/``AWS_ENDPOINT_URL_S3``, profiles, the credential chain).
    """

    retry_mode: str = "adaptive"
    max_pool_connections: int = 10

    def connection(self) -> S3Connection:
        return S3Connection(
            region_name=self.region_name,
            endpoint_url=self.endpoint_url,
            profile_name=self.profile_name,
            aws_access_key_id=self.aws_access_key_id,
            aws_secret_access_key=self.aws_secret_access_key,
            aws_session_token=self.aws_session_token,
            use_ssl=self.use_ssl,
            verify=self.verify,
            max_attempts=self.max_attempts,
            retry_mode=self.retry_mode,
            max_pool_connections=self.max_pool_connections,
        )

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
        root = Root(self.root)
        if not root.is_s3:
            return table_fingerprint(self.source(), table)
        stat = etl1_object_stats(root, s3_connection(self.s3), tables=[table])[table.name]
        return None if stat is None else f"etag:{stat.etag}"
