"""Issue 14 item 2: two materializations of one month started at the same moment, by the
commands a user runs (``etl3 materialize``, ``dagster asset materialize``, one of each),
on a local warehouse and on SeaweedFS. Each either succeeds (the two serialized) or fails
naming the month and the run holding it; the month ends oracle-exact and every other
month byte-identical. A holder killed with SIGKILL blocks the month one lease at most."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import dagster as dg
import polars as pl
import psutil
import pytest

from etl3_assets.lib.hive.manifest import MANIFEST_PREFIX

from etl3_assets_tests.support.deployment import data_snapshot, materialize_month
from etl3_assets_tests.support.oracle import READERS, as_read_from_hive, assert_same_rows, expected_enriched
from etl3_assets_tests.support.s3_servers import ACCESS_KEY, REGION, SECRET_KEY
from etl3_assets_tests.support import REPO

MONTH = "2025-08"
OTHER_MONTHS = ("2025-07", "2025-09")
HELD = re.compile(rf"month {MONTH} of (staged_enriched_month|fact_rate_enriched\w*) is being written by run [0-9a-f-]{{36}} \(pid \d+ on host ")

ETL3 = [sys.executable, "-m", "etl3_assets.cli", "materialize", "--partition", MONTH]


def dagster_materialize(selection: str) -> list[str]:
    return [
        sys.executable, "-m", "dagster", "asset", "materialize", "-m", "etl3_assets.definitions",
        "--select", selection, "--partition", MONTH,
    ]


PAIRS = {
    "etl3+etl3": ("etl3", "etl3"),
    "etl3+dagster": ("etl3", "dagster"),
}
# Two Dagster CLIs at once cost the most (each loads the code location) and add no path
# the others lack: the lock is taken in the same step code whatever process runs it.


def run_pair(commands: list[list[str]], env: dict, cwd: Path) -> list[tuple[int, str]]:
    """Start the commands at the same moment; (exit code, output) of each."""
    procs = [
        subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for cmd in commands
    ]
    return [_finish(p) for p in procs]


def _finish(proc: subprocess.Popen) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=600)
    return proc.returncode, out


def assert_outcomes(outcomes: list[tuple[int, str]], wait: int) -> int:
    """Each run succeeded, or failed naming the month and the holder. Waiting, both
    succeed. Without waiting, each output's lease is its own: the two runs can each
    finish one output and fail fast on the other (each output then whole from one run;
    the callers check the month is exact). Returns how many failed."""
    failed = 0
    for code, out in outcomes:
        if code != 0:
            failed += 1
            assert HELD.search(out), out[-4000:]
    if wait:
        assert failed == 0, [out[-3000:] for _, out in outcomes]
    return failed


def base_env(tmp_path: Path, wait: int, **extra) -> dict:
    home = tmp_path / "dagster_home"
    if not home.exists():
        # the instance's storage made once, before the pair: two processes creating a
        # fresh Dagster instance at the same moment race inside Dagster's own schema setup
        home.mkdir()
        (home / "dagster.yaml").write_text("")
        dg.DagsterInstance.from_config(str(home)).dispose()
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "DAGSTER_HOME": str(home),
        "MONTH_LOCK_WAIT_SECONDS": str(wait),
        "MAX_WORKERS": "2",
        **extra,
    }


# --------------------------------------------------------------------------------------
# local folder
# --------------------------------------------------------------------------------------


def assert_local_month_exact(etl1_root: Path, warehouse: Path, others: dict[str, str]) -> None:
    assert_same_rows(READERS["polars"](warehouse, MONTH), as_read_from_hive(expected_enriched(str(etl1_root), MONTH)))
    files = {k for k in data_snapshot(warehouse) if "/year=2025/month=08/" in k}
    manifest = pl.read_parquet(warehouse / MANIFEST_PREFIX / f"{MONTH}.parquet")
    assert set(manifest["key"].to_list()) == files
    assert not (warehouse / MANIFEST_PREFIX / f"{MONTH}.pending").exists()
    assert {k: v for k, v in data_snapshot(warehouse).items() if "/year=2025/month=08/" not in k} == others
    assert not list((warehouse / "_etl3" / "locks").rglob("*.json")), "a finished run left its lease"


@pytest.mark.parametrize("pair", sorted(PAIRS))
def test_two_runs_of_one_month_at_once_on_a_local_warehouse(pair, etl1_root, tmp_path, dagster_instance):
    warehouse = tmp_path / "warehouse"
    for month in OTHER_MONTHS:
        materialize_month(etl1_root, warehouse, month, instance=dagster_instance)
    others = data_snapshot(warehouse)
    commands = {"etl3": ETL3, "dagster": dagster_materialize("*fact_rate_enriched")}
    for wait in (120, 0):
        env = base_env(tmp_path, wait, ETL1_ROOT=str(etl1_root), WAREHOUSE_ROOT=str(warehouse))
        outcomes = run_pair([commands[kind] for kind in PAIRS[pair]], env, tmp_path)
        print(pair, "wait", wait, "exit codes", [code for code, _ in outcomes])
        assert_outcomes(outcomes, wait)
        assert_local_month_exact(etl1_root, warehouse, others)
    etl3_outputs = [out for code, out in outcomes if code == 0 and f"wrote {MONTH} to " in out]
    for out in etl3_outputs:
        assert f"wrote {MONTH} to {warehouse / 'partitioned-data'} (" in out


# --------------------------------------------------------------------------------------
# SeaweedFS
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("pair", ["etl3+dagster"])
def test_two_runs_of_one_month_at_once_on_seaweedfs(pair, etl1_root, tmp_path, s3_bucket, moto_endpoint, glue_client):
    from etl3_assets_tests.support.s3_month import ETL1, WAREHOUSE, assert_month_exact, glue_month, materialize_s3, month_keys

    s3_bucket.upload_tree(etl1_root, ETL1)
    for month in OTHER_MONTHS:
        materialize_s3(s3_bucket, moto_endpoint, month)
    others = {m: month_keys(s3_bucket, m) for m in OTHER_MONTHS}
    other_partitions = {m: glue_month(glue_client, m) for m in OTHER_MONTHS}
    commands = {"etl3": ETL3, "dagster": dagster_materialize("*fact_rate_enriched*")}
    for wait in (120, 0):
        env = base_env(
            tmp_path, wait,
            ETL1_ROOT=s3_bucket.uri(ETL1), WAREHOUSE_ROOT=s3_bucket.uri(WAREHOUSE),
            AWS_ENDPOINT_URL_S3=s3_bucket.endpoint, AWS_ENDPOINT_URL_GLUE=moto_endpoint,
            AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY=SECRET_KEY, S3_REGION=REGION,
        )
        outcomes = run_pair([commands[kind] for kind in PAIRS[pair]], env, tmp_path)
        print(pair, "wait", wait, "exit codes", [code for code, _ in outcomes])
        assert_outcomes(outcomes, wait)
        assert_month_exact(s3_bucket, etl1_root)
        assert {m: month_keys(s3_bucket, m) for m in OTHER_MONTHS} == others  # same keys, same ETags
        assert {m: glue_month(glue_client, m) for m in OTHER_MONTHS} == other_partitions
        assert not s3_bucket.objects(f"{WAREHOUSE}/_etl3/locks/"), "a finished run left its lease"
    for code, out in outcomes:
        if code == 0 and f"wrote {MONTH} to " in out:
            assert f"wrote {MONTH} to {s3_bucket.uri(WAREHOUSE)}/partitioned-data (" in out


# --------------------------------------------------------------------------------------
# a holder killed mid-write
# --------------------------------------------------------------------------------------

LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) [+-]\d{4} - dagster - \w+ - .*?(is being written by run|took over the expired lease)", re.M)


def test_a_run_killed_while_writing_blocks_the_month_one_lease_at_most(etl1_root, tmp_path):
    """``etl3 materialize`` is SIGKILLed (its whole process group) while it holds the
    month's write lease; the next run takes the lease over once it expired, repairs
    the month and ends exact."""
    warehouse = tmp_path / "warehouse"
    materialize_month(etl1_root, warehouse, "2025-07")
    others = data_snapshot(warehouse)
    lease = 6
    env = base_env(
        tmp_path, 120, ETL1_ROOT=str(etl1_root), WAREHOUSE_ROOT=str(warehouse),
        MONTH_LOCK_LEASE_SECONDS=str(lease),
        # many small files and tiny chunks: the write lasts long enough to be caught
        MAX_ROWS_PER_FILE="1", CHUNK_SIZE="10", MEMORY_LIMIT_MB="1",
    )
    lease_file = warehouse / "_etl3" / "locks" / "fact_rate_enriched" / f"{MONTH}.json"
    victim = subprocess.Popen(
        ETL3, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        journals = warehouse / MANIFEST_PREFIX / f"{MONTH}.pending"
        deadline = time.monotonic() + 300
        while victim.poll() is None and time.monotonic() < deadline:
            if lease_file.exists() and journals.exists() and any(journals.iterdir()):
                break  # writing: its first bucket is journaled
            time.sleep(0.01)
        assert victim.poll() is None, "the run ended before it could be killed mid-write"
        # every process of the run: etl3 runs the month in a process group of its own
        # behind its front process (cli.run_behind_front)
        groups = {os.getpgid(p.pid) for p in psutil.Process(victim.pid).children(recursive=True)}
        for group in {victim.pid, *groups}:
            os.killpg(group, signal.SIGKILL)
        killed = time.monotonic()
        victim.wait()
    finally:
        if victim.poll() is None:
            os.killpg(victim.pid, signal.SIGKILL)
            victim.wait()
    assert lease_file.exists(), "the killed run's lease is left behind"
    assert any(journals.iterdir()), "killed before it journaled"

    env["MAX_ROWS_PER_FILE"] = "1000000"
    code, out = _finish(subprocess.Popen(ETL3, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    assert code == 0, out[-4000:]
    assert "took over the expired lease of run " in out, out[-4000:]
    # if the next run had to wait for the dead holder, it waited one lease at most
    stamps = [(datetime.strptime(t, "%Y-%m-%d %H:%M:%S"), what) for t, what in LOG_TIME.findall(out)]
    waits = [s for s, what in stamps if what == "is being written by run"]
    takeover = [s for s, what in stamps if what == "took over the expired lease"]
    if waits:
        assert (takeover[0] - waits[0]).total_seconds() <= lease + 2, stamps
    assert time.monotonic() - killed < 240
    assert_local_month_exact(etl1_root, warehouse, others)
