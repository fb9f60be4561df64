"""Where a worker's CPU goes per file in the write phase (issue 13, item 1).

    PYTHONPATH=. .venv/bin/python bench/write_profile.py --staged /tmp/perf-bench/enriched-200000.parquet

The staged month is spilled into buckets the way ``write_month`` spills it (untimed), then
each configuration runs two spawned workers at once (as the writer does on 2 cores), each
taking every other bucket through the steps of ``write_bucket``, with every step timed in
process CPU (all threads of the worker: ``time.process_time``) and in main-thread CPU
(``time.thread_time``). Process CPU minus main-thread CPU is what the worker's helper
threads (polars' thread pool) burned during that step. The worker's whole user+sys
(``getrusage``) minus the timed steps is the Python loop and whatever else is unaccounted.

Configurations (``--configs``): ``pool-default`` (polars' pool as the writer starts it,
one thread per core), ``pool-1`` (``POLARS_MAX_THREADS=1`` and pyarrow's CPU pool at 1),
and ``writer`` (the current ``write_bucket`` as is, untouched by the instrumentation, for
the true CPU per file). The configurations run one after another, repeated
``--repeats`` times interleaved, so that load from other users falls on all of them.

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

CONFIG_ENV = {
    "pool-default": {},
    "pool-1": {"POLARS_MAX_THREADS": "1", "ETL3_PROFILE_ARROW_CPUS": "1"},
    "writer": {},
}


def _worker(bucket_files: list[str], out: str, instrumented: bool) -> dict:
    import pyarrow as pa

    if os.environ.get("ETL3_PROFILE_ARROW_CPUS"):
        pa.set_cpu_count(int(os.environ["ETL3_PROFILE_ARROW_CPUS"]))
        pa.set_io_thread_count(int(os.environ["ETL3_PROFILE_ARROW_CPUS"]))
    import polars as pl

    from etl3_assets.month_writer import write_bucket
    from etl3_assets.month_manifest import MonthManifest
    from etl3_assets.storage import LocalStorage

    storage = LocalStorage(out)
    manifest = MonthManifest(storage, "2025-08")
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    files = 0
    steps: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for bucket_file in bucket_files:
        if instrumented:
            files += _instrumented_bucket(storage, manifest, Path(bucket_file), steps)
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


def _instrumented_bucket(storage, manifest, bucket_file: Path, steps) -> int:
    """``write_bucket`` step by step (same calls, same order), each step timed."""
    import math
    import uuid

    import polars as pl

    from etl3_assets.contract import FILE_COLUMNS
    from etl3_assets.layout import PARTITION_DIR_COLUMN, data_file_names, data_key
    from etl3_assets.month_writer import WRITTEN_SCHEMA, encode_parquet, planned_keys, written_listing

    def step(name):
        return _Step(steps, name)

    with step("read bucket (IPC)"):
        bucket = pl.read_ipc_stream(bucket_file)
    with step("n_unique + planned keys"):
        bucket[PARTITION_DIR_COLUMN].n_unique()
        keys = planned_keys(bucket, 1_000_000)
    with step("journal"):
        manifest.journal(bucket_file.stem, keys)
    with step("sort + rle + select"):
        bucket = bucket.sort(PARTITION_DIR_COLUMN, "fact_uid")
        runs = bucket.select(pl.col(PARTITION_DIR_COLUMN).rle()).unnest(PARTITION_DIR_COLUMN)
        data = bucket.select(FILE_COLUMNS)
    written = []
    offset = 0
    with step("iter runs"):
        run_rows = list(runs.iter_rows())
    made = storage._made_dirs
    for length, partition_dir in run_rows:
        n_files = math.ceil(length / 1_000_000)
        for i, name in enumerate(data_file_names(n_files)):
            with step("slice"):
                part = data.slice(offset + i * 1_000_000, min(1_000_000, length - i * 1_000_000))
            with step("encode"):
                payload = encode_parquet(part)
            with step("key building"):
                key = data_key(partition_dir, name)
                path = storage._path(key)
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


def run_config(config: str, bucket_files: list[Path], workers: int, out_root: Path) -> dict:
    out = out_root / config
    shutil.rmtree(out, ignore_errors=True)
    saved = dict(os.environ)
    os.environ.update(CONFIG_ENV[config])
    try:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(workers) as pool:
            shards = [[str(b) for b in bucket_files[i::workers]] for i in range(workers)]
            started = time.perf_counter()
            results = pool.starmap(_worker, [(s, str(out), config != "writer") for s in shards])
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
    ("encode", "write_parquet ("),
    ("mkdir", "mkdir ("),
    ("temp file open+write+close", "put_bytes (etl3_assets/storage.py:60)"),
    ("temp file open+write+close", "put_bytes (etl3_assets/storage.py:61)"),
    ("rename", "put_bytes (etl3_assets/storage.py:62)"),
    ("key building / temp name", "put_bytes (etl3_assets/storage.py"),
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
    parser.add_argument("--configs", default="pool-default,pool-1,writer")
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

    from etl3_assets.month_writer import WriterSettings, spill_buckets

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=workdir, prefix="buckets-"))
    month = pl.scan_parquet(args.staged)
    rows = month.select(pl.len()).collect().item()
    settings = WriterSettings(max_workers=args.workers)
    buckets = spill_buckets(month, scratch, settings.bucket_count(rows), settings.spill_chunk_rows())
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
