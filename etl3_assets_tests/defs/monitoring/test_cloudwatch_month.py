"""A month's run against CloudWatch and SNS on the loopback moto server (reached through
the endpoint setting, nothing patched): every metric on the documented dimensions, values
checked against the files on disk and a DuckDB count of ETL1; the alarms watch exactly
the published series; a failed month publishes ErrorCount and alerts; an unreachable
CloudWatch costs a warning, not the month."""

from __future__ import annotations

import logging

import dagster as dg
import duckdb

from etl3_assets.defs.iceberg.assets import fact_rate_enriched_iceberg
from etl3_assets.defs.monitoring.resources import MonitoringResource
from etl3_assets.defs.resources import build_resources
from etl3_assets.lib.contract import ICEBERG_ASSET, STAGED_ASSET, WAREHOUSE_ASSET
from etl3_assets.lib.monitoring.alarms import MonitoringSetup
from etl3_assets.lib.monitoring.cloudwatch import METRICS, MONTH_SERIES
from etl3_assets_tests.support.deployment import MONTH_ASSETS, test_settings
from etl3_assets_tests.support.monitoring import (
    NAMESPACE,
    SmtpInbox,
    aws_client,
    evaluate_failure_sensor,
    fail_month,
    published_series,
    received,
    sns_to_queue,
    statistic,
    unique_environment,
)
from etl3_assets_tests.support.oracle import month_files
from etl3_assets_tests.support.s3_servers import free_port, test_resource

MONTH = "2025-08"
ICEBERG_METRICS = {
    "ChunkInputRows", "ChunkOutputRows", "ChunkProcessingRate", "MemoryUsage", "MemoryPeakRSS", "DataSize", "ErrorCount",
}


def _materialize(etl1_root, warehouse_root, endpoint, environment, instance=None, **overrides):
    settings = test_settings(
        etl1_root, warehouse_root, cloudwatch_namespace=NAMESPACE, environment=environment, **overrides
    )
    resources = build_resources(settings, s3=test_resource(endpoint), monitoring_endpoint_url=endpoint)
    return dg.materialize(
        [*MONTH_ASSETS, fact_rate_enriched_iceberg], partition_key=MONTH, instance=instance, resources=resources
    )


def _series(metric: str, environment: str, asset: str, month: str | None = None):
    dims = (("Environment", environment), ("Asset", asset)) + ((("Month", month),) if month else ())
    return metric, dims


def _dims(series) -> list[dict]:
    return [{"Name": n, "Value": v} for n, v in series[1]]


def test_a_month_publishes_every_metric_and_the_alarms_watch_those_series(etl1_root, warehouse_root, moto_endpoint):
    env = unique_environment()
    result = _materialize(etl1_root, warehouse_root, moto_endpoint, env)
    assert result.success
    cloudwatch = aws_client(moto_endpoint, "cloudwatch")

    # every metric, on (Environment, Asset), the month's contents on (…, Month) too
    expected = {_series(m, env, WAREHOUSE_ASSET) for m in METRICS}
    expected |= {_series(m, env, WAREHOUSE_ASSET, MONTH) for m in MONTH_SERIES}
    expected |= {_series(m, env, ICEBERG_ASSET) for m in ICEBERG_METRICS}
    expected |= {_series(m, env, ICEBERG_ASSET, MONTH) for m in MONTH_SERIES & ICEBERG_METRICS}
    assert published_series(cloudwatch, env) == expected

    # the values, read back, against independent routes: the files on disk, DuckDB over ETL1
    files = month_files(warehouse_root, MONTH)
    fact_rows = duckdb.sql(
        f"SELECT count(*) FROM read_parquet('{etl1_root}/gold/fact_rate.parquet') WHERE year_month = '{MONTH}'"
    ).fetchall()[0][0]
    month_series = {m: _dims(_series(m, env, WAREHOUSE_ASSET, MONTH)) for m in MONTH_SERIES}
    assert statistic(cloudwatch, "ChunkOutputRows", month_series["ChunkOutputRows"], "Sum") == [fact_rows]
    assert statistic(cloudwatch, "PartitionCount", month_series["PartitionCount"], "Maximum") == [
        len({f.parent for f in files})
    ]
    assert statistic(cloudwatch, "DataSize", month_series["DataSize"], "Maximum") == [sum(f.stat().st_size for f in files)]
    asset_series = _dims(_series("ChunkOutputRows", env, ICEBERG_ASSET))
    assert statistic(cloudwatch, "ChunkOutputRows", asset_series, "Sum") == [fact_rows]
    (materialization,) = result.asset_materializations_for_node(WAREHOUSE_ASSET)
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    memory = statistic(cloudwatch, "MemoryUsage", _dims(_series("MemoryUsage", env, WAREHOUSE_ASSET)), "Maximum")
    assert memory == [metadata["MemoryUsage"]] and 0 < memory[0] < 100
    assert metadata["cloudwatch_metrics"] == len([s for s in expected if s[1][1][1] == WAREHOUSE_ASSET])

    # the alarms, set up on the same namespace and environment, watch exactly those series
    MonitoringSetup(
        cloudwatch, None, namespace=NAMESPACE, environment=env, region="us-east-1",
        error_assets=[STAGED_ASSET, WAREHOUSE_ASSET, ICEBERG_ASSET],
    ).run()
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix=f"ETL3-{env}-")["MetricAlarms"]
    assert {a["AlarmName"] for a in alarms} == {f"ETL3-{env}-{k}" for k in ("HighErrorCount", "LowProcessingRate", "HighMemoryUsage")}
    for alarm in alarms:
        stats = (
            [(alarm["MetricName"], alarm["Dimensions"], alarm["Statistic"], alarm["Period"], alarm["Namespace"])]
            if alarm.get("MetricName")
            else [
                (q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Metric"]["Dimensions"],
                 q["MetricStat"]["Stat"], q["MetricStat"]["Period"], q["MetricStat"]["Metric"]["Namespace"])
                for q in alarm["Metrics"] if "MetricStat" in q
            ]
        )
        watched = []
        for metric, dimensions, stat, period, namespace in stats:
            assert namespace == NAMESPACE and [d["Name"] for d in dimensions] == ["Environment", "Asset"]
            series = (metric, tuple((d["Name"], d["Value"]) for d in dimensions))
            if series in expected:
                assert statistic(cloudwatch, metric, dimensions, stat, period), (alarm["AlarmName"], series)
                watched.append(series)
        assert watched, f"{alarm['AlarmName']} watches no published series: {stats}"


def test_a_failed_month_publishes_error_count_and_sends_the_alert_by_sns(deployment, moto_endpoint):
    env = unique_environment()
    topic, sqs, queue = sns_to_queue(moto_endpoint, f"etl3-{env}")
    monitoring = MonitoringResource(
        namespace=NAMESPACE, environment=env, endpoint_url=moto_endpoint, alert_sns_topic_arn=topic,
        s3=test_resource(moto_endpoint),
    )
    run = fail_month(deployment, "2025-11")  # ETL1 has no fact rows for it
    evaluate_failure_sensor(deployment, run, monitoring)

    cloudwatch = aws_client(moto_endpoint, "cloudwatch")
    assert published_series(cloudwatch, env) == {_series("ErrorCount", env, STAGED_ASSET)}
    assert statistic(cloudwatch, "ErrorCount", _dims(_series("ErrorCount", env, STAGED_ASSET)), "Sum") == [1.0]
    (notification,) = received(sqs, queue)
    assert notification["Subject"] == f"ETL3 {env}: warehouse_month_job failed, month 2025-11, staged_enriched_month"
    assert f"run {run.run_id} of warehouse_month_job failed: month 2025-11" in notification["Message"]
    assert "no fact rows for month '2025-11'" in notification["Message"]


def test_an_unreachable_cloudwatch_is_a_warning_and_the_month_succeeds(etl1_root, warehouse_root, dagster_instance):
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    result = _materialize(etl1_root, warehouse_root, closed, unique_environment(), instance=dagster_instance)
    assert result.success
    warnings = [
        e.user_message for e in dagster_instance.all_logs(result.run_id)
        if e.level == logging.WARNING and "CloudWatch" in e.user_message
    ]
    assert len(warnings) == 2, warnings  # one per output
    assert all("could not publish" in w and "the run goes on without them" in w for w in warnings), warnings
    (materialization,) = result.asset_materializations_for_node(WAREHOUSE_ASSET)
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert "could not publish" in metadata["cloudwatch_warning"]
    assert metadata["cloudwatch_seconds"] < 10


def test_the_failure_alert_is_emailed_through_a_real_smtp_server(deployment):
    with SmtpInbox() as inbox:
        monitoring = MonitoringResource(
            alert_email_to=["oncall@example.org", "data-team@example.org"], alert_email_from="etl3@example.org",
            alert_smtp_host="127.0.0.1", alert_smtp_port=inbox.port,
        )
        run = fail_month(deployment, "2025-11")
        evaluate_failure_sensor(deployment, run, monitoring)
    (email,) = inbox.emails()
    assert inbox.messages[0]["to"] == ["oncall@example.org", "data-team@example.org"]
    assert email["From"] == "etl3@example.org"
    assert email["Subject"].strip() == "ETL3 dev: warehouse_month_job failed, month 2025-11, staged_enriched_month"
    body = email.get_content()
    assert f"run {run.run_id} of warehouse_month_job failed: month 2025-11" in body
    assert "no fact rows for month '2025-11'" in body
