"""The warehouse month in the Glue catalog, so Athena sees it."""

import dagster as dg

from etl3_assets.defs.catalog.resources import GlueCatalogResource
from etl3_assets.defs.metadata import OWNERS
from etl3_assets.defs.partitions import MONTH_BACKFILL_POLICY, monthly_partitions
from etl3_assets.defs.retries import retrying_transient
from etl3_assets.lib.contract import WAREHOUSE_ASSET

CATALOG_GROUP = "catalog"


@dg.asset(
    partitions_def=monthly_partitions,
    deps=[WAREHOUSE_ASSET],
    group_name=CATALOG_GROUP,
    kinds={"glue", "athena"},
    owners=OWNERS,
    backfill_policy=MONTH_BACKFILL_POLICY,
    output_required=False,
)
def fact_rate_enriched_glue_partitions(context: dg.AssetExecutionContext, glue: GlueCatalogResource):
    """The month's partitions in the Glue table ``healthcare_data_lake.fact_rate_enriched``,
    exactly the month's partition folders, so Athena sees the month.

    On a local warehouse there is no catalog: the step succeeds without materializing,
    and says so in the log.
    """
    year_month = context.partition_key
    if not glue.enabled:
        context.log.info(f"skipped: the warehouse {glue.warehouse.root!r} is a local folder, so there is no Glue catalog")
        return
    with retrying_transient(context, glue.warehouse.retry_policy()):
        with glue.warehouse.month_lock(
            context.asset_key.path[-1], year_month, run_id=context.run.run_id, log=context.log.info
        ):
            result = glue.register_month(year_month, log=context.log.info)
    yield dg.MaterializeResult(
        metadata={
            "glue_table": f"{glue.database}.{glue.table}",
            "table_definition": result.table,
            "partitions": result.partitions,
            "created": result.created,
            "updated": result.updated,
            "deleted": result.deleted,
            "glue_batch_calls": result.calls,
            **{f"seconds_{k}": round(v, 3) for k, v in result.seconds.items()},
        }
    )
