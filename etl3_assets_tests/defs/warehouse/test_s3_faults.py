"""Issue 23 on S3 (SeaweedFS on loopback, Glue on moto): an incremental rebuild touches only
what changed, objects and Glue partitions; S3's bad days (throttling, 500s, connections
reset mid-upload, slow answers, an outage) through the project's fault-injecting proxy."""

import json
import time
from datetime import datetime
from urllib.parse import unquote

import polars as pl

from etl3_assets.lib.storage.lock import LOCK_PREFIX
from etl3_assets_tests.support.deployment import read_etl1, rewrite_etl1
from etl3_assets_tests.support.fault_proxy import FaultInjectingProxy, Faults
from etl3_assets_tests.support.s3_month import (
    ETL1, MONTH, WAREHOUSE, assert_month_exact, expected_partition_values, glue_month, materialize_s3,
)
from etl3_assets_tests.support.s3_servers import test_resource

ADDED_PAYER = "uhc=50% o'neil"
MANY_BUCKETS = {"memory_limit_mb": 1, "chunk_size": 50, "max_workers": 2}


def _metadata(result, node="fact_rate_enriched") -> dict:
    [mat] = result.asset_materializations_for_node(node)
    return {k: v.value for k, v in mat.metadata.items()}


def _objects(target) -> dict[str, tuple[str, datetime]]:
    """Key -> (ETag, LastModified) of the warehouse's data objects of the month."""
    paginator = target.client().get_paginator("list_objects_v2")
    return {
        o["Key"]: (o["ETag"], o["LastModified"])
        for page in paginator.paginate(Bucket=target.bucket, Prefix=f"{WAREHOUSE}/partitioned-data/")
        for o in page.get("Contents", [])
        if "/month=08/" in o["Key"]
    }


def _payer(key: str) -> str:
    return unquote(key.split("/")[2].split("=", 1)[1])


def test_one_payer_added_on_s3_puts_only_its_objects_and_adds_only_its_glue_partitions(
    etl1_root, s3_bucket, moto_endpoint, glue_client
):
    full = read_etl1(etl1_root, "fact_rate")
    rewrite_etl1(etl1_root, "fact_rate", full.filter(
        (pl.col("year_month") != MONTH) | (pl.col("payer_slug") != ADDED_PAYER).fill_null(True)
    ))
    s3_bucket.upload_tree(etl1_root, ETL1)
    materialize_s3(s3_bucket, moto_endpoint)
    before, partitions_before = _objects(s3_bucket), glue_month(glue_client)
    time.sleep(1.1)  # LastModified has one-second resolution

    rewrite_etl1(etl1_root, "fact_rate", full)
    s3_bucket.upload_tree(etl1_root, ETL1)
    result = materialize_s3(s3_bucket, moto_endpoint)
    meta, catalog = _metadata(result), _metadata(result, "fact_rate_enriched_glue_partitions")
    after = _objects(s3_bucket)

    expected = assert_month_exact(s3_bucket, etl1_root)
    added = set(after) - set(before)
    assert added and {_payer(k) for k in added} == {ADDED_PAYER}
    assert {k: after[k] for k in before} == before, "every other object keeps its ETag and LastModified"
    assert meta["files_written"] == len(added) and meta["files_kept"] == len(before)
    puts = meta["storage_requests"]["PutObject"]
    assert len(added) + 2 < puts <= len(added) + 2 + meta["buckets"], meta["storage_requests"]
    partitions = glue_month(glue_client)
    assert set(partitions) == expected_partition_values(expected)
    assert catalog["created"] == len(set(partitions) - set(partitions_before)) > 0
    assert catalog["updated"] == catalog["deleted"] == 0


def test_month_completes_exact_under_throttling_errors_resets_and_slow_answers(
    etl1_root, s3_bucket, moto_endpoint, glue_client
):
    s3_bucket.upload_tree(etl1_root, ETL1)
    faults = Faults(slow_down=0.06, internal_error=0.03, reset_mid_upload=0.04, slow=0.03, slow_seconds=0.3)
    with FaultInjectingProxy(s3_bucket.endpoint, faults, seed=23) as proxy:
        s3 = test_resource(proxy.endpoint, retry_mode="standard", max_attempts=10)
        result = materialize_s3(s3_bucket, moto_endpoint, s3=s3, **MANY_BUCKETS)
    counts = proxy.counts
    assert counts.slow_down and counts.internal_error and counts.resets and counts.slowed, counts
    assert_month_exact(s3_bucket, etl1_root)
    meta = _metadata(result)
    assert meta["retries"] >= counts.resets, (meta.get("retries_by_operation"), counts)
    assert meta["requests_total"] >= meta["files"] + meta["retries"]


def test_an_outage_longer_than_the_retries_fails_naming_the_object_and_the_next_run_repairs(
    etl1_root, s3_bucket, moto_endpoint, glue_client
):
    s3_bucket.upload_tree(etl1_root, ETL1)
    lease = 4.0
    outage = 10.0  # longer than 3 attempts' backoff (at most 1 + 2 s), and than the lease
    faults = Faults(outage_after=30, outage_match="/partitioned-data/", outage_seconds=outage)
    locks = {"month_lock_lease_seconds": lease, "month_lock_wait_seconds": lease + 5}
    with FaultInjectingProxy(s3_bucket.endpoint, faults, seed=1) as proxy:
        s3 = test_resource(proxy.endpoint, retry_mode="standard", max_attempts=3)
        failed = materialize_s3(s3_bucket, moto_endpoint, s3=s3, raise_on_error=False, **locks)
        assert not failed.success and proxy.counts.refused_in_outage > 0
        [failure] = [e for e in failed.all_events if e.is_step_failure]
        message = str(failure.step_failure_data.error)
        assert f"s3://{s3_bucket.bucket}/{WAREHOUSE}/" in message, message
        assert any(cause in message for cause in ("Connection was closed", "Connection reset", "Could not connect")), message

        # the lease is not held past its lease: released, or expiring by itself
        lock_key = f"{WAREHOUSE}/{LOCK_PREFIX}/fact_rate_enriched/{MONTH}.json"
        listed = s3_bucket.client().list_objects_v2(Bucket=s3_bucket.bucket, Prefix=lock_key).get("Contents", [])
        if listed:
            body = json.loads(s3_bucket.client().get_object(Bucket=s3_bucket.bucket, Key=lock_key)["Body"].read())
            assert listed[0]["LastModified"].timestamp() + body["lease_seconds"] <= time.time() + lease

        time.sleep(proxy.outage_over() + 0.2)
        started = time.monotonic()
        repaired = materialize_s3(s3_bucket, moto_endpoint, s3=s3, **locks)
        assert time.monotonic() - started < 60
    assert repaired.success
    assert_month_exact(s3_bucket, etl1_root)
