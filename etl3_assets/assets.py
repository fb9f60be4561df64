"""The asset graph: ETL1 tables (observed) -> enriched month -> warehouse month."""


import os

import dagster as dg
import polars as pl

from .contract import ETL1_TABLES, FACT_RATE, Etl1Table
from .enrich import enriched_month
from .etl1 import validate_etl1
from .resources import Etl1Resource

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

MONTH_BACKFILL_POLICY = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)
"""A backfill launches one run per month: months fail, retry and run in parallel
independently, and each run carries the ``dagster/partition`` tag that dagster.yaml's
one-run-per-month limit keys on."""


def etl1_table_asset(table: Etl1Table) -> dg.SourceAsset:
    @dg.observable_source_asset(
        name=table.name,
        group_name=ETL1_GROUP,
        description=f"ETL1's `{table.relative_path}` (key: {', '.join(table.key)}).",
        metadata={"relative_path": table.relative_path},
    )
    def _observe(etl1: Etl1Resource) -> dg.DataVersion:
        fingerprint = etl1.fingerprint(table)
        return dg.DataVersion(fingerprint or "missing")

    return _observe


etl1_tables = [etl1_table_asset(t) for t in ETL1_TABLES]


@dg.asset(
    partitions_def=monthly_partitions,
    deps=[t.name for t in ETL1_TABLES],
    group_name=WAREHOUSE_GROUP,
    io_manager_key="staging_io_manager",
    kinds={"polars", "parquet"},
    backfill_policy=MONTH_BACKFILL_POLICY,
)
def enriched_fact_rate(context: dg.AssetExecutionContext, etl1: Etl1Resource) -> dg.Output[pl.LazyFrame]:
    """One month of fact_rate with every dimension joined (CONTRACT section 2).

    The ETL1 input is validated first (schemas, key uniqueness, month and NPI formats),
    so bad input fails here, before anything is written.
    """
    year_month = context.partition_key
    source = etl1.source()
    validate_etl1(source, year_month)
    rows = (
        source.scan(FACT_RATE).filter(pl.col("year_month") == year_month).select(pl.len()).collect().item()
    )
    if rows == 0:
        raise dg.Failure(
            f"ETL1 table fact_rate, column year_month: no fact rows for month {year_month!r}",
            metadata={"year_month": year_month},
        )
    context.log.info(f"{year_month}: {rows} fact rows")
    return dg.Output(enriched_month(source, year_month), metadata={"rows": rows})


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
