"""Issue 23: a month rebuilt after one payer changed writes what changed, and nothing else;
a rebuild SIGKILLed at random moments is repaired by the next run."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote

import polars as pl

from etl3_assets.defs.warehouse.jobs import full_rewrite_run_config
from etl3_assets.lib.hive.manifest import MANIFEST_PREFIX, MonthManifest
from etl3_assets.lib.storage import LocalStorage

from etl3_assets_tests.support import REPO
from etl3_assets_tests.support.crashing_storage import rebuild_month
from etl3_assets_tests.support.deployment import materialize_month, read_etl1, rewrite_etl1, snapshot
from etl3_assets_tests.support.oracle import READERS, as_read_from_hive, assert_same_rows, expected_enriched, month_files

MONTH = "2025-08"
ADDED_PAYER = "uhc=50% o'neil"
REMOVED_PAYER = "blue cross/blue shield, ga"
MANY_BUCKETS = {"memory_limit_mb": 1, "chunk_size": 50, "max_workers": 2}


def file_states(warehouse: Path, month: str = MONTH) -> dict[str, tuple[int, int, int]]:
    """Relative key -> (mtime_ns, inode, size) of every data file of the month: a file
    rewritten in place gets a new inode (written to a temporary name, then renamed)."""
    out = {}
    for path in month_files(warehouse, month):
        st = path.stat()
        out[path.relative_to(warehouse).as_posix()] = (st.st_mtime_ns, st.st_ino, st.st_size)
    return out


def payer_of(key: str) -> str | None:
    value = key.split("/")[1].split("=", 1)[1]
    return None if value == "__HIVE_DEFAULT_PARTITION__" else unquote(value)


def metadata(result) -> dict:
    [mat] = result.asset_materializations_for_node("fact_rate_enriched")
    return {k: v.value for k, v in mat.metadata.items()}


def assert_exact(etl1_root: Path, warehouse: Path, month: str = MONTH) -> None:
    expected = as_read_from_hive(expected_enriched(str(etl1_root), month))
    for name, read in READERS.items():
        assert_same_rows(read(warehouse, month), expected), name
    committed = set(MonthManifest(LocalStorage(warehouse), month).committed()["key"])
    assert {p.relative_to(warehouse).as_posix() for p in month_files(warehouse, month)} == committed
    assert not list(warehouse.rglob("*.tmp"))
    pending = warehouse / MANIFEST_PREFIX / f"{month}.pending"
    assert not pending.exists() or not any(pending.iterdir())


def facts_without(etl1_root: Path, payer: str) -> pl.DataFrame:
    facts = read_etl1(etl1_root, "fact_rate")
    return facts.filter((pl.col("year_month") != MONTH) | (pl.col("payer_slug") != payer).fill_null(True))


def test_one_payer_added_writes_only_that_payers_files(etl1_root, warehouse_root, dagster_instance):
    full = read_etl1(etl1_root, "fact_rate")
    rewrite_etl1(etl1_root, "fact_rate", facts_without(etl1_root, ADDED_PAYER))
    for month in ("2025-07", MONTH):
        materialize_month(etl1_root, warehouse_root, month, instance=dagster_instance, **MANY_BUCKETS)
    before = file_states(warehouse_root)
    july = {k: v for k, v in snapshot(warehouse_root).items() if "/month=07/" in k}
    assert not any(payer_of(k) == ADDED_PAYER for k in before)

    rewrite_etl1(etl1_root, "fact_rate", full)  # ETL1 upserts the payer's rows
    result = materialize_month(etl1_root, warehouse_root, MONTH, instance=dagster_instance, **MANY_BUCKETS)
    meta = metadata(result)
    after = file_states(warehouse_root)

    assert_exact(etl1_root, warehouse_root)
    added = {k for k in after if payer_of(k) == ADDED_PAYER}
    assert added and set(after) - set(before) == added
    assert {k: after[k] for k in before} == before, "every other object is untouched"
    assert {k: v for k, v in snapshot(warehouse_root).items() if "/month=07/" in k} == july
    assert meta["files_written"] == len(added) and meta["files_kept"] == len(before)
    assert meta["files_deleted"] == 0 and meta["files"] == len(after)
    puts = meta["storage_requests"]["PutObject"]
    # the payer's files, plus one journal per bucket that had any, the -previous journal and the manifest
    assert len(added) + 2 < puts <= len(added) + 2 + meta["buckets"], meta["storage_requests"]
    assert meta["retries"] == 0


def test_one_payer_removed_deletes_only_that_payers_files(etl1_root, warehouse_root):
    meta = metadata(materialize_month(etl1_root, warehouse_root, MONTH))
    assert meta["files_kept"] == 0
    before = file_states(warehouse_root)
    rewrite_etl1(etl1_root, "fact_rate", facts_without(etl1_root, REMOVED_PAYER))
    meta = metadata(materialize_month(etl1_root, warehouse_root, MONTH))
    after = file_states(warehouse_root)

    assert_exact(etl1_root, warehouse_root)
    removed = {k for k in before if payer_of(k) == REMOVED_PAYER}
    assert removed and set(before) - set(after) == removed
    assert after == {k: v for k, v in before.items() if k not in removed}
    assert meta["files_written"] == 0 and meta["files_deleted"] == len(removed)
    assert meta["storage_requests"]["PutObject"] == 2  # the -previous journal and the manifest


def test_one_rate_changed_rewrites_one_file_and_full_rewrite_writes_all(etl1_root, warehouse_root):
    materialize_month(etl1_root, warehouse_root, MONTH)
    before = file_states(warehouse_root)
    facts = read_etl1(etl1_root, "fact_rate")
    target = facts.filter(pl.col("year_month") == MONTH).sort("fact_uid")["fact_uid"][7]
    changed = facts.with_columns(
        negotiated_rate=pl.when(pl.col("fact_uid") == target).then(pl.col("negotiated_rate") + 0.01).otherwise("negotiated_rate")
    )
    rewrite_etl1(etl1_root, "fact_rate", changed)
    meta = metadata(materialize_month(etl1_root, warehouse_root, MONTH))
    after = file_states(warehouse_root)

    assert_exact(etl1_root, warehouse_root)
    rewritten = {k for k in before if after[k] != before[k]}
    assert set(after) == set(before) and len(rewritten) == 1
    [key] = rewritten
    assert target in pl.read_parquet(warehouse_root / key)["fact_uid"].to_list()
    assert meta["files_written"] == 1 and meta["storage_requests"]["PutObject"] == 4

    meta = metadata(materialize_month(etl1_root, warehouse_root, MONTH, run_config=full_rewrite_run_config()))
    assert meta["full_rewrite"] is True and meta["files_written"] == len(after) and meta["files_kept"] == 0
    assert all(file_states(warehouse_root)[k][:2] != after[k][:2] for k in after)
    assert_exact(etl1_root, warehouse_root)


def _change_etl1(etl1_root: Path, full: pl.DataFrame, step: int) -> None:
    """A different ETL1 month each step: a payer in or out, some rates changed."""
    payer = (ADDED_PAYER, REMOVED_PAYER)[step % 2]
    facts = full.filter((pl.col("year_month") != MONTH) | (pl.col("payer_slug") != payer).fill_null(True))
    bump = (pl.col("year_month") == MONTH) & (pl.col("fact_uid").hash(step) % 9 == 0)
    rewrite_etl1(etl1_root, "fact_rate", facts.with_columns(
        negotiated_rate=pl.when(bump).then(pl.col("negotiated_rate") + step).otherwise("negotiated_rate")
    ))


def _rebuild_child(etl1_root: Path, warehouse_root: Path) -> subprocess.Popen:
    code = "import sys; from etl3_assets_tests.support.crashing_storage import rebuild_month; rebuild_month(*sys.argv[1:])"
    return subprocess.Popen(
        [sys.executable, "-c", code, str(etl1_root), str(warehouse_root), MONTH],
        cwd=REPO, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_for_spill(child: subprocess.Popen) -> float:
    """Reads the child's log until its spill is done; the time that took."""
    started = time.monotonic()
    for line in child.stdout:
        if "spilled" in line:
            break
    return time.monotonic() - started


def test_incremental_rebuild_sigkilled_at_random_moments_then_rerun_is_exact(etl1_root, warehouse_root):
    full = read_etl1(etl1_root, "fact_rate")
    materialize_month(etl1_root, warehouse_root, "2025-07")
    rebuild_month(str(etl1_root), str(warehouse_root), MONTH)
    july = {k: v for k, v in snapshot(warehouse_root).items() if "/month=07/" in k}

    _change_etl1(etl1_root, full, 0)
    child = _rebuild_child(etl1_root, warehouse_root)
    until_spilled = _wait_for_spill(child)
    started = time.monotonic()
    assert child.wait(timeout=120) == 0, child.stderr.read()
    writing = time.monotonic() - started  # the write and the commit
    assert_exact(etl1_root, warehouse_root)

    chance = random.Random(23)
    killed, mid_write = 0, 0
    pending = warehouse_root / MANIFEST_PREFIX / f"{MONTH}.pending"
    for step in range(1, 6):
        _change_etl1(etl1_root, full, step)
        child = _rebuild_child(etl1_root, warehouse_root)
        if step % 3 == 0:  # any moment of the run
            time.sleep(chance.uniform(0, until_spilled + writing))
        else:  # a moment of its write or commit
            _wait_for_spill(child)
            time.sleep(chance.uniform(0, 0.7 * writing))
        try:
            os.killpg(child.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        killed += child.wait(timeout=60) == -signal.SIGKILL
        mid_write += pending.exists() and any(pending.iterdir())
    assert killed >= 3, "most rebuilds should have been killed before they finished"
    assert mid_write >= 1, "some kills should have come between a rebuild's journals and its commit"

    rebuild_month(str(etl1_root), str(warehouse_root), MONTH)
    assert_exact(etl1_root, warehouse_root)
    assert {k: v for k, v in snapshot(warehouse_root).items() if "/month=07/" in k} == july
