"""Benchmark: one month into the partitioned layout, the project's writer against what a
user would pick instead, and the floor, in one run.

    .venv/bin/python bench/month_benchmark.py --rows 2000000 --rows 10000000

For each month size it generates an ETL1 month (``generate_month``: the issue's
cardinalities), stages the enriched month the way the ``staged_enriched_month`` asset does
(one parquet file, streamed), then runs each contender in its own process tree, sampling
the tree's RSS (children included) every 0.1 s:

* ``project``: ``write_month`` (the warehouse IO manager's writer) with ``--memory-limit-mb``
  and one worker per core;
* ``encode``: the bare encode of the same partitions: the month spilled into the same
  buckets as ``project``, each bucket read, sorted and sliced as the writer does (not
  timed), then only ``encode_files`` of every file (the writer's encoders, set-up included), in one spawned process per
  core at once; timed is the CPU (user+sys) of those encodes. The report gives
  ``project``'s workers' CPU per file over it (``cpu_vs_bare_encode``; issue 13's target
  is at most 1.25);
* ``duckdb``: ``COPY … TO … (PARTITION_BY …)`` with ``memory_limit`` set to the same budget;
* ``polars``: read the whole month, ``write_parquet(partition_by=…)``;
* ``floor``: the month already grouped and sorted, one shard of whole partitions per core,
  loaded into memory by its worker process (not timed); then every partition file written
  with polars' ``write_parquet``, in all workers at once; only the writing is timed.

Alternatives are stopped after ``--alternative-timeout-factor`` times the project's wall
time (at least 5 minutes): stopped there, they are slower than the project whatever they
would have taken. Any contender whose process tree passes ``--rss-cap-mib`` is stopped
too, so that polars' read-all (killed by the kernel at 23 GiB on a 2M-row month) cannot
take the machine down; the floor's untimed grouping also holds the month (10 GB at 10M
rows), so a 20M-row month is run with ``--contenders project``. Prints a table and writes
JSON (``--out``). Output folders are deleted after counting, so the disk holds one
contender's files at a time.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate_month import generate_month  # noqa: E402

from etl3_assets.lib.contract import FILE_COLUMNS, PARTITION_KEYS  # noqa: E402
from etl3_assets.lib.enrich import STAGING_BATCH_ROWS, EnrichedMonth  # noqa: E402
from etl3_assets.lib.etl1.source import Etl1Source  # noqa: E402
from etl3_assets.lib.hive.layout import PARTITION_DIR_COLUMN, data_key, partition_dir_expr  # noqa: E402
from etl3_assets.lib.hive.writer import WriterSettings, write_month  # noqa: E402
from etl3_assets.lib.storage import open_storage  # noqa: E402
from etl3_assets.lib.progress import MIB, tree_rss_bytes  # noqa: E402

YEAR_MONTH = "2025-08"
CONTENDERS = ("project", "encode", "floor", "polars", "duckdb")


# --- contenders (each runs in a child process: ``--run NAME``) ---------------------------


def run_project(staged: Path, out: Path, memory_limit_mb: int, workers: int) -> dict:
    month = pl.scan_parquet(staged)
    rows = month.select(pl.len()).collect().item()
    result = write_month(
        open_storage(str(out)),
        YEAR_MONTH,
        month,
        expected_rows=rows,
        settings=WriterSettings(memory_limit_mb=memory_limit_mb, max_workers=workers, scratch_dir=str(out.parent)),
        log=lambda m: print(m, file=sys.stderr, flush=True),
    )
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "buckets": result.buckets,
        # the partition writers' CPU (user+sys, all threads) on their buckets, per file
        "write_cpu_s": round(result.write_cpu_seconds, 2),
        "write_cpu_ms_per_file": round(result.write_cpu_seconds * 1000 / max(1, result.files), 3),
        # of which the kernel's: folders, files and the page cache the Hive layout costs
        "write_sys_ms_per_file": round(result.write_sys_seconds * 1000 / max(1, result.files), 3),
        # every child process (spill, workers with their start-up), for reference
        "children_cpu_s": round(children.ru_utime + children.ru_stime, 2),
        "writer_s": round(sum(result.seconds.values()), 2),
        "phase_seconds": {k: round(v, 2) for k, v in result.seconds.items()},
        "writer_peak_rss_mib": round(result.peak_rss_bytes / MIB, 1),
    }


def _bare_encode(bucket_files: list[str]) -> tuple[float, int]:
    """One ``encode`` worker: each bucket read and ordered as the writer does (not
    timed), then every file's slice encoded; returns (CPU seconds of the encodes, files)."""
    from etl3_assets.lib.contract import FILE_COLUMNS
    from etl3_assets.lib.hive.writer import encode_files, file_order, writer_process_setup

    writer_process_setup()
    cpu, files = 0.0, 0
    for bucket_file in bucket_files:
        bucket = pl.read_ipc_stream(bucket_file)
        order, runs = file_order(bucket)
        rows = bucket.select(FILE_COLUMNS)
        del bucket
        started = time.process_time()
        for _ in encode_files(rows, [length for length, _ in runs], order):
            pass
        cpu += time.process_time() - started
        files += len(runs)
        del runs, rows, order
    return cpu, files


def run_encode(staged: Path, out: Path, memory_limit_mb: int, workers: int) -> dict:
    from etl3_assets.lib.hive.writer import spill_buckets

    month = pl.scan_parquet(staged)
    rows = month.select(pl.len()).collect().item()
    settings = WriterSettings(memory_limit_mb=memory_limit_mb, max_workers=workers)
    buckets = spill_buckets(month, out.parent, settings.bucket_count(rows), settings.spill_chunk_rows())
    shards = [[str(b) for b in buckets[i::workers]] for i in range(workers)]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        done = pool.map(_bare_encode, shards)
    cpu, files = sum(c for c, _ in done), sum(f for _, f in done)
    return {"encode_cpu_s": round(cpu, 2), "encoded_files": files, "encode_cpu_ms_per_file": round(cpu * 1000 / max(1, files), 3)}


def run_duckdb(staged: Path, out: Path, memory_limit_mb: int, workers: int) -> dict:
    import duckdb

    temp = out.parent / "duckdb_tmp"
    con = duckdb.connect()
    con.execute(f"SET memory_limit = '{memory_limit_mb}MB'")
    con.execute(f"SET threads = {workers}")
    con.execute(f"SET temp_directory = '{temp}'")
    con.execute("SET max_temp_directory_size = '40GB'")
    con.execute("SET preserve_insertion_order = false")
    keys = ", ".join(k for k, _ in PARTITION_KEYS)
    con.execute(
        f"""COPY (
              SELECT * REPLACE (lpad(CAST(month AS VARCHAR), 2, '0') AS month),
                     primary_taxonomy_code AS taxonomy
              FROM read_parquet('{staged}')
            ) TO '{out / "partitioned-data"}'
            (FORMAT parquet, COMPRESSION zstd, PARTITION_BY ({keys}))"""
    )
    return {}


def _with_partition_columns(month: pl.DataFrame) -> pl.DataFrame:
    return month.with_columns(
        pl.col("primary_taxonomy_code").alias("taxonomy"),
        pl.col("month").cast(pl.String).str.zfill(2),
    )


def run_polars(staged: Path, out: Path, memory_limit_mb: int, workers: int) -> dict:
    month = _with_partition_columns(pl.read_parquet(staged))
    month.write_parquet(
        out / "partitioned-data",
        compression="zstd",
        statistics=True,
        partition_by=[k for k, _ in PARTITION_KEYS],
        mkdir=True,
    )
    return {}


def _floor_write(shard: str, out: str) -> tuple[float, float]:
    """One floor worker: load its already grouped partitions, then write them; returns
    (start, end) of the writing alone."""
    data = pl.read_parquet(shard)
    runs = data.select(pl.col(PARTITION_DIR_COLUMN).rle()).unnest(PARTITION_DIR_COLUMN)
    data = data.select(FILE_COLUMNS)
    started, offset = time.time(), 0
    for length, partition_dir in runs.iter_rows():
        path = Path(out) / data_key(partition_dir, "fact_rate_enriched.parquet")
        path.parent.mkdir(parents=True, exist_ok=True)
        data.slice(offset, length).write_parquet(path, compression="zstd", statistics=True)
        offset += length
    return started, time.time()


def run_floor(staged: Path, out: Path, memory_limit_mb: int, workers: int) -> dict:
    """Untimed: group and sort the month, one shard of whole partitions per worker (spawned
    workers, since forking a process that has started polars' thread pool can deadlock).
    Timed: from the first worker's first file to the last worker's last file."""
    month = pl.scan_parquet(staged).with_columns(partition_dir_expr())
    shard_of = pl.col(PARTITION_DIR_COLUMN).hash(7) % workers
    shards = []
    for i in range(workers):
        shard = out.parent / f"floor-shard-{i}.parquet"
        month.filter(shard_of == i).sort(PARTITION_DIR_COLUMN, "fact_uid").sink_parquet(shard)
        shards.append(str(shard))
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        spans = pool.starmap(_floor_write, [(shard, str(out)) for shard in shards])
    return {"timed_wall_s": round(max(e for _, e in spans) - min(s for s, _ in spans), 2)}


RUNNERS = {
    "project": run_project, "encode": run_encode, "duckdb": run_duckdb, "polars": run_polars, "floor": run_floor,
}


# --- the harness ---------------------------------------------------------------------


def count_output(out: Path) -> tuple[int, int]:
    files = size = 0
    for dirpath, _, names in os.walk(out / "partitioned-data"):
        for name in names:
            if name.endswith(".parquet"):
                files += 1
                size += os.path.getsize(os.path.join(dirpath, name))
    return files, size


def failure_line(stderr: str, returncode: int) -> str:
    """The line of a failed contender's stderr that says why: the last one naming an
    error (DuckDB ends its message with a documentation link), else the last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error:" in line]
    return ((errors or lines or [f"exit code {returncode}"])[-1])[:300]


def measure(
    name: str, staged: Path, out: Path, memory_limit_mb: int, workers: int, timeout: float, rss_cap_mib: float
) -> dict:
    shutil.rmtree(out.parent, ignore_errors=True)
    out.mkdir(parents=True)
    cmd = [
        sys.executable, __file__, "--run", name, "--staged", str(staged), "--output", str(out),
        "--memory-limit-mb", str(memory_limit_mb), "--workers", str(workers),
    ]
    stderr_path = out.parent / "stderr.log"
    with open(stderr_path, "w") as stderr:
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True)
        proc = psutil.Process(child.pid)
        started = time.perf_counter()
        peak = 0
        finished, stopped = True, ""
        while child.poll() is None:
            try:
                peak = max(peak, tree_rss_bytes(proc))
            except psutil.Error:
                pass
            if time.perf_counter() - started > timeout:
                stopped = f"stopped after {timeout:.0f} s"
            elif peak > rss_cap_mib * MIB:
                stopped = f"stopped: process tree RSS above {rss_cap_mib:.0f} MiB"
            if stopped:
                for p in [proc, *proc.children(recursive=True)]:
                    try:
                        p.kill()
                    except psutil.Error:
                        pass
                finished = False
                break
            time.sleep(0.1)
        child.wait()
        wall = time.perf_counter() - started
    stdout = child.stdout.read() if child.stdout else ""
    extra = json.loads(stdout.strip().splitlines()[-1]) if finished and child.returncode == 0 and stdout.strip() else {}
    wall = extra.pop("timed_wall_s", wall)
    files, size = count_output(out)
    error = ""
    if child.returncode != 0:
        error = stopped or failure_line(stderr_path.read_text(), child.returncode)
    shutil.rmtree(out.parent, ignore_errors=True)
    return {
        "contender": name,
        "finished": finished and child.returncode == 0,
        "error": error,
        "wall_s": round(wall, 2),
        "files": files,
        "bytes": size,
        "peak_rss_mib": round(peak / MIB, 1),
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
        **extra,
    }


def prepare_month(workdir: Path, rows: int) -> tuple[Path, dict]:
    etl1 = workdir / f"etl1-{rows}"
    staged = workdir / f"enriched-{rows}.parquet"
    info: dict = {}
    if not staged.exists():
        t = time.perf_counter()
        generate_month(etl1, rows, YEAR_MONTH)
        info["generate_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        EnrichedMonth(Etl1Source(open_storage(str(etl1))), YEAR_MONTH).write_parquet(str(staged), STAGING_BATCH_ROWS)
        info["enrich_and_stage_s"] = round(time.perf_counter() - t, 2)
    sizes = (
        pl.scan_parquet(staged).select(partition_dir_expr()).group_by(PARTITION_DIR_COLUMN).len()
        .collect(engine="streaming")["len"]
    )
    info.update(
        rows=int(sizes.sum()),
        partitions=sizes.len(),
        rows_per_partition_mean=round(float(sizes.mean()), 2),
        rows_per_partition_max=int(sizes.max()),
        staged_mb=round(staged.stat().st_size / MIB, 1),
    )
    return staged, info


def print_table(report: dict) -> None:
    cols = ("contender", "finished", "wall_s", "rows/s", "files", "ms/file", "GB", "peak_rss_mib", "vs_floor")
    print(f"\ncores={report['cores']}  memory_limit_mb={report['memory_limit_mb']}  load(1,5,15)={report['load_avg_start']}")
    for month in report["months"]:
        print(f"\n{month['rows']:,} rows, {month['partitions']:,} partitions ({month['rows_per_partition_mean']} rows each)")
        if "cpu_per_file" in month:
            print(f"  CPU per file: {month['cpu_per_file']}")
        print("  ".join(f"{c:>13}" for c in cols))
        for r in month["results"]:
            cells = [
                r["contender"], r["finished"], r["wall_s"], r.get("rows_per_s", ""), r["files"],
                r.get("ms_per_file", ""), round(r["bytes"] / 1e9, 2), r["peak_rss_mib"], r.get("vs_floor", ""),
            ]
            print("  ".join(f"{str(c):>13}" for c in cells) + (f"  {r['error']}" if r["error"] else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, action="append", help="month size(s); default 2000000")
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--memory-limit-mb", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--workdir", default="/tmp/etl3-month-bench")
    parser.add_argument("--out", default="bench/month_benchmark.json")
    parser.add_argument("--alternative-timeout-factor", type=float, default=1.0)
    parser.add_argument(
        "--rss-cap-mib", type=float, default=16384,
        help="stop a contender whose process tree exceeds this (protects the machine; default 16 GiB)",
    )
    parser.add_argument("--run", choices=sorted(RUNNERS), help=argparse.SUPPRESS)
    parser.add_argument("--staged", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.run:
        extra = RUNNERS[args.run](Path(args.staged), Path(args.output), args.memory_limit_mb, args.workers)
        print(json.dumps(extra))
        return

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    report = {
        "cores": os.cpu_count(),
        "memory_limit_mb": args.memory_limit_mb,
        "workers": args.workers,
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        "months": [],
    }
    for rows in args.rows or [2_000_000]:
        staged, info = prepare_month(workdir, rows)
        month = {**info, "results": []}
        report["months"].append(month)
        project_wall = None
        for name in args.contenders.split(","):
            timeout = 1e9 if name in ("project", "encode", "floor") or project_wall is None else max(
                300, args.alternative_timeout_factor * project_wall
            )
            print(f"[{time.strftime('%X')}] {rows:,} rows: {name}", file=sys.stderr, flush=True)
            r = measure(name, staged, workdir / "run" / "out", args.memory_limit_mb, args.workers, timeout, args.rss_cap_mib)
            if r["finished"] and name != "encode":
                r["rows_per_s"] = round(info["rows"] / r["wall_s"])
                r["ms_per_file"] = round(r["wall_s"] * 1000 / max(1, r["files"]), 3)
            if name == "project" and r["finished"]:
                project_wall = r["wall_s"]
            month["results"].append(r)
            print(f"    {r}", file=sys.stderr, flush=True)
            Path(args.out).write_text(json.dumps(report, indent=2))
        project = next((r for r in month["results"] if r["contender"] == "project" and r["finished"]), None)
        encode = next((r for r in month["results"] if r["contender"] == "encode" and r["finished"]), None)
        if project and encode:
            month["cpu_per_file"] = {
                "project_write_cpu_ms": project["write_cpu_ms_per_file"],
                "bare_encode_cpu_ms": encode["encode_cpu_ms_per_file"],
                "cpu_vs_bare_encode": round(project["write_cpu_ms_per_file"] / encode["encode_cpu_ms_per_file"], 3),
            }
            if "write_sys_ms_per_file" in project:  # the same without the kernel's file-system work
                user = project["write_cpu_ms_per_file"] - project["write_sys_ms_per_file"]
                month["cpu_per_file"].update(
                    project_write_sys_ms=project["write_sys_ms_per_file"],
                    user_cpu_vs_bare_encode=round(user / encode["encode_cpu_ms_per_file"], 3),
                )
        floor = next((r for r in month["results"] if r["contender"] == "floor" and r["finished"]), None)
        for r in month["results"]:
            if floor and r["finished"]:
                r["vs_floor"] = round(r["wall_s"] / floor["wall_s"], 2)
        Path(args.out).write_text(json.dumps(report, indent=2))
    report["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    Path(args.out).write_text(json.dumps(report, indent=2))
    print_table(report)


if __name__ == "__main__":
    main()
