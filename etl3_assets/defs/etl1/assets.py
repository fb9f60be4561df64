"""ETL1's twelve tables as observable source assets: observing one records its file's
fingerprint as data version, so the UI shows when ETL1 rewrote a table, and its row
count; each carries its contract columns (``dagster/column_schema``), owners and kinds."""

import dagster as dg

from etl3_assets.defs.dagster_features import MULTI_OBSERVABLE_SOURCE_ASSET, relying_on
from etl3_assets.defs.etl1.resources import Etl1Resource
from etl3_assets.defs.metadata import OWNERS, standard_table_metadata
from etl3_assets.lib.contract import ETL1_TABLES, Etl1Table

ETL1_GROUP = "etl1"


def etl1_table_asset(table: Etl1Table) -> dg.AssetsDefinition:
    spec = dg.AssetSpec(
        table.name,
        group_name=ETL1_GROUP,
        description=f"ETL1's `{table.relative_path}` (key: {', '.join(table.key)}).",
        owners=OWNERS,
        kinds={"parquet"},
        metadata={
            "relative_path": table.relative_path,
            **standard_table_metadata(schema=table.schema, table=table.name, table_name=f"etl1.{table.name}"),
        },
    )

    def _observe(etl1: Etl1Resource):
        source = etl1.source()
        fingerprint = source.fingerprints([table])[table.name]
        metadata = {"dagster/uri": source.path(table)}
        if fingerprint is not None:
            metadata.update(standard_table_metadata(row_count=source.row_count(table)))
        yield dg.ObserveResult(
            asset_key=table.name, data_version=dg.DataVersion(fingerprint or "missing"), metadata=metadata
        )

    with relying_on(MULTI_OBSERVABLE_SOURCE_ASSET):
        return dg.multi_observable_source_asset(specs=[spec], name=f"observe_{table.name}")(_observe)


etl1_tables = [etl1_table_asset(t) for t in ETL1_TABLES]
