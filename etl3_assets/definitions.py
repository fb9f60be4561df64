"""The code location: each domain's definitions, merged, with the resources and executor
of this deployment (chosen from the environment by ``Settings``)."""

import dagster as dg

from etl3_assets.defs.catalog import definitions as catalog
from etl3_assets.defs.etl1 import definitions as etl1
from etl3_assets.defs.executors import run_executor
from etl3_assets.defs.iceberg import definitions as iceberg
from etl3_assets.defs.resources import build_resources
from etl3_assets.defs.warehouse import definitions as warehouse
from etl3_assets.lib.settings import current_settings

defs = dg.Definitions.merge(
    etl1.defs,
    warehouse.defs,
    iceberg.defs,
    catalog.defs,
    dg.Definitions(resources=build_resources(current_settings()), executor=run_executor(current_settings().executor)),
)
