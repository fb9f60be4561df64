"""Every setting that comes from the environment, with its documented default: the only
module that reads environment variables (the CLI's flags set them too).

``Settings.from_env()`` reads them once; the Dagster resources (``defs/resources.py``
``build_resources``), the CLI, the tests and the benchmarks all build from a ``Settings``,
so every entry point wires the project the same way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from typing import Any

from etl3_assets.lib.storage.roots import Root


@dataclass(frozen=True)
class Variable:
    """One environment variable: the ``Settings`` field it sets and how it is parsed."""

    name: str
    field: str
    parse: Callable[[str], Any]
    doc: str


def _cpu_count() -> int:
    return os.cpu_count() or 2


@dataclass(frozen=True)
class Settings:
    etl1_root: str = "data/etl1"
    etl1_raw_root: str = "data/raw"
    warehouse_root: str = "warehouse"
    s3_region: str | None = None
    chunk_size: int = 250_000
    memory_limit_mb: int = 1024
    max_rows_per_file: int = 1_000_000
    max_workers: int = field(default_factory=_cpu_count)
    upload_threads: int = 8
    s3_retry_mode: str = "adaptive"
    s3_max_attempts: int = 5
    glue_threads: int = 4
    first_month: str = "2024-01"
    sensor_interval_seconds: int = 60
    executor: str = "multiprocess"
    month_lock_lease_seconds: float = 120.0
    month_lock_wait_seconds: float = 600.0
    etl1_sensor: str = "running"
    iceberg_catalog: str = "auto"
    iceberg_sqlite_path: str | None = None
    iceberg_target_file_mb: int = 256
    iceberg_snapshot_retention_hours: float = 168.0
    step_retries: int = 3
    step_retry_delay_seconds: float = 30.0
    cloudwatch_namespace: str | None = None
    environment: str = "dev"
    cloudwatch_deadline_seconds: float = 10.0
    alert_sns_topic_arn: str | None = None
    alert_email_to: tuple[str, ...] = ()
    alert_email_from: str = "etl3@localhost"
    alert_smtp_host: str | None = None
    alert_smtp_port: int = 25
    alert_smtp_starttls: bool = False
    alert_smtp_user: str | None = None
    alert_smtp_password: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Defaults, overridden by every variable that is set and not empty.

        ``S3_BUCKET`` (the seed's name) puts the warehouse at the bucket's root when
        ``WAREHOUSE_ROOT`` is not set; ``MAX_WORKERS`` defaults to the CPU count. A root
        that is not ``s3://bucket[/prefix]`` nor a plain folder path raises ``RootError``
        naming its variable, before anything runs.
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        if environ.get("S3_BUCKET"):
            values["warehouse_root"] = f"s3://{environ['S3_BUCKET']}"
        for variable in VARIABLES:
            raw = environ.get(variable.name)
            if raw:
                try:
                    values[variable.field] = variable.parse(raw)
                except ValueError as error:
                    raise ValueError(f"{variable.name}={raw!r}: {error}") from None
        settings = cls(**values)
        Root.parse(settings.etl1_root, "ETL1_ROOT")
        Root.parse(settings.etl1_raw_root, "ETL1_RAW_ROOT")
        Root.parse(settings.warehouse_root, "WAREHOUSE_ROOT" if environ.get("WAREHOUSE_ROOT") else "S3_BUCKET")
        return settings

    def with_values(self, **changes: Any) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @classmethod
    def field_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))


def _seconds(raw: str) -> float:
    value = float(raw)
    if value < 0:
        raise ValueError("expected seconds, 0 or more")
    return value


SENSOR_STATES = ("running", "stopped")
RETRY_MODES = ("standard", "adaptive", "legacy")
ICEBERG_CATALOGS = ("auto", "glue", "sqlite")


def _one_of(choices: tuple[str, ...]) -> Callable[[str], str]:
    """A parser of a value among ``choices`` (case and surrounding spaces ignored)."""

    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return value

    return parse


_retry_mode = _one_of(RETRY_MODES)
_iceberg_catalog = _one_of(ICEBERG_CATALOGS)
_sensor_state = _one_of(SENSOR_STATES)


def _addresses(raw: str) -> tuple[str, ...]:
    addresses = tuple(a.strip() for a in raw.split(",") if a.strip())
    if not all("@" in a for a in addresses):
        raise ValueError("expected comma-separated email addresses")
    return addresses


def _switch(raw: str) -> bool:
    value = raw.strip().lower()
    if value not in ("1", "true", "yes", "on", "0", "false", "no", "off"):
        raise ValueError("expected true or false")
    return value in ("1", "true", "yes", "on")


def _environment(raw: str) -> str:
    value = raw.strip()
    if not value.replace("-", "").replace("_", "").isalnum():
        raise ValueError("expected letters, digits, '-' and '_' (it names alarms and the dashboard)")
    return value


def _whole_number(raw: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError("expected a whole number, 0 or more")
    return value


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value <= 0:
        raise ValueError("expected a positive whole number")
    return value


VARIABLES: tuple[Variable, ...] = (
    Variable("ETL1_ROOT", "etl1_root", str, "ETL1's output: a local folder or s3://bucket/prefix"),
    Variable(
        "ETL1_RAW_ROOT", "etl1_raw_root", str,
        "where payers' raw extracts land (<YYYYMM>_<payer>_<state>_rates/_providers.parquet): a folder or s3://bucket/prefix",
    ),
    Variable("WAREHOUSE_ROOT", "warehouse_root", str, "the warehouse: a local folder or s3://bucket/prefix"),
    Variable("S3_REGION", "s3_region", str, "AWS region (default: boto3's resolution, else us-east-1)"),
    Variable("CHUNK_SIZE", "chunk_size", _positive_int, "rows per slice read by the writer and the checks"),
    Variable("MEMORY_LIMIT_MB", "memory_limit_mb", _positive_int, "memory budget of a month's write and checks"),
    Variable("MAX_ROWS_PER_FILE", "max_rows_per_file", _positive_int, "rows above which a partition is split"),
    Variable("MAX_WORKERS", "max_workers", _positive_int, "partition-writing processes (default: CPU count)"),
    Variable("UPLOAD_THREADS", "upload_threads", _positive_int, "S3 uploads in flight per writing process"),
    Variable("GLUE_THREADS", "glue_threads", _positive_int, "Glue partition calls in flight"),
    Variable(
        "S3_RETRY_MODE", "s3_retry_mode", _retry_mode,
        "boto3's retry mode for S3 and Glue: adaptive (standard, plus client-side slowing on throttling), standard or legacy",
    ),
    Variable(
        "S3_MAX_ATTEMPTS", "s3_max_attempts", _positive_int,
        "attempts per S3/Glue request, the first included; an outage longer than their backoff fails the month",
    ),
    Variable("ETL3_FIRST_MONTH", "first_month", str, "first monthly partition (YYYY-MM)"),
    Variable(
        "ETL3_SENSOR_INTERVAL_SECONDS", "sensor_interval_seconds", _positive_int, "seconds between ETL1 sensor ticks"
    ),
    Variable("ETL3_EXECUTOR", "executor", str, "where steps run: multiprocess, in_process or k8s"),
    Variable(
        "MONTH_LOCK_LEASE_SECONDS", "month_lock_lease_seconds", _seconds,
        "lease of a month's writer; a killed writer blocks the month this long at most",
    ),
    Variable(
        "ICEBERG_CATALOG", "iceberg_catalog", _iceberg_catalog,
        "the Iceberg table's catalog: glue, sqlite, or auto (Glue for an S3 warehouse, else SQLite)",
    ),
    Variable(
        "ICEBERG_SQLITE_PATH", "iceberg_sqlite_path", str,
        "a local SQLite catalog file (default: <warehouse>/iceberg/catalog.db for a local warehouse)",
    ),
    Variable("ICEBERG_TARGET_FILE_MB", "iceberg_target_file_mb", _positive_int, "size the Iceberg data files aim at"),
    Variable(
        "ICEBERG_SNAPSHOT_RETENTION_HOURS", "iceberg_snapshot_retention_hours", _seconds,
        "how long replaced Iceberg snapshots stay readable (longer than the longest query)",
    ),
    Variable(
        "ETL3_SENSOR", "etl1_sensor", _sensor_state,
        "whether the ETL1 sensor starts running when an instance first loads the code (running, stopped)",
    ),
    Variable(
        "MONTH_LOCK_WAIT_SECONDS", "month_lock_wait_seconds", _seconds,
        "how long a run waits for another run writing the same month; 0 fails at once",
    ),
    Variable(
        "STEP_RETRIES", "step_retries", _whole_number,
        "retries of a step that failed on S3, Glue or CloudWatch being unreachable or overloaded; 0: none",
    ),
    Variable(
        "STEP_RETRY_DELAY_SECONDS", "step_retry_delay_seconds", _seconds,
        "wait before the first such retry (exponential backoff after it, with jitter)",
    ),
    Variable(
        "CLOUDWATCH_NAMESPACE", "cloudwatch_namespace", str,
        "CloudWatch namespace to publish metrics to (e.g. HealthcareDataLake/ETL3); unset: publish nothing",
    ),
    Variable(
        "ETL3_ENVIRONMENT", "environment", _environment,
        "the Environment dimension of every metric and alarm, and part of the alarms' and dashboard's names",
    ),
    Variable(
        "CLOUDWATCH_DEADLINE_SECONDS", "cloudwatch_deadline_seconds", _seconds,
        "longest a run waits for its metrics to be published before going on with a warning",
    ),
    Variable("ALERT_SNS_TOPIC_ARN", "alert_sns_topic_arn", str, "SNS topic of failure alerts and alarm actions"),
    Variable("ALERT_EMAIL_TO", "alert_email_to", _addresses, "comma-separated recipients of failure alerts by email"),
    Variable("ALERT_EMAIL_FROM", "alert_email_from", str, "sender of failure alert emails"),
    Variable("ALERT_SMTP_HOST", "alert_smtp_host", str, "SMTP server of failure alert emails (email is off unset)"),
    Variable("ALERT_SMTP_PORT", "alert_smtp_port", _positive_int, "its port"),
    Variable("ALERT_SMTP_STARTTLS", "alert_smtp_starttls", _switch, "upgrade the SMTP connection with STARTTLS"),
    Variable("ALERT_SMTP_USER", "alert_smtp_user", str, "SMTP login (optional)"),
    Variable("ALERT_SMTP_PASSWORD", "alert_smtp_password", str, "SMTP password (optional)"),
)


@lru_cache(maxsize=1)
def current_settings() -> Settings:
    """The process's settings, read from the environment once (definitions load time)."""
    return Settings.from_env()
