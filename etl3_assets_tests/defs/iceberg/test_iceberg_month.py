"""The Iceberg output through Dagster's real ``materialize``: each month equals the oracle
through pyiceberg and polars, the check compares it with the staged month, a shrinking
month is replaced exactly in one snapshot and other months' files stay."""

from __future__ import annotations

import dagster as dg
import polars as pl

from etl3_assets.defs.iceberg.assets import fact_rate_enriched_iceberg
from etl3_assets.devtools.sample_data import write_etl1_table
from etl3_assets.lib.contract import ENRICHED_SCHEMA
from etl3_assets.lib.iceberg import table as it
from etl3_assets.lib.storage import open_storage
from etl3_assets_tests.support.deployment import MONTH_ASSETS, SAMPLE_MONTHS, etl3_resources
from etl3_assets_tests.support.oracle import assert_same_rows, expected_enriched

ASSETS = [*MONTH_ASSETS, fact_rate_enriched_iceberg]


def materialize(etl1_root, warehouse_root, month, instance):
    return dg.materialize(
        ASSETS, partition_key=month, instance=instance, resources=etl3_resources(etl1_root, warehouse_root)
    )


def table(warehouse_root):
    return it.open_catalog(open_storage(str(warehouse_root))).load_table(it.IDENTIFIER)


def read_back(warehouse_root, month: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The month through pyiceberg's scan and through polars' ``scan_iceberg``."""
    t = table(warehouse_root)
    year, m = it.parse_year_month(month)
    through_polars = (
        pl.scan_iceberg(t).filter((pl.col("year") == year) & (pl.col("month") == m)).collect()
    ).select(list(ENRICHED_SCHEMA))
    return it.scan_month(t, month), through_polars


def test_months_equal_the_oracle_and_the_check_passes(etl1_root, warehouse_root, dagster_instance):
    for month in SAMPLE_MONTHS:
        result = materialize(etl1_root, warehouse_root, month, dagster_instance)
        (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.asset_key == fact_rate_enriched_iceberg.key]
        assert evaluation.passed and evaluation.check_name == "month_equals_staged"
        (materialization,) = result.asset_materializations_for_node("fact_rate_enriched_iceberg")
        meta = {k: v.value for k, v in materialization.metadata.items()}
        assert meta["rows"] == 400 and 1 <= meta["files"] <= 2, meta
        assert not meta["over_memory_budget"]
    for month in SAMPLE_MONTHS:
        expected = expected_enriched(str(etl1_root), month)
        for frame in read_back(warehouse_root, month):
            assert_same_rows(frame, expected)
    assert len(table(warehouse_root).snapshots()) == len(SAMPLE_MONTHS)


def test_a_shrinking_month_is_replaced_in_one_snapshot(etl1_root, warehouse_root, dagster_instance):
    for month in ("2025-07", "2025-08"):
        materialize(etl1_root, warehouse_root, month, dagster_instance)
    july_files = {f.file_path for f in it.month_data_files(table(warehouse_root), "2025-07")}
    snapshots_before = len(table(warehouse_root).snapshots())

    facts = pl.read_parquet(etl1_root / "gold" / "fact_rate.parquet")
    august = pl.col("year_month") == "2025-08"
    write_etl1_table(etl1_root, "fact_rate", facts.filter(~august | (pl.col("fact_uid").hash(1) % 3 != 0)))
    materialize(etl1_root, warehouse_root, "2025-08", dagster_instance)

    expected = expected_enriched(str(etl1_root), "2025-08")
    assert 0 < expected.height < 400
    for frame in read_back(warehouse_root, "2025-08"):
        assert_same_rows(frame, expected)
    after = table(warehouse_root)
    assert len(after.snapshots()) == snapshots_before + 1, "the month is swapped in one commit"
    assert {f.file_path for f in it.month_data_files(after, "2025-07")} == july_files
    assert_same_rows(it.scan_month(after, "2025-07"), expected_enriched(str(etl1_root), "2025-07"))
