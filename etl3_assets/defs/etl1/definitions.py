import dagster as dg

from etl3_assets.defs.etl1.assets import ETL1_TABLE_SPECS, etl1_batch_job, etl1_tables, raw_batch
from etl3_assets.defs.etl1.batch_sensor import etl1_batch_sensor
from etl3_assets.defs.etl1.sensors import etl1_sensor

defs = dg.Definitions(
    assets=[raw_batch, *etl1_tables, *ETL1_TABLE_SPECS],
    jobs=[etl1_batch_job],
    sensors=[etl1_sensor, etl1_batch_sensor],
)
