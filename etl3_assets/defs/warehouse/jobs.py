"""The month jobs: the one the ETL1 sensor and backfills launch (one run per month), and
validate-only and dry-run, the two modes that write nothing.

Both are run config of ``staged_enriched_month`` (``mode``), and each has a job:

* ``validate_month``: the input checks, and the checks of the month already in the
  warehouse; nothing is staged or written.
* ``dry_run_month``: the input checks, then the plan of the month (rows, partitions,
  files, estimated bytes, target) as an observation of ``fact_rate_enriched``.
"""

from __future__ import annotations

from typing import Literal

import dagster as dg

from etl3_assets.lib.contract import STAGED_ASSET, WAREHOUSE_ASSET

MATERIALIZE, VALIDATE_ONLY, DRY_RUN = "materialize", "validate-only", "dry-run"


class MonthRunConfig(dg.Config):
    mode: Literal["materialize", "validate-only", "dry-run"] = MATERIALIZE


class MonthWriteConfig(dg.Config):
    """How ``fact_rate_enriched`` writes the month: by default only the files whose content
    changed (the others are kept untouched); ``full_rewrite`` writes every file."""

    full_rewrite: bool = False


def full_rewrite_run_config() -> dict:
    """The run config asking ``fact_rate_enriched`` for a full rewrite of the month."""
    return {"ops": {WAREHOUSE_ASSET: {"config": {"full_rewrite": True}}}}


def _mode_config(mode: str) -> dict:
    return {"ops": {STAGED_ASSET: {"config": {"mode": mode}}}}


validate_month_job = dg.define_asset_job(
    "validate_month",
    selection=dg.AssetSelection.assets(STAGED_ASSET)
    | dg.AssetSelection.checks_for_assets("fact_rate_enriched"),
    config=_mode_config(VALIDATE_ONLY),
    description="Check a month's ETL1 input and the month already in the warehouse; write nothing.",
)

dry_run_month_job = dg.define_asset_job(
    "dry_run_month",
    selection=dg.AssetSelection.assets(STAGED_ASSET),
    config=_mode_config(DRY_RUN),
    description="Check a month's ETL1 input and plan its warehouse files; write nothing.",
)


def mode_run_config(job_name: str) -> dict:
    """The run config that selects a job's mode (repeat it when passing other run config)."""
    return _mode_config({validate_month_job.name: VALIDATE_ONLY, dry_run_month_job.name: DRY_RUN}[job_name])


warehouse_month_job = dg.define_asset_job(
    "warehouse_month_job",
    selection=dg.AssetSelection.assets(STAGED_ASSET).downstream(),
    description=(
        "Rebuild one month from ETL1: enrich and stage it, replace the month in the warehouse "
        "outputs, run the month's checks, and update everything downstream (e.g. the catalog)."
    ),
)
