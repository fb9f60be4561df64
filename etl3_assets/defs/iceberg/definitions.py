import dagster as dg

from etl3_assets.defs.iceberg.assets import fact_rate_enriched_iceberg

defs = dg.Definitions(assets=[fact_rate_enriched_iceberg])
