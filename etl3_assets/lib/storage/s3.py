"""The storage interface on S3: ``S3Storage`` under ``s3://bucket/prefix``, and ``S3Connection``.

A month is hundreds of thousands of small objects, so the cost is per request:

* every file is one ``PutObject`` (``ServerSideEncryption=AES256``); only a payload above
  the multipart threshold goes through boto3's transfer manager as a multipart upload;
* ``put_bytes`` hands the payload to a pool of upload threads through a bounded queue, so
  the writer keeps encoding while earlier files travel, and memory stays bounded;
  ``flush`` waits for the queue and raises the first failure;
* deletes are batched ``DeleteObjects`` calls of up to 1000 keys;
* the boto3 client is created lazily, once per process (clients are thread-safe), with
  the retry mode and attempts of ``S3Connection`` (settings ``S3_RETRY_MODE``,
  ``S3_MAX_ATTEMPTS``) and a connection pool as large as the upload pool, so a storage
  object can be pickled into worker processes;
* every HTTP request is counted by operation (``requests``), and every retry of a failed
  attempt (throttling, a 5xx, a reset connection) again in ``retries``.

Endpoints and credentials come the standard ways (``AWS_ENDPOINT_URL``,
``AWS_ENDPOINT_URL_S3``, the credential chain) unless ``S3Connection`` names them.
"""

from __future__ import annotations

import io
import os
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

import pyarrow as pa

from etl3_assets.lib.storage.interface import ObjectStat
from etl3_assets.lib.storage.roots import Root

SERVER_SIDE_ENCRYPTION = "AES256"
DELETE_BATCH = 1000
DEFAULT_MULTIPART_THRESHOLD = 64 * 1024 * 1024
# Bodies below this go without ``Expect: 100-continue`` (see _drop_expect_for_small_bodies).
EXPECT_CONTINUE_MIN_BYTES = 1024 * 1024


class S3UploadError(RuntimeError):
    """An object could not be uploaded, after boto3's retries; names the object."""


@dataclass(frozen=True)
class S3Connection:
    """How to reach S3 (and Glue): plain, picklable settings from which clients are made.

    Unset fields fall back to boto3's own resolution (environment, config files,
    instance roles), so nothing here assumes AWS itself.
    """

    region_name: str | None = None
    endpoint_url: str | None = None
    profile_name: str | None = None
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_session_token: str | None = None
    use_ssl: bool = True
    verify: bool | None = None
    max_attempts: int = 5
    retry_mode: str = "adaptive"
    max_pool_connections: int = 10
    # botocore computes a CRC32 for every PutObject/UploadPart by default ("when_supported");
    # "when_required" sends one only where the API requires it (DeleteObjects). A payload
    # is still protected: botocore signs its SHA-256 over plain HTTP, TLS carries it over
    # HTTPS. Measured with bench/s3_put_rate.py, the default costs client CPU per PUT.
    request_checksum_calculation: str = "when_required"

    def with_pool(self, size: int) -> S3Connection:
        return replace(self, max_pool_connections=max(self.max_pool_connections, size))

    def _session(self) -> Any:
        import boto3

        return boto3.session.Session(
            profile_name=self.profile_name,
            aws_access_key_id=self.aws_access_key_id,
            aws_secret_access_key=self.aws_secret_access_key,
            aws_session_token=self.aws_session_token,
        )

    def client(
        self, service: str = "s3", endpoint_url: str | None = None, *, timeouts: tuple[float, float] | None = None
    ) -> Any:
        """A new boto3 client. ``endpoint_url`` applies to S3 by default; another service
        uses only the one given here, else its ``AWS_ENDPOINT_URL_<SERVICE>`` variable.
        ``timeouts`` (connect, read seconds) replace botocore's 60 s ones, for calls that
        must not hold anything up (monitoring)."""
        from botocore.config import Config

        session = self._session()
        return session.client(
            service,
            region_name=self.region_name or session.region_name or "us-east-1",
            endpoint_url=endpoint_url or (self.endpoint_url if service == "s3" else None),
            use_ssl=self.use_ssl,
            verify=self.verify,
            config=Config(
                retries={"mode": self.retry_mode, "max_attempts": self.max_attempts},
                max_pool_connections=self.max_pool_connections,
                request_checksum_calculation=self.request_checksum_calculation,
                **({"connect_timeout": timeouts[0], "read_timeout": timeouts[1]} if timeouts else {}),
            ),
        )

    def _resolved(self) -> dict[str, str]:
        """Region, endpoint and credentials as boto3 resolves them, so the other readers
        (polars, pyarrow) reach exactly what boto3 would."""
        session = self._session()
        client = self.client("s3")
        out = {"region": client.meta.region_name, "endpoint_url": client.meta.endpoint_url}
        credentials = session.get_credentials()
        if credentials is not None:
            frozen = credentials.get_frozen_credentials()
            out.update(access_key=frozen.access_key, secret_key=frozen.secret_key)
            if frozen.token:
                out["session_token"] = frozen.token
        return out

    def polars_storage_options(self) -> dict[str, str]:
        """The same endpoint, region and credentials, as polars ``storage_options``."""
        r = self._resolved()
        options = {
            "aws_region": r["region"],
            "aws_endpoint_url": r["endpoint_url"],
            "aws_server_side_encryption": SERVER_SIDE_ENCRYPTION,
        }
        if r["endpoint_url"].startswith("http://"):
            options["aws_allow_http"] = "true"
        options.update(_credentials(r, "aws_access_key_id", "aws_secret_access_key", "aws_session_token"))
        return options

    def pyiceberg_properties(self) -> dict[str, str]:
        """The same endpoint, region and credentials, as pyiceberg FileIO properties."""
        r = self._resolved()
        props = {
            "s3.endpoint": r["endpoint_url"],
            "s3.region": r["region"],
            # a custom endpoint cannot answer pyarrow's region lookup (it asks AWS)
            "s3.resolve-region": "false",
        }
        props.update(_credentials(r, "s3.access-key-id", "s3.secret-access-key", "s3.session-token"))
        return props

    def pyarrow_filesystem(self) -> Any:
        """The same endpoint, region and credentials, as a pyarrow ``S3FileSystem``."""
        from pyarrow import fs

        r = self._resolved()
        scheme, _, host = r["endpoint_url"].partition("://")
        return fs.S3FileSystem(
            access_key=r.get("access_key"),
            secret_key=r.get("secret_key"),
            session_token=r.get("session_token"),
            region=r["region"],
            endpoint_override=host,
            scheme=scheme,
        )


def _credentials(resolved: dict[str, str], access_key: str, secret_key: str, session_token: str) -> dict[str, str]:
    """The resolved credentials under another library's option names (absent ones left out)."""
    names = {"access_key": access_key, "secret_key": secret_key, "session_token": session_token}
    return {names[k]: v for k, v in resolved.items() if k in names}


def _failure(future: Future) -> BaseException | None:
    """The exception of a finished upload (waiting for it first); None if it succeeded
    or was cancelled."""
    return None if future.cancelled() else future.exception()


def _drop_expect_for_small_bodies(request: Any, **_: Any) -> None:
    """``before-send`` handler: no ``Expect: 100-continue`` on a body below
    ``EXPECT_CONTINUE_MIN_BYTES``.

    botocore asks for 100-continue on every ``PutObject``/``UploadPart`` whatever the size
    (its body is file-like), so each small PUT waits one extra round trip for the server's
    interim answer before sending its body: an extra write/read pair on both sides. The
    handshake lets a server refuse a large body before it travels; for a file of a few
    kilobytes sending it costs less than the wait. Larger bodies (multipart parts) keep
    it. The header is not signed, so dropping it leaves the signature valid.
    """
    headers = request.headers
    if headers.get("Expect") is None:
        return
    try:
        length = int(headers.get("Content-Length", -1))
    except ValueError:
        return
    if 0 <= length < EXPECT_CONTINUE_MIN_BYTES:
        del headers["Expect"]


class _ProcessClient:
    """One boto3 client per process, made on first use (and again after a fork)."""

    def __init__(self, connection: S3Connection, on_request, on_attempt):
        self.connection = connection
        self.on_request = on_request
        self.on_attempt = on_attempt
        self._lock = threading.Lock()
        self._client = None
        self._pid = None

    def get(self) -> Any:
        if self._client is None or self._pid != os.getpid():
            with self._lock:
                if self._client is None or self._pid != os.getpid():
                    client = self.connection.client("s3")
                    client.meta.events.register("before-send.s3", self.on_request)
                    client.meta.events.register("request-created.s3", self.on_attempt)
                    client.meta.events.register("before-send.s3", _drop_expect_for_small_bodies)
                    self._client, self._pid = client, os.getpid()
        return self._client


class S3Storage:
    """A warehouse under ``s3://bucket/prefix``; keys are relative to the prefix."""

    def __init__(
        self,
        root: Root,
        connection: S3Connection = S3Connection(),
        *,
        max_workers: int = 4,
        queue_size: int | None = None,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
    ):
        if not root.is_s3:
            raise ValueError(f"not an s3:// root: {root.uri!r}")
        self.root = root
        self.root_uri = root.uri
        self.max_workers = max(1, max_workers)
        self.queue_size = queue_size or 4 * self.max_workers
        self.multipart_threshold = multipart_threshold
        self.connection = connection.with_pool(self.max_workers + 2)
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._client = _ProcessClient(self.connection, self._count_request, self._count_retry)
        self.requests: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self._requests_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.queue_size)
        self._pending: set[Future] = set()
        self._pending_lock = threading.Lock()
        self._errors: list[BaseException] = []
        self._pool: ThreadPoolExecutor | None = None

    def __getstate__(self) -> dict:
        if self._pending:
            raise RuntimeError("S3Storage has uploads in flight: flush() before pickling it")
        keep = ("root", "root_uri", "max_workers", "queue_size", "multipart_threshold", "connection")
        return {k: self.__dict__[k] for k in keep}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._init_runtime()

    @property
    def key_prefix(self) -> str:
        return self.root.prefix

    @property
    def client(self) -> Any:
        return self._client.get()

    def _count_request(self, event_name: str, **_: Any) -> None:
        with self._requests_lock:
            self.requests[event_name.rsplit(".", 1)[-1]] += 1

    def _count_retry(self, request: Any = None, operation_name: str = "", **_: Any) -> None:
        """``request-created`` handler: botocore numbers each attempt in the request's
        context; an attempt after the first is a retry."""
        attempt = (getattr(request, "context", None) or {}).get("retries", {}).get("attempt", 1)
        if attempt > 1:
            with self._requests_lock:
                self.retries[operation_name] += 1

    def _key(self, key: str) -> str:
        return self.root.key(key)

    # -- writes -------------------------------------------------------------------------

    def put_bytes(self, key: str, data: bytes) -> None:
        """Queue one object for upload; blocks while the queue is full.

        Raises at once if an earlier upload failed, so a broken run stops early.
        """
        self._raise_failures()
        self._slots.acquire()
        if self._pool is None:
            with self._pending_lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(self.max_workers, thread_name_prefix="s3-put")
        try:
            future = self._pool.submit(self._upload, self._key(key), data)
        except BaseException:
            self._slots.release()
            raise
        with self._pending_lock:
            self._pending.add(future)
        future.add_done_callback(self._upload_done)

    def _upload(self, s3_key: str, data: bytes) -> None:
        try:
            self._send(s3_key, data)
        except Exception as error:
            raise S3UploadError(f"upload of s3://{self.root.bucket}/{s3_key} failed: {error}") from error

    def _send(self, s3_key: str, data: bytes) -> None:
        if len(data) <= self.multipart_threshold:
            self.client.put_object(
                Bucket=self.root.bucket, Key=s3_key, Body=data, ServerSideEncryption=SERVER_SIDE_ENCRYPTION
            )
            return
        from boto3.s3.transfer import TransferConfig

        self.client.upload_fileobj(
            io.BytesIO(data),
            self.root.bucket,
            s3_key,
            ExtraArgs={"ServerSideEncryption": SERVER_SIDE_ENCRYPTION},
            Config=TransferConfig(multipart_threshold=self.multipart_threshold, use_threads=False),
        )

    def _upload_done(self, future: Future) -> None:
        with self._pending_lock:
            self._pending.discard(future)
            if (error := _failure(future)) is not None:
                self._errors.append(error)
        self._slots.release()

    def _raise_failures(self, also: list[BaseException] = ()) -> None:
        with self._pending_lock:
            errors = list(dict.fromkeys([*self._errors, *also]))
        if errors:
            raise RuntimeError(
                f"{len(errors)} upload(s) to {self.root_uri} failed; first: {errors[0]}"
            ) from errors[0]

    def flush(self) -> None:
        """Wait for every upload queued before this call (not for those other threads
        queue meanwhile), then raise if any upload so far failed."""
        with self._pending_lock:
            pending = list(self._pending)
        failures = [error for f in pending if (error := _failure(f)) is not None]
        self._raise_failures(failures)

    def close(self) -> None:
        """Stop the upload threads. After a failed upload the run is lost anyway, so
        queued uploads are cancelled instead of each being retried in turn."""
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=bool(self._errors))
            self._pool = None

    # -- reads and deletes ----------------------------------------------------------------

    def get_bytes(self, key: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.root.bucket, Key=self._key(key))
        except self.client.exceptions.NoSuchKey:
            return None
        return response["Body"].read()

    def delete(self, keys: Iterable[str]) -> int:
        """Batched ``DeleteObjects``; raises naming the keys S3 refused to delete."""
        keys = list(keys)
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            response = self.client.delete_objects(
                Bucket=self.root.bucket,
                Delete={"Objects": [{"Key": self._key(k)} for k in batch], "Quiet": True},
            )
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise RuntimeError(
                    f"S3 refused to delete {len(errors)} object(s) under {self.root_uri}; first: "
                    f"{first.get('Key')}: {first.get('Code')} {first.get('Message')}"
                )
        return len(keys)

    def discard_partial(self, keys: Iterable[str]) -> int:
        """Nothing to discard: a PutObject is atomic, and an interrupted multipart upload
        is aborted by the bucket's lifecycle rule (``etl3 setup-bucket``)."""
        return 0

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        yield from ((k, size) for k, size, _ in self.list_with_etags(prefix))

    def list_with_etags(self, prefix: str) -> Iterator[tuple[str, int, str]]:
        """(key, size, ETag) of every object under ``prefix``."""
        strip = len(self.root.prefix) + 1 if self.root.prefix else 0
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.root.bucket, Prefix=self._key(prefix)):
            for obj in page.get("Contents", []):
                yield obj["Key"][strip:], obj["Size"], obj["ETag"]

    def uri(self, key: str) -> str:
        return self.root.join(key)

    def table_uri(self, key: str) -> str:
        return self.root.join(key)

    def catalog_uri(self, key: str) -> str | None:
        return self.root.join(key)

    def file_io_properties(self) -> dict[str, str]:
        return self.connection.pyiceberg_properties()

    def reader_options(self) -> dict[str, str] | None:
        return self.connection.polars_storage_options()

    def open_input_file(self, key: str) -> pa.NativeFile:
        return self.connection.pyarrow_filesystem().open_input_file(f"{self.root.bucket}/{self._key(key)}")

    def stat(self, key: str) -> ObjectStat | None:
        try:
            head = self.client.head_object(Bucket=self.root.bucket, Key=self._key(key))
        except self.client.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ObjectStat(size=head["ContentLength"], fingerprint=f"etag:{head['ETag'].strip(chr(34))}")

    def put_file(self, key: str, path: str) -> None:
        """One PutObject, or a multipart upload above the threshold; then ``path`` is removed."""
        from boto3.s3.transfer import TransferConfig

        try:
            self.client.upload_file(
                path,
                self.root.bucket,
                self._key(key),
                ExtraArgs={"ServerSideEncryption": SERVER_SIDE_ENCRYPTION},
                Config=TransferConfig(multipart_threshold=self.multipart_threshold, use_threads=False),
            )
        except Exception as error:
            raise S3UploadError(f"upload of {self.uri(key)} failed: {error}") from error
        os.remove(path)
