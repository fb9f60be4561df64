import dagster as dg

from .assets import enriched_fact_rate, etl1_tables, fact_rate_enriched
from .io_managers import EnrichedStagingIOManager, PartitionedWarehouseIOManager
from .jobs import warehouse_month_job
from .resources import Etl1Resource
from .sensors import etl1_sensor, report_failed_month
from .settings import env_int_setting, env_setting

defs = dg.Definitions(
    assets=[*etl1_tables, enriched_fact_rate, fact_rate_enriched],
    jobs=[warehouse_month_job],
    sensors=[etl1_sensor, report_failed_month],
    resources={
        "etl1": Etl1Resource(root=env_setting("ETL1_ROOT")),
        "staging_io_manager": EnrichedStagingIOManager(warehouse_root=env_setting("WAREHOUSE_ROOT")),
        "warehouse_io_manager": PartitionedWarehouseIOManager(
            warehouse_root=env_setting("WAREHOUSE_ROOT"),
            chunk_size=env_int_setting("CHUNK_SIZE"),
            memory_limit_mb=env_int_setting("MEMORY_LIMIT_MB"),
            max_rows_per_file=env_int_setting("MAX_ROWS_PER_FILE"),
            max_workers=env_int_setting("MAX_WORKERS"),
        ),
    },
)
