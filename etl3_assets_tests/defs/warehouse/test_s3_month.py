"""The warehouse on a live S3 API (SeaweedFS on loopback) with its Glue catalog (moto
server), materialized through Dagster's real ``materialize``: equal to the local warehouse
and to the oracle, exact month replacement, a flaky server, an interrupted run repaired."""

import pytest

from etl3_assets.lib.contract import FILE_COLUMNS, GLUE_DATABASE, GLUE_TABLE, PARTITION_KEYS
from etl3_assets.lib.catalog.glue import partition_keys, table_columns
from etl3_assets_tests.support.deployment import materialize_month
from etl3_assets_tests.support.oracle import assert_same_rows, month_files, read_month_pyarrow
from etl3_assets_tests.support.s3_servers import INTERNAL_ERROR, FaultyProxy, test_resource

from etl3_assets_tests.support.s3_month import (
    ETL1,
    WAREHOUSE,
    MONTH,
    materialize_s3,
    month_keys,
    glue_month,
    expected_partition_values,
    assert_month_exact,
    shrink_month,
)


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
