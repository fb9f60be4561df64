"""Issue 4: the month streamed through many buckets within a memory budget, in worker
processes, with progress and metrics; and a run SIGKILLed mid-way repaired by the next."""

import signal
import subprocess
import sys

import polars as pl

from etl3_assets.lib.hive.manifest import MANIFEST_PREFIX, MonthManifest
from etl3_assets.lib.hive.writer import WriterSettings, write_month
from etl3_assets.devtools.sample_data import generate_sample_etl1
from etl3_assets.lib.storage import LocalStorage

from etl3_assets_tests.support.deployment import data_snapshot, materialize_month, snapshot
from etl3_assets_tests.support.oracle import READERS, as_read_from_hive, assert_same_rows, expected_enriched, month_files
from etl3_assets_tests.support import REPO

MONTH = "2025-08"
TINY_BUDGET = {"memory_limit_mb": 1, "chunk_size": 50, "max_workers": 2}


def _warehouse_metadata(result) -> dict:
    [mat] = result.asset_materializations_for_node("fact_rate_enriched")
    return {k: v.value for k, v in mat.metadata.items()}


def test_tiny_budget_spills_many_buckets_and_writes_the_exact_month(
    etl1_root, warehouse_root, tmp_path, dagster_instance
):
    result = materialize_month(etl1_root, warehouse_root, MONTH, instance=dagster_instance, **TINY_BUDGET)
    meta = _warehouse_metadata(result)
    expected = as_read_from_hive(expected_enriched(str(etl1_root), MONTH))
    for name, read in READERS.items():
        assert_same_rows(read(warehouse_root, MONTH), expected), name

    files = month_files(warehouse_root, MONTH)
    assert meta["buckets"] >= 4
    assert meta["ChunkInputRows"] == meta["ChunkOutputRows"] == meta["rows"] == expected.height
    assert meta["files"] == len(files)
    assert meta["PartitionsCreated"] == meta["partitions"] == len({f.parent for f in files})
    assert meta["ChunkProcessingRate"] > 0 and meta["peak_rss_mb"] > 0
    assert {"seconds_spill", "seconds_write", "seconds_commit"} <= meta.keys()

    # 1 MB cannot hold the worker processes: the overrun is reported, not silent
    assert meta["over_memory_budget"] is True
    warnings = [
        e.user_message
        for e in dagster_instance.all_logs(result.run_id)
        if e.level == 30 and "over the budget" in e.user_message
    ]
    assert warnings, "exceeding the memory budget must be logged as a warning"

    # many buckets in worker processes write the same bytes as one bucket in-process
    one_bucket = tmp_path / "one_bucket"
    materialize_month(etl1_root, one_bucket, MONTH, max_workers=1)
    assert data_snapshot(one_bucket) == data_snapshot(warehouse_root)


def test_progress_is_logged_at_a_steady_cadence(etl1_root, warehouse_root):
    from etl3_assets.lib.enrich import enriched_month
    from etl3_assets.lib.etl1.source import Etl1Source
    from etl3_assets.lib.storage import open_storage

    enriched = enriched_month(Etl1Source(open_storage(str(etl1_root))), MONTH)
    rows = enriched.select(pl.len()).collect().item()
    lines: list[str] = []
    result = write_month(
        LocalStorage(warehouse_root),
        MONTH,
        enriched,
        expected_rows=rows,
        settings=WriterSettings(memory_limit_mb=1, chunk_size=50, max_workers=2, progress_every_s=0.05),
        log=lines.append,
    )
    progress = [line for line in lines if "rows/s" in line and "RSS" in line]
    assert len(progress) >= 3, lines
    assert any(line.startswith("write:") for line in progress)
    assert f"{rows:,} rows" in lines[-1] and result.rows == rows


def test_a_run_killed_mid_way_is_repaired_by_the_next_run(etl1_root, warehouse_root):
    for month in ("2025-07", MONTH):
        materialize_month(etl1_root, warehouse_root, month)
    before = snapshot(warehouse_root)
    other_month = {k: v for k, v in before.items() if "/month=07/" in k}

    # new ETL1 data for the month, then a writer SIGKILLed (with its workers) mid-month
    generate_sample_etl1(etl1_root, months=("2025-07", MONTH), rows_per_month=300, seed=12)
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from etl3_assets_tests.support.crashing_storage import killed_write;"
            " killed_write(sys.argv[1], sys.argv[2], sys.argv[3], 10)",
            str(etl1_root),
            str(warehouse_root),
            MONTH,
        ],
        cwd=REPO,
        start_new_session=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    pending = list((warehouse_root / MANIFEST_PREFIX / f"{MONTH}.pending").glob("*.parquet"))
    assert pending, "the killed run journaled its keys before writing"
    expected = as_read_from_hive(expected_enriched(str(etl1_root), MONTH))
    after_kill = snapshot(warehouse_root)
    # the killed run had written files: new keys, or old keys with new content (an
    # incremental rebuild rewrites a changed partition under its old key)
    assert any(
        before.get(k) != v for k, v in after_kill.items() if k.startswith("partitioned-data/") and "/month=08/" in k
    ), "the kill came after the new run had written files"

    materialize_month(etl1_root, warehouse_root, MONTH)
    for name, read in READERS.items():
        assert_same_rows(read(warehouse_root, MONTH), expected), name
    committed = set(MonthManifest(LocalStorage(warehouse_root), MONTH).committed()["key"])
    files = {p.relative_to(warehouse_root).as_posix() for p in month_files(warehouse_root, MONTH)}
    assert files == committed
    assert not list(warehouse_root.rglob("*.tmp"))
    assert not (warehouse_root / MANIFEST_PREFIX / f"{MONTH}.pending").exists() or not any(
        (warehouse_root / MANIFEST_PREFIX / f"{MONTH}.pending").iterdir()
    )
    assert {k: v for k, v in snapshot(warehouse_root).items() if "/month=07/" in k} == other_month
