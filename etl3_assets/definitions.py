import dagster as dg

from etl3_assets.defs.warehouse.assets import enriched_fact_rate, etl1_tables, fact_rate_enriched, fact_rate_enriched_glue_partitions
from etl3_assets.defs.executors import run_executor
from etl3_assets.defs.warehouse.io_managers import EnrichedStagingIOManager, PartitionedWarehouseIOManager
from etl3_assets.defs.warehouse.jobs import warehouse_month_job
from etl3_assets.defs.warehouse.modes import dry_run_month_job, validate_month_job
from etl3_assets.defs.warehouse.checks import warehouse_month_checks
from etl3_assets.defs.resources import Etl1Resource, Etl3S3Resource, GlueCatalogResource
from etl3_assets.defs.sensors import etl1_sensor, report_failed_month
from etl3_assets.lib.settings import env_int_setting, env_root_setting, env_setting

s3 = Etl3S3Resource(region_name=env_setting("S3_REGION"))

defs = dg.Definitions(
    assets=[*etl1_tables, enriched_fact_rate, fact_rate_enriched, fact_rate_enriched_glue_partitions],
    asset_checks=[warehouse_month_checks(fact_rate_enriched)],
    jobs=[warehouse_month_job, validate_month_job, dry_run_month_job],
    sensors=[etl1_sensor, report_failed_month],
    executor=run_executor(),
    resources={
        "s3": s3,
        "etl1": Etl1Resource(root=env_root_setting("ETL1_ROOT"), s3=s3),
        "staging_io_manager": EnrichedStagingIOManager(warehouse_root=env_root_setting("WAREHOUSE_ROOT"), s3=s3),
        "glue": GlueCatalogResource(
            warehouse_root=env_root_setting("WAREHOUSE_ROOT"), max_workers=env_int_setting("MAX_WORKERS"), s3=s3
        ),
        "warehouse_io_manager": PartitionedWarehouseIOManager(
            warehouse_root=env_root_setting("WAREHOUSE_ROOT"),
            chunk_size=env_int_setting("CHUNK_SIZE"),
            memory_limit_mb=env_int_setting("MEMORY_LIMIT_MB"),
            max_rows_per_file=env_int_setting("MAX_ROWS_PER_FILE"),
            max_workers=env_int_setting("MAX_WORKERS"),
            s3=s3,
        ),
    },
)
