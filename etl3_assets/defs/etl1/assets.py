"""ETL1's twelve tables as observable source assets: observing one records its file's
fingerprint as data version, so the UI shows when ETL1 rewrote a table."""

import dagster as dg

from etl3_assets.defs.dagster_features import OBSERVABLE_SOURCE_ASSET, relying_on
from etl3_assets.defs.etl1.resources import Etl1Resource
from etl3_assets.lib.contract import ETL1_TABLES, Etl1Table

ETL1_GROUP = "etl1"


def etl1_table_asset(table: Etl1Table) -> dg.SourceAsset:
    def _observe(etl1: Etl1Resource) -> dg.DataVersion:
        fingerprint = etl1.source().fingerprints([table])[table.name]
        return dg.DataVersion(fingerprint or "missing")

    with relying_on(OBSERVABLE_SOURCE_ASSET):
        return dg.observable_source_asset(
            name=table.name,
            group_name=ETL1_GROUP,
            description=f"ETL1's `{table.relative_path}` (key: {', '.join(table.key)}).",
            metadata={"relative_path": table.relative_path},
        )(_observe)


etl1_tables = [etl1_table_asset(t) for t in ETL1_TABLES]
