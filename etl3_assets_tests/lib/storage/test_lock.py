"""The month lease (lib/storage/lock.py) on a local folder and on SeaweedFS: acquire,
contend, renew, expire, take over, and the races between threads and processes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from etl3_assets.lib.storage.lock import LeaseLostError, MonthLockedError, lock_key, month_lock

from etl3_assets_tests.support.lock_holder import OUTPUT, make_storage
from etl3_assets_tests.support.s3_servers import ACCESS_KEY, REGION, SECRET_KEY
from etl3_assets_tests.support import REPO

MONTH = "2025-08"
HOLD = 8.0


@pytest.fixture(params=["local", "s3"])
def spec(request, tmp_path) -> dict:
    """Where the warehouse is, as the holder processes take it."""
    if request.param == "local":
        return {"root": str(tmp_path / "warehouse")}
    target = request.getfixturevalue("s3_bucket")
    return {
        "root": target.uri("warehouse"), "endpoint": target.endpoint,
        "key": ACCESS_KEY, "secret": SECRET_KEY, "region": REGION,
    }


def read_lease(spec: dict) -> dict | None:
    storage = make_storage(spec)
    data = storage.get_bytes(lock_key(OUTPUT, MONTH))
    return None if data is None else json.loads(data)


def start_holder(spec: dict, **settings) -> subprocess.Popen:
    args = {"storage": spec, "month": MONTH, "lease": 3, "wait": 0, "hold": 60, **settings}
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "etl3_assets_tests.support.lock_holder", json.dumps(args)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )


def wait_held(proc: subprocess.Popen) -> None:
    line = proc.stdout.readline()
    assert line.startswith("HELD"), line


def test_lease_names_its_holder_and_release_removes_it(spec):
    storage = make_storage(spec)
    with month_lock(storage, OUTPUT, MONTH, run_id="run-a", lease_seconds=30, wait_seconds=0) as lease:
        body = read_lease(spec)
        assert body["run_id"] == "run-a" and body["pid"] == os.getpid()
        assert body["output"] == OUTPUT and body["year_month"] == MONTH and body["lease_seconds"] == 30
        assert body["expires_at"] > body["acquired_at"]
        assert lease.version
    assert read_lease(spec) is None
    # released: the next run takes the month at once
    with month_lock(storage, OUTPUT, MONTH, run_id="run-b", lease_seconds=30, wait_seconds=0):
        assert read_lease(spec)["run_id"] == "run-b"
    # another month or another output is another lease
    with month_lock(storage, OUTPUT, MONTH, run_id="run-c", lease_seconds=30, wait_seconds=0):
        with month_lock(storage, OUTPUT, "2025-09", run_id="run-d", lease_seconds=30, wait_seconds=0):
            with month_lock(storage, "other_output", MONTH, run_id="run-e", lease_seconds=30, wait_seconds=0):
                pass


def test_a_second_run_fails_naming_month_and_holder_or_waits_for_it(spec):
    storage = make_storage(spec)
    logged: list[str] = []
    with month_lock(storage, OUTPUT, MONTH, run_id="run-a", lease_seconds=30, wait_seconds=0):
        started = time.monotonic()
        with pytest.raises(MonthLockedError) as refused:
            with month_lock(storage, OUTPUT, MONTH, run_id="run-b", lease_seconds=30, wait_seconds=1.5, log=logged.append):
                pass
        assert time.monotonic() - started >= 1.5
    message = str(refused.value)
    assert message.startswith(f"month {MONTH} of {OUTPUT} is being written by run run-a (pid {os.getpid()} on host ")
    assert ", since " in message and ", lease expires " in message
    assert any("waiting up to" in line and "run run-a" in line for line in logged)

    holder = threading.Thread(target=lambda: _hold(storage, "run-a", 1.5))
    holder.start()
    time.sleep(0.5)
    started = time.monotonic()
    with month_lock(storage, OUTPUT, MONTH, run_id="run-b", lease_seconds=30, wait_seconds=20):
        waited = time.monotonic() - started
        assert read_lease(spec)["run_id"] == "run-b"
    holder.join()
    assert 0.5 <= waited < 10


def _hold(storage, run_id: str, seconds: float) -> None:
    with month_lock(storage, OUTPUT, MONTH, run_id=run_id, lease_seconds=30, wait_seconds=0):
        time.sleep(seconds)


def test_the_heartbeat_keeps_a_live_holder_past_its_lease(spec):
    storage = make_storage(spec)
    with month_lock(storage, OUTPUT, MONTH, run_id="run-a", lease_seconds=2, wait_seconds=0):
        first = read_lease(spec)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with pytest.raises(MonthLockedError):
                with month_lock(storage, OUTPUT, MONTH, run_id="run-b", lease_seconds=2, wait_seconds=0):
                    pass
            time.sleep(0.4)
        last = read_lease(spec)
    assert last["lease_id"] == first["lease_id"]
    assert last["expires_at"] > first["expires_at"]
    assert read_lease(spec) is None


def test_a_killed_holder_blocks_the_month_for_one_lease_at_most(spec):
    lease = 3
    holder = start_holder(spec, lease=lease, run_id="killed-run")
    try:
        wait_held(holder)
        time.sleep(1)  # a heartbeat or so
        holder.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        holder.wait()
    finally:
        holder.kill()
    assert read_lease(spec)["run_id"] == "killed-run"
    logged: list[str] = []
    storage = make_storage(spec)
    with month_lock(storage, OUTPUT, MONTH, run_id="next-run", lease_seconds=30, wait_seconds=30, log=logged.append):
        waited = time.monotonic() - killed
        assert read_lease(spec)["run_id"] == "next-run"
    # not before the lease of its last renewal ran out, not much after
    assert lease / 2 <= waited <= lease + 2.5, waited
    assert any(line.startswith("took over the expired lease of run killed-run") for line in logged), logged


def test_racing_takers_of_an_expired_lease_have_one_winner(spec):
    """Threads and processes all see the same expired lease and race to take it over:
    the one that wins holds it, every other one that tried meanwhile is refused, and no
    two holds overlap (a participant slowed down past the winner's release may take
    the month after it, legitimately)."""
    storage = make_storage(spec)
    for round_ in range(2):
        holder = start_holder(spec, lease=2, run_id=f"dead-{round_}")
        wait_held(holder)
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        time.sleep(3.2)  # expired by now
        procs = [start_holder(spec, lease=4, wait=0, hold=HOLD, ready=True, run_id=f"p{i}") for i in range(3)]
        for p in procs:
            assert p.stdout.readline() == "READY\n"
        start_at = time.time() + 0.5  # everyone at the line, threads and processes
        for p in procs:
            p.stdin.write(f"{start_at}\n")
            p.stdin.flush()
        holds: list[tuple[float, float]] = []  # (acquired, released) of each winner
        refusals: list[tuple[float, float]] = []  # (tried from, refused at)

        def take(name: str) -> None:
            time.sleep(max(0.0, start_at - time.time()))
            tried = time.time()
            try:
                with month_lock(storage, OUTPUT, MONTH, run_id=name, lease_seconds=4, wait_seconds=0):
                    acquired = time.time()
                    time.sleep(HOLD)
                    released = time.time()
                holds.append((acquired, released))
            except MonthLockedError as error:
                assert str(error).startswith(f"month {MONTH} of {OUTPUT} is being written by run ")
                refusals.append((tried, time.time()))

        threads = [threading.Thread(target=take, args=(f"t{i}",)) for i in range(4)]
        for t in threads:
            t.start()
        outputs = [p.communicate(timeout=120)[0] for p in procs]
        for t in threads:
            t.join()
        for out in outputs:
            if out.startswith("HELD"):
                held = re.search(r"HELD at ([\d.]+)", out)
                released = re.search(r"RELEASED at ([\d.]+)", out)
                holds.append((float(held[1]), float(released[1])))
            else:
                found = re.search(rf"^LOCKED month {MONTH} of {OUTPUT} is being written by run .*\(tried from ([\d.]+) to ([\d.]+)\)", out)
                assert found, out
                refusals.append((float(found[1]), float(found[2])))
        assert len(holds) + len(refusals) == 7
        holds.sort()
        assert holds, outputs
        for (_, released), (acquired, _) in zip(holds, holds[1:]):
            assert acquired >= released, f"two holders at once: {holds}"
        assert read_lease(spec) is None


def test_writers_never_overlap_under_contention(spec, tmp_path):
    """Threads and processes each take the month three times; their enter/exit records
    never interleave."""
    log = tmp_path / "critical.log"
    storage = make_storage(spec)
    procs = [start_holder(spec, lease=3, wait=120, hold=0.2, times=3, log=str(log)) for _ in range(2)]

    def worker(i: int) -> None:
        me = f"thread{i}"
        for _ in range(3):
            with month_lock(storage, OUTPUT, MONTH, run_id=me, lease_seconds=3, wait_seconds=120):
                with open(log, "a") as fh:
                    fh.write(f"enter {me}\n")
                time.sleep(0.2)
                with open(log, "a") as fh:
                    fh.write(f"exit {me}\n")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        p.communicate(timeout=180)
        assert p.returncode == 0
    lines = log.read_text().splitlines()
    assert len(lines) == 2 * 3 * 5
    for enter, exit_ in zip(lines[::2], lines[1::2]):
        assert enter.startswith("enter ") and exit_ == f"exit {enter.split()[1]}", lines


def test_a_frozen_holder_loses_its_lease_and_leaves_the_new_one_alone(spec):
    """SIGSTOP past the lease: the month is taken over; resumed, the old holder finds out,
    fails instead of reporting success, and does not remove the new holder's lease."""
    holder = start_holder(spec, lease=2, hold=5, run_id="frozen-run")
    try:
        wait_held(holder)
        holder.send_signal(signal.SIGSTOP)
        storage = make_storage(spec)
        with month_lock(storage, OUTPUT, MONTH, run_id="new-run", lease_seconds=30, wait_seconds=30):
            holder.send_signal(signal.SIGCONT)
            out, _ = holder.communicate(timeout=30)
            assert holder.returncode == 3, out
            assert "LOST the lease on month 2025-08 of fact_rate_enriched was taken over by run new-run" in out
            assert read_lease(spec)["run_id"] == "new-run"
        assert read_lease(spec) is None
    finally:
        holder.kill()
        holder.wait()


def test_a_lost_lease_fails_the_block(tmp_path):
    """In-process: the lease is overwritten behind the holder's back (as a take-over
    would); the holder's next heartbeat notices and the block raises."""
    spec = {"root": str(tmp_path / "warehouse")}
    storage = make_storage(spec)
    path = Path(spec["root"]) / lock_key(OUTPUT, MONTH)
    with pytest.raises(LeaseLostError, match="taken over by run intruder"):
        with month_lock(storage, OUTPUT, MONTH, run_id="run-a", lease_seconds=2, wait_seconds=0):
            body = json.loads(path.read_text())
            path.write_text(json.dumps({**body, "run_id": "intruder", "lease_id": "x", "nonce": "y"}))
            time.sleep(1.5)
    assert json.loads(path.read_text())["run_id"] == "intruder"
