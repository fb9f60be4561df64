"""The publisher against CloudWatch on the loopback moto server: a month's metrics in one
PutMetricData call, every datum on the documented dimensions; and an endpoint that
accepts connections but never answers costs the caller its deadline, then a warning."""

from __future__ import annotations

import socket
import time

import pytest

from etl3_assets.lib.monitoring.cloudwatch import METRICS, MONTH_SERIES, CloudWatchPublisher, datums
from etl3_assets_tests.support.monitoring import NAMESPACE, aws_client, published_series, unique_environment


def test_datums_carry_environment_and_asset_and_the_month_series_month_too():
    data = datums("prod", "fact_rate_enriched", {"DataSize": 5, "MemoryUsage": 50.0}, month="2025-08")
    assert [(d["MetricName"], [x["Name"] for x in d["Dimensions"]]) for d in data] == [
        ("DataSize", ["Environment", "Asset"]),
        ("DataSize", ["Environment", "Asset", "Month"]),
        ("MemoryUsage", ["Environment", "Asset"]),
    ]
    assert {d["Unit"] for d in data} == {"Bytes", "Percent"}
    with pytest.raises(ValueError, match="unknown CloudWatch metrics"):
        datums("prod", "a", {"NotAMetric": 1})


def test_one_month_is_one_put_metric_data_call_and_reads_back(moto_endpoint):
    env = unique_environment()
    publisher = CloudWatchPublisher(lambda: aws_client(moto_endpoint, "cloudwatch"), NAMESPACE, env)
    warnings = []
    outcome = publisher.publish("fact_rate_enriched", {m: 1 for m in METRICS}, month="2025-08", warn=warnings.append)
    assert not warnings and outcome.calls == 1 and outcome.datums == len(METRICS) + len(MONTH_SERIES)
    assert published_series(aws_client(moto_endpoint, "cloudwatch"), env) == set(outcome.series)


def test_a_silent_endpoint_costs_the_deadline_then_a_warning():
    with socket.socket() as silent:  # accepts connections (backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        publisher = CloudWatchPublisher(
            lambda: aws_client(endpoint, "cloudwatch"), NAMESPACE, "test", deadline_seconds=1.0
        )
        warnings = []
        started = time.monotonic()
        outcome = publisher.publish("fact_rate_enriched", {"ErrorCount": 1}, warn=warnings.append)
        elapsed = time.monotonic() - started
    assert 1.0 <= elapsed < 2.0
    assert warnings == [outcome.warning] and "did not finish within 1 s" in outcome.warning
