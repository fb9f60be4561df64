"""The run-failure sensor: a failed month run gets a report (month, asset, reason) in its own log."""

from __future__ import annotations

import dagster as dg
import polars as pl


from etl3_assets_tests.support.deployment import read_etl1, rewrite_etl1
from etl3_assets_tests.support.monitoring import evaluate_failure_sensor, fail_month as _fail_month


def _report(d, run: dg.DagsterRun) -> str:
    """Evaluates the sensor on the run's failure; returns what it wrote into the run's log."""
    evaluate_failure_sensor(d, run)
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
