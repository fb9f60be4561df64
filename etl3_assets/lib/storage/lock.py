"""One writer per month: a lease per (warehouse, output, month) kept in the warehouse itself.

Whatever starts a month's write (``etl3 materialize``, ``dagster asset materialize``, a UI
backfill, the sensor, a Kubernetes step), the run queue of ``dagster.yaml`` sees only some
of them; the warehouse is the one thing they all share, so the lock lives there:
``_etl3/locks/<output>/<YYYY-MM>.json``, a small JSON body naming the holder (run id, host,
pid, command), when it took the lease and when the lease expires.

Every change of the lease object is a compare-and-swap that the store performs itself:

* create: locally ``os.open(O_CREAT | O_EXCL)`` then fsync; on S3 ``PutObject`` with
  ``If-None-Match: *``. Exactly one of any number of racing creators wins.
* renew (the holder's heartbeat thread, every quarter lease), take over (a waiter, once
  the lease expired) and release: on S3 ``PutObject``/``DeleteObject`` with ``If-Match``
  on the ETag last seen; locally a read-compare-rename (or unlink) done while holding an
  ``flock`` on the lock folder, which the kernel drops when its process dies, so it can
  never be left behind. Two waiters that both saw the same expired lease cannot both
  take it over: the second one's precondition no longer holds.

Expiry is judged on the store's clock, not the caller's: on S3 the lease object's
``Last-Modified`` against the ``Date`` of the response that read it, locally the file's
mtime against this host's clock. Hosts with skewed clocks therefore agree on it. A holder
that stops renewing (killed, frozen, cut off) loses the month after one lease; a holder
that finds its lease taken over stops renewing and its ``with`` block raises
``LeaseLostError`` instead of reporting success.

The lease's ETag changes on every write because the body carries a fresh nonce, so
``If-Match`` never confuses two writes of equal content.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import random
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from etl3_assets.lib.storage.interface import WarehouseStorage
from etl3_assets.lib.storage.local import LocalStorage

LOCK_PREFIX = "_etl3/locks"
HEARTBEATS_PER_LEASE = 4
"""The holder renews this many times per lease, so a few failed renewals in a row (a
slow or briefly unreachable store) do not lose the month."""
MIN_LEASE_SECONDS = 2.0
"""S3's ``Last-Modified`` and ``Date`` have one-second resolution; shorter leases could
expire between two heartbeats on rounding alone."""
COMMAND_CHARS = 200
"""The holder's command line is kept this short in the lease: a Dagster step process's
argument list carries serialized run data."""
_CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "404", "412", "409"}
_UNSUPPORTED_CODES = {"NotImplemented", "501"}


class MonthLockedError(RuntimeError):
    """Another run holds the month and did not let go within the wait."""


class LeaseLostError(RuntimeError):
    """The holder's lease was taken over (it stopped renewing for longer than a lease)."""


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class LockOwner:
    run_id: str | None
    host: str
    pid: int
    command: str

    @classmethod
    def current(cls, run_id: str | None = None) -> LockOwner:
        command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv and sys.argv[0] else "python"
        return cls(run_id, socket.gethostname(), os.getpid(), command[:COMMAND_CHARS])


@dataclass(frozen=True)
class StoredLease:
    """A lease as read back: its body (None when unreadable), its version (ETag or
    content hash) and whether it has expired by the store's clock."""

    body: dict[str, Any] | None
    version: str
    expired: bool

    def describe(self) -> str:
        b = self.body or {}
        who = f"run {b['run_id']}" if b.get("run_id") else "a process"
        since = b.get("acquired_at", "?")
        return (
            f"{who} (pid {b.get('pid', '?')} on host {b.get('host', '?')}, since {since}, "
            f"lease expires {b.get('expires_at', '?')})"
        )


class _LocalLeases:
    """Leases as files under a local warehouse folder."""

    def __init__(self, root: Path):
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key

    @contextlib.contextmanager
    def _guard(self, path: Path) -> Iterator[None]:
        """An exclusive ``flock`` on the lock folder for one read-compare-write: short,
        and released by the kernel if this process dies inside it."""
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    @staticmethod
    def _fsync_dir(folder: Path) -> None:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self, key: str, lease_seconds: float) -> StoredLease | None:
        path = self._path(key)
        try:
            with open(path, "rb") as fh:
                data = fh.read()
                mtime = os.fstat(fh.fileno()).st_mtime
        except FileNotFoundError:
            return None
        body = _decode(data)
        ttl = float(body.get("lease_seconds", lease_seconds)) if body else lease_seconds
        released = bool(body and body.get("released"))
        return StoredLease(body, hashlib.md5(data).hexdigest(), released or time.time() > mtime + ttl)

    def create(self, key: str, data: bytes) -> str | None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return None
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._fsync_dir(path.parent)
        return hashlib.md5(data).hexdigest()

    def replace(self, key: str, data: bytes, expected: str) -> str | None:
        path = self._path(key)
        with self._guard(path):
            try:
                current = path.read_bytes()
            except FileNotFoundError:
                return None
            if hashlib.md5(current).hexdigest() != expected:
                return None
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            self._fsync_dir(path.parent)
        return hashlib.md5(data).hexdigest()

    def delete(self, key: str, expected: str) -> bool:
        path = self._path(key)
        with self._guard(path):
            try:
                current = path.read_bytes()
            except FileNotFoundError:
                return False
            if hashlib.md5(current).hexdigest() != expected:
                return False
            path.unlink()
        return True


class _S3Leases:
    """Leases as objects under an S3 warehouse, changed only by conditional requests.

    A client of its own (not the storage's), so lock traffic is not counted as the
    month's writes and the heartbeat thread shares no connection pool with uploads.
    """

    def __init__(self, storage: Any):
        self.bucket = storage.root.bucket
        self.root = storage.root
        self.client = storage.connection.client("s3")
        self.encryption = {"ServerSideEncryption": "AES256"}

    def _key(self, key: str) -> str:
        return self.root.key(key)

    @staticmethod
    def _code(error: Exception) -> str:
        response = getattr(error, "response", None) or {}
        code = str(response.get("Error", {}).get("Code", ""))
        status = str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        return code if code not in ("", None) else status

    def _conflict(self, error: Exception) -> bool:
        response = getattr(error, "response", None) or {}
        status = str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        return self._code(error) in _CONFLICT_CODES or status in ("404", "409", "412")

    def read(self, key: str, lease_seconds: float) -> StoredLease | None:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if self._code(error) in ("NoSuchKey", "404", "NotFound"):
                return None
            raise
        data = response["Body"].read()
        body = _decode(data)
        ttl = float(body.get("lease_seconds", lease_seconds)) if body else lease_seconds
        written = response["LastModified"].timestamp()
        date = response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        store_now = parsedate_to_datetime(date).timestamp() if date else time.time()
        released = bool(body and body.get("released"))
        return StoredLease(body, response["ETag"], released or store_now > written + ttl)

    def create(self, key: str, data: bytes) -> str | None:
        from botocore.exceptions import ClientError

        try:
            response = self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, IfNoneMatch="*", **self.encryption
            )
        except ClientError as error:
            if self._conflict(error):
                return None
            raise
        return response["ETag"]

    def replace(self, key: str, data: bytes, expected: str) -> str | None:
        from botocore.exceptions import ClientError

        try:
            response = self.client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, IfMatch=expected, **self.encryption
            )
        except ClientError as error:
            if self._conflict(error):
                return None
            raise
        return response["ETag"]

    def delete(self, key: str, expected: str) -> bool:
        """``DeleteObject`` with ``If-Match``; where the store does not implement a
        conditional delete, the lease is overwritten (``If-Match``) as released instead,
        which the next run takes over at once."""
        from botocore.exceptions import ClientError

        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key), IfMatch=expected)
            return True
        except ClientError as error:
            if self._code(error) in _UNSUPPORTED_CODES:
                return self.replace(key, json.dumps({"released": True, "nonce": uuid.uuid4().hex}).encode(), expected) is not None
            if self._conflict(error):
                return False
            raise


def _decode(data: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None  # a create interrupted before its write: expires by its age
    return body if isinstance(body, dict) else None


def lease_store(storage: WarehouseStorage) -> _LocalLeases | _S3Leases:
    from etl3_assets.lib.storage.s3 import S3Storage

    if isinstance(storage, LocalStorage):
        return _LocalLeases(storage.root)
    if isinstance(storage, S3Storage):
        return _S3Leases(storage)
    raise TypeError(f"no month lock for storage {type(storage).__name__}")


def lock_key(output: str, year_month: str) -> str:
    return f"{LOCK_PREFIX}/{output}/{year_month}.json"


class MonthLease:
    """The lease of one month of one output, held from ``acquire`` to ``release`` and
    renewed meanwhile by a daemon thread. Use ``month_lock`` rather than this directly."""

    def __init__(
        self,
        storage: WarehouseStorage,
        output: str,
        year_month: str,
        *,
        lease_seconds: float,
        wait_seconds: float,
        owner: LockOwner,
        log: Callable[[str], None] = lambda _msg: None,
    ):
        self.store = lease_store(storage)
        self.where = storage.root_uri
        self.output = output
        self.year_month = year_month
        self.key = lock_key(output, year_month)
        self.lease_seconds = max(MIN_LEASE_SECONDS, float(lease_seconds))
        self.wait_seconds = max(0.0, float(wait_seconds))
        self.owner = owner
        self.log = log
        self.lease_id = uuid.uuid4().hex
        self.acquired_at: float | None = None
        self.version: str | None = None
        self.lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()

    # -- the body ---------------------------------------------------------------------

    def _body(self, now: float) -> bytes:
        return json.dumps(
            {
                "output": self.output,
                "year_month": self.year_month,
                "lease_id": self.lease_id,
                "run_id": self.owner.run_id,
                "host": self.owner.host,
                "pid": self.owner.pid,
                "command": self.owner.command,
                "acquired_at": _iso(self.acquired_at or now),
                "renewed_at": _iso(now),
                "expires_at": _iso(now + self.lease_seconds),
                "lease_seconds": self.lease_seconds,
                "nonce": uuid.uuid4().hex,
            },
            indent=1,
        ).encode()

    def _held_message(self, holder: StoredLease) -> str:
        return f"month {self.year_month} of {self.output} is being written by {holder.describe()}"

    # -- acquire ----------------------------------------------------------------------

    def _try_once(self) -> StoredLease | None:
        """One attempt: create the lease, or take over an expired one. Returns None when
        this lease now holds the month, else the lease that holds it."""
        now = time.time()
        self.acquired_at = now
        version = self.store.create(self.key, self._body(now))
        if version is not None:
            self.version = version
            return None
        current = self.store.read(self.key, self.lease_seconds)
        if current is None:  # released between our create and read: try again at once
            return self._try_once()
        if not current.expired:
            return current
        version = self.store.replace(self.key, self._body(now), current.version)
        if version is None:
            return self.store.read(self.key, self.lease_seconds) or current
        self.version = version
        if current.body and not current.body.get("released"):
            self.log(f"took over the expired lease of {current.describe()} on month {self.year_month} of {self.output}")
        return None

    def acquire(self) -> None:
        deadline = time.monotonic() + self.wait_seconds
        logged: str | None = None
        while True:
            holder = self._try_once()
            if holder is None:
                self.log(
                    f"month {self.year_month} of {self.output}: lease taken in {self.where} "
                    f"({self.lease_seconds:g} s, renewed every {self.lease_seconds / HEARTBEATS_PER_LEASE:g} s)"
                )
                self._start_heartbeat()
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise MonthLockedError(self._held_message(holder))
            lease_id = (holder.body or {}).get("lease_id")
            if lease_id != logged:
                command = (holder.body or {}).get("command")
                self.log(
                    f"{self._held_message(holder)}; waiting up to {remaining:.0f} s"
                    + (f" (its command: {command})" if command else "")
                )
                logged = lease_id
            time.sleep(min(remaining, random.uniform(0.5, 1.0) * min(2.0, self.lease_seconds / HEARTBEATS_PER_LEASE)))

    # -- renew ------------------------------------------------------------------------

    def _start_heartbeat(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._heartbeat, name=f"lease-{self.output}-{self.year_month}", daemon=True
        )
        self._thread.start()

    def renew(self) -> bool:
        """Push the expiry one lease ahead; False once the lease is lost."""
        with self._mutex:
            if self.lost or self.version is None:
                return False
            version = self.store.replace(self.key, self._body(time.time()), self.version)
            if version is None:
                current = self.store.read(self.key, self.lease_seconds)
                by = current.describe() if current and current.body else "nobody (it was removed)"
                self.lost = f"the lease on month {self.year_month} of {self.output} was taken over by {by}"
                return False
            self.version = version
            return True

    def _heartbeat(self) -> None:
        interval = self.lease_seconds / HEARTBEATS_PER_LEASE
        last_ok = time.monotonic()
        while not self._stop.wait(interval):
            try:
                if not self.renew():
                    return
                last_ok = time.monotonic()
            except Exception as error:  # the store is unreachable: try again next beat
                if time.monotonic() - last_ok > self.lease_seconds:
                    with self._mutex:
                        self.lost = f"the lease on month {self.year_month} of {self.output} could not be renewed: {error}"
                    return

    # -- release ----------------------------------------------------------------------

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._mutex:
            if self.version is not None and not self.lost:
                try:
                    self.store.delete(self.key, self.version)
                except Exception as error:  # noqa: BLE001 - the store is unreachable (an outage)
                    # the run's own outcome (often that same outage) must not be masked:
                    # the lease, no longer renewed, expires by itself
                    self.log(
                        f"month {self.year_month} of {self.output}: the lease could not be released ({error});"
                        f" it expires within {self.lease_seconds:g} s"
                    )
            self.version = None


def month_lock_settings() -> tuple[float, float]:
    """(lease, wait) seconds from the environment, read when a lock is taken, so each
    process (a CLI run, a Dagster step) follows its own environment."""
    from etl3_assets.lib.settings import Settings

    settings = Settings.from_env()
    return settings.month_lock_lease_seconds, settings.month_lock_wait_seconds


@contextlib.contextmanager
def month_lock(
    storage: WarehouseStorage,
    output: str,
    year_month: str,
    *,
    run_id: str | None = None,
    log: Callable[[str], None] = lambda _msg: None,
    lease_seconds: float | None = None,
    wait_seconds: float | None = None,
) -> Iterator[MonthLease]:
    """Hold the month of ``output`` in ``storage`` for the ``with`` block.

    Waits up to ``wait_seconds`` (logging who holds it), then raises
    ``MonthLockedError`` naming the month and the holder. Raises ``LeaseLostError`` after
    the block if the lease was taken over while it ran, so a write that may have
    interleaved with another never reports success. Unset durations come from the
    settings (``MONTH_LOCK_LEASE_SECONDS``, ``MONTH_LOCK_WAIT_SECONDS``).
    """
    if lease_seconds is None or wait_seconds is None:
        default_lease, default_wait = month_lock_settings()
        lease_seconds = default_lease if lease_seconds is None else lease_seconds
        wait_seconds = default_wait if wait_seconds is None else wait_seconds
    lease = MonthLease(
        storage, output, year_month,
        lease_seconds=lease_seconds, wait_seconds=wait_seconds, owner=LockOwner.current(run_id), log=log,
    )
    lease.acquire()
    try:
        yield lease
    finally:
        lease.release()
    if lease.lost:
        raise LeaseLostError(f"{lease.lost}; this run's write of the month may have interleaved with it: run the month again")
