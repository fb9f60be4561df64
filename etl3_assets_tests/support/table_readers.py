"""Reading a month back from the Iceberg table (CONTRACT §4) and from a Hive layout on S3
(§3) through pyarrow, polars and DuckDB, shaped as the oracle's enriched rows.

DuckDB has neither its iceberg nor its httpfs extension here (no network to install
them): it reads the Iceberg table's data files that pyiceberg plans for the month (the
table has no delete files, checked), and it reads S3 through an fsspec wrapper of
pyarrow's S3 filesystem registered in DuckDB; the Hive partitioning is DuckDB's own.
"""

from __future__ import annotations

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
from pyiceberg.expressions import And, EqualTo

from etl3_assets.lib.contract import HIVE_NULL, PARTITION_KEY_NAMES, WAREHOUSE_DATA_PREFIX
from etl3_assets_tests.support.oracle import _to_enriched, enriched_columns
from etl3_assets_tests.support.s3_servers import ACCESS_KEY, REGION, SECRET_KEY


def _month(year_month: str) -> tuple[int, int]:
    year, month = year_month.split("-")
    return int(year), int(month)


def iceberg_to_enriched(df: pl.DataFrame, reader: str) -> pl.DataFrame:
    """The Iceberg table holds all nine partition columns: ``taxonomy`` beside
    ``primary_taxonomy_code``, equal to it, the empty string kept (§4)."""
    columns = set(enriched_columns()) | {"taxonomy"}
    if set(df.columns) != columns:
        raise AssertionError(
            f"{reader}: Iceberg columns differ from the contract: missing {sorted(columns - set(df.columns))}, "
            f"extra {sorted(set(df.columns) - columns)}"
        )
    same = df["taxonomy"].eq_missing(df["primary_taxonomy_code"])
    if not same.all():
        row = df.filter(~same).row(0, named=True)
        raise AssertionError(
            f"{reader}: taxonomy={row['taxonomy']!r} but primary_taxonomy_code={row['primary_taxonomy_code']!r}"
        )
    return df.drop("taxonomy").select(list(enriched_columns())).sort("fact_uid")


def iceberg_month(table, year_month: str, storage_options: dict | None = None) -> dict[str, pl.DataFrame]:
    """The month of a loaded pyiceberg table: reader name -> enriched rows."""
    year, month = _month(year_month)
    scan = table.scan(row_filter=And(EqualTo("year", year), EqualTo("month", month)))
    tasks = list(scan.plan_files())
    assert all(not t.delete_files for t in tasks), "the table has delete files"
    frames = {"pyarrow (pyiceberg scan)": pl.from_arrow(scan.to_arrow())}
    frames["polars scan_iceberg"] = (
        pl.scan_iceberg(table, storage_options=storage_options)
        .filter((pl.col("year") == year) & (pl.col("month") == month))
        .collect()
    )
    paths = [t.file.file_path for t in tasks]
    con = duckdb.connect()
    try:
        if paths and paths[0].startswith("s3://"):
            _register_s3(con, table.io.properties.get("s3.endpoint"))
        if paths:
            listing = ", ".join("'" + p.removeprefix("file://").replace("'", "''") + "'" for p in paths)
            # the files sit in year=…/month=… folders: their own columns, not the path, are read
            frames["duckdb (data files)"] = con.sql(f"SELECT * FROM read_parquet([{listing}], hive_partitioning = false)").pl()
        else:
            frames["duckdb (data files)"] = frames["polars scan_iceberg"]
    finally:
        con.close()
    return {name: iceberg_to_enriched(frame, name) for name, frame in frames.items()}


def _s3_filesystem(endpoint: str):
    from pyarrow.fs import S3FileSystem

    return S3FileSystem(
        access_key=ACCESS_KEY, secret_key=SECRET_KEY, region=REGION,
        endpoint_override=endpoint, scheme="http",
    )


def _register_s3(con: duckdb.DuckDBPyConnection, endpoint: str) -> None:
    from fsspec.implementations.arrow import ArrowFSWrapper

    con.register_filesystem(ArrowFSWrapper(_s3_filesystem(endpoint)))


def s3_hive_month(endpoint: str, bucket: str, prefix: str, year_month: str, storage_options: dict) -> dict[str, pl.DataFrame]:
    """The month of the Hive layout under ``s3://bucket/prefix``: reader name -> rows."""
    base = f"{bucket}/{prefix.strip('/')}/{WAREHOUSE_DATA_PREFIX}"
    year, month = year_month.split("-")
    partitioning = ds.HivePartitioning(
        pa.schema([(k, pa.string()) for k in PARTITION_KEY_NAMES]), null_fallback=HIVE_NULL
    )
    dataset = ds.dataset(base, filesystem=_s3_filesystem(endpoint), format="parquet", partitioning=partitioning)
    frames = {
        "pyarrow over S3": pl.from_arrow(
            dataset.to_table(filter=(ds.field("year") == year) & (ds.field("month") == month))
        )
    }
    frames["polars over S3"] = (
        pl.scan_parquet(
            f"s3://{base}/**/*.parquet", hive_partitioning=True,
            hive_schema={k: pl.String for k in PARTITION_KEY_NAMES}, storage_options=storage_options,
        )
        .filter((pl.col("year") == year) & (pl.col("month") == month))
        .collect()
    )
    con = duckdb.connect()
    try:
        _register_s3(con, endpoint)
        hive_types = ", ".join(f"'{k}': VARCHAR" for k in PARTITION_KEY_NAMES)
        frames["duckdb over S3"] = con.sql(
            f"SELECT * FROM read_parquet('s3://{base}/**/*.parquet', hive_partitioning = true, "
            f"hive_types = {{{hive_types}}}, hive_types_autocast = false) WHERE year = $year AND month = $month",
            params={"year": year, "month": month},
        ).pl()
    finally:
        con.close()
    return {name: _to_enriched(frame, name) for name, frame in frames.items()}
