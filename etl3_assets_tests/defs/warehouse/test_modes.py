"""Validate-only and dry-run write nothing, as Dagster jobs and from the command line."""

import os
import subprocess
import sys

import dagster as dg
import polars as pl
import pytest

from etl3_assets.defs.etl1.assets import etl1_tables
from etl3_assets.defs.warehouse.assets import fact_rate_enriched, staged_enriched_month
from etl3_assets.defs.warehouse.jobs import dry_run_month_job, validate_month_job
from etl3_assets.defs.warehouse.checks import warehouse_month_checks
from etl3_assets.lib.quality.validation import MONTH_CHECKS

from etl3_assets_tests.support.deployment import etl3_resources, snapshot

MONTH = "2025-08"
INPUT_CHECKS = {"etl1_schema", "etl1_keys_unique"}


def _defs(etl1_root, warehouse_root) -> dg.Definitions:
    return dg.Definitions(
        assets=[*etl1_tables, staged_enriched_month, fact_rate_enriched],
        asset_checks=[warehouse_month_checks(fact_rate_enriched)],
        jobs=[validate_month_job, dry_run_month_job],
        resources=etl3_resources(etl1_root, warehouse_root),
    )


def _run(defs: dg.Definitions, job: str, instance) -> dg.ExecuteInProcessResult:
    return defs.resolve_job_def(job).execute_in_process(
        partition_key=MONTH, instance=instance, raise_on_error=False
    )


def _materialize(defs: dg.Definitions, instance) -> dict:
    result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
        partition_key=MONTH,
        instance=instance,
        asset_selection=[staged_enriched_month.key, fact_rate_enriched.key],
    )
    (materialization,) = result.asset_materializations_for_node("fact_rate_enriched")
    return {k: v.value for k, v in materialization.metadata.items()}


def _plan(result: dg.ExecuteInProcessResult) -> dict:
    (observation,) = [
        e.asset_observation_data.asset_observation
        for e in result.all_events
        if e.event_type_value == "ASSET_OBSERVATION"
    ]
    assert observation.asset_key == fact_rate_enriched.key and observation.partition == MONTH
    return {k.removeprefix("plan_"): v.value for k, v in observation.metadata.items()}


def _materializations(result: dg.ExecuteInProcessResult) -> list:
    return [e for e in result.all_events if e.event_type_value == "ASSET_MATERIALIZATION"]


def test_validate_only_checks_input_and_warehouse_month_and_writes_nothing(
    etl1_root, warehouse_root, dagster_instance
):
    defs = _defs(etl1_root, warehouse_root)
    _materialize(defs, dagster_instance)
    before = snapshot(warehouse_root)

    result = _run(defs, "validate_month", dagster_instance)
    assert result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(evaluations) == INPUT_CHECKS | set(MONTH_CHECKS)
    assert evaluations["month_schema"].metadata["rows_checked"].value == 400
    assert any(
        "checking 2025-08 read back from the warehouse" in (e.user_message or "")
        for e in dagster_instance.all_logs(result.run_id)
    )
    assert not evaluations["state_code"].passed  # the sample month has hostile states
    assert not _materializations(result)
    assert snapshot(warehouse_root) == before

    xref = etl1_root / "xrefs" / "xref_pg_member_npi.parquet"
    pl.read_parquet(xref).with_columns(npi=pl.lit("12345")).write_parquet(xref)
    result = _run(defs, "validate_month", dagster_instance)
    assert not result.success
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert not evaluations["etl1_schema"].passed
    assert "'12345'" in evaluations["etl1_schema"].description
    assert evaluations["month_schema"].passed  # the month already written is still checked
    assert snapshot(warehouse_root) == before


def test_dry_run_plans_exactly_what_materializing_then_writes(etl1_root, warehouse_root, dagster_instance):
    defs = _defs(etl1_root, warehouse_root)
    result = _run(defs, "dry_run_month", dagster_instance)
    assert result.success
    assert {e.check_name for e in result.get_asset_check_evaluations()} == INPUT_CHECKS
    assert not _materializations(result)
    assert not warehouse_root.exists()
    plan = _plan(result)
    assert plan["target"] == str(warehouse_root / "partitioned-data")
    assert plan["replaces_files"] == 0

    written = _materialize(defs, dagster_instance)
    for key in ("rows", "partitions", "files"):
        assert plan[key] == written[key], key
    assert plan["rows_per_partition_max"] == written["rows_per_partition_max"]
    assert plan["estimated_bytes"] == pytest.approx(written["bytes"], rel=0.25)

    before = snapshot(warehouse_root)
    again = _plan(_run(defs, "dry_run_month", dagster_instance))
    assert (again["replaces_files"], again["replaces_bytes"]) == (written["files"], written["bytes"])
    assert snapshot(warehouse_root) == before


def _etl3(*args, env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "etl3_assets.cli", *args], env=env, capture_output=True, text=True, timeout=180
    )


def test_the_command_line_offers_dry_run_and_validate(etl1_root, tmp_path):
    warehouse = tmp_path / "warehouse"
    env = {
        **os.environ,
        "ETL1_ROOT": str(etl1_root),
        "WAREHOUSE_ROOT": str(warehouse),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }
    planned = _etl3("dry-run", "--partition", MONTH, env=env)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert f"{MONTH}  rows                       400" in planned.stdout
    assert "staged_enriched_month.etl1_schema" in planned.stdout

    validated = _etl3("validate", "--partition", MONTH, env=env)
    assert validated.returncode == 1, validated.stdout + validated.stderr
    assert "etl1_keys_unique   passed" in validated.stdout
    assert "fact_rate_enriched.month_schema       FAILED   " in validated.stdout
    assert "no rows for this month" in validated.stdout
    assert not (warehouse / "partitioned-data").exists()
