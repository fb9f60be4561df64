"""The monthly partitions every month-shaped asset, check and job shares."""

from datetime import timedelta

import dagster as dg

from etl3_assets.lib.settings import current_settings

monthly_partitions = dg.MonthlyPartitionsDefinition(
    start_date=current_settings().first_month,
    fmt="%Y-%m",
    end_offset=1,
)

MONTH_BACKFILL_POLICY = None
"""Deliberately no ``BackfillPolicy``: a backfill then launches one run per month (months
fail, retry and run in parallel independently), tagged ``dagster/partition`` like the
sensor's and the command line's runs, so dagster.yaml's one-run-per-month limit covers
them all. Any ``BackfillPolicy``, even ``multi_run(1)``, tags its runs with a partition
range instead, which that limit cannot key on."""

MONTHLY_OUTPUT_FRESHNESS = dg.FreshnessPolicy.time_window(fail_window=timedelta(days=35), warn_window=timedelta(days=32))
"""The monthly outputs are stale when no month was written for 32 days (warn) or 35 days
(fail): ETL1 brings a month a month, and the ETL1 sensor rebuilds what it changes."""
