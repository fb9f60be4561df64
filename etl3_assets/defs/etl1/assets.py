"""ETL1 in the graph: raw batch -> the seven tables ETL1 builds from extracts; the five
reference tables stay observed (observing one records its file's fingerprint as data
version and its row count). Every table carries its contract columns
(``dagster/column_schema``), owners and kinds.

Design: the seven tables keep their asset keys (``fact_rate``, ``dim_payer``, …), so the
month assets depend on them exactly as before, partitioned by raw batch (dynamic
partitions, one per batch found under ``ETL1_RAW_ROOT``) below ``etl1_raw_batch``. They
are asset specs whose materializations ``etl1_batch_job`` records, one per table per
batch applied, with what the table gained: not materializable assets, because a
materializable ancestor partitioned by batch would put two partition schemes in every
month selection (``--select '*fact_rate_enriched'``, which Dagster then refuses) and
would make building a month apply batches. The months read the files
(``Etl1Resource``), and the ETL1 sensor decides which months to rebuild from the files'
content, so tables written by the real ETL1 or any other tool keep working exactly as
before: the files change, the sensor sees it.
"""

import dagster as dg

from etl3_assets.defs.dagster_features import MULTI_OBSERVABLE_SOURCE_ASSET, relying_on
from etl3_assets.defs.etl1.resources import Etl1Resource
from etl3_assets.defs.metadata import OWNERS, standard_table_metadata
from etl3_assets.defs.monitoring.resources import MonitoringResource
from etl3_assets.lib.contract import ETL1_EXTRACT_TABLES, ETL1_REFERENCE_TABLES, Etl1Table
from etl3_assets.lib.monitoring.cloudwatch import batch_values

ETL1_GROUP = "etl1"
RAW_BATCH_ASSET = "etl1_raw_batch"
ETL1_WRITER_TAG = "etl3/etl1_writer"
"""Tag of every run that applies a batch: dagster.yaml lets one such run start at a time,
in the order they were queued (the writer's lease guards the tables whatever starts it)."""

etl1_batch_partitions = dg.DynamicPartitionsDefinition(name="etl1_batches")

raw_batch = dg.AssetSpec(
    RAW_BATCH_ASSET,
    partitions_def=etl1_batch_partitions,
    group_name=ETL1_GROUP,
    owners=OWNERS,
    kinds={"parquet"},
    description=(
        "A payer's raw extract: `<YYYYMM>_<payer>_<state>_rates.parquet` and `…_providers.parquet` under"
        " ETL1_RAW_ROOT (CONTRACT section 5). Observed by `etl1_batch_sensor`, which adds a partition per batch."
    ),
)


def _table_metadata(table: Etl1Table) -> dict[str, object]:
    return {
        "relative_path": table.relative_path,
        **standard_table_metadata(schema=table.schema, table=table.name, table_name=f"etl1.{table.name}"),
    }


def etl1_table_asset(table: Etl1Table) -> dg.AssetsDefinition:
    spec = dg.AssetSpec(
        table.name,
        group_name=ETL1_GROUP,
        description=(
            f"ETL1's `{table.relative_path}` (key: {', '.join(table.key)}), a reference table ETL1 does not build"
            " from extracts."
        ),
        owners=OWNERS,
        kinds={"parquet"},
        metadata=_table_metadata(table),
    )

    def _observe(etl1: Etl1Resource):
        source = etl1.source()
        fingerprint = source.fingerprints([table])[table.name]
        metadata = {"dagster/uri": source.path(table)}
        if fingerprint is not None:
            metadata.update(standard_table_metadata(row_count=source.row_count(table)))
        yield dg.ObserveResult(
            asset_key=table.name, data_version=dg.DataVersion(fingerprint or "missing"), metadata=metadata
        )

    with relying_on(MULTI_OBSERVABLE_SOURCE_ASSET):
        return dg.multi_observable_source_asset(specs=[spec], name=f"observe_{table.name}")(_observe)


etl1_tables = [etl1_table_asset(t) for t in ETL1_REFERENCE_TABLES]


ETL1_TABLE_SPECS = [
    dg.AssetSpec(
        t.name,
        deps=[RAW_BATCH_ASSET],
        partitions_def=etl1_batch_partitions,
        group_name=ETL1_GROUP,
        owners=OWNERS,
        kinds={"duckdb", "parquet"},
        description=(
            f"ETL1's `{t.relative_path}` (key: {', '.join(t.key)}): upserted from raw batches by"
            " `etl1_batch_job`, first writer wins; one materialization per batch applied."
        ),
        metadata=_table_metadata(t),
    )
    for t in ETL1_EXTRACT_TABLES
]


@dg.op(tags={ETL1_WRITER_TAG: "true"})
def apply_etl1_batch(context: dg.OpExecutionContext, etl1: Etl1Resource, monitoring: MonitoringResource) -> None:
    """Apply one raw batch (the run's partition) to ETL1's seven extract tables (CONTRACT
    section 5): in DuckDB within the memory budget, each table replaced atomically, a table
    that gains nothing not rewritten; a batch left half-applied by a killed run is
    completed first. Records one materialization per table with what it gained, and
    publishes the batch's metrics when CloudWatch is configured."""
    writer = etl1.writer(run_id=context.run.run_id, log=context.log.info, warn=context.log.warning)
    results = writer.apply([writer.batch(context.partition_key)])
    result = results[-1]
    monitoring.publish(
        "etl1_batch_job", batch_values(result, writer.budget_bytes), warn=context.log.warning
    )
    for table in ETL1_EXTRACT_TABLES:
        stat = writer.etl1.stat(table.relative_path)
        context.log_event(
            dg.AssetMaterialization(
                asset_key=table.name,
                partition=context.partition_key,
                tags={"dagster/data_version": stat.fingerprint if stat else "missing"},
                metadata={
                    "rows_gained": result.gained.get(table.name, 0),
                    "rewritten": table.relative_path in result.written,
                    "months_changed": dg.MetadataValue.json(result.months),
                    "rate_rows": result.input_rows,
                    "seconds": round(result.seconds, 3),
                    "peak_rss_mb": round(result.peak_rss_bytes / 2**20),
                    **({"completed_interrupted_batch": results[0].batch} if len(results) > 1 else {}),
                },
            )
        )


etl1_batch_job = dg.JobDefinition(
    name="etl1_batch_job",
    graph_def=dg.GraphDefinition(name="etl1_batch", node_defs=[apply_etl1_batch]),
    partitions_def=etl1_batch_partitions,
    tags={ETL1_WRITER_TAG: "true"},
    description="Apply one raw batch (partition of etl1_batches) to ETL1's seven extract tables.",
)
