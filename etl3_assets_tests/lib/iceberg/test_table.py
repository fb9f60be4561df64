"""Issue 12: the enriched months as one Iceberg table (CONTRACT section 4), checked against
the oracle, locally (SQLite catalog) and on S3 (SeaweedFS) with the Glue catalog (moto
server), through the same code path.

SeaweedFS note: pyarrow's S3 filesystem (pyiceberg's FileIO) uploads with streaming
signed chunks, which SeaweedFS verifies against its identities even when it runs
without any (it then answers InvalidAccessKeyId, "Available keys: 0, Auth enabled:
false"). The Iceberg tests therefore start their own SeaweedFS with the test identity
configured: a real server with authentication on, as S3 itself is.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from etl3_assets.devtools.sample_data import sample_etl1_frames, write_etl1_table
from etl3_assets.lib.contract import ENRICHED_SCHEMA, GLUE_DATABASE, ICEBERG_SCHEMA
from etl3_assets.lib.enrich import EnrichedMonth
from etl3_assets.lib.etl1.source import Etl1Source
from etl3_assets.lib.iceberg import table as it
from etl3_assets.lib.storage import Root, open_storage
from etl3_assets_tests.support import REPO
from etl3_assets_tests.support.deployment import SAMPLE_MONTHS
from etl3_assets_tests.support.iceberg_child import TargetSpec, read_loop
from etl3_assets_tests.support.oracle import HOSTILE_VALUES, assert_same_rows, expected_enriched
from etl3_assets_tests.support.s3_servers import ACCESS_KEY, REGION, SECRET_KEY, new_bucket
MONTH = "2025-08"
# Heartbeats fast enough for tests; the timeout covers a beat plus S3's one-second
# LastModified granularity.
FAST = dict(heartbeat_s=0.25, attempt_timeout_s=2.0)


# --------------------------------------------------------------------------------------
# Targets: local (SQLite) and S3 + Glue, the same tests for both
# --------------------------------------------------------------------------------------


@pytest.fixture(params=["local", "s3-glue"])
def target(request, tmp_path) -> TargetSpec:
    if request.param == "local":
        return TargetSpec(root=str(tmp_path / "warehouse"))
    endpoint = request.getfixturevalue("seaweedfs_endpoint")
    moto = request.getfixturevalue("moto_endpoint")
    request.getfixturevalue("glue_client")  # drops the Glue database: an empty catalog
    bucket = new_bucket(endpoint)
    return TargetSpec(
        root=bucket.uri("warehouse"),
        s3_endpoint=endpoint,
        glue_endpoint=moto,
        region=REGION,
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
    )


def stage(etl1_root: Path, month: str, folder: Path, target: TargetSpec | None = None) -> str:
    """The staged month as the Dagster layer writes it (one parquet file); on S3 targets
    it is uploaded next to the warehouse, so write_month reads it through S3 too."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"staged-{month}.parquet"
    EnrichedMonth(Etl1Source(open_storage(str(etl1_root))), month).write_parquet(str(path), 50_000)
    if target is None or not target.is_s3:
        return str(path)
    root = Root(target.root)
    key = root.key(f"staging/{month}-{time.monotonic_ns()}.parquet")
    target.connection().client("s3").put_object(Bucket=root.bucket, Key=key, Body=path.read_bytes())
    return f"s3://{root.bucket}/{key}"


def write(target: TargetSpec, staged: str, month: str = MONTH, **settings) -> it.IcebergWriteResult:
    return it.write_month(
        target.table(), staged, month, it.IcebergWriteSettings(**{**FAST, **settings}),
        storage_options=target.storage_options(),
    )


def read_pyiceberg(target: TargetSpec, month: str) -> pl.DataFrame:
    return it.scan_month(target.catalog().load_table(it.IDENTIFIER), month).sort("fact_uid")


def read_polars(target: TargetSpec, month: str) -> pl.DataFrame:
    year, m = it.parse_year_month(month)
    table = target.catalog().load_table(it.IDENTIFIER)
    frame = (
        pl.scan_iceberg(table, storage_options=target.storage_options())
        .filter((pl.col("year") == year) & (pl.col("month") == m))
        .collect()
    )
    assert frame.columns == list(ICEBERG_SCHEMA)
    assert frame["taxonomy"].eq_missing(frame["primary_taxonomy_code"]).all()
    return frame.select(list(ENRICHED_SCHEMA)).sort("fact_uid")


def assert_month_exact(target: TargetSpec, etl1_root: Path, month: str) -> pl.DataFrame:
    expected = expected_enriched(str(etl1_root), month)
    assert_same_rows(read_pyiceberg(target, month), expected)
    assert_same_rows(read_polars(target, month), expected)
    return expected


def data_file_listing(target: TargetSpec, month: str | None = None) -> dict[str, int]:
    """Every file under the table's data folder (or a month's): location -> size."""
    table = target.catalog().load_table(it.IDENTIFIER)
    location = it.month_data_dir(table, month) if month else f"{table.location()}/data"
    return {path: size for path, _, size in it._list_files(table, location)}


def python_key(row: dict) -> tuple:
    """The declared sort order in plain Python: nulls first, then code point order (which
    is UTF-8 byte order, what parquet statistics and polars use)."""
    return tuple((row[c] is not None, row[c] or "") for c in it.SORT_COLUMNS)


def _etl1(tmp_path: Path, frames: dict[str, pl.DataFrame]) -> Path:
    root = tmp_path / "etl1"
    for name, df in frames.items():
        write_etl1_table(root, name, df)
    return root


def shrink_month(etl1_root: Path, month: str = MONTH) -> None:
    """ETL1 rewrites the month: a third of its rows go, some move to a new state."""
    facts = pl.read_parquet(etl1_root / "gold" / "fact_rate.parquet")
    in_month = pl.col("year_month") == month
    keep = facts.filter(~in_month | (pl.col("fact_uid").hash(1) % 3 != 0))
    keep = keep.with_columns(
        state=pl.when(in_month & (pl.col("fact_uid").hash(2) % 4 == 0)).then(pl.lit("Nuevo León, MX")).otherwise("state")
    )
    write_etl1_table(etl1_root, "fact_rate", keep)


# --------------------------------------------------------------------------------------
# The table and its months
# --------------------------------------------------------------------------------------


def test_table_follows_the_contract(tmp_path):
    spec = TargetSpec(root=str(tmp_path / "wh"))
    table = spec.table()
    assert (tmp_path / "wh" / "iceberg" / "catalog.db").is_file()
    assert table.name() == (GLUE_DATABASE, "fact_rate_enriched_iceberg")
    # the scheme in every stored path: iceberg-rust cannot open a table without it
    assert table.location() == f"file://{tmp_path}/wh/iceberg/fact_rate_enriched_iceberg"
    assert table.metadata_location.startswith(f"file://{tmp_path}/wh/iceberg/")
    types = {f.name: str(f.field_type) for f in table.schema().fields}
    # every enriched column and all nine partition columns: taxonomy beside primary_taxonomy_code
    assert list(types) == list(ICEBERG_SCHEMA) and set(types) == set(ENRICHED_SCHEMA) | {"taxonomy"}
    assert list(types).index("taxonomy") == list(types).index("primary_taxonomy_code") + 1
    assert types["negotiated_rate"] == "double" and types["provider_group_id_raw"] == "long"
    assert types["year"] == types["month"] == "int" and types["is_above_medicare"] == "boolean"
    assert types["pos_members"] == "list<string>" and types["fact_uid"] == "string"
    assert [(f.name, str(f.transform)) for f in table.spec().fields] == [("year", "identity"), ("month", "identity")]
    order = [(table.schema().find_column_name(f.source_id), str(f.direction), str(f.null_order)) for f in table.sort_order().fields]
    assert [c for c, _, _ in order] == [
        "payer_slug", "state", "billing_class", "procedure_set", "procedure_class",
        "taxonomy", "stat_area_name", "fact_uid",
    ]
    assert {(d, n) for _, d, n in order} == {("ASC", "NULLS FIRST")}
    # a second open finds the same table; a table off the contract is refused by name
    assert spec.table().metadata.table_uuid == table.metadata.table_uuid
    with table.update_schema() as update:
        update.delete_column("county_fips")
    with pytest.raises(it.IcebergTableError, match="column 'county_fips' is missing"):
        spec.table()


def test_a_local_table_stores_every_path_with_its_file_scheme(etl1_root, tmp_path):
    """iceberg-rust (DataFusion's provider) cannot open a table whose paths lack the scheme."""
    spec = TargetSpec(root=str(tmp_path / "wh"))
    write(spec, stage(etl1_root, MONTH, tmp_path / "staged"))
    table = spec.catalog().load_table(it.IDENTIFIER)
    snapshot = table.current_snapshot()
    paths = [table.metadata_location, snapshot.manifest_list]
    for manifest in snapshot.manifests(table.io):
        paths.append(manifest.manifest_path)
        paths += [entry.data_file.file_path for entry in manifest.fetch_manifest_entry(table.io)]
    assert len(paths) >= 4
    assert all(p.startswith("file:///") for p in paths), paths
    assert_same_rows(read_pyiceberg(spec, MONTH), expected_enriched(str(etl1_root), MONTH))
    report = it.remove_orphan_files(table, grace=timedelta(0))
    assert not report.deleted_files, "a referenced file:// path is not taken for an orphan"
    assert set(data_file_listing(spec)) == {f.file_path for f in it.month_data_files(table, MONTH)}


def test_every_month_equals_the_oracle_through_pyiceberg_and_polars(target, etl1_root, tmp_path):
    staged = {m: stage(etl1_root, m, tmp_path / "staged", target) for m in SAMPLE_MONTHS}
    results = {m: write(target, staged[m], m, row_group_rows=64) for m in SAMPLE_MONTHS}
    table = target.catalog().load_table(it.IDENTIFIER)
    assert len(table.snapshots()) == len(SAMPLE_MONTHS), "one snapshot per month written"
    for month in SAMPLE_MONTHS:
        expected = assert_month_exact(target, etl1_root, month)
        assert expected.height > 300
        result = results[month]
        assert result.rows == expected.height and result.files >= 1 and result.bytes > 0
        # checks: the table's month has the staged month's count and content digest
        staged_digest = it.staged_digest(staged[month], target.storage_options())
        assert it.month_digest(table, month) == staged_digest == result.digest
        summary = table.snapshot_by_id(result.snapshot_id).summary
        assert summary["etl3.year_month"] == month and summary["etl3.digest"] == staged_digest.hash_sum
    # the files: zstd parquet, Iceberg field ids, statistics, sorted by the declared order
    current = [task.file for task in table.scan().plan_files()]
    assert len(current) == len(SAMPLE_MONTHS)
    for data_file in current:
        assert data_file.sort_order_id == table.sort_order().order_id
        with table.io.new_input(data_file.file_path).open() as stream:
            parquet = pq.ParquetFile(stream)
            meta = parquet.metadata
            assert meta.num_row_groups > 1, "row groups of 64 rows"
            column = meta.row_group(0).column(0)
            assert column.compression == "ZSTD" and column.statistics.has_min_max
            assert parquet.schema_arrow.field("fact_uid").metadata[b"PARQUET:field_id"] == b"1"
            rows = pl.from_arrow(parquet.read()).to_dicts()
        assert [python_key(r) for r in rows] == sorted(python_key(r) for r in rows)
        assert data_file.lower_bounds and data_file.upper_bounds and data_file.null_value_counts


def test_hostile_values_round_trip_and_sort_by_bytes(target, tmp_path):
    frames = sample_etl1_frames(months=[MONTH], rows_per_month=150, seed=3)
    facts = frames["fact_rate"]
    cycle = HOSTILE_VALUES + [None, "\x00nul"]
    values = [cycle[i % len(cycle)] for i in range(facts.height)]
    frames["fact_rate"] = facts.with_columns(
        payer_slug=pl.Series(values, dtype=pl.String),
        billing_class=pl.Series(values[::-1], dtype=pl.String),
    )
    etl1 = _etl1(tmp_path, frames)
    # a budget this small gives sort runs of 100 rows and a file per 40 kB
    write(target, stage(etl1, MONTH, tmp_path / "staged", target), memory_limit_mb=1, row_group_rows=16, target_file_bytes=40_000)
    expected = assert_month_exact(target, etl1, MONTH)
    assert set(expected["payer_slug"].to_list()) >= set(HOSTILE_VALUES)
    table = target.catalog().load_table(it.IDENTIFIER)
    files = sorted(it.month_data_files(table, MONTH), key=lambda f: f.file_path)
    assert len(files) > 1
    keys = []
    for data_file in files:
        with table.io.new_input(data_file.file_path).open() as stream:
            keys.append([python_key(r) for r in pl.from_arrow(pq.read_table(stream)).to_dicts()])
    flat = [k for part in keys for k in part]
    assert flat == sorted(flat), "files in name order hold the month in the declared sort order"
    assert all(a[-1] < b[0] for a, b in zip(keys, keys[1:])), "file key ranges are disjoint"


def test_rematerializing_a_shrinking_month_replaces_exactly_that_month(target, etl1_root, tmp_path):
    staged = {m: stage(etl1_root, m, tmp_path / "staged", target) for m in SAMPLE_MONTHS}
    for month in SAMPLE_MONTHS:
        write(target, staged[month], month)
    table = target.catalog().load_table(it.IDENTIFIER)
    others = {m: {f.file_path: f.file_size_in_bytes for f in it.month_data_files(table, m)} for m in ("2025-07", "2025-09")}
    listing_before = data_file_listing(target)
    old_files = {f.file_path for f in it.month_data_files(table, MONTH)}
    old_snapshot = table.current_snapshot().snapshot_id

    shrink_month(etl1_root)
    shrunk = stage(etl1_root, MONTH, tmp_path / "staged2", target)
    result = write(target, shrunk)
    table = target.catalog().load_table(it.IDENTIFIER)
    check = it.check_month(table, MONTH, shrunk, storage_options=target.storage_options())
    assert check["passed"] and check["snapshot_id"] == result.snapshot_id and check["files"] == result.files
    stale = it.check_month(table, MONTH, staged[MONTH], storage_options=target.storage_options())
    assert not stale["passed"] and stale["staged_rows"] == 400 and stale["table_rows"] == check["table_rows"]

    expected = assert_month_exact(target, etl1_root, MONTH)
    assert expected.height < 400
    assert any(s == "Nuevo León, MX" for s in read_pyiceberg(target, MONTH)["state"].to_list())
    table = target.catalog().load_table(it.IDENTIFIER)
    snapshot = table.current_snapshot()
    assert snapshot.snapshot_id == result.snapshot_id and snapshot.parent_snapshot_id == old_snapshot
    assert snapshot.summary.operation.value == "overwrite"
    assert result.removed_files == len(old_files)
    new_files = {f.file_path for f in it.month_data_files(table, MONTH)}
    assert new_files == set(result.file_paths) and not new_files & old_files
    # other months: the same data files, byte for byte, still in the current snapshot
    for month, files in others.items():
        assert {f.file_path: f.file_size_in_bytes for f in it.month_data_files(table, month)} == files
        assert_same_rows(read_pyiceberg(target, month), expected_enriched(str(etl1_root), month))
    listing_after = data_file_listing(target)
    assert {p: s for p, s in listing_after.items() if p in listing_before} == listing_before, (
        "nothing written before was changed or removed: the old month stays for time travel"
    )
    # the previous snapshot still reads the whole old month
    assert it.month_digest(table, MONTH, snapshot_id=old_snapshot).rows == 400


def test_expiry_keeps_replaced_snapshots_for_the_retention_then_orphans_go(target, etl1_root, tmp_path):
    staged = stage(etl1_root, MONTH, tmp_path / "staged", target)
    first = write(target, staged)
    second = write(target, staged)
    table = target.catalog().load_table(it.IDENTIFIER)
    assert it.expire_snapshots(table, timedelta(days=7)) == [], "replaced a moment ago: kept"
    later = datetime.now(timezone.utc) + timedelta(days=8)
    assert it.expire_snapshots(table, timedelta(days=7), now=later) == [first.snapshot_id]
    table = target.catalog().load_table(it.IDENTIFIER)
    assert [s.snapshot_id for s in table.snapshots()] == [second.snapshot_id]
    # a file no writer of ours made: kept within the grace period, deleted after it
    foreign = f"{it.month_data_dir(table, MONTH)}/written-by-someone-else.parquet"
    with table.io.new_output(foreign).create() as out:
        out.write(b"not ours")
    report = it.remove_orphan_files(table, MONTH)
    assert set(report.deleted_files) == set(first.file_paths)
    assert report.kept_young == [foreign]
    report = it.remove_orphan_files(table, MONTH, now=later.timestamp())
    assert report.deleted_files == [foreign]
    assert set(data_file_listing(target, MONTH)) == set(second.file_paths)
    assert_month_exact(target, etl1_root, MONTH)


def test_reader_in_another_process_sees_the_whole_old_or_new_month(target, etl1_root, tmp_path):
    full = stage(etl1_root, MONTH, tmp_path / "full", target)
    write(target, full)
    write(target, stage(etl1_root, "2025-07", tmp_path / "full", target), "2025-07")
    shrink_month(etl1_root)
    small = stage(etl1_root, MONTH, tmp_path / "small", target)
    versions = {it.staged_digest(p, target.storage_options()) for p in (full, small)}
    assert len(versions) == 2

    context = multiprocessing.get_context("spawn")
    stop, observations = context.Event(), context.Queue()
    reader = context.Process(target=read_loop, args=(target.to_json(), MONTH, stop, observations))
    reader.start()
    try:
        first = observations.get(timeout=120)  # the reader is up and has read once
        for i in range(6):
            write(target, small if i % 2 == 0 else full)
        time.sleep(0.5)
    finally:
        stop.set()
    seen = [first]
    while True:
        item = observations.get(timeout=120)
        if item[0] == "done":
            break
        seen.append(item)
    reader.join(timeout=60)
    errors = [s for s in seen if s[0] == "error"]
    assert not errors, errors
    mixed = [s for s in seen if it.MonthDigest(s[1], s[2]) not in versions]
    assert not mixed, f"a reader saw a month that is neither the old nor the new one: {mixed[:3]}"
    assert len({s[0] for s in seen}) >= 3, f"the reader should have seen several snapshots, saw {len(seen)} reads"


def _start_writer(target: TargetSpec, staged: str, settings: dict) -> subprocess.Popen:
    cmd = [
        sys.executable, "-m", "etl3_assets_tests.support.iceberg_child", "write",
        target.to_json(), staged, MONTH, json.dumps({**FAST, **settings}),
    ]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_ready(proc: subprocess.Popen) -> None:
    line = proc.stdout.readline()
    assert line.strip() == "READY", line + proc.stderr.read()[-3000:]


SLOW_WRITE = dict(memory_limit_mb=1, row_group_rows=8, target_file_bytes=20_000)


def test_sigkill_at_random_moments_then_a_rerun_leaves_the_table_exact(target, etl1_root, tmp_path):
    full = stage(etl1_root, MONTH, tmp_path / "full", target)
    write(target, full)
    shrink_month(etl1_root)
    small = stage(etl1_root, MONTH, tmp_path / "small", target)
    digests = {it.staged_digest(p, target.storage_options()) for p in (full, small)}

    # how long an unkilled write takes, from READY to done
    proc = _start_writer(target, small, SLOW_WRITE)
    _wait_ready(proc)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err[-3000:]
    duration = json.loads(out.strip().splitlines()[-1])["seconds"]

    rng = random.Random(12)
    delays = [duration * f for f in (0.05, rng.uniform(0.2, 0.5), rng.uniform(0.5, 0.8), rng.uniform(0.8, 1.0))]
    if target.is_s3:
        delays = delays[1:3]
    killed_with_files = 0
    for i, delay in enumerate(delays):
        proc = _start_writer(target, full if i % 2 == 0 else small, SLOW_WRITE)
        _wait_ready(proc)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        table = target.catalog().load_table(it.IDENTIFIER)
        # whatever the moment, the table is whole: the old or the new month, every file there
        assert it.month_digest(table, MONTH) in digests
        listing = data_file_listing(target, MONTH)
        referenced = it.referenced_data_files(table, MONTH)
        assert referenced <= set(listing), "a killed run must never leave a referenced file missing"
        killed_with_files += bool(set(listing) - referenced)

        rerun = write(target, small)  # waits out the killed attempt's marker, then sweeps
        assert_month_exact(target, etl1_root, MONTH)
        table = target.catalog().load_table(it.IDENTIFIER)
        assert set(data_file_listing(target, MONTH)) == it.referenced_data_files(table, MONTH), (
            f"kill after {delay:.2f} s: files that no snapshot references were left"
        )
        assert rerun.orphans_deleted == len(set(listing) - referenced)
    assert killed_with_files, "no kill landed while the killed run had files written"
    assert not data_file_listing(target, None).keys() - it.referenced_data_files(
        target.catalog().load_table(it.IDENTIFIER)
    )


def test_tiny_budget_forces_many_sort_runs_and_stays_exact(target, etl1_root, tmp_path):
    result = write(target, stage(etl1_root, MONTH, tmp_path / "staged", target), memory_limit_mb=1, row_group_rows=32)
    run_rows = it.IcebergWriteSettings(memory_limit_mb=1).run_rows()
    assert run_rows < 200 and result.sort_runs >= -(-400 // run_rows) >= 3, "each run a bounded share of the month"
    assert_month_exact(target, etl1_root, MONTH)
    assert result.peak_rss_bytes > 0 and result.budget_bytes == (1 + 256) * 1024 * 1024


def test_a_skewed_run_is_split_again_before_it_is_sorted(tmp_path):
    """A run far above its share (a sample that missed a hot key range) is re-split by its
    own sample, so no run sorted in memory exceeds about twice the budget's share."""
    frames = sample_etl1_frames(months=[MONTH], rows_per_month=400, seed=5)
    etl1 = _etl1(tmp_path, frames)
    staged = it.with_partition_columns(pl.scan_parquet(stage(etl1, MONTH, tmp_path / "staged")))
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    [(whole, rows)] = it._spill_runs(staged, pl.DataFrame(), scratch, "all", 1000)
    settings = it.IcebergWriteSettings(memory_limit_mb=1)  # ~170 rows per run
    stats: dict[str, int] = {}
    pieces = list(it._sorted_runs(whole, rows, scratch, settings, 0, stats))
    assert stats["splits"] >= 1 and len(pieces) >= 3
    assert max(p.height for p in pieces) <= 2 * settings.run_rows()
    got = pl.concat(pieces)
    keys = [python_key(r) for r in got.to_dicts()]
    assert keys == sorted(keys)
    assert got["taxonomy"].eq_missing(got["primary_taxonomy_code"]).all()
    assert_same_rows(got.drop("taxonomy").sort("fact_uid"), expected_enriched(str(etl1), MONTH))
    assert not list(scratch.iterdir()), "every spilled run is deleted once read"


def test_a_live_attempt_of_the_month_is_waited_for_then_refused(target, etl1_root, tmp_path):
    staged = stage(etl1_root, MONTH, tmp_path / "staged", target)
    table = target.table()
    other = "f" * 32
    with it.AttemptMarker(table, MONTH, other, heartbeat_s=0.2):
        started = time.monotonic()
        with pytest.raises(it.IcebergTableError, match=f"month {MONTH} is being written by attempt.*{other}"):
            write(target, staged, heartbeat_s=0.2, attempt_timeout_s=1.5)
        assert time.monotonic() - started >= 3.0, "it waited for the attempt to go stale first"
    assert target.catalog().load_table(it.IDENTIFIER).current_snapshot() is None


def test_rows_of_another_month_fail_naming_the_row_and_commit_nothing(tmp_path, etl1_root):
    spec = TargetSpec(root=str(tmp_path / "wh"))
    staged = stage(etl1_root, "2025-07", tmp_path / "staged")
    with pytest.raises(it.IcebergTableError, match=r"month 2025-08 got a row of year=2025 month=7 \(fact_uid="):
        it.write_month(spec.table(), staged, MONTH, it.IcebergWriteSettings(**FAST))
    table = spec.catalog().load_table(it.IDENTIFIER)
    assert table.current_snapshot() is None
    assert data_file_listing(spec) == {}, "the failed run deleted its own files"


def test_a_concurrent_commit_of_another_month_is_kept(tmp_path, etl1_root):
    """Two months written at the same time by two threads: both commits land (pyiceberg
    retries the loser on top of the winner) and neither month loses rows."""
    spec = TargetSpec(root=str(tmp_path / "wh"))
    spec.table()
    staged = {m: stage(etl1_root, m, tmp_path / "staged") for m in ("2025-07", MONTH)}
    errors: list[BaseException] = []

    def run(month: str) -> None:
        try:
            it.write_month(spec.table(), staged[month], month, it.IcebergWriteSettings(**FAST))
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=run, args=(m,)) for m in staged]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for month in staged:
        assert_month_exact(spec, etl1_root, month)


def test_s3_root_without_glue_keeps_a_local_sqlite_catalog(seaweedfs_endpoint, etl1_root, tmp_path):
    """Data and metadata on S3, the catalog a SQLite file on local disk (SQLite cannot live
    on S3); without that file the S3 root is refused by name."""
    bucket = new_bucket(seaweedfs_endpoint)
    spec = TargetSpec(
        root=bucket.uri("warehouse"), s3_endpoint=seaweedfs_endpoint, region=REGION,
        access_key=ACCESS_KEY, secret_key=SECRET_KEY,
    )
    with pytest.raises(it.IcebergTableError, match="needs a local sqlite_path"):
        spec.catalog()
    catalog = spec.catalog(sqlite_path=tmp_path / "catalog.db")
    table = it.ensure_table(catalog, spec.storage())
    assert table.location() == f"s3://{bucket.bucket}/warehouse/iceberg/fact_rate_enriched_iceberg"
    result = it.write_month(table, stage(etl1_root, MONTH, tmp_path / "staged"), MONTH, it.IcebergWriteSettings(**FAST))
    assert all(p.startswith(f"s3://{bucket.bucket}/warehouse/iceberg/") for p in result.file_paths)
    assert any(k.startswith("warehouse/iceberg/fact_rate_enriched_iceberg/metadata/") for k in bucket.objects())
    assert_same_rows(it.scan_month(table, MONTH).sort("fact_uid"), expected_enriched(str(etl1_root), MONTH))
