"""The warehouse on a live S3 API (SeaweedFS on loopback) with its Glue catalog (moto
server), materialized through Dagster's real ``materialize``: equal to the local warehouse
and to the oracle, exact month replacement, a flaky server, an interrupted run repaired."""

import dagster as dg
import polars as pl
import pytest

from etl3_assets.defs.catalog.assets import fact_rate_enriched_glue_partitions
from etl3_assets.defs.etl1.assets import etl1_tables
from etl3_assets.defs.warehouse.assets import fact_rate_enriched, staged_enriched_month
from etl3_assets.lib.contract import FILE_COLUMNS, GLUE_DATABASE, GLUE_TABLE, HIVE_NULL, PARTITION_KEYS
from etl3_assets.lib.catalog.glue import partition_keys, table_columns
from etl3_assets.lib.hive.layout import month_suffix
from etl3_assets.lib.hive.manifest import MANIFEST_PREFIX
from etl3_assets.defs.resources import build_resources
from etl3_assets.devtools.sample_data import write_etl1_table
from etl3_assets_tests.support.deployment import materialize_month, test_settings
from etl3_assets_tests.support.oracle import assert_same_rows, expected_enriched, month_files, read_month_pyarrow
from etl3_assets_tests.support.s3_servers import INTERNAL_ERROR, FaultyProxy, test_resource

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
    frame = expected.select(
        [
            pl.col(column).cast(pl.String).fill_null(HIVE_NULL).alias(key)
            for key, column in PARTITION_KEYS
            if key != "month"
        ]
        + [pl.col("month").cast(pl.String).str.zfill(2)]
    ).unique()
    return set(frame.rows())


def assert_month_exact(target, etl1_root, month=MONTH) -> pl.DataFrame:
    """The month on S3 holds exactly the oracle's rows, in exactly the manifest's files."""
    expected = expected_enriched(str(etl1_root), month)
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


@pytest.fixture
def glue(glue_client):
    return glue_client


def test_month_on_s3_equals_local_month_oracle_and_catalog(etl1_root, tmp_path, s3_bucket, moto_endpoint, glue):
    s3_bucket.upload_tree(etl1_root, ETL1)
    result = materialize_s3(s3_bucket, moto_endpoint)

    local = tmp_path / "local-warehouse"
    materialize_month(etl1_root, local, MONTH)
    local_keys = {p.relative_to(local).as_posix() for p in month_files(local, MONTH)}
    assert set(month_keys(s3_bucket)) == local_keys
    expected = assert_month_exact(s3_bucket, etl1_root)
    assert_same_rows(s3_bucket.read_month_pyarrow(WAREHOUSE, MONTH), read_month_pyarrow(local, MONTH))

    [mat] = result.asset_materializations_for_node("fact_rate_enriched")
    files = mat.metadata["files"].value
    requests = mat.metadata["storage_requests"].value
    # one PUT per data file, plus the month's journal and its manifest
    assert requests["PutObject"] == files + 2, requests
    assert not requests.get("CreateMultipartUpload")
    some_key = next(iter(local_keys))
    head = s3_bucket.client().head_object(Bucket=s3_bucket.bucket, Key=f"{WAREHOUSE}/{some_key}")
    assert head["ServerSideEncryption"] == "AES256"

    table = glue.get_table(DatabaseName=GLUE_DATABASE, Name=GLUE_TABLE)["Table"]
    columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
    assert columns == [(c["Name"], c["Type"]) for c in table_columns()]
    assert [name for name, _ in columns] == list(FILE_COLUMNS)
    assert [(c["Name"], c["Type"]) for c in table["PartitionKeys"]] == [
        (c["Name"], c["Type"]) for c in partition_keys()
    ]
    assert [c["Name"] for c in table["PartitionKeys"]] == [k for k, _ in PARTITION_KEYS]
    assert dict(columns)["pos_members"] == "array<string>" and dict(columns)["negotiated_rate"] == "double"
    assert table["StorageDescriptor"]["Location"] == s3_bucket.uri(f"{WAREHOUSE}/partitioned-data/")
    partitions = glue_month(glue)
    assert set(partitions) == expected_partition_values(expected)
    folders = {s3_bucket.uri(f"{WAREHOUSE}/{k.rsplit('/', 1)[0]}/") for k in local_keys}
    assert set(partitions.values()) == folders
    [catalog] = result.asset_materializations_for_node("fact_rate_enriched_glue_partitions")
    assert catalog.metadata["partitions"].value == len(folders)


def test_shrinking_month_is_replaced_exactly_and_other_months_untouched(
    etl1_root, s3_bucket, moto_endpoint, glue
):
    s3_bucket.upload_tree(etl1_root, ETL1)
    for month in ("2025-07", MONTH):
        materialize_s3(s3_bucket, moto_endpoint, month)
    before = month_keys(s3_bucket)
    others = {"2025-07": month_keys(s3_bucket, "2025-07")}
    other_partitions = glue_month(glue, "2025-07")

    shrink_month(etl1_root, s3_bucket)
    result = materialize_s3(s3_bucket, moto_endpoint)

    expected = assert_month_exact(s3_bucket, etl1_root)
    after = month_keys(s3_bucket)
    gone = set(before) - set(after)
    assert gone, "the shrunk month should have lost partitions"
    [mat] = result.asset_materializations_for_node("fact_rate_enriched")
    assert mat.metadata["stale_files_deleted"].value == len(gone)
    assert {m: month_keys(s3_bucket, m) for m in others} == others  # same keys, same ETags

    partitions = glue_month(glue)
    assert set(partitions) == expected_partition_values(expected)
    assert set(partitions.values()) == {s3_bucket.uri(f"{WAREHOUSE}/{k.rsplit('/', 1)[0]}/") for k in after}
    [catalog] = result.asset_materializations_for_node("fact_rate_enriched_glue_partitions")
    assert catalog.metadata["deleted"].value > 0
    assert glue_month(glue, "2025-07") == other_partitions


def test_flaky_server_run_still_finishes_correct(etl1_root, s3_bucket, moto_endpoint, glue):
    s3_bucket.upload_tree(etl1_root, ETL1)
    with FaultyProxy(s3_bucket.endpoint, fail_rate=0.1, after_forward=0.5, seed=5) as proxy:
        flaky = test_resource(proxy.endpoint, max_attempts=12)
        materialize_s3(s3_bucket, moto_endpoint, s3=flaky, max_workers=4)
    assert proxy.failed >= 5, "the proxy should have failed a share of the writes"
    assert_month_exact(s3_bucket, etl1_root)


def test_run_killed_by_failing_uploads_is_repaired_by_the_next_run(etl1_root, s3_bucket, moto_endpoint, glue):
    s3_bucket.upload_tree(etl1_root, ETL1)
    materialize_s3(s3_bucket, moto_endpoint)
    shrink_month(etl1_root, s3_bucket)

    # InternalError only: a throttling error would make the doomed run crawl (adaptive mode)
    with FaultyProxy(
        s3_bucket.endpoint, fail_rate=1.0, methods=("PUT",), pass_first=25, faults=(INTERNAL_ERROR,)
    ) as proxy:
        broken = test_resource(proxy.endpoint, max_attempts=2)
        failed = materialize_s3(s3_bucket, moto_endpoint, s3=broken, raise_on_error=False)
    assert not failed.success
    [failure] = [e for e in failed.all_events if e.is_step_failure]
    assert "upload of s3://" in str(failure.step_failure_data.error), failure.step_failure_data.error
    assert proxy.failed > 0

    materialize_s3(s3_bucket, moto_endpoint)
    expected = assert_month_exact(s3_bucket, etl1_root)
    assert set(glue_month(glue)) == expected_partition_values(expected)
