"""Configuration that comes from the environment, with the documented defaults."""

from __future__ import annotations

import os

import dagster as dg

DEFAULTS = {
    "ETL1_ROOT": "data/etl1",
    # the seed's S3_BUCKET: the warehouse at the bucket's root unless WAREHOUSE_ROOT is set
    "WAREHOUSE_ROOT": f"s3://{os.environ['S3_BUCKET']}" if os.getenv("S3_BUCKET") else "warehouse",
    "S3_REGION": None,  # None: boto3's resolution (AWS_REGION, profile), else us-east-1
    "CHUNK_SIZE": "250000",
    "MEMORY_LIMIT_MB": "1024",
    "MAX_ROWS_PER_FILE": "1000000",
    "MAX_WORKERS": str(os.cpu_count() or 2),
}


def env_setting(name: str) -> str | dg.EnvVar:
    """An ``EnvVar`` when the variable is set (so the UI shows where the value came
    from), else the documented default."""
    return dg.EnvVar(name) if os.getenv(name) else DEFAULTS[name]


def env_int_setting(name: str) -> int | dg.EnvVar:
    return dg.EnvVar.int(name) if os.getenv(name) else int(DEFAULTS[name])


SENSOR_STATES = ("running", "stopped")


def etl1_sensor_running() -> bool:
    """``ETL3_SENSOR``: whether the ETL1 sensor starts running when a Dagster instance first
    loads the code (default ``running``). Running is the deliberate default: ETL1 rewrites
    its files in place, and the sensor is what keeps the warehouse equal to them; on its
    first evaluation it requests every ETL1 month (it has no cursor yet), so opening the UI
    over demo data rebuilds the demo months once. ``stopped`` leaves it to be started in the
    UI (Automation). Once toggled in the UI, the instance's choice wins over this default."""
    value = os.getenv("ETL3_SENSOR", "running").strip().lower()
    if value not in SENSOR_STATES:
        raise ValueError(f"ETL3_SENSOR must be one of {', '.join(SENSOR_STATES)}, got {value!r}")
    return value == "running"
