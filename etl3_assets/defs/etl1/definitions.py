import dagster as dg

from etl3_assets.defs.etl1.assets import etl1_tables
from etl3_assets.defs.etl1.sensors import etl1_sensor

defs = dg.Definitions(assets=etl1_tables, sensors=[etl1_sensor])
