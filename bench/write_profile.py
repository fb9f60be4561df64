"""Where a worker's CPU goes per file in the write phase (issue 13, item 1).

    PYTHONPATH=. .venv/bin/python bench/write_profile.py --staged /tmp/perf-bench/enriched-200000.parquet

The staged month is spilled into buckets the way ``write_month`` spills it (untimed), then
each configuration runs two spawned workers at once (as the writer does on 2 cores), each
taking every other bucket through the steps of ``write_bucket``, with every step timed in
process CPU (all threads of the worker: ``time.process_time``) and in main-thread CPU
(``time.thread_time``). Process CPU minus main-thread CPU is what the worker's helper
threads (polars' thread pool) burned during that step. The worker's whole user+sys
(``getrusage``) minus the timed steps is the Python loop and whatever else is unaccounted.

Configurations (``--configs``), each ``MODE/POOL``: MODE ``before`` is the write path as it
was before issue 13 (polars slices + ``write_parquet``, pathlib ``put_bytes``), ``after`` the
current one, both instrumented step by step, and ``writer`` the current ``write_bucket``
untouched (the true CPU per file, without the timers' own cost); POOL ``pool-default`` is
polars' pool as a spawned worker starts it (one thread per core) and ``pool-1`` is
``POLARS_MAX_THREADS=1`` with pyarrow's CPU and IO pools at 1. The configurations run one
after another, ``--repeats`` times interleaved, so that load from other users falls on all.

``--pyspy-raw FILE`` aggregates a ``py-spy record --format raw`` output by step instead.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

POOL_ENV = {
    "pool-default": {},
    "pool-1": {"POLARS_MAX_THREADS": "1", "ETL3_PROFILE_ARROW_CPUS": "1"},
}
CONFIGS = [f"{mode}/{pool}" for mode in ("before", "after", "writer") for pool in POOL_ENV]


def _worker(bucket_files: list[str], out: str, mode: str) -> dict:
    import pyarrow as pa

    if os.environ.get("ETL3_PROFILE_ARROW_CPUS"):
        pa.set_cpu_count(int(os.environ["ETL3_PROFILE_ARROW_CPUS"]))
        pa.set_io_thread_count(int(os.environ["ETL3_PROFILE_ARROW_CPUS"]))
    import polars as pl

    from etl3_assets.lib.hive.manifest import MonthManifest
    from etl3_assets.lib.hive.writer import write_bucket
    from etl3_assets.lib.storage import LocalStorage

    storage = LocalStorage(out)
    manifest = MonthManifest(storage, "2025-08")
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    files = 0
    steps: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for bucket_file in bucket_files:
        if mode == "before":
            files += _before_bucket(storage, manifest, Path(bucket_file), steps)
        elif mode == "after":
            files += _after_bucket(storage, manifest, Path(bucket_file), steps)
        else:
            files += write_bucket(storage, manifest, Path(bucket_file), 1_000_000).files
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "files": files,
        "user_s": r1.ru_utime - r0.ru_utime,
        "sys_s": r1.ru_stime - r0.ru_stime,
        "steps": {k: {"process_s": v[0], "main_thread_s": v[1]} for k, v in steps.items()},
        "polars_threads": pl.thread_pool_size(),
        "arrow_cpus": pa.cpu_count(),
    }


class _Step:
    __slots__ = ("steps", "name", "p", "t")

    def __init__(self, steps, name):
        self.steps, self.name = steps, name

    def __enter__(self):
        self.p, self.t = time.process_time(), time.thread_time()

    def __exit__(self, *exc):
        acc = self.steps[self.name]
        acc[0] += time.process_time() - self.p
        acc[1] += time.thread_time() - self.t


def _before_bucket(storage, manifest, bucket_file: Path, steps) -> int:
    """``write_bucket`` as it was before issue 13 (polars slices and ``write_parquet``;
    ``put_bytes`` with pathlib, ``Path.mkdir(parents=True)``, a uuid4 temp name, a
    buffered file object, ``os.replace``), step by step, each step timed."""
    import io
    import math
    import uuid

    import polars as pl

    from etl3_assets.lib.contract import FILE_COLUMNS
    from etl3_assets.lib.hive.layout import PARTITION_DIR_COLUMN, data_file_names, data_key
    from etl3_assets.lib.hive.writer import WRITTEN_SCHEMA, planned_keys, written_listing

    def step(name):
        return _Step(steps, name)

    with step("read bucket (IPC)"):
        bucket = pl.read_ipc_stream(bucket_file)
    with step("n_unique + planned keys"):
        bucket[PARTITION_DIR_COLUMN].n_unique()
        keys = planned_keys(bucket, 1_000_000)
    with step("journal"):
        manifest.journal(bucket_file.stem, keys)
    with step("sort + rle + select/to_arrow"):
        bucket = bucket.sort(PARTITION_DIR_COLUMN, "fact_uid")
        runs = bucket.select(pl.col(PARTITION_DIR_COLUMN).rle()).unnest(PARTITION_DIR_COLUMN)
        data = bucket.select(FILE_COLUMNS)
        run_rows = list(runs.iter_rows())
    written = []
    offset = 0
    made: set = set()
    for length, partition_dir in run_rows:
        n_files = math.ceil(length / 1_000_000)
        for i, name in enumerate(data_file_names(n_files)):
            with step("slice"):
                part = data.slice(offset + i * 1_000_000, min(1_000_000, length - i * 1_000_000))
            with step("encode"):
                buf = io.BytesIO()
                part.write_parquet(buf, compression="zstd", statistics=True)
                payload = buf.getvalue()
            with step("key + temp name"):
                key = data_key(partition_dir, name)
                path = storage.root / key
                parent = path.parent
                tmp = parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
            with step("mkdir"):
                if parent not in made:
                    parent.mkdir(parents=True, exist_ok=True)
                    made.add(parent)
            with step("temp file open+write+close"):
                with open(tmp, "wb") as fh:
                    fh.write(payload)
            with step("rename"):
                os.replace(tmp, path)
            with step("bookkeeping"):
                written.append((key, part.height, len(payload)))
        offset += length
    with step("listing"):
        frame = pl.DataFrame(written, schema=WRITTEN_SCHEMA, orient="row")
        frame.write_parquet(written_listing(bucket_file), compression="lz4")
    return len(written)


def _after_bucket(storage, manifest, bucket_file: Path, steps) -> int:
    """The current ``write_bucket`` (``file_order``, ``partition_files``, the bucket's files
    by ``encode_files``) and ``LocalStorage.put_bytes`` (remembered folders, counter temp names,
    ``os.open``/``os.write``), step by step, each step timed."""
    import polars as pl

    from etl3_assets.lib.contract import FILE_COLUMNS
    from etl3_assets.lib.hive.writer import (
        WRITTEN_SCHEMA,
        encode_files,
        file_order,
        partition_files,
        planned_keys,
        written_listing,
    )

    def step(name):
        return _Step(steps, name)

    with step("read bucket (IPC)"):
        bucket = pl.read_ipc_stream(bucket_file)
    with step("n_unique + planned keys"):
        keys = planned_keys(bucket, 1_000_000)
    with step("journal"):
        manifest.journal(bucket_file.stem, keys)
    with step("order + runs"):
        order, runs = file_order(bucket)
        files = partition_files(runs, 1_000_000)
        rows = bucket.select(FILE_COLUMNS)
        del bucket
    written = []
    known = storage._known_dirs
    storage._tmp_prefix = f"{os.getpid()}-profile"
    with step("encoder set-up (bucket)"):
        payloads = encode_files(rows, [n for _, n in files], order)
        first = next(payloads)  # the bucket encoder's set-up happens before the first file
    for i, (key, length) in enumerate(files):
        with step("encode"):
            payload = first if i == 0 else next(payloads)
        with step("key + temp name"):
            path = f"{storage.root_uri}/{key}"
            folder, _, name = path.rpartition("/")
            storage._tmp_count += 1
            tmp = f"{folder}/.{name}.{storage._tmp_prefix}-{storage._tmp_count}.tmp"
        with step("mkdir"):
            if folder not in known:
                storage._make_dirs(folder)
        with step("temp file open+write+close"):
            fd = os.open(tmp, storage.FILE_FLAGS, 0o666)
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
            os.close(fd)
        with step("rename"):
            os.replace(tmp, path)
        with step("bookkeeping"):
            written.append((key, length, len(payload)))
    with step("listing"):
        frame = pl.DataFrame(written, schema=WRITTEN_SCHEMA, orient="row")
        frame.write_parquet(written_listing(bucket_file), compression="lz4")
    return len(written)


def run_config(config: str, bucket_files: list[Path], workers: int, out_root: Path) -> dict:
    out = out_root / config.replace("/", "-")
    shutil.rmtree(out, ignore_errors=True)
    saved = dict(os.environ)
    mode, pool_env = config.split("/")
    os.environ.update(POOL_ENV[pool_env])
    try:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(workers) as pool:
            shards = [[str(b) for b in bucket_files[i::workers]] for i in range(workers)]
            started = time.perf_counter()
            results = pool.starmap(_worker, [(s, str(out), mode) for s in shards])
            wall = time.perf_counter() - started
    finally:
        os.environ.clear()
        os.environ.update(saved)
    shutil.rmtree(out, ignore_errors=True)
    files = sum(r["files"] for r in results)
    cpu = sum(r["user_s"] + r["sys_s"] for r in results)
    steps: dict[str, dict[str, float]] = defaultdict(lambda: {"process_s": 0.0, "main_thread_s": 0.0})
    for r in results:
        for k, v in r["steps"].items():
            steps[k]["process_s"] += v["process_s"]
            steps[k]["main_thread_s"] += v["main_thread_s"]
    return {
        "config": config,
        "files": files,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "user_s": round(sum(r["user_s"] for r in results), 2),
        "sys_s": round(sum(r["sys_s"] for r in results), 2),
        "cpu_ms_per_file": round(cpu * 1000 / files, 3),
        "polars_threads": results[0]["polars_threads"],
        "arrow_cpus": results[0]["arrow_cpus"],
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "steps_ms_per_file": {
            k: {"process": round(v["process_s"] * 1000 / files, 4), "main_thread": round(v["main_thread_s"] * 1000 / files, 4)}
            for k, v in steps.items()
        },
    }


# --- py-spy raw aggregation ----------------------------------------------------------

PYSPY_RULES = (
    # (category, substring of a frame, from the innermost frame outwards: first hit wins)
    ("encode", "encode_parquet"),
    ("encode", "encode ("),
    ("encoder set-up (bucket)", "BucketEncoder"),
    ("encoder set-up (bucket)", "__init__ (etl3_assets/lib/hive/parquet_encoder"),
    ("encode", "write_table ("),
    ("encode", "write_parquet ("),
    ("mkdir", "mkdir ("),
    ("mkdir", "_make_dirs ("),
    ("put_bytes (temp name, write, rename)", "put_bytes ("),
    ("key building / temp name", "data_key ("),
    ("slice", "slice ("),
    ("journal", "journal ("),
    ("sort + rle + select", "sort ("),
    ("read bucket (IPC)", "read_ipc_stream"),
)


def aggregate_pyspy(raw: Path) -> dict:
    """Per-category sample counts of the worker processes' stacks (py-spy raw format:
    ``frame;frame;... count``, outermost first)."""
    counts: dict[str, int] = defaultdict(int)
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if "write_bucket" not in stack and "_worker" not in stack:
            continue
        total += int(n)
        frames = stack.split(";")[::-1]
        for frame in frames:
            hit = next((cat for cat, s in PYSPY_RULES if s in frame), None)
            if hit:
                counts[hit] += int(n)
                break
        else:
            counts["other (python loop, idle)"] += int(n)
    return {"samples": total, "share": {k: round(v / total, 4) for k, v in sorted(counts.items(), key=lambda kv: -kv[1])}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--staged", help="the staged enriched month (month_benchmark's enriched-N.parquet)")
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--n-buckets", type=int, default=0, help="spill into this many buckets (0: as the writer would)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--use-buckets", type=int, default=0, help="profile only this many buckets (0: all)")
    parser.add_argument("--workdir", default="/tmp/etl3-write-profile")
    parser.add_argument("--out", default="")
    parser.add_argument("--pyspy-raw", help="aggregate this py-spy raw profile and exit")
    args = parser.parse_args()
    if args.pyspy_raw:
        print(json.dumps(aggregate_pyspy(Path(args.pyspy_raw)), indent=2))
        return

    import polars as pl

    from etl3_assets.lib.hive.writer import WriterSettings, spill_buckets

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=workdir, prefix="buckets-"))
    month = pl.scan_parquet(args.staged)
    rows = month.select(pl.len()).collect().item()
    settings = WriterSettings(max_workers=args.workers)
    buckets = spill_buckets(month, scratch, args.n_buckets or settings.bucket_count(rows), settings.spill_chunk_rows())
    if args.use_buckets:
        buckets = buckets[: args.use_buckets]
    report = {"rows": rows, "buckets": len(buckets), "cores": os.cpu_count(), "load_avg_start": os.getloadavg(), "runs": []}
    try:
        for _ in range(args.repeats):
            for config in args.configs.split(","):
                r = run_config(config, buckets, args.workers, workdir / "out")
                report["runs"].append(r)
                print(json.dumps(r), file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report["load_avg_end"] = os.getloadavg()
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
