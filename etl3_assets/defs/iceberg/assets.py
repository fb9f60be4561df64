"""The month in the Iceberg table: the same rows as the Hive layout, a few sorted files per
month, replaced in one commit (CONTRACT section 4)."""

import dagster as dg
import polars as pl

from etl3_assets.defs.dagster_features import PARTITIONED_CHECK_SPEC, relying_on
from etl3_assets.defs.iceberg.resources import IcebergTableResource
from etl3_assets.defs.partitions import MONTH_BACKFILL_POLICY, monthly_partitions
from etl3_assets.defs.warehouse.assets import WAREHOUSE_GROUP, WAREHOUSE_WRITE_POOL
from etl3_assets.lib.contract import ICEBERG_ASSET, STAGED_ASSET

MONTH_EQUALS_STAGED_CHECK = "month_equals_staged"

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
    backfill_policy=MONTH_BACKFILL_POLICY,
    pool=WAREHOUSE_WRITE_POOL,
    check_specs=[MONTH_CHECK],
)
def fact_rate_enriched_iceberg(
    context: dg.AssetExecutionContext, staged: pl.LazyFrame, iceberg: IcebergTableResource
):
    """The month in ``healthcare_data_lake.fact_rate_enriched_iceberg``: written as sorted
    files within the memory budget, committed as one snapshot that swaps the month, then
    old snapshots expired and orphans of failed attempts removed; checked against the
    staged month."""
    year_month = context.partition_key
    with iceberg.warehouse.month_lock(ICEBERG_ASSET, year_month, run_id=context.run.run_id, log=context.log.info):
        result, maintenance = iceberg.write_month(year_month, staged, log=context.log.info, warn=context.log.warning)
    check = iceberg.check_month(year_month, staged, result.snapshot_id)
    context.log.info(
        f"{year_month}: {result.rows:,} rows in {result.files} files, snapshot {result.snapshot_id}"
    )
    yield dg.MaterializeResult(
        metadata={**result.metrics(), **maintenance},
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
