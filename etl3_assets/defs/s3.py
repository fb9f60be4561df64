"""How the Dagster layer reaches S3 (and Glue): one configurable resource shared by the
ETL1, warehouse and catalog resources."""

from __future__ import annotations

from dataclasses import fields
from typing import Optional

from dagster_aws.s3 import S3Resource

from etl3_assets.lib.storage import S3Connection


class Etl3S3Resource(S3Resource):
    """dagster-aws's ``S3Resource`` with adaptive retries and a sized connection pool.

    Leave ``endpoint_url`` and the keys unset to use the standard AWS resolution
    (``AWS_ENDPOINT_URL``/``AWS_ENDPOINT_URL_S3``, profiles, the credential chain).
    """

    retry_mode: str = "adaptive"
    max_pool_connections: int = 10
    request_checksum_calculation: str = "when_required"

    def connection(self) -> S3Connection:
        """This configuration as plain, picklable settings (same field names)."""
        return S3Connection(**{f.name: getattr(self, f.name) for f in fields(S3Connection)})

    def get_client(self):
        return self.connection().client("s3")


def s3_connection(s3: Optional[Etl3S3Resource]) -> S3Connection:
    return S3Connection() if s3 is None else s3.connection()


