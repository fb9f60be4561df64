"""Step retries with backoff for the steps that talk to S3, Glue and CloudWatch.

The policy is a ``dg.RetryPolicy`` (exponential backoff with jitter, from ``STEP_RETRIES``
and ``STEP_RETRY_DELAY_SECONDS``), applied by ``retrying_transient`` to transient errors
only (``lib/storage/transient.py``): set as the asset's own ``retry_policy``, Dagster would
retry every exception, so bad input would be re-read after each backoff only to fail with
the same message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from etl3_assets.lib.storage.transient import is_transient


def step_retry_policy(retries: int, delay_seconds: float) -> dg.RetryPolicy:
    return dg.RetryPolicy(
        max_retries=retries, delay=delay_seconds, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
    )


@contextmanager
def retrying_transient(context: dg.AssetExecutionContext, policy: dg.RetryPolicy) -> Iterator[None]:
    """Run the block; a transient error asks Dagster to retry the step after the policy's
    delay (up to its ``max_retries``); any other error, and the last attempt's, is raised
    as it is."""
    try:
        yield
    except Exception as error:
        attempt = context.retry_number + 1
        if policy.max_retries <= 0 or attempt > policy.max_retries or not is_transient(error):
            raise
        wait = policy.calculate_delay(attempt)
        context.log.warning(
            f"transient error, retry {attempt} of {policy.max_retries} in {wait:.1f} s: {type(error).__name__}: {error}"
        )
        raise dg.RetryRequested(max_retries=policy.max_retries, seconds_to_wait=wait) from error
