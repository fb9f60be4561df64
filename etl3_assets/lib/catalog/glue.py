"""The warehouse in the Glue catalog, so Athena can query it (CONTRACT section 3).

* ``healthcare_data_lake.fact_rate_enriched``: an external parquet table whose columns
  are the file columns in Athena types and whose partition keys are the nine partition
  keys (``year`` and ``month`` as ``int``, the rest ``string``).
* One Glue partition per partition folder of a month, registered from the month's
  committed manifest (no S3 listing). A partition's ``Values`` are the raw values (null as
  ``__HIVE_DEFAULT_PARTITION__``, as Hive does) and its ``Location`` the escaped folder
  exactly as written: Athena reads the files under ``Location`` as given and takes the
  partition values from ``Values``, never from the path.
* Re-registering a month makes its Glue partitions exactly the month's folders: new ones
  are created, ones whose location changed are updated, ones the month no longer has are
  deleted. Glue takes 100 partitions per create/update call and 25 per delete call; the
  calls run in parallel.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from etl3_assets.lib.contract import (
    ENRICHED_SCHEMA,
    FILE_COLUMNS,
    GLUE_DATABASE,
    GLUE_TABLE,
    HIVE_NULL,
    PARTITION_KEY_NAMES,
    PARTITION_SCHEMA,
    WAREHOUSE_DATA_PREFIX,
)
from etl3_assets.lib.hive.layout import parse_partition_dir
from etl3_assets.lib.storage import WarehouseStorage

CREATE_BATCH = 100
UPDATE_BATCH = 100
DELETE_BATCH = 25
PARQUET_FORMAT = {
    "InputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
    "OutputFormat": "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
    "SerdeInfo": {
        "SerializationLibrary": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
        "Parameters": {"serialization.format": "1"},
    },
}


class GlueCatalogError(RuntimeError):
    """Glue refused part of a catalog update; names the partition and Glue's error."""


def athena_type(dtype: pl.DataType) -> str:
    if dtype == pl.String:
        return "string"
    if dtype == pl.Float64:
        return "double"
    if dtype == pl.Int64:
        return "bigint"
    if dtype == pl.Int32:
        return "int"
    if dtype == pl.Boolean:
        return "boolean"
    if isinstance(dtype, pl.List):
        return f"array<{athena_type(dtype.inner)}>"
    raise ValueError(f"no Athena type for polars dtype {dtype}")


def table_columns() -> list[dict[str, str]]:
    return [{"Name": c, "Type": athena_type(ENRICHED_SCHEMA[c])} for c in FILE_COLUMNS]


def partition_keys() -> list[dict[str, str]]:
    return [{"Name": k, "Type": athena_type(t)} for k, t in PARTITION_SCHEMA.items()]


def data_location(storage: WarehouseStorage) -> str:
    return storage.catalog_uri(f"{WAREHOUSE_DATA_PREFIX}/")


def table_input(storage: WarehouseStorage, table: str = GLUE_TABLE) -> dict[str, Any]:
    return {
        "Name": table,
        "Description": "ETL3 enriched fact_rate, Hive-partitioned parquet (see CONTRACT.md section 3)",
        "TableType": "EXTERNAL_TABLE",
        "Parameters": {"classification": "parquet", "EXTERNAL": "TRUE", "parquet.compression": "ZSTD"},
        "PartitionKeys": partition_keys(),
        "StorageDescriptor": {
            "Columns": table_columns(),
            "Location": data_location(storage),
            **PARQUET_FORMAT,
        },
    }


def ensure_table(glue: Any, storage: WarehouseStorage, database: str = GLUE_DATABASE, table: str = GLUE_TABLE) -> str:
    """Create the database and table, or bring the table's definition up to date.
    Returns ``created``, ``updated`` or ``unchanged``."""
    try:
        glue.create_database(DatabaseInput={"Name": database})
    except glue.exceptions.AlreadyExistsException:
        pass
    wanted = table_input(storage, table)
    try:
        current = glue.get_table(DatabaseName=database, Name=table)["Table"]
    except glue.exceptions.EntityNotFoundException:
        glue.create_table(DatabaseName=database, TableInput=wanted)
        return "created"
    sd = current.get("StorageDescriptor", {})
    same = (
        [(c["Name"], c["Type"]) for c in sd.get("Columns", [])]
        == [(c["Name"], c["Type"]) for c in wanted["StorageDescriptor"]["Columns"]]
        and [(c["Name"], c["Type"]) for c in current.get("PartitionKeys", [])]
        == [(c["Name"], c["Type"]) for c in wanted["PartitionKeys"]]
        and sd.get("Location") == wanted["StorageDescriptor"]["Location"]
    )
    if same:
        return "unchanged"
    glue.update_table(DatabaseName=database, TableInput=wanted)
    return "updated"


def month_partitions(data_keys: Iterable[str], storage: WarehouseStorage) -> dict[tuple[str, ...], str]:
    """Partition values (raw, in key order) -> escaped S3 location, for the partition
    folders of ``data_keys`` (warehouse keys such as ``partitioned-data/…/x.parquet``)."""
    prefix = f"{WAREHOUSE_DATA_PREFIX}/"
    partitions: dict[tuple[str, ...], str] = {}
    for folder in {key.rsplit("/", 1)[0] for key in data_keys}:
        if not folder.startswith(prefix):
            raise ValueError(f"not a warehouse data key folder: {folder!r}")
        values = parse_partition_dir(folder[len(prefix) :])
        row = tuple(HIVE_NULL if values[k] is None else values[k] for k in PARTITION_KEY_NAMES)
        partitions[row] = storage.catalog_uri(f"{folder}/")
    return partitions


def month_expression(year_month: str) -> str:
    year, month = year_month.split("-")
    return f"year = {int(year)} AND month = {int(month)}"


def registered_partitions(glue: Any, year_month: str, database: str, table: str) -> dict[tuple[str, ...], str]:
    paginator = glue.get_paginator("get_partitions")
    found: dict[tuple[str, ...], str] = {}
    for page in paginator.paginate(
        DatabaseName=database, TableName=table, Expression=month_expression(year_month)
    ):
        for p in page["Partitions"]:
            found[tuple(p["Values"])] = p.get("StorageDescriptor", {}).get("Location", "")
    return found


@dataclass
class CatalogResult:
    year_month: str
    table: str = "unchanged"
    partitions: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    calls: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def _storage_descriptor(location: str) -> dict[str, Any]:
    return {"Columns": table_columns(), "Location": location, **PARQUET_FORMAT}


def _batches(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _raise_errors(action: str, errors: list[dict]) -> None:
    if errors:
        first = errors[0]
        detail = first.get("ErrorDetail", {})
        raise GlueCatalogError(
            f"Glue {action} failed for {len(errors)} partition(s); first: values "
            f"{first.get('PartitionValues')}: {detail.get('ErrorCode')} {detail.get('ErrorMessage')}"
        )


def register_month(
    glue: Any,
    storage: WarehouseStorage,
    year_month: str,
    data_keys: Iterable[str],
    *,
    database: str = GLUE_DATABASE,
    table: str = GLUE_TABLE,
    max_workers: int = 4,
    log: Callable[[str], None] = lambda _msg: None,
) -> CatalogResult:
    """Make the month's Glue partitions exactly the partition folders of ``data_keys``."""
    result = CatalogResult(year_month)
    t0 = time.perf_counter()
    result.table = ensure_table(glue, storage, database, table)
    wanted = month_partitions(data_keys, storage)
    current = registered_partitions(glue, year_month, database, table)
    result.seconds["read"] = time.perf_counter() - t0
    result.partitions = len(wanted)

    to_create = [v for v in wanted if v not in current]
    to_update = [v for v in wanted if v in current and current[v] != wanted[v]]
    to_delete = [v for v in current if v not in wanted]
    log(
        f"{year_month}: {len(wanted)} partitions: {len(to_create)} to create, "
        f"{len(to_update)} to update, {len(to_delete)} to delete"
    )

    def create(batch):
        response = glue.batch_create_partition(
            DatabaseName=database,
            TableName=table,
            PartitionInputList=[
                {"Values": list(v), "StorageDescriptor": _storage_descriptor(wanted[v])} for v in batch
            ],
        )
        _raise_errors("BatchCreatePartition", response.get("Errors", []))

    def update(batch):
        response = glue.batch_update_partition(
            DatabaseName=database,
            TableName=table,
            Entries=[
                {
                    "PartitionValueList": list(v),
                    "PartitionInput": {"Values": list(v), "StorageDescriptor": _storage_descriptor(wanted[v])},
                }
                for v in batch
            ],
        )
        _raise_errors("BatchUpdatePartition", response.get("Errors", []))

    def delete(batch):
        response = glue.batch_delete_partition(
            DatabaseName=database,
            TableName=table,
            PartitionsToDelete=[{"Values": list(v)} for v in batch],
        )
        _raise_errors("BatchDeletePartition", response.get("Errors", []))

    calls = (
        [(create, b) for b in _batches(to_create, CREATE_BATCH)]
        + [(update, b) for b in _batches(to_update, UPDATE_BATCH)]
        + [(delete, b) for b in _batches(to_delete, DELETE_BATCH)]
    )
    t1 = time.perf_counter()
    with ThreadPoolExecutor(max(1, max_workers), thread_name_prefix="glue") as pool:
        for _ in pool.map(lambda call: call[0](call[1]), calls):
            pass
    result.seconds["write"] = time.perf_counter() - t1
    result.created, result.updated, result.deleted = len(to_create), len(to_update), len(to_delete)
    result.calls = len(calls)
    return result
