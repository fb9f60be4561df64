"""Dagster's standard metadata, read back from a real DagsterInstance after ETL1 is
observed and two months are materialized: row counts (against DuckDB over the ETL1 files
and the written files), the column schema of the ETL1 tables, the staged month and both
outputs, table names, URIs, column lineage; owners, kinds and freshness on the assets."""

from __future__ import annotations

import dagster as dg
import duckdb
from dagster._core.definitions.observe import observe

from etl3_assets.definitions import defs
from etl3_assets.defs.etl1.assets import etl1_tables
from etl3_assets.defs.iceberg.assets import fact_rate_enriched_iceberg
from etl3_assets.lib.column_docs import describe
from etl3_assets.lib.contract import (
    ENRICHED_SCHEMA,
    ETL1_REFERENCE_TABLES,
    ETL1_TABLES,
    FILE_SCHEMA,
    ICEBERG_ASSET,
    PARTITION_SCHEMA,
    STAGED_ASSET,
    WAREHOUSE_ASSET,
)
from etl3_assets_tests.support.deployment import MONTH_ASSETS, etl3_resources
from etl3_assets_tests.support.oracle import month_files

MONTHS = ("2025-07", "2025-08")


def _latest(instance, asset: str, observation: bool = False) -> dict:
    key = dg.AssetKey(asset)
    if observation:
        record = instance.get_latest_data_version_record(key, is_source=True)
        return dict(record.asset_observation.metadata)
    return dict(instance.get_latest_materialization_event(key).asset_materialization.metadata)


def _columns(metadata: dict) -> list[tuple[str, str, str]]:
    return [(c.name, c.type, c.description) for c in metadata["dagster/column_schema"].schema.columns]


def _fact_rows(etl1_root, month: str | None = None) -> int:
    where = f"WHERE year_month = '{month}'" if month else f"WHERE year_month IN {MONTHS}"
    return duckdb.sql(f"SELECT count(*) FROM read_parquet('{etl1_root}/gold/fact_rate.parquet') {where}").fetchall()[0][0]


def test_standard_metadata_of_every_table_read_back_from_the_instance(etl1_root, warehouse_root):
    resources = etl3_resources(etl1_root, warehouse_root)
    with dg.instance_for_test() as instance:
        observe(etl1_tables, instance=instance, resources=resources)
        for month in MONTHS:
            assert dg.materialize(
                [*MONTH_ASSETS, fact_rate_enriched_iceberg], partition_key=month, instance=instance, resources=resources
            ).success

        for table in ETL1_REFERENCE_TABLES:
            observed = _latest(instance, table.name, observation=True)
            path = f"{etl1_root}/{table.relative_path}"
            assert observed["dagster/row_count"].value == duckdb.sql(f"SELECT count(*) FROM '{path}'").fetchall()[0][0]
            assert observed["dagster/uri"].value == path
        graph = defs.resolve_asset_graph()
        for table in ETL1_TABLES:  # the seven extract tables are recorded per batch; every table declares its columns
            declared = graph.get(dg.AssetKey(table.name)).metadata["dagster/column_schema"].columns
            assert [(c.name, c.type) for c in declared] == [(n, str(t)) for n, t in table.schema.items()]
            assert all(c.description for c in declared)

        staged = _latest(instance, STAGED_ASSET)
        assert staged["dagster/partition_row_count"].value == _fact_rows(etl1_root, MONTHS[-1])
        assert _columns(staged) == [(c, str(t), describe(c)) for c, t in ENRICHED_SCHEMA.items()]
        assert staged["dagster/uri"].value.startswith(f"{warehouse_root}/_etl3/staging/{STAGED_ASSET}/{MONTHS[-1]}/")
        lineage = staged["dagster/column_lineage"].lineage.deps_by_column
        assert set(lineage) == set(ENRICHED_SCHEMA)
        assert {(d.asset_key.to_user_string(), d.column_name) for d in lineage["address_state"]} == {("dim_npi_address", "state")}
        assert {d.asset_key.to_user_string() for d in lineage["rate_to_medicare_ratio"]} == {"fact_rate", "bench_medicare_comprehensive"}
        etl1_columns = {t.name: set(t.schema) for t in ETL1_TABLES}
        assert all(d.column_name in etl1_columns[d.asset_key.to_user_string()] for deps in lineage.values() for d in deps)

        hive = _latest(instance, WAREHOUSE_ASSET)
        written = [f for m in MONTHS for f in month_files(warehouse_root, m)]
        assert hive["dagster/partition_row_count"].value == _fact_rows(etl1_root, MONTHS[-1])
        assert hive["dagster/row_count"].value == _fact_rows(etl1_root) == duckdb.sql(
            f"SELECT count(*) FROM read_parquet({[str(f) for f in written]})"
        ).fetchall()[0][0]
        assert hive["dagster/table_name"].value == "healthcare_data_lake.fact_rate_enriched"
        assert hive["dagster/uri"].value == f"{warehouse_root}/partitioned-data"
        assert [c[0] for c in _columns(hive)] == [*FILE_SCHEMA, *PARTITION_SCHEMA]
        assert {d.column_name for d in hive["dagster/column_lineage"].lineage.deps_by_column["taxonomy"]} == {"primary_taxonomy_code"}

        iceberg = _latest(instance, ICEBERG_ASSET)
        assert iceberg["dagster/row_count"].value == _fact_rows(etl1_root)
        assert iceberg["dagster/partition_row_count"].value == _fact_rows(etl1_root, MONTHS[-1])
        assert iceberg["dagster/table_name"].value == "healthcare_data_lake.fact_rate_enriched_iceberg"
        location = iceberg["dagster/uri"].value.removeprefix("file://")  # a local table's location is a file:// URI
        assert location.startswith(f"{warehouse_root}/iceberg/"), location
        assert {c[0] for c in _columns(iceberg)} == set(ENRICHED_SCHEMA) | {"taxonomy"}
        assert all(c[2] for c in _columns(iceberg))


def test_owners_kinds_and_freshness_on_every_asset():
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners, key
        assert any(tag.startswith("dagster/kind/") for tag in node.tags), key
    for output in (WAREHOUSE_ASSET, ICEBERG_ASSET):
        assert graph.get(dg.AssetKey(output)).freshness_policy is not None
