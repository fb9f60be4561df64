"""A process that takes a month lock, for the lock tests: ``python -m
etl3_assets_tests.support.lock_holder SPEC`` with SPEC a JSON object (storage, month, lease,
wait, hold, ready, log). Prints ``HELD``/``LOCKED <message>``/``LOST <message>`` and
exits 0, 2 (locked) or 3 (lost)."""

from __future__ import annotations

import json
import os
import sys
import time

from etl3_assets.lib.storage import LocalStorage
from etl3_assets.lib.storage.lock import LeaseLostError, MonthLockedError, month_lock
from etl3_assets.lib.storage.roots import Root
from etl3_assets.lib.storage.s3 import S3Connection, S3Storage

OUTPUT = "fact_rate_enriched"


def make_storage(spec: dict):
    """``{"root": path}`` or ``{"root": "s3://…", "endpoint": …, key, secret, region}``."""
    if not spec["root"].startswith("s3://"):
        return LocalStorage(spec["root"])
    connection = S3Connection(
        region_name=spec["region"], endpoint_url=spec["endpoint"], aws_access_key_id=spec["key"],
        aws_secret_access_key=spec["secret"], use_ssl=False,
    )
    return S3Storage(Root(spec["root"]), connection)


def log_line(path: str | None, text: str) -> None:
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{text}\n".encode())
        finally:
            os.close(fd)


def hold(spec: dict) -> int:
    storage = make_storage(spec["storage"])
    if spec.get("ready"):  # imported: wait for the start time on stdin
        print("READY", flush=True)
        start_at = float(sys.stdin.readline())
        time.sleep(max(0.0, start_at - time.time()))
    me = f"pid{os.getpid()}"
    begun = time.time()
    try:
        for _ in range(spec.get("times", 1)):
            with month_lock(
                storage, OUTPUT, spec["month"], run_id=spec.get("run_id", me),
                lease_seconds=spec["lease"], wait_seconds=spec["wait"],
            ):
                print(f"HELD at {time.time():.3f} (tried from {begun:.3f})", flush=True)
                log_line(spec.get("log"), f"enter {me}")
                time.sleep(spec["hold"])
                log_line(spec.get("log"), f"exit {me}")
                released = time.time()
    except MonthLockedError as error:
        print(f"LOCKED {error} (tried from {begun:.3f} to {time.time():.3f})", flush=True)
        return 2
    except LeaseLostError as error:
        print(f"LOST {error}", flush=True)
        return 3
    print(f"RELEASED at {released:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(hold(json.loads(sys.argv[1])))
