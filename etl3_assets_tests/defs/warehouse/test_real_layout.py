"""Issue 19: hostile ETL1 output in the real layout (support/real_etl1.py, written with
pyarrow, not the project's generator), through Dagster's real ``materialize``: every
month equals the oracle in the Hive layout (pyarrow, polars, DuckDB; an empty partition
value read back as null) and in the Iceberg table (``taxonomy`` included, the empty
string kept), locally and on SeaweedFS with the Glue catalog; fact rows with an empty
year_month are reported and never written; the previous contract's layout is refused
naming what is missing; a local Iceberg table's file paths carry ``file://``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from etl3_assets.defs.catalog.assets import fact_rate_enriched_glue_partitions
from etl3_assets.defs.iceberg.assets import fact_rate_enriched_iceberg
from etl3_assets.lib.contract import GLUE_DATABASE, GLUE_TABLE, HIVE_NULL, PARTITION_KEYS
from etl3_assets.lib.iceberg import table as it
from etl3_assets.lib.storage import open_storage
from etl3_assets_tests.support import REPO
from etl3_assets_tests.support.deployment import MONTH_ASSETS, Warehouse, etl3_resources, snapshot
from etl3_assets_tests.support.iceberg_child import TargetSpec
from etl3_assets_tests.support.oracle import (
    READERS, as_read_from_hive, assert_same_rows, enriched_columns, expected_enriched,
)
from etl3_assets_tests.support.real_etl1 import (
    EMPTY_MONTH_ROWS, MISSING_IN_PREVIOUS_LAYOUT, MONTHS, write_previous_layout, write_real_etl1,
)
from etl3_assets_tests.support.s3_month import ETL1, WAREHOUSE, expected_partition_values, glue_month, s3_resources
from etl3_assets_tests.support.s3_servers import ACCESS_KEY, REGION, SECRET_KEY
from etl3_assets_tests.support.table_readers import iceberg_month, s3_hive_month

ASSETS = [*MONTH_ASSETS, fact_rate_enriched_iceberg]


@pytest.fixture(scope="module")
def real_etl1(tmp_path_factory) -> Path:
    return write_real_etl1(tmp_path_factory.mktemp("real") / "etl1")


@pytest.fixture(scope="module")
def expected(real_etl1) -> dict[str, pl.DataFrame]:
    return {month: expected_enriched(str(real_etl1), month) for month in MONTHS}


@pytest.fixture(scope="module")
def local_run(real_etl1, tmp_path_factory):
    """Every month of the hostile data materialized once, Hive layout and Iceberg table."""
    warehouse = tmp_path_factory.mktemp("real-warehouse") / "warehouse"
    with dg.instance_for_test() as instance:
        results = {
            month: dg.materialize(
                ASSETS, partition_key=month, instance=instance, raise_on_error=False,
                resources=etl3_resources(real_etl1, warehouse),
            )
            for month in MONTHS
        }
    return warehouse, results


def _failure(result) -> str:
    failures = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    return failures[0].step_failure_data.error.message.strip() if failures else ""


def _succeeded(local_run, *steps: str) -> Path:
    """The warehouse, once every month's run materialized ``steps`` (default: all)."""
    warehouse, results = local_run
    for month, result in results.items():
        ok = all(result.is_node_success(s) for s in steps) if steps else result.success
        assert ok, f"{month}: {_failure(result)}"
    return warehouse


HIVE_STEPS = ("staged_enriched_month", "fact_rate_enriched")


def test_the_hostile_data_carries_what_the_tests_rely_on(expected):
    """The writer's data reaches what it is meant to reach (so a pass means something)."""
    both = pl.concat(expected.values())
    for column in ("payer_slug", "state", "billing_class", "procedure_set", "procedure_class",
                   "primary_taxonomy_code", "stat_area_name"):
        values = set(both[column].to_list())
        assert "" in values and (None in values or column == "stat_area_name"), column
        for ch in (" ", ",", "/", "=", "%", "'", '"'):
            assert any(v and ch in v for v in values), (column, ch)
        assert any(v and not v.isascii() for v in values), column
    assert {"professional", "opps"} <= set(both["benchmark_type"].drop_nulls())
    assert both["medicare_asc_state_rate"].drop_nulls().len() > 0
    assert set(both["benchmark_year_month"].drop_nulls()) >= {"2025-01", "2025-08", "2025-06"}
    assert "2026-01" not in set(both["benchmark_year_month"].drop_nulls())
    assert (both["medicare_state_rate"] == 0.0).any() and (both["negotiated_rate"] == 0.0).any()
    assert set(both.filter(pl.col("benchmark_type").is_not_null())["state"]) >= {"GA", "TX", "N/A=50%", "Nuevo León, MX"}
    assert "" in set(both["tin_value"])  # an empty TIN is the smallest
    assert (both["provider_group_npi_count"] > 1).any() and (both["provider_group_tin_count"] > 1).any()
    assert (both["provider_group_tin_count"] > 0).filter(both["npi"].is_null()).any()  # TIN-level group
    assert both["pos_members"].list.len().eq(0).any()
    assert "Office/ outpatient services" in set(both["procedure_class"].drop_nulls())
    assert any("CSA" in v for v in both["stat_area_name"].drop_nulls())


def test_hive_months_equal_the_oracle_through_three_readers(local_run, expected):
    warehouse = _succeeded(local_run, *HIVE_STEPS)
    for month in MONTHS:
        hive_expected = as_read_from_hive(expected[month])
        for name, read in READERS.items():
            try:
                assert_same_rows(read(warehouse, month), hive_expected)
            except AssertionError as error:
                raise AssertionError(f"{month} through {name}: {error}") from None


def test_empty_partition_values_are_written_as_the_hive_default(local_run, expected):
    """No ``key=`` folder (Spark refuses to read a table that has one): an empty value is
    ``__HIVE_DEFAULT_PARTITION__``, as null is."""
    warehouse = _succeeded(local_run, *HIVE_STEPS)
    segments = {
        segment
        for path in (warehouse / "partitioned-data").rglob("*.parquet")
        for segment in path.relative_to(warehouse / "partitioned-data").parts[:-1]
    }
    assert not [s for s in segments if s.endswith("=")], sorted(segments)[:5]
    for key, column in PARTITION_KEYS:
        if any(("" in df[column].to_list()) for df in expected.values() if df.schema[column] == pl.String):
            assert f"{key}={HIVE_NULL}" in segments, key


def _local_table(warehouse: Path):
    return it.open_catalog(open_storage(str(warehouse))).load_table(it.IDENTIFIER)


def test_iceberg_months_equal_the_oracle_with_taxonomy(local_run, expected):
    warehouse = _succeeded(local_run)
    table = _local_table(warehouse)
    columns = [f.name for f in table.schema().fields]
    assert {k for k, _ in PARTITION_KEYS} <= set(columns), columns
    # the months' rows and nothing else (no row of the empty year_month)
    assert table.scan().to_arrow().num_rows == sum(df.height for df in expected.values())
    for month in MONTHS:
        for name, frame in iceberg_month(table, month).items():
            try:
                assert_same_rows(frame, expected[month])
            except AssertionError as error:
                raise AssertionError(f"{month} through {name}: {error}") from None


def test_local_iceberg_file_paths_carry_the_file_scheme(local_run):
    warehouse = _succeeded(local_run)
    table = _local_table(warehouse)
    data_files = [t.file.file_path for t in table.scan().plan_files()]
    assert data_files and all(p.startswith("file://") for p in data_files), data_files[:3]
    snapshot_ = table.current_snapshot()
    manifests = snapshot_.manifests(table.io)
    assert snapshot_.manifest_list.startswith("file://"), snapshot_.manifest_list
    assert all(m.manifest_path.startswith("file://") for m in manifests), [m.manifest_path for m in manifests]


def test_empty_year_month_rows_are_reported_and_never_written(local_run, expected):
    warehouse, results = local_run
    _succeeded(local_run, *HIVE_STEPS)
    # nothing but the months' rows: no year or month folder of the empty year_month
    folders = {
        (seg_y, seg_m)
        for p in (warehouse / "partitioned-data").rglob("*.parquet")
        for seg_y, seg_m in [p.parent.parts[-2:]]
    }
    assert folders == {(f"year={m[:4]}", f"month={m[5:]}") for m in MONTHS}, folders
    # the input check reports them, with their number, in each month's run
    for month, result in results.items():
        reported = {
            (e.check_name, key): value.value
            for e in result.get_asset_check_evaluations()
            for key, value in e.metadata.items()
            if "month" in key  # e.g. fact_rows_without_month
        }
        assert EMPTY_MONTH_ROWS in reported.values(), (month, reported)


def test_the_sensor_requests_only_real_months(real_etl1, tmp_path):
    with dg.instance_for_test() as instance:
        deployment = Warehouse(real_etl1, tmp_path / "warehouse", instance)
        result = deployment.tick()
    assert sorted(r.partition_key for r in result.run_requests) == sorted(MONTHS)


def test_etl3_validate_prints_the_empty_year_month_rows(local_run, real_etl1, tmp_path):
    warehouse = _succeeded(local_run, *HIVE_STEPS)
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    env = {"PYTHONPATH": str(REPO), "ETL1_ROOT": str(real_etl1), "WAREHOUSE_ROOT": str(warehouse),
           "DAGSTER_HOME": str(home), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "etl3_assets.cli", "validate", "--partition", MONTHS[0]],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line for line in done.stdout.splitlines() if "year_month" in line and str(EMPTY_MONTH_ROWS) in line]
    assert lines, done.stdout


def test_the_previous_layout_is_refused_naming_what_is_missing(tmp_path):
    etl1 = write_previous_layout(tmp_path / "etl1")
    warehouse = tmp_path / "warehouse"
    result = dg.materialize(
        ASSETS, partition_key=MONTHS[0], raise_on_error=False, resources=etl3_resources(etl1, warehouse)
    )
    assert not result.success
    message = _failure(result)
    named = [
        table for table, columns in MISSING_IN_PREVIOUS_LAYOUT.items()
        if f"ETL1 table {table}" in message and (columns is None or any(c in message for c in columns))
    ]
    assert named and "missing" in message, message
    # the check's findings name every table that lacks something
    findings = " ".join(
        str(e.metadata["findings"].value)
        for e in result.get_asset_check_evaluations()
        if e.check_name == "etl1_schema" and "findings" in e.metadata
    )
    for table, columns in MISSING_IN_PREVIOUS_LAYOUT.items():
        assert table in findings and (columns is None or any(c in findings for c in columns)), (table, findings)
    written = [k for k in snapshot(warehouse) if k.startswith(("partitioned-data/", "iceberg/fact"))]
    assert written == [], "nothing is written"


# --------------------------------------------------------------------------------------
# SeaweedFS (S3) with the Glue catalog (moto)
# --------------------------------------------------------------------------------------


def test_months_on_seaweedfs_with_glue_equal_the_oracle(real_etl1, expected, s3_bucket, moto_endpoint, glue_client):
    s3_bucket.upload_tree(real_etl1, ETL1)
    resources = s3_resources(s3_bucket, moto_endpoint)
    assets = [*ASSETS, fact_rate_enriched_glue_partitions]
    with dg.instance_for_test() as instance:
        for month in MONTHS:
            result = dg.materialize(assets, partition_key=month, instance=instance, raise_on_error=False, resources=resources)
            assert result.success, f"{month}: {_failure(result)}"
    spec = TargetSpec(
        root=s3_bucket.uri(WAREHOUSE), s3_endpoint=s3_bucket.endpoint, glue_endpoint=moto_endpoint,
        region=REGION, access_key=ACCESS_KEY, secret_key=SECRET_KEY,
    )
    table = spec.catalog().load_table(it.IDENTIFIER)
    options = spec.storage_options()
    for month in MONTHS:
        hive = s3_hive_month(s3_bucket.endpoint, s3_bucket.bucket, WAREHOUSE, month, options)
        for name, frame in hive.items():
            try:
                assert_same_rows(frame, as_read_from_hive(expected[month]))
            except AssertionError as error:
                raise AssertionError(f"{month} through {name}: {error}") from None
        for name, frame in iceberg_month(table, month, options).items():
            try:
                assert_same_rows(frame, expected[month])
            except AssertionError as error:
                raise AssertionError(f"{month} through {name}: {error}") from None
        assert set(glue_month(glue_client, month)) == expected_partition_values(expected[month])
    glue_table = glue_client.get_table(DatabaseName=GLUE_DATABASE, Name=GLUE_TABLE)["Table"]
    stored = [c["Name"] for c in glue_table["StorageDescriptor"]["Columns"]]
    keys = {k for k, _ in PARTITION_KEYS}
    assert stored == [c for c in enriched_columns() if c not in keys]
