"""Configuration that comes from the environment, with the documented defaults."""

from __future__ import annotations

import os

import dagster as dg

from etl3_assets.lib.storage.roots import Root

DEFAULTS = {
    "ETL1_ROOT": "data/etl1",
    # the seed's S3_BUCKET: the warehouse at the bucket's root unless WAREHOUSE_ROOT is set
    "WAREHOUSE_ROOT": f"s3://{os.environ['S3_BUCKET']}" if os.getenv("S3_BUCKET") else "warehouse",
    "S3_REGION": None,  # None: boto3's resolution (AWS_REGION, profile), else us-east-1
    "CHUNK_SIZE": "250000",
    "MEMORY_LIMIT_MB": "1024",
    "MAX_ROWS_PER_FILE": "1000000",
    "MAX_WORKERS": str(os.cpu_count() or 2),
    # one writer per month (lib/storage/lock.py): a holder renews its lease every quarter
    # lease; a holder that died stops blocking the month one lease after its last renewal
    "MONTH_LOCK_LEASE_SECONDS": "120",
    # how long a run waits for another run's lease on the same month before it fails
    # naming that run; 0 fails at once
    "MONTH_LOCK_WAIT_SECONDS": "600",
}


def env_setting(name: str) -> str | dg.EnvVar:
    """An ``EnvVar`` when the variable is set (so the UI shows where the value came
    from), else the documented default."""
    return dg.EnvVar(name) if os.getenv(name) else DEFAULTS[name]


def root_setting(name: str) -> Root:
    """The root in variable ``name`` (``ETL1_ROOT``, ``WAREHOUSE_ROOT``) or its default,
    parsed: a mistyped root raises ``RootError`` naming the variable before anything runs."""
    return Root.parse(os.getenv(name) or DEFAULTS[name], name)


def env_root_setting(name: str) -> str | dg.EnvVar:
    """``env_setting`` for a root, refused at load time when it is not a valid root."""
    root_setting(name)
    return env_setting(name)


def env_int_setting(name: str) -> int | dg.EnvVar:
    return dg.EnvVar.int(name) if os.getenv(name) else int(DEFAULTS[name])


def month_lock_settings() -> tuple[float, float]:
    """(lease, wait) seconds of the month lock, read when a lock is taken, so each process
    (a CLI run, a Dagster step) follows its own environment."""
    return tuple(
        float(os.getenv(name) or DEFAULTS[name]) for name in ("MONTH_LOCK_LEASE_SECONDS", "MONTH_LOCK_WAIT_SECONDS")
    )
