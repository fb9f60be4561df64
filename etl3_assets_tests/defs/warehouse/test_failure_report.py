"""The run-failure sensor: a failed month run gets a report (month, asset, reason) in its own log."""

from __future__ import annotations

import dagster as dg
import polars as pl

from etl3_assets.defs.dagster_features import relying_on
from etl3_assets.defs.warehouse.sensors import report_failed_month

BUILD_CONTEXT_REPOSITORY_DEF = (
    dg.BetaWarning, "Parameter `repository_def` of function `build_run_status_sensor_context` is currently in beta"
)

from etl3_assets_tests.support.deployment import read_etl1, rewrite_etl1


def _fail_month(d, month: str) -> dg.DagsterRun:
    job = d.defs.resolve_job_def("warehouse_month_job")
    result = job.execute_in_process(partition_key=month, instance=d.instance, raise_on_error=False)
    assert not result.success
    return d.instance.get_run_by_id(result.run_id)


def _report(d, run: dg.DagsterRun) -> str:
    """Evaluates the sensor on the run's failure; returns what it wrote into the run's log."""
    failure = d.instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE).records
    # the test relies on the beta `repository_def` parameter (the sensor names the failed asset from it)
    with relying_on(BUILD_CONTEXT_REPOSITORY_DEF):
        status_context = dg.build_run_status_sensor_context(
            sensor_name="report_failed_month",
            dagster_event=failure[0].event_log_entry.dagster_event,
            dagster_instance=d.instance,
            dagster_run=run,
            repository_def=d.defs.get_repository_def(),
            resources={"monitoring": d.resources["monitoring"]},
        )
    with status_context.for_run_failure() as context:
        report_failed_month(context)
    reports = [
        e.message
        for e in d.instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
        if e.message.startswith(f"run {run.run_id}")
    ]
    assert len(reports) == 1, reports
    return reports[0]


def test_failed_step_is_reported_with_month_asset_and_reason(deployment):
    run = _fail_month(deployment, "2025-11")
    report = _report(deployment, run)
    assert "month 2025-11" in report
    assert "asset staged_enriched_month: ETL1 table fact_rate, column year_month: no fact rows for month '2025-11'" in report


def test_failed_blocking_check_is_reported_with_month_asset_and_reason(deployment):
    d = deployment
    payers = read_etl1(d.etl1_root, "dim_payer")
    rewrite_etl1(d.etl1_root, "dim_payer", pl.concat([payers, payers.head(1)]))
    run = _fail_month(d, "2025-08")
    report = _report(d, run)
    assert "month 2025-08" in report
    assert "asset staged_enriched_month, check etl1_keys_unique failed:" in report
    assert "dim_payer" in report and "payer_slug" in report
