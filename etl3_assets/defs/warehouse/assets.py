"""The asset graph: ETL1 tables (observed) -> enriched month -> warehouse month."""


import os

import dagster as dg
import polars as pl

from etl3_assets.lib.contract import ETL1_TABLES, FACT_RATE, Etl1Table
from etl3_assets.lib.enrich import EnrichedMonth
from etl3_assets.defs.dagster_features import OBSERVABLE_SOURCE_ASSET, relying_on
from etl3_assets.defs.warehouse.io_managers import PartitionedWarehouseIOManager, warehouse_storage
from etl3_assets.defs.warehouse.modes import DRY_RUN, MATERIALIZE, MonthRunConfig
from etl3_assets.lib.hive.plan import plan_month
from etl3_assets.defs.warehouse.checks import (
    etl1_input_check_specs,
    guard_etl1_inputs,
    quality_settings,
    warehouse_key_prefix,
)
from etl3_assets.defs.resources import Etl1Resource, GlueCatalogResource

ETL1_GROUP = "etl1"
WAREHOUSE_GROUP = "warehouse"

monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=os.getenv("ETL3_FIRST_MONTH", "2024-01"),
    fmt="%Y-%m",
    end_offset=1,
)

WAREHOUSE_WRITE_POOL = "warehouse_write"
"""Pool of the step that writes a month into the warehouse: ``concurrency: pools`` in
dagster.yaml bounds how many months write at once, across runs."""

MONTH_BACKFILL_POLICY = None
"""Deliberately no ``BackfillPolicy``: a backfill then launches one run per month (months
fail, retry and run in parallel independently), tagged ``dagster/partition`` like the
sensor's and the command line's runs, so dagster.yaml's one-run-per-month limit covers
them all. Any ``BackfillPolicy``, even ``multi_run(1)``, tags its runs with a partition
range instead, which that limit cannot key on."""


def etl1_table_asset(table: Etl1Table) -> dg.SourceAsset:
    def _observe(etl1: Etl1Resource) -> dg.DataVersion:
        fingerprint = etl1.fingerprint(table)
        return dg.DataVersion(fingerprint or "missing")

    with relying_on(OBSERVABLE_SOURCE_ASSET):
        return dg.observable_source_asset(
            name=table.name,
            group_name=ETL1_GROUP,
            description=f"ETL1's `{table.relative_path}` (key: {', '.join(table.key)}).",
            metadata={"relative_path": table.relative_path},
        )(_observe)


etl1_tables = [etl1_table_asset(t) for t in ETL1_TABLES]


@dg.asset(
    partitions_def=monthly_partitions,
    deps=[t.name for t in ETL1_TABLES],
    group_name=WAREHOUSE_GROUP,
    io_manager_key="staging_io_manager",
    kinds={"polars", "parquet"},
    backfill_policy=MONTH_BACKFILL_POLICY,
    check_specs=etl1_input_check_specs("enriched_fact_rate", monthly_partitions),
    output_required=False,
)
def enriched_fact_rate(
    context: dg.AssetExecutionContext,
    etl1: Etl1Resource,
    warehouse_io_manager: dg.ResourceParam[PartitionedWarehouseIOManager],
    config: MonthRunConfig,
):
    """One month of fact_rate with every dimension joined (CONTRACT section 2).

    The ETL1 input checks run first (``quality_checks``: schemas, key uniqueness, month
    and NPI formats), so bad input fails here, before anything is written. In the modes
    ``validate-only`` and ``dry-run`` (``month_modes``) nothing is staged.
    """
    year_month = context.partition_key
    source = etl1.source()
    yield from guard_etl1_inputs(
        context, source, quality_settings(warehouse_io_manager),
        key_prefix=warehouse_key_prefix(warehouse_io_manager.warehouse_root),
    )
    rows = (
        source.scan(FACT_RATE).filter(pl.col("year_month") == year_month).select(pl.len()).collect().item()
    )
    if rows == 0:
        raise dg.Failure(
            f"ETL1 table fact_rate, column year_month: no fact rows for month {year_month!r}",
            metadata={"year_month": year_month},
        )
    context.log.info(f"{year_month}: {rows} fact rows")
    month = EnrichedMonth(source, year_month)
    if config.mode == DRY_RUN:
        warehouse = warehouse_io_manager
        storage = warehouse_storage(warehouse.warehouse_root, warehouse.s3, warehouse.max_workers)
        plan = plan_month(month.lazy(), storage, year_month, max_rows_per_file=warehouse.max_rows_per_file)
        context.log_event(
            dg.AssetObservation(asset_key="fact_rate_enriched", partition=year_month, metadata=plan.as_metadata())
        )
    if config.mode == MATERIALIZE:
        yield dg.Output(month, metadata={"rows": rows})


@dg.asset(
    partitions_def=monthly_partitions,
    group_name=WAREHOUSE_GROUP,
    io_manager_key="warehouse_io_manager",
    kinds={"parquet"},
    backfill_policy=MONTH_BACKFILL_POLICY,
    pool=WAREHOUSE_WRITE_POOL,
)
def fact_rate_enriched(enriched_fact_rate: pl.LazyFrame) -> pl.LazyFrame:
    """The month in the Hive-partitioned warehouse (CONTRACT section 3)."""
    return enriched_fact_rate


@dg.asset(
    partitions_def=monthly_partitions,
    deps=[fact_rate_enriched],
    group_name=WAREHOUSE_GROUP,
    kinds={"glue", "athena"},
    backfill_policy=MONTH_BACKFILL_POLICY,
    output_required=False,
)
def fact_rate_enriched_glue_partitions(context: dg.AssetExecutionContext, glue: GlueCatalogResource):
    """The month's partitions in the Glue table ``healthcare_data_lake.fact_rate_enriched``,
    exactly the month's partition folders (``glue_catalog``), so Athena sees the month.

    On a local warehouse there is no catalog: the step succeeds without materializing,
    and says so in the log.
    """
    year_month = context.partition_key
    if not glue.enabled:
        context.log.info(f"skipped: the warehouse {glue.warehouse_root!r} is not on S3, so there is no Glue catalog")
        return
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
