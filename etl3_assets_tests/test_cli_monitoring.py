"""``etl3 setup-monitoring`` as a user runs it, against CloudWatch and SNS on the loopback
moto server reached through the standard endpoint variable: the second run changes
nothing; ``--check`` finds an alarm changed by hand."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from etl3_assets_tests.support.monitoring import NAMESPACE, aws_client, unique_environment
from etl3_assets_tests.support.s3_servers import ACCESS_KEY, REGION, SECRET_KEY

ETL3 = str(Path(sys.executable).parent / "etl3")


def _setup(endpoint: str, environment: str, *flags: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION, "CLOUDWATCH_NAMESPACE": NAMESPACE, "ETL3_ENVIRONMENT": environment,
    }
    return subprocess.run([ETL3, "setup-monitoring", *flags], env=env, capture_output=True, text=True, timeout=120)


def _state(cloudwatch, environment: str):
    alarms = cloudwatch.describe_alarms(AlarmNamePrefix=f"ETL3-{environment}-")["MetricAlarms"]
    dashboard = cloudwatch.get_dashboard(DashboardName=f"ETL3-{environment}")["DashboardBody"]
    return {a["AlarmName"]: (a["AlarmConfigurationUpdatedTimestamp"], a.get("AlarmActions")) for a in alarms}, dashboard


def test_setup_monitoring_twice_changes_nothing_and_check_finds_a_change(moto_endpoint):
    env = unique_environment()
    first = _setup(moto_endpoint, env, "--sns-topic", f"etl3-{env}-alarms")
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("applied") == 5, first.stdout  # topic, three alarms, dashboard
    cloudwatch = aws_client(moto_endpoint, "cloudwatch")
    before = _state(cloudwatch, env)
    topic = f"arn:aws:sns:{REGION}:123456789012:etl3-{env}-alarms"
    assert all(actions == [topic] for _, actions in before[0].values()), before

    second = _setup(moto_endpoint, env, "--sns-topic", f"etl3-{env}-alarms")
    assert second.returncode == 0, second.stderr
    assert "applied" not in second.stdout and second.stdout.count(" ok ") == 5, second.stdout
    assert _state(cloudwatch, env) == before

    alarm = cloudwatch.describe_alarms(AlarmNames=[f"ETL3-{env}-LowProcessingRate"])["MetricAlarms"][0]
    cloudwatch.put_metric_alarm(
        AlarmName=alarm["AlarmName"], Namespace=alarm["Namespace"], MetricName=alarm["MetricName"],
        Dimensions=alarm["Dimensions"], Statistic=alarm["Statistic"], Period=alarm["Period"],
        EvaluationPeriods=alarm["EvaluationPeriods"], ComparisonOperator=alarm["ComparisonOperator"], Threshold=5.0,
    )
    checked = _setup(moto_endpoint, env, "--check", "--sns-topic", f"etl3-{env}-alarms")
    assert checked.returncode == 1
    assert f"alarm ETL3-{env}-LowProcessingRate" in checked.stdout and "configured differently" in checked.stdout
