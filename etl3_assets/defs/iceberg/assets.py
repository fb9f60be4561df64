"""The month in the Iceberg table: the same rows as the Hive layout, a few sorted files per
month, replaced in one commit (CONTRACT section 4)."""

import dagster as dg
import polars as pl

from etl3_assets.defs.dagster_features import PARTITIONED_CHECK_SPEC, relying_on
from etl3_assets.defs.iceberg.resources import IcebergTableResource
from etl3_assets.defs.metadata import OWNERS, copied_lineage, standard_table_metadata
from etl3_assets.defs.monitoring.resources import MonitoringResource, published_metadata
from etl3_assets.defs.partitions import MONTH_BACKFILL_POLICY, MONTHLY_OUTPUT_FRESHNESS, monthly_partitions
from etl3_assets.defs.retries import retrying_transient
from etl3_assets.defs.warehouse.assets import WAREHOUSE_GROUP, WAREHOUSE_WRITE_POOL
from etl3_assets.lib.contract import GLUE_DATABASE, ICEBERG_ASSET, ICEBERG_SCHEMA, ICEBERG_TABLE, STAGED_ASSET
from etl3_assets.lib.monitoring.cloudwatch import month_write_values

MONTH_EQUALS_STAGED_CHECK = "month_equals_staged"
ICEBERG_TABLE_NAME = f"{GLUE_DATABASE}.{ICEBERG_TABLE}"
ICEBERG_LINEAGE = copied_lineage(STAGED_ASSET, ICEBERG_SCHEMA)

with relying_on(PARTITIONED_CHECK_SPEC):
    MONTH_CHECK = dg.AssetCheckSpec(
        MONTH_EQUALS_STAGED_CHECK,
        asset=ICEBERG_ASSET,
        partitions_def=monthly_partitions,
        blocking=True,
        description="The month read back from the committed snapshot has the staged month's rows:"
        " the same count and the same content digest.",
    )


@dg.asset(
    name=ICEBERG_ASSET,
    ins={"staged": dg.AssetIn(STAGED_ASSET)},
    partitions_def=monthly_partitions,
    group_name=WAREHOUSE_GROUP,
    kinds={"iceberg", "parquet"},
    owners=OWNERS,
    metadata=standard_table_metadata(schema=ICEBERG_SCHEMA, table_name=ICEBERG_TABLE_NAME, lineage=ICEBERG_LINEAGE),
    freshness_policy=MONTHLY_OUTPUT_FRESHNESS,
    backfill_policy=MONTH_BACKFILL_POLICY,
    pool=WAREHOUSE_WRITE_POOL,
    check_specs=[MONTH_CHECK],
)
def fact_rate_enriched_iceberg(
    context: dg.AssetExecutionContext, staged: pl.LazyFrame, iceberg: IcebergTableResource,
    monitoring: MonitoringResource,
):
    """The month in ``healthcare_data_lake.fact_rate_enriched_iceberg``: written as sorted
    files within the memory budget, committed as one snapshot that swaps the month, then
    old snapshots expired and orphans of failed attempts removed; checked against the
    staged month."""
    year_month = context.partition_key
    with retrying_transient(context, iceberg.warehouse.retry_policy()):
        with iceberg.warehouse.month_lock(ICEBERG_ASSET, year_month, run_id=context.run.run_id, log=context.log.info):
            result, maintenance = iceberg.write_month(year_month, staged, log=context.log.info, warn=context.log.warning)
        check = iceberg.check_month(year_month, staged, result.snapshot_id)
        location, table_rows = iceberg.table_facts()
    figures = result.metrics()
    values = month_write_values(result, figures["rows_per_second"])
    published = monitoring.publish(ICEBERG_ASSET, values, month=year_month, warn=context.log.warning)
    context.log.info(
        f"{year_month}: {result.rows:,} rows in {result.files} files, snapshot {result.snapshot_id}"
    )
    yield dg.MaterializeResult(
        metadata={
            **standard_table_metadata(
                schema=ICEBERG_SCHEMA,
                table_name=ICEBERG_TABLE_NAME,
                uri=location,
                row_count=table_rows,
                partition_row_count=result.rows,
                lineage=ICEBERG_LINEAGE,
            ),
            **figures,
            **maintenance,
            **{k: v for k, v in values.items() if k != "ErrorCount"},
            **published_metadata(published),
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=MONTH_EQUALS_STAGED_CHECK,
                passed=bool(check["passed"]),
                metadata={k: (str(v) if k == "snapshot_id" else v) for k, v in check.items() if k != "passed"},
                description=(
                    f"{check['table_rows']:,} rows, digest equal to the staged month's"
                    if check["passed"]
                    else f"the table holds {check['table_rows']:,} rows of {year_month}, the staged month"
                    f" {check['staged_rows']:,} (digest {check['table_digest']} vs {check['staged_digest']})"
                ),
            )
        ],
    )
