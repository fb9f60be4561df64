import dagster as dg

from etl3_assets.defs.warehouse.assets import fact_rate_enriched, staged_enriched_month
from etl3_assets.defs.warehouse.checks import warehouse_month_checks
from etl3_assets.defs.warehouse.jobs import dry_run_month_job, validate_month_job, warehouse_month_job
from etl3_assets.defs.warehouse.sensors import report_failed_month

defs = dg.Definitions(
    assets=[staged_enriched_month, fact_rate_enriched],
    asset_checks=[warehouse_month_checks(fact_rate_enriched)],
    jobs=[warehouse_month_job, validate_month_job, dry_run_month_job],
    sensors=[report_failed_month],
)
