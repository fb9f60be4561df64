"""A step retried on real S3 trouble: SeaweedFS behind a proxy that answers InternalError
to an upload of the month's first attempt (boto3 left no retries of its own), then
recovers. The run succeeds on the step's retry, after the policy's delay, and the month is
exact (without retries the same trouble fails the run: test_s3_month.py)."""

from __future__ import annotations

import threading
import time

import dagster as dg

from etl3_assets.lib.contract import WAREHOUSE_ASSET
from etl3_assets_tests.support.s3_month import ETL1, assert_month_exact, materialize_s3
from etl3_assets_tests.support.s3_servers import INTERNAL_ERROR, FaultyProxy, test_resource


def _recover_after_first_failure(proxy: FaultyProxy, stop: threading.Event) -> None:
    while not stop.is_set():
        if proxy.failed:
            proxy.fail_rate = 0.0
            return
        time.sleep(0.005)


def test_a_month_whose_uploads_fail_once_is_retried_and_exact(etl1_root, s3_bucket, moto_endpoint, glue_client):
    s3_bucket.upload_tree(etl1_root, ETL1)
    with FaultyProxy(
        s3_bucket.endpoint, fail_rate=1.0, methods=("PUT",), pass_first=25, faults=(INTERNAL_ERROR,)
    ) as proxy:
        stop = threading.Event()
        watcher = threading.Thread(target=_recover_after_first_failure, args=(proxy, stop), daemon=True)
        watcher.start()
        try:
            result = materialize_s3(
                s3_bucket, moto_endpoint, s3=test_resource(proxy.endpoint, max_attempts=0),  # no boto3 retry: the step fails
                step_retries=2, step_retry_delay_seconds=0.2,
            )
        finally:
            stop.set()
    assert result.success and proxy.failed >= 1
    retried = [
        e.step_key for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY
    ]
    assert retried and set(retried) <= {"staged_enriched_month", WAREHOUSE_ASSET}, retried
    assert_month_exact(s3_bucket, etl1_root)
