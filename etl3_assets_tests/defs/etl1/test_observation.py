"""Observing the five reference tables records a data version that changes when one is
rewritten (the seven extract tables are materialized by batch: test_batch_sensor)."""

import dagster as dg
import polars as pl
from dagster._core.definitions.observe import observe

from etl3_assets.defs.etl1.assets import etl1_tables
from etl3_assets.lib.contract import ETL1_REFERENCE_TABLES
from etl3_assets.defs.etl1.resources import Etl1Resource
from etl3_assets.devtools.sample_data import write_etl1_table


def _data_versions(instance) -> dict[str, str]:
    versions = {}
    for table in ETL1_REFERENCE_TABLES:
        record = instance.get_latest_data_version_record(dg.AssetKey(table.name), is_source=True)
        tags = record.asset_observation.tags
        versions[table.name] = tags["dagster/data_version"]
    return versions


def test_observation_versions_follow_etl1_rewrites(etl1_root, dagster_instance):
    resources = {"etl1": Etl1Resource(root=str(etl1_root))}
    observe(etl1_tables, instance=dagster_instance, resources=resources)
    first = _data_versions(dagster_instance)
    assert len(set(first.values())) == len(ETL1_REFERENCE_TABLES)

    observe(etl1_tables, instance=dagster_instance, resources=resources)
    assert _data_versions(dagster_instance) == first

    cats = pl.read_parquet(etl1_root / "dims" / "dim_code_cat.parquet")
    write_etl1_table(etl1_root, "dim_code_cat", cats.with_columns(proc_group=pl.lit("Renamed")))
    observe(etl1_tables, instance=dagster_instance, resources=resources)
    second = _data_versions(dagster_instance)
    assert {t for t in first if first[t] != second[t]} == {"dim_code_cat"}
