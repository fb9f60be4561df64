"""The month's path: ETL1 (observed) -> the staged enriched month -> the warehouse month."""

import dagster as dg
import polars as pl

from etl3_assets.defs.etl1.resources import Etl1Resource
from etl3_assets.defs.metadata import OWNERS, as_metadata, copied_lineage, etl1_lineage, standard_table_metadata
from etl3_assets.defs.monitoring.resources import MonitoringResource, published_metadata
from etl3_assets.defs.partitions import MONTH_BACKFILL_POLICY, MONTHLY_OUTPUT_FRESHNESS, monthly_partitions
from etl3_assets.defs.retries import retrying_transient
from etl3_assets.defs.warehouse.checks import etl1_input_check_specs, guard_etl1_inputs
from etl3_assets.defs.warehouse.jobs import DRY_RUN, MATERIALIZE, MonthRunConfig, MonthWriteConfig
from etl3_assets.defs.warehouse.resources import WarehouseResource
from etl3_assets.lib.contract import (
    ENRICHED_SCHEMA,
    ETL1_EXTRACT_TABLES,
    ETL1_TABLES,
    FACT_RATE,
    FILE_SCHEMA,
    GLUE_DATABASE,
    GLUE_TABLE,
    PARTITION_SCHEMA,
    STAGED_ASSET,
    WAREHOUSE_ASSET,
    WAREHOUSE_DATA_PREFIX,
)
from etl3_assets.lib.enrich import EnrichedMonth
from etl3_assets.lib.monitoring.cloudwatch import month_write_values
from etl3_assets.lib.quality.metrics import month_quality_metrics

WAREHOUSE_GROUP = "warehouse"

HIVE_SCHEMA = {**FILE_SCHEMA, **PARTITION_SCHEMA}
"""The Hive table's columns as readers see them: the files' columns, then the partition keys."""
STAGED_LINEAGE = etl1_lineage(ENRICHED_SCHEMA)

WAREHOUSE_WRITE_POOL = "warehouse_write"
"""Pool of the step that writes a month into the warehouse: ``concurrency: pools`` in
dagster.yaml bounds how many months write at once, across runs."""


@dg.asset(
    name=STAGED_ASSET,
    partitions_def=monthly_partitions,
    # the month reads the seven extract tables as their batches left them: all batches
    deps=[
        dg.AssetDep(t.name, partition_mapping=dg.AllPartitionMapping()) if t in ETL1_EXTRACT_TABLES else t.name
        for t in ETL1_TABLES
    ],
    group_name=WAREHOUSE_GROUP,
    io_manager_key="staging_io_manager",
    kinds={"polars", "parquet"},
    owners=OWNERS,
    metadata=standard_table_metadata(schema=ENRICHED_SCHEMA, lineage=STAGED_LINEAGE),
    backfill_policy=MONTH_BACKFILL_POLICY,
    check_specs=etl1_input_check_specs(STAGED_ASSET, monthly_partitions),
    output_required=False,
)
def staged_enriched_month(
    context: dg.AssetExecutionContext,
    etl1: Etl1Resource,
    warehouse: WarehouseResource,
    config: MonthRunConfig,
):
    """One month of fact_rate with every dimension joined (CONTRACT section 2), staged as
    one parquet file that the warehouse outputs are written from.

    The ETL1 input checks run first (schemas, key uniqueness, month and NPI formats), so
    bad input fails here, before anything is written. In the modes ``validate-only`` and
    ``dry-run`` nothing is staged.
    """
    year_month = context.partition_key
    source = etl1.source()
    with retrying_transient(context, warehouse.retry_policy()):
        yield from guard_etl1_inputs(context, source, warehouse.quality_settings(), key_prefix=warehouse.storage().key_prefix)
        rows = source.scan(FACT_RATE).filter(pl.col("year_month") == year_month).select(pl.len()).collect().item()
    if rows == 0:
        raise dg.Failure(
            f"ETL1 table fact_rate, column year_month: no fact rows for month {year_month!r}",
            metadata={"year_month": year_month},
        )
    context.log.info(f"{year_month}: {rows} fact rows")
    month = EnrichedMonth(source, year_month)
    if config.mode == DRY_RUN:
        plan = warehouse.plan_month(year_month, month.lazy())
        context.log_event(
            dg.AssetObservation(asset_key=WAREHOUSE_ASSET, partition=year_month, metadata=plan.as_metadata())
        )
    if config.mode == MATERIALIZE:
        yield dg.Output(
            month,
            metadata={
                "rows": rows,
                **standard_table_metadata(
                    schema=ENRICHED_SCHEMA, lineage=STAGED_LINEAGE, row_count=rows, partition_row_count=rows
                ),
            },
        )


def month_interrupted(year_month: str) -> str:
    """What an interrupted month write leaves, in one line: nothing partial is committed
    (``lib/hive/manifest.py``), and the next run repairs it."""
    return (
        f"month {year_month} was interrupted before it was committed: the warehouse keeps the month as"
        " its last complete run wrote it, and the next run of the month repairs what this one began"
    )


@dg.asset(
    name=WAREHOUSE_ASSET,
    ins={"staged": dg.AssetIn(STAGED_ASSET)},
    partitions_def=monthly_partitions,
    group_name=WAREHOUSE_GROUP,
    kinds={"parquet", "s3"},
    owners=OWNERS,
    metadata=standard_table_metadata(
        schema=HIVE_SCHEMA, table_name=f"{GLUE_DATABASE}.{GLUE_TABLE}", lineage=copied_lineage(STAGED_ASSET, HIVE_SCHEMA)
    ),
    freshness_policy=MONTHLY_OUTPUT_FRESHNESS,
    backfill_policy=MONTH_BACKFILL_POLICY,
    pool=WAREHOUSE_WRITE_POOL,
)
def fact_rate_enriched(
    context: dg.AssetExecutionContext,
    staged: pl.LazyFrame,
    warehouse: WarehouseResource,
    monitoring: MonitoringResource,
    config: MonthWriteConfig,
) -> dg.MaterializeResult:
    """The month in the Hive-partitioned warehouse (CONTRACT section 3): the month's files
    are replaced exactly, writing only those whose content changed (all of them with the
    run config ``full_rewrite``), then its quality metrics are computed from what was
    written and published to CloudWatch (when configured)."""
    year_month = context.partition_key
    with retrying_transient(context, warehouse.retry_policy()):
        try:
            with warehouse.month_lock(WAREHOUSE_ASSET, year_month, run_id=context.run.run_id, log=context.log.info):
                result, requests, retries = warehouse.write_month(
                    year_month, staged, log=context.log.info, warn=context.log.warning, full_rewrite=config.full_rewrite
                )
        except (KeyboardInterrupt, dg.DagsterExecutionInterruptedError):
            # the writer processes are stopped and the lease released by now; still an
            # interrupt, so Dagster stops the run's other steps too
            raise dg.DagsterExecutionInterruptedError(month_interrupted(year_month)) from None
        written_to = warehouse.storage().uri(WAREHOUSE_DATA_PREFIX)
        context.log.info(f"wrote {year_month} to {written_to} ({result.files} files)")
        quality = month_quality_metrics(staged, warehouse.committed_files(year_month))
        table_rows = warehouse.committed_rows()
    figures = result.metrics()
    values = month_write_values(
        result, figures["ChunkProcessingRate"], partitions=result.partitions,
        s3_requests=sum(requests.values()), quality_score=quality["data_quality_score"],
    )
    published = monitoring.publish(WAREHOUSE_ASSET, values, month=year_month, warn=context.log.warning)
    return dg.MaterializeResult(
        metadata={
            **standard_table_metadata(
                schema=HIVE_SCHEMA,
                table_name=f"{GLUE_DATABASE}.{GLUE_TABLE}",
                uri=written_to,
                row_count=table_rows,
                partition_row_count=result.rows,
                lineage=copied_lineage(STAGED_ASSET, HIVE_SCHEMA),
            ),
            **{k: v for k, v in values.items() if k != "ErrorCount"},
            **published_metadata(published),
            "rows": result.rows,
            "partitions": result.partitions,
            "files": result.files,
            "bytes": result.bytes,
            "stale_files_deleted": result.stale_deleted,
            "warehouse_root": warehouse.root,
            "written_to": written_to,
            "full_rewrite": config.full_rewrite,
            "storage_requests": dg.MetadataValue.json(requests),
            "requests_total": sum(requests.values()),
            "retries": sum(retries.values()),
            **({"retries_by_operation": dg.MetadataValue.json(retries)} if retries else {}),
            **{f"seconds_{k}": round(v, 3) for k, v in result.seconds.items()},
            **result.metrics(),
            **as_metadata(quality),
        }
    )

