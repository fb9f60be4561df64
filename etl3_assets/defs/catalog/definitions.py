import dagster as dg

from etl3_assets.defs.catalog.assets import fact_rate_enriched_glue_partitions

defs = dg.Definitions(assets=[fact_rate_enriched_glue_partitions])
