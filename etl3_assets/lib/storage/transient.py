"""Which errors are worth retrying the whole step for: the storage, Glue or CloudWatch
being unreachable, slow or overloaded after boto3's own retries. Bad input, a wrong
setting or a bug fails at once; so does a month another run holds past
MONTH_LOCK_WAIT_SECONDS (the wait was the patience the user chose).
"""

from __future__ import annotations

TRANSIENT_CODES = frozenset({
    "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException",
    "InternalError", "InternalFailure", "InternalServiceException", "ServiceUnavailable",
    "ServiceUnavailableException", "RequestTimeout", "RequestTimeoutException", "ConcurrentModificationException",
})


def is_transient(error: BaseException) -> bool:
    """True when ``error``, or an error it was raised from, is transient."""
    from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError, HTTPClientError

    from etl3_assets.lib.storage.s3 import S3UploadError

    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, (BotoConnectionError, HTTPClientError, S3UploadError)):
            return True
        if isinstance(current, ClientError):
            response = current.response
            code = str(response.get("Error", {}).get("Code", ""))
            status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if code in TRANSIENT_CODES or status >= 500 or status == 429:
                return True
        if isinstance(current, (ConnectionError, TimeoutError)):
            return True
        current = current.__cause__ or current.__context__
    return False
