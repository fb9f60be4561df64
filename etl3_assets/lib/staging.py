"""Where staged months are kept: one parquet file per run under ``_etl3/staging/``.

The staged month is what a run's warehouse outputs are written from, and what its checks
judge; the staging IO manager stores and loads it, the checks find the same file here.
"""

from __future__ import annotations

from collections.abc import Sequence

from etl3_assets.lib.storage import WarehouseStorage

STAGING_PREFIX = "_etl3/staging"
STAGED_RETENTION_SECONDS = 24 * 3600
"""Staged files of earlier runs are kept this long (a run's later steps, or a re-execution
of them, read their own run's file), then removed by the next staging of the month."""


def staged_key(asset: str, year_month: str, run_id: str, staged_at: float) -> str:
    """One staged file per run, named by when it was staged: two runs of a month never
    read each other's file (the month lock serializes each step, not a run's staging and
    its writes), and the newest is found by name."""
    return f"{month_staging_prefix(asset, year_month)}{int(staged_at):011d}-{run_id}.parquet"


def month_staging_prefix(asset: str, year_month: str) -> str:
    return f"{STAGING_PREFIX}/{asset}/{year_month}/"


def staged_at(key: str) -> int:
    return int(key.rsplit("/", 1)[-1].split("-", 1)[0])


def find_staged(storage: WarehouseStorage, asset: str, year_month: str, run_ids: Sequence[str]) -> str | None:
    """The staged file of the first of ``run_ids`` that staged the month; else, for a run
    that did not stage it, the month's newest staged file; None if there is none."""
    keys = sorted(k for k, _ in storage.list(month_staging_prefix(asset, year_month)))
    for run_id in run_ids:
        own = [k for k in keys if k.endswith(f"-{run_id}.parquet")]
        if own:
            return own[-1]
    return keys[-1] if keys else None


def expired_staged(storage: WarehouseStorage, asset: str, year_month: str, keep: str, now: float) -> list[str]:
    """The month's staged files older than the retention, except ``keep``."""
    return [
        k for k, _ in storage.list(month_staging_prefix(asset, year_month))
        if k != keep and now - staged_at(k) > STAGED_RETENTION_SECONDS
    ]
