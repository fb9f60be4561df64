"""Step retries: a transient error (the storage unreachable, throttled or failing with
5xx after boto3's own retries) is retried by Dagster after the policy's backoff; bad
input is not retried at all. Real Dagster execution, real botocore exceptions."""

from __future__ import annotations

import dagster as dg
from botocore.exceptions import ClientError, EndpointConnectionError

from etl3_assets.defs.retries import retrying_transient, step_retry_policy
from etl3_assets.lib.storage.s3 import S3UploadError
from etl3_assets.lib.storage.transient import is_transient


def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")


def test_which_errors_are_transient():
    assert is_transient(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
    assert is_transient(_client_error("SlowDown", 503)) and is_transient(_client_error("ThrottlingException", 400))
    assert is_transient(S3UploadError("upload of s3://b/k failed: InternalError"))
    wrapped = RuntimeError("write failed")
    wrapped.__cause__ = _client_error("InternalError", 500)
    assert is_transient(wrapped)
    assert not is_transient(_client_error("AccessDenied", 403)) and not is_transient(_client_error("NoSuchBucket", 404))
    assert not is_transient(ValueError("ETL1 table dim_code, column code: expected String, found Int64"))


def _run(error: Exception, failures: int):
    attempts = []

    @dg.asset
    def flaky(context):
        attempts.append(context.retry_number)
        with retrying_transient(context, step_retry_policy(retries=2, delay_seconds=0.05)):
            if len(attempts) <= failures:
                raise error
        return 1

    result = dg.materialize([flaky], raise_on_error=False)
    retried = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    return result, attempts, retried


def test_a_transient_error_is_retried_with_backoff_until_the_step_succeeds():
    result, attempts, retried = _run(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), failures=2)
    assert result.success and attempts == [0, 1, 2] and len(retried) == 2


def test_a_transient_error_fails_the_step_after_the_policy_s_retries():
    result, attempts, _ = _run(_client_error("ServiceUnavailable", 503), failures=99)
    assert not result.success and attempts == [0, 1, 2]


def test_bad_input_fails_at_once_with_its_own_message():
    result, attempts, retried = _run(ValueError("ETL1 table dim_code, column code: bad"), failures=99)
    assert not result.success and attempts == [0] and not retried
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "ETL1 table dim_code, column code: bad" in str(failure.step_failure_data.error)
