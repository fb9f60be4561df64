"""Engine results (plain Python values) as Dagster metadata."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import dagster as dg
import polars as pl

from etl3_assets.lib.column_docs import column_rows, lineage
from etl3_assets.lib.contract import ETL1_TABLES, PARTITION_KEYS
from etl3_assets.lib.quality.metrics import Markdown


def as_metadata(values: Mapping[str, object]) -> dict[str, object]:
    """Dicts and lists as JSON, ``Markdown`` as markdown, everything else as it is."""

    def one(value: object) -> object:
        if isinstance(value, Markdown):
            return dg.MetadataValue.md(str(value))
        if isinstance(value, (dict, list)):
            return dg.MetadataValue.json(value)
        return value

    return {key: one(value) for key, value in values.items()}


# --- Dagster's standard table metadata (dagster/…), from the contract ---------------------

OWNERS = ["team:data-platform"]
"""Owners of every asset of the project (the UI's owner filter, alert routing)."""


def table_schema(schema: Mapping[str, pl.DataType], table: str | None = None) -> dg.TableSchema:
    """Every column with its dtype and its one-line description (``lib/column_docs.py``)."""
    return dg.TableSchema(
        columns=[dg.TableColumn(name, type=dtype, description=text) for name, dtype, text in column_rows(schema, table)]
    )


def etl1_lineage(columns: Iterable[str]) -> dg.TableColumnLineage:
    """Each enriched column's ETL1 columns (CONTRACT section 2), as column lineage."""
    schemas = {t.name: t.schema for t in ETL1_TABLES}
    deps = {column: lineage(column, schemas) for column in columns}
    return dg.TableColumnLineage(
        deps_by_column={
            column: [dg.TableColumnDep(asset_key=dg.AssetKey(table), column_name=source) for table, source in found]
            for column, found in deps.items()
            if found
        }
    )


def copied_lineage(upstream: str, columns: Iterable[str]) -> dg.TableColumnLineage:
    """Columns written as they are from ``upstream``'s, the partition keys from the column
    they take their value from (``taxonomy`` from ``primary_taxonomy_code``)."""
    source = {key: column for key, column in PARTITION_KEYS}
    return dg.TableColumnLineage(
        deps_by_column={
            column: [dg.TableColumnDep(asset_key=dg.AssetKey(upstream), column_name=source.get(column, column))]
            for column in columns
        }
    )


def standard_table_metadata(
    *,
    schema: Mapping[str, pl.DataType] | None = None,
    table: str | None = None,
    table_name: str | None = None,
    uri: str | None = None,
    row_count: int | None = None,
    partition_row_count: int | None = None,
    lineage: dg.TableColumnLineage | None = None,
) -> dict[str, object]:
    """The ``dagster/…`` entries the UI reads (columns, row counts, table, URI, lineage)."""
    entries: dict[str, object] = {
        "dagster/column_schema": table_schema(schema, table) if schema is not None else None,
        "dagster/column_lineage": lineage,
        "dagster/table_name": table_name,
        "dagster/uri": uri,
        "dagster/row_count": dg.MetadataValue.int(row_count) if row_count is not None else None,
        "dagster/partition_row_count": dg.MetadataValue.int(partition_row_count) if partition_row_count is not None else None,
    }
    return {k: v for k, v in entries.items() if v is not None}
