"""Dagster resources: where ETL1 is read from."""


import dagster as dg

from .etl1 import Etl1Source
from .storage_paths import Root


class Etl1Resource(dg.ConfigurableResource):
    """The ETL1 output root: a local folder or an ``s3://bucket/prefix``."""

    root: str = "data/etl1"

    def source(self) -> Etl1Source:
        return Etl1Source(Root(self.root))
