"""The seed's three CloudWatch alarms and its dashboard as code, created or verified
idempotently by ``etl3 setup-monitoring``.

Every alarm and widget names its series with ``cloudwatch.dimensions``, the function the
publisher uses, so an alarm watches exactly what is published. Publishing happens once per
month write, not continuously, so the alarms treat missing data as not breaching.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from etl3_assets.lib.contract import ICEBERG_ASSET, WAREHOUSE_ASSET
from etl3_assets.lib.monitoring.cloudwatch import dimensions
from etl3_assets.lib.storage.bucket_setup import SettingStatus

PERIOD_SECONDS = 300
RUN_ASSET = "run"
"""``Asset`` of an ``ErrorCount`` for a run that failed before any asset's step did."""
MEMORY_OUTPUTS = (WAREHOUSE_ASSET, ICEBERG_ASSET)


@dataclass(frozen=True)
class AlarmSpec:
    """One alarm: ``metric`` with ``statistic`` on the series of ``assets``; several
    assets are combined by the metric-math function ``combine`` (SUM, MAX, …)."""

    key: str
    metric: str
    statistic: str
    comparison: str
    threshold: float
    evaluation_periods: int
    datapoints_to_alarm: int
    assets: tuple[str, ...]
    combine: str
    description: str

    def name(self, environment: str) -> str:
        return f"ETL3-{environment}-{self.key}"


def alarm_specs(error_assets: Sequence[str]) -> list[AlarmSpec]:
    """The seed's alarms: more than 10 errors, under 100 rows/s, memory above 80 %."""
    return [
        AlarmSpec(
            "HighErrorCount", "ErrorCount", "Sum", "GreaterThanThreshold", 10, 1, 1,
            (*error_assets, RUN_ASSET), "SUM",
            "More than 10 failed runs in 5 minutes (ErrorCount summed over the assets): see README, Operations.",
        ),
        AlarmSpec(
            "LowProcessingRate", "ChunkProcessingRate", "Average", "LessThanThreshold", 100, 2, 1,
            (WAREHOUSE_ASSET,), "MIN",
            "A month was written at under 100 rows/s: see README, Operations.",
        ),
        AlarmSpec(
            "HighMemoryUsage", "MemoryUsage", "Maximum", "GreaterThanThreshold", 80, 1, 1,
            MEMORY_OUTPUTS, "MAX",
            "A month's write used over 80 % of its memory budget (MEMORY_LIMIT_MB): see README, Operations.",
        ),
    ]


def alarm_request(
    spec: AlarmSpec, namespace: str, environment: str, actions: Sequence[str] = ()
) -> dict[str, Any]:
    """The PutMetricAlarm request of ``spec``: a plain metric alarm for one asset, a
    metric-math alarm over the assets' series for several."""
    request: dict[str, Any] = {
        "AlarmName": spec.name(environment),
        "AlarmDescription": spec.description,
        "ActionsEnabled": True,
        "AlarmActions": list(actions),
        "ComparisonOperator": spec.comparison,
        "Threshold": float(spec.threshold),
        "EvaluationPeriods": spec.evaluation_periods,
        "DatapointsToAlarm": spec.datapoints_to_alarm,
        "TreatMissingData": "notBreaching",
    }
    if len(spec.assets) == 1:
        return {
            **request,
            "Namespace": namespace,
            "MetricName": spec.metric,
            "Dimensions": dimensions(environment, spec.assets[0]),
            "Statistic": spec.statistic,
            "Period": PERIOD_SECONDS,
        }
    queries = [
        {
            "Id": f"m{i}",
            "MetricStat": {
                "Metric": {"Namespace": namespace, "MetricName": spec.metric, "Dimensions": dimensions(environment, asset)},
                "Period": PERIOD_SECONDS,
                "Stat": spec.statistic,
            },
            "ReturnData": False,
        }
        for i, asset in enumerate(spec.assets)
    ]
    expression = {
        "Id": "total",
        "Expression": f"{spec.combine}([{', '.join(q['Id'] for q in queries)}])",
        "Label": f"{spec.metric} ({spec.combine.lower()} over assets)",
        "ReturnData": True,
    }
    return {**request, "Metrics": [*queries, expression]}


def dashboard_body(namespace: str, environment: str, region: str, error_assets: Sequence[str]) -> dict[str, Any]:
    """The seed's four widgets (processing rate, rows, data quality, errors) plus memory
    and S3 requests, each on the published series."""

    def line(metric: str, asset: str) -> list:
        return [namespace, metric, *[v for d in dimensions(environment, asset) for v in (d["Name"], d["Value"])]]

    def widget(index: int, title: str, lines: list[list], stat: str, **extra: Any) -> dict[str, Any]:
        return {
            "type": "metric",
            "x": 12 * (index % 2),
            "y": 6 * (index // 2),
            "width": 12,
            "height": 6,
            "properties": {
                "metrics": lines, "view": "timeSeries", "stacked": False, "region": region,
                "title": title, "period": PERIOD_SECONDS, "stat": stat, **extra,
            },
        }

    outputs = (WAREHOUSE_ASSET, ICEBERG_ASSET)
    return {
        "widgets": [
            widget(0, "Processing rate (rows/s)", [line("ChunkProcessingRate", a) for a in outputs], "Average"),
            widget(
                1, "Rows processed",
                [line(m, a) for a in outputs for m in ("ChunkInputRows", "ChunkOutputRows")], "Sum",
            ),
            widget(2, "Data quality score", [line("DataQualityScore", WAREHOUSE_ASSET)], "Minimum"),
            widget(3, "Errors (failed runs)", [line("ErrorCount", a) for a in (*error_assets, RUN_ASSET)], "Sum"),
            widget(
                4, "Memory (% of budget, peak)", [line("MemoryUsage", a) for a in MEMORY_OUTPUTS], "Maximum",
                annotations={"horizontal": [{"label": "alarm", "value": 80}]},
            ),
            widget(5, "S3 requests", [line("S3Requests", WAREHOUSE_ASSET)], "Sum"),
        ]
    }


def dashboard_name(environment: str) -> str:
    return f"ETL3-{environment}"


# The alarm fields ``alarm_request`` sets, as DescribeAlarms returns them.
_COMPARED = (
    "AlarmDescription", "ActionsEnabled", "AlarmActions", "ComparisonOperator", "Threshold", "EvaluationPeriods",
    "DatapointsToAlarm", "TreatMissingData", "Namespace", "MetricName", "Dimensions", "Statistic", "Period", "Metrics",
)


def _comparable(alarm: dict[str, Any]) -> dict[str, Any]:
    out = {k: alarm.get(k) for k in _COMPARED if alarm.get(k) not in (None, [], "")}
    if "Threshold" in out:
        out["Threshold"] = float(out["Threshold"])
    return json.loads(json.dumps(out, sort_keys=True, default=str))


class MonitoringSetup:
    """Reads each alarm, the dashboard and the topic first and writes only what differs,
    so a second run changes nothing; ``check_only`` reports differences, writes nothing."""

    def __init__(
        self, cloudwatch: Any, sns: Any | None, *, namespace: str, environment: str, region: str,
        error_assets: Sequence[str], topic_name: str | None = None, topic_arn: str | None = None,
        check_only: bool = False,
    ):
        self.cloudwatch, self.sns = cloudwatch, sns
        self.namespace, self.environment, self.region = namespace, environment, region
        self.error_assets = tuple(error_assets)
        self.topic_name, self.topic_arn = topic_name, topic_arn
        self.check_only = check_only

    def run(self) -> list[SettingStatus]:
        results = []
        if self.topic_name:
            results.append(self._topic())
        actions = [self.topic_arn] if self.topic_arn else []
        for spec in alarm_specs(self.error_assets):
            results.append(self._alarm(alarm_request(spec, self.namespace, self.environment, actions)))
        results.append(self._dashboard())
        return results

    def _topic(self) -> SettingStatus:
        """SNS topic ``topic_name`` (CreateTopic is idempotent, so "ok" means it was listed)."""
        setting = f"sns-topic {self.topic_name}"
        existing = [
            t["TopicArn"]
            for page in self.sns.get_paginator("list_topics").paginate()
            for t in page.get("Topics", [])
            if t["TopicArn"].rsplit(":", 1)[-1] == self.topic_name
        ]
        if existing:
            self.topic_arn = existing[0]
            return SettingStatus(setting, "ok", self.topic_arn)
        if self.check_only:
            return SettingStatus(setting, "differs", "missing")
        self.topic_arn = self.sns.create_topic(Name=self.topic_name)["TopicArn"]
        return SettingStatus(setting, "applied", self.topic_arn)

    def _alarm(self, request: dict[str, Any]) -> SettingStatus:
        name = request["AlarmName"]
        found = self.cloudwatch.describe_alarms(AlarmNames=[name])
        current = (found.get("MetricAlarms") or [None])[0]
        if current is not None and _comparable(current) == _comparable(request):
            return SettingStatus(f"alarm {name}", "ok", _summary(request))
        if self.check_only:
            return SettingStatus(f"alarm {name}", "differs", "missing" if current is None else "configured differently")
        self.cloudwatch.put_metric_alarm(**request)
        return SettingStatus(f"alarm {name}", "applied", _summary(request))

    def _dashboard(self) -> SettingStatus:
        name = dashboard_name(self.environment)
        body = dashboard_body(self.namespace, self.environment, self.region, self.error_assets)
        try:
            current = json.loads(self.cloudwatch.get_dashboard(DashboardName=name)["DashboardBody"])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") not in ("ResourceNotFound", "ResourceNotFoundException"):
                raise
            current = None
        detail = f"{len(body['widgets'])} widgets"
        if current == body:
            return SettingStatus(f"dashboard {name}", "ok", detail)
        if self.check_only:
            return SettingStatus(f"dashboard {name}", "differs", "missing" if current is None else "differs")
        self.cloudwatch.put_dashboard(DashboardName=name, DashboardBody=json.dumps(body))
        return SettingStatus(f"dashboard {name}", "applied", detail)


def _summary(request: dict[str, Any]) -> str:
    metric = request.get("MetricName") or request["Metrics"][0]["MetricStat"]["Metric"]["MetricName"]
    op = {"GreaterThanThreshold": ">", "LessThanThreshold": "<"}[request["ComparisonOperator"]]
    return f"{metric} {op} {request['Threshold']:g}"
