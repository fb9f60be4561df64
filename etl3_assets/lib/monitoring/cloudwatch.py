"""The project's CloudWatch metrics: what is published, on which dimensions, and the
publisher that sends them without ever holding up or failing a month.

The dimensions are written here once and used by the publisher, the alarms and the
dashboard (``lib/monitoring/alarms.py``) alike: every series carries ``Environment`` and
``Asset``; the metrics that describe one month's data (``MONTH_SERIES``) are published a
second time with ``Month`` too, so that a month can be plotted on its own. (In the system
this replaces, the alarms watched a dimension the metrics never carried.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Protocol

ENVIRONMENT = "Environment"
ASSET = "Asset"
MONTH = "Month"
DIMENSIONS = (ENVIRONMENT, ASSET)


@dataclass(frozen=True)
class Metric:
    name: str
    unit: str
    description: str


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("ChunkInputRows", "Count", "rows read from the staged month (or the ETL1 batch)"),
        Metric("ChunkOutputRows", "Count", "rows written"),
        Metric("ChunkProcessingRate", "Count/Second", "rows written per second of the write"),
        Metric("PartitionsCreated", "Count", "partition folders written by the run"),
        Metric("DataQualityScore", "None", "the month's data-quality score, 0-100 (README: Quality checks)"),
        Metric("MemoryUsage", "Percent", "peak RSS of the run's process tree, in % of its memory budget"),
        Metric("MemoryPeakRSS", "Megabytes", "peak RSS of the run's process tree"),
        Metric("S3Requests", "Count", "S3 requests made by the run"),
        Metric("PartitionCount", "Count", "partitions of the month in the output"),
        Metric("DataSize", "Bytes", "bytes of the month in the output"),
        Metric("ErrorCount", "Count", "failed runs, per asset whose step failed (0 published on success)"),
    )
}
MONTH_SERIES = frozenset({"ChunkOutputRows", "PartitionCount", "DataSize"})
"""Metrics also published per month (``Month`` dimension): what the month holds."""

MAX_DATUMS_PER_CALL = 1000  # PutMetricData's limit per request
CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS = 2.0, 5.0


def dimensions(environment: str, asset: str, month: str | None = None) -> list[dict[str, str]]:
    """A series' dimensions, in the one order the publisher, alarms and dashboard use."""
    values = [{"Name": ENVIRONMENT, "Value": environment}, {"Name": ASSET, "Value": asset}]
    return values + ([{"Name": MONTH, "Value": month}] if month else [])


def datums(
    environment: str, asset: str, values: Mapping[str, float], *, month: str | None = None,
    timestamp: datetime | None = None,
) -> list[dict[str, Any]]:
    """PutMetricData entries of ``values`` (metric name -> value): each on the asset's
    series, and the ``MONTH_SERIES`` ones on the month's series too."""
    unknown = set(values) - set(METRICS)
    if unknown:
        raise ValueError(f"unknown CloudWatch metrics {sorted(unknown)}: expected some of {sorted(METRICS)}")
    at = timestamp or datetime.now(timezone.utc)
    out = []
    for name, value in values.items():
        series = [dimensions(environment, asset)]
        if month and name in MONTH_SERIES:
            series.append(dimensions(environment, asset, month))
        for dims in series:
            out.append(
                {"MetricName": name, "Dimensions": dims, "Value": float(value), "Unit": METRICS[name].unit, "Timestamp": at}
            )
    return out


@dataclass
class PublishOutcome:
    """What a publish did: datums sent, PutMetricData calls, seconds, and the warning if any."""

    datums: int = 0
    calls: int = 0
    seconds: float = 0.0
    warning: str | None = None
    series: list[tuple[str, tuple[tuple[str, str], ...]]] = field(default_factory=list)


class CloudWatchPublisher:
    """Sends metrics in batched PutMetricData calls.

    ``client`` makes the CloudWatch client (boto3's retries, short timeouts: see
    ``S3Connection.client(timeouts=…)``). ``publish`` never raises: the calls run in a
    helper thread that the caller waits for at most ``deadline_seconds``; an error, or a
    deadline passed, becomes one call of ``warn`` and the caller goes on.
    """

    def __init__(
        self, client: Callable[[], Any], namespace: str, environment: str, *, deadline_seconds: float = 10.0
    ):
        self.client = client
        self.namespace = namespace
        self.environment = environment
        self.deadline_seconds = deadline_seconds

    def publish(
        self, asset: str, values: Mapping[str, float], *, month: str | None = None,
        warn: Callable[[str], None] = lambda _m: None,
    ) -> PublishOutcome:
        started = time.monotonic()
        try:
            data = datums(self.environment, asset, values, month=month)
        except ValueError as error:  # a programming error, but monitoring must not fail the month
            warn(f"CloudWatch: nothing published: {error}")
            return PublishOutcome(warning=str(error))
        outcome = PublishOutcome(
            datums=len(data),
            series=[(d["MetricName"], tuple((x["Name"], x["Value"]) for x in d["Dimensions"])) for d in data],
        )
        errors: list[BaseException] = []

        def send() -> None:
            try:
                client = self.client()
                for start in range(0, len(data), MAX_DATUMS_PER_CALL):
                    client.put_metric_data(Namespace=self.namespace, MetricData=data[start : start + MAX_DATUMS_PER_CALL])
                    outcome.calls += 1
            except Exception as error:  # noqa: BLE001 - any failure is a warning, never the month's
                errors.append(error)

        sender = threading.Thread(target=send, name="etl3-cloudwatch", daemon=True)
        sender.start()
        sender.join(self.deadline_seconds)
        outcome.seconds = round(time.monotonic() - started, 3)
        where = f"namespace {self.namespace!r}, asset {asset}" + (f", month {month}" if month else "")
        if sender.is_alive():
            outcome.warning = (
                f"CloudWatch: publishing {len(data)} metrics ({where}) did not finish within "
                f"{self.deadline_seconds:g} s; carrying on without them"
            )
        elif errors:
            outcome.warning = (
                f"CloudWatch: could not publish {len(data)} metrics ({where}): "
                f"{type(errors[0]).__name__}: {errors[0]}; the run goes on without them"
            )
        if outcome.warning:
            warn(outcome.warning)
        return outcome


class WriteFigures(Protocol):
    """What both month writers' results have (``MonthWriteResult``, ``IcebergWriteResult``)."""

    input_rows: int
    rows: int
    bytes: int
    peak_rss_bytes: int
    budget_bytes: int


def memory_values(peak_rss_bytes: int, budget_bytes: int) -> dict[str, float]:
    """The run's peak RSS, as a share of its budget (the memory alarm's metric) and in MiB."""
    return {
        "MemoryUsage": round(100 * peak_rss_bytes / budget_bytes, 1) if budget_bytes else 0.0,
        "MemoryPeakRSS": round(peak_rss_bytes / 2**20, 1),
    }


def month_write_values(
    result: WriteFigures,
    rows_per_second: float,
    *,
    partitions: int | None = None,
    s3_requests: int | None = None,
    quality_score: float | None = None,
) -> dict[str, float]:
    """The metrics of one output's month write (those an output does not have are left
    out: the Iceberg table has no partition folders)."""
    values: dict[str, float] = {
        "ChunkInputRows": result.input_rows,
        "ChunkOutputRows": result.rows,
        "ChunkProcessingRate": rows_per_second,
        **memory_values(result.peak_rss_bytes, result.budget_bytes),
        "DataSize": result.bytes,
        "ErrorCount": 0,
    }
    if partitions is not None:
        values["PartitionsCreated"] = values["PartitionCount"] = partitions
    if s3_requests is not None:
        values["S3Requests"] = s3_requests
    if quality_score is not None:
        values["DataQualityScore"] = quality_score
    return values


class BatchFigures(Protocol):
    """What an ETL1 batch's result has (``lib/etl1/writer.BatchResult``)."""

    input_rows: int
    gained: dict[str, int]
    seconds: float
    peak_rss_bytes: int


def batch_values(result: BatchFigures, budget_bytes: int) -> dict[str, float]:
    """The metrics of one ETL1 batch applied: rate rows read, fact rows gained, the rate."""
    return {
        "ChunkInputRows": result.input_rows,
        "ChunkOutputRows": result.gained.get("fact_rate", 0),
        "ChunkProcessingRate": round(result.input_rows / result.seconds, 1) if result.seconds else 0.0,
        **memory_values(result.peak_rss_bytes, budget_bytes),
        "ErrorCount": 0,
    }


def series_names(outcome_series: Sequence[tuple[str, tuple[tuple[str, str], ...]]]) -> list[str]:
    """``Metric{Dim=Value,…}`` strings, for logs and the measured figures."""
    return [f"{name}{{{','.join(f'{k}={v}' for k, v in dims)}}}" for name, dims in outcome_series]
