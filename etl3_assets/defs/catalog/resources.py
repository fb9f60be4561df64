"""The Glue catalog (Athena's) as a Dagster resource."""

from __future__ import annotations

from typing import Optional

import dagster as dg

from etl3_assets.defs.s3 import s3_connection
from etl3_assets.defs.warehouse.resources import WarehouseResource
from etl3_assets.lib.catalog.glue import CatalogResult, register_month
from etl3_assets.lib.contract import GLUE_DATABASE, GLUE_TABLE
from etl3_assets.lib.settings import Settings
from etl3_assets.lib.storage import is_catalogued

_DEFAULTS = Settings()


class GlueCatalogResource(dg.ConfigurableResource):
    """Registers warehouse months in the Glue catalog (Athena's), when the warehouse is
    where Glue can reach it (S3).

    The Glue endpoint is ``endpoint_url`` if set, else boto3's own resolution
    (``AWS_ENDPOINT_URL_GLUE``, ``AWS_ENDPOINT_URL``, AWS); credentials and region are
    the S3 resource's.
    """

    warehouse: WarehouseResource
    database: str = GLUE_DATABASE
    table: str = GLUE_TABLE
    endpoint_url: Optional[str] = None
    threads: int = _DEFAULTS.glue_threads

    @property
    def enabled(self) -> bool:
        return is_catalogued(self.warehouse.storage())

    def client(self):
        connection = s3_connection(self.warehouse.s3).with_pool(self.threads + 2)
        return connection.client("glue", endpoint_url=self.endpoint_url)

    def register_month(self, year_month: str, log=lambda _msg: None) -> CatalogResult:
        """Make the month's Glue partitions exactly those of its committed manifest."""
        keys = self.warehouse.committed_files(year_month)["key"].to_list()
        if not keys:
            raise ValueError(
                f"month {year_month} has no committed files under {self.warehouse.root}: materialize "
                "fact_rate_enriched for it first"
            )
        return register_month(
            self.client(), self.warehouse.storage(), year_month, keys,
            database=self.database, table=self.table, max_workers=self.threads, log=log,
        )


