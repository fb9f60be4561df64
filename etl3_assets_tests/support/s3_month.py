"""A warehouse month on the loopback S3 (SeaweedFS) with its Glue catalog (moto): wired
by ``build_resources`` as production is, and what tests check of it."""

from __future__ import annotations

import dagster as dg
import polars as pl
from etl3_assets.defs.catalog.assets import fact_rate_enriched_glue_partitions
from etl3_assets.defs.etl1.assets import etl1_tables
from etl3_assets.defs.warehouse.assets import fact_rate_enriched, staged_enriched_month
from etl3_assets.lib.contract import GLUE_DATABASE, GLUE_TABLE, HIVE_NULL, PARTITION_KEYS
from etl3_assets.lib.hive.layout import month_suffix
from etl3_assets.lib.hive.manifest import MANIFEST_PREFIX
from etl3_assets.defs.resources import build_resources
from etl3_assets.devtools.sample_data import write_etl1_table
from etl3_assets_tests.support.deployment import test_settings
from etl3_assets_tests.support.oracle import as_read_from_hive, assert_same_rows, expected_enriched


WAREHOUSE = "warehouse"
ETL1 = "etl1"
MONTH = "2025-08"
ASSETS = [*etl1_tables, staged_enriched_month, fact_rate_enriched, fact_rate_enriched_glue_partitions]


def s3_resources(target, glue_endpoint, s3=None, **writer_config) -> dict:
    """The production resources (``build_resources``) on the loopback S3 and Glue."""
    settings = test_settings(target.uri(ETL1), target.uri(WAREHOUSE), **writer_config)
    return build_resources(settings, s3=s3 or target.resource, glue_endpoint_url=glue_endpoint)


def materialize_s3(target, glue_endpoint, month=MONTH, s3=None, raise_on_error=True, **writer_config):
    return dg.materialize(
        ASSETS,
        partition_key=month,
        raise_on_error=raise_on_error,
        resources=s3_resources(target, glue_endpoint, s3=s3, **writer_config),
    )


def month_keys(target, month=MONTH) -> dict[str, str]:
    """Key (relative to the warehouse) -> ETag of the month's data objects."""
    prefix = f"{WAREHOUSE}/"
    return {
        key[len(prefix) :]: etag
        for key, etag in target.objects(f"{prefix}partitioned-data/").items()
        if f"/{month_suffix(month)}/" in key
    }


def committed_keys(target, month=MONTH) -> set[str]:
    storage_key = f"{WAREHOUSE}/{MANIFEST_PREFIX}/{month}.parquet"
    body = target.client().get_object(Bucket=target.bucket, Key=storage_key)["Body"].read()
    return set(pl.read_parquet(body)["key"].to_list())


def glue_month(glue, month=MONTH) -> dict[tuple[str, ...], str]:
    year, mm = month.split("-")
    pages = glue.get_paginator("get_partitions").paginate(
        DatabaseName=GLUE_DATABASE, TableName=GLUE_TABLE, Expression=f"year = {int(year)} AND month = {int(mm)}"
    )
    return {tuple(p["Values"]): p["StorageDescriptor"]["Location"] for page in pages for p in page["Partitions"]}


def expected_partition_values(expected: pl.DataFrame) -> set[tuple[str, ...]]:
    """The Glue partitions' values a month's rows make: null and the empty string both as
    Hive writes them, ``__HIVE_DEFAULT_PARTITION__`` (CONTRACT §3)."""
    def value(column: str) -> pl.Expr:
        text = pl.col(column).cast(pl.String)
        return pl.when(text.fill_null("") == "").then(pl.lit(HIVE_NULL)).otherwise(text)

    frame = expected.select(
        [value(column).alias(key) for key, column in PARTITION_KEYS if key != "month"]
        + [pl.col("month").cast(pl.String).str.zfill(2)]
    ).unique()
    return set(frame.rows())


def assert_month_exact(target, etl1_root, month=MONTH) -> pl.DataFrame:
    """The month on S3 holds exactly the oracle's rows, in exactly the manifest's files."""
    expected = as_read_from_hive(expected_enriched(str(etl1_root), month))
    assert_same_rows(target.read_month_pyarrow(WAREHOUSE, month), expected)
    assert set(month_keys(target, month)) == committed_keys(target, month)
    assert not target.objects(f"{WAREHOUSE}/{MANIFEST_PREFIX}/{month}.pending/")
    return expected


def shrink_month(etl1_root, target, month=MONTH) -> None:
    """Drop about two thirds of the month's facts (and with them whole partitions)."""
    facts = pl.read_parquet(etl1_root / "gold" / "fact_rate.parquet")
    keep = (pl.col("year_month") != month) | (pl.col("fact_uid").hash(3) % 3 == 0)
    write_etl1_table(etl1_root, "fact_rate", facts.filter(keep))
    target.upload_tree(etl1_root, ETL1)


