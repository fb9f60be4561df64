"""The month job that the ETL1 sensor and command-line backfills launch: one run per month."""

import dagster as dg

warehouse_month_job = dg.define_asset_job(
    "warehouse_month_job",
    selection=dg.AssetSelection.assets("enriched_fact_rate").downstream(),
    description=(
        "Rebuild one month from ETL1: enrich it, replace the month's warehouse files, run the "
        "month's checks, and update everything downstream of it (e.g. the catalog)."
    ),
)
