"""Write one enriched month into the partitioned warehouse, out of core, within a budget.

The month arrives as a lazy frame and is never collected whole:

1. *spill* (in a spawned process when a pool of writers follows): the month is read in
   slices of ``chunk_rows``; each row's partition folder is computed and the rows
   scattered into ``n_buckets`` scratch files by a hash of that folder, so every
   partition lands whole in exactly one bucket;
2. *write*: worker processes take one bucket at a time, sort it by partition, and write
   every partition once, as one file (or as ``-NNNNN`` splits above
   ``max_rows_per_file``), except the files whose content the committed month already
   holds, which are kept untouched (``incremental.py``; not with ``full_rewrite``);
3. *commit*: the month manifest is replaced and the month's stale objects deleted
   (``manifest.py`` gives the protocol and why a crash at any moment leaves the month
   exact for the next run).

An interrupt (Ctrl-C, SIGTERM) stops the worker processes at once (``lib/processes.py``):
they ignore SIGINT and leave it to this process, which terminates them; a worker's write
under way removes its temporary file on the way out.

The cost of a real month is per file (hundreds of thousands of partitions of a few dozen
rows, each one parquet encode), so phase 2 runs in processes: they beat threads, which contend for the GIL between the many small encodes. Memory is
bounded by the bucket size, chosen from ``memory_limit_mb``: each worker holds one bucket
(about ``BUCKET_BYTES_PER_ROW`` per row while read, ordered and encoded).
"""

from __future__ import annotations

import math
import os
from collections import Counter
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from etl3_assets.lib.contract import FILE_COLUMNS
from etl3_assets.lib.hive.layout import PARTITION_DIR_COLUMN, data_file_names, data_key, partition_dir_expr
from etl3_assets.lib.hive.incremental import LISTING_SCHEMA, file_digests, kept_files, positions_of, split_trusted
from etl3_assets.lib.hive.manifest import MonthManifest
from etl3_assets.lib.hive.parquet_encoder import BucketEncoder, supports
from etl3_assets.lib.storage import WarehouseStorage
from etl3_assets.lib.processes import BARE_SPAWN, stopping_pool
from etl3_assets.lib.progress import MIB, MemoryWatch, WriteProgress

BUCKET_COLUMN = "_bucket"
SINGLE_FILE_NAME = data_file_names(1)[0]
# In-memory bytes per enriched row held sorted in one table (the Iceberg writer's sort runs
# are sized by it; measured on the benchmark's month, with headroom).
BYTES_PER_ROW_IN_MEMORY = 3_000
# A worker's peak bytes per row of its bucket, while the bucket is read, ordered and its
# columns handed to the bucket encoder, with the allocator's slack after a few buckets:
# measured 3.6-4.0 kB on one bucket and 4.7-5.6 kB in a worker of a whole month, plus
# headroom (bench/measured/); sizes the buckets.
BUCKET_BYTES_PER_ROW = 7_000
# In-memory bytes per enriched row of one spill slice, which is held three times over while
# it is read, hashed and sorted, and handed to Arrow (measured 3.5-3.9 kB marginal, plus
# ~100 MiB of reader buffers; bench/measured/); sizes the slices of the spill.
SPILL_BYTES_PER_ROW_IN_MEMORY = 4_000
# Part of the budget one spill slice may fill: the rest holds the run's own processes (the
# Dagster CLI or daemon, the step process), which the budget counts too.
SPILL_SHARE_OF_BUDGET = 0.4
# Resident memory outside the buckets, allowed on top of memory_limit_mb: the parent
# process (Python, Dagster, polars) and one interpreter with polars per worker.
FIXED_OVERHEAD_MB = 256
# Part of the budget a worker may fill with its bucket; the rest absorbs allocator slack.
BUCKET_SHARE_OF_BUDGET = 0.5
# Floor of the sizes derived from the budget, so a tiny budget still makes progress.
MIN_ROWS_PER_CHUNK = 100
# Below this many rows a month is written by one bucket in-process (no pool start-up).
MIN_ROWS_FOR_BALANCE = 50_000


@dataclass(frozen=True)
class WriterSettings:
    """``chunk_size``: rows per slice read by the spill (capped by the budget);
    ``memory_limit_mb``: the budget the process tree's RSS stays within, plus
    ``FIXED_OVERHEAD_MB``; ``max_workers``: partition-writing processes;
    ``memory_root_pid``: the process whose tree the budget counts (default this one);
    ``full_rewrite``: write every file, keeping none of the committed month's."""

    chunk_size: int = 250_000
    memory_limit_mb: int = 1024
    max_rows_per_file: int = 1_000_000
    max_workers: int = 2
    scratch_dir: str | None = None
    progress_every_s: float = 10.0
    memory_root_pid: int | None = None
    full_rewrite: bool = False

    def bucket_count(self, expected_rows: int) -> int:
        per_worker = self.memory_limit_mb * MIB * BUCKET_SHARE_OF_BUDGET / max(1, self.max_workers)
        rows_per_bucket = max(MIN_ROWS_PER_CHUNK, int(per_worker // BUCKET_BYTES_PER_ROW))
        by_memory = math.ceil(expected_rows / rows_per_bucket)
        # a month big enough to be worth a process pool gets several buckets per worker,
        # so no worker idles while the last big bucket is written
        by_balance = 4 * self.max_workers if expected_rows >= MIN_ROWS_FOR_BALANCE else 1
        return max(1, by_memory, by_balance)

    def budget_bytes(self) -> int:
        return (self.memory_limit_mb + FIXED_OVERHEAD_MB) * MIB

    def spill_chunk_rows(self) -> int:
        """Rows per slice of the spill: ``chunk_size``, capped to ``SPILL_SHARE_OF_BUDGET``
        of the budget (the spill runs before any bucket writer starts)."""
        return slice_rows_within_budget(self.chunk_size, self.memory_limit_mb, MIN_ROWS_PER_CHUNK)


def slice_rows_within_budget(chunk_rows: int, memory_limit_mb: int, floor: int) -> int:
    """Rows of one slice read from the staged month while nothing else of the write runs:
    ``chunk_rows``, capped so that the slice fills at most ``SPILL_SHARE_OF_BUDGET`` of the
    budget, never below ``floor`` (a tiny budget still makes progress)."""
    cap = memory_limit_mb * MIB * SPILL_SHARE_OF_BUDGET // SPILL_BYTES_PER_ROW_IN_MEMORY
    return max(floor, min(chunk_rows, int(cap)))


@dataclass
class MonthWriteResult:
    year_month: str
    input_rows: int = 0
    rows: int = 0
    partitions: int = 0
    files: int = 0
    bytes: int = 0
    buckets: int = 0
    stale_deleted: int = 0
    files_kept: int = 0
    bytes_written: int = 0
    peak_rss_bytes: int = 0
    budget_bytes: int = 0
    over_budget: bool = False
    seconds: dict[str, float] = field(default_factory=dict)
    write_cpu_seconds: float = 0.0  # the writers' CPU (user+sys, all threads) on the buckets
    write_sys_seconds: float = 0.0  # of which in the kernel (folders, files, page cache)

    def rows_per_second(self) -> float:
        total = sum(self.seconds.values())
        return self.rows / total if total else 0.0

    def metrics(self) -> dict[str, float | int | bool]:
        """The seed's chunk metrics and the write's resource use, as materialization metadata."""
        return {
            "ChunkInputRows": self.input_rows,
            "ChunkOutputRows": self.rows,
            "ChunkProcessingRate": round(self.rows_per_second(), 1),
            "PartitionsCreated": self.partitions,
            "files_written": self.files - self.files_kept,
            "files_kept": self.files_kept,
            "files_deleted": self.stale_deleted,
            "bytes_written": self.bytes_written,
            "buckets": self.buckets,
            "peak_rss_mb": round(self.peak_rss_bytes / MIB, 1),
            "memory_budget_mb": round(self.budget_bytes / MIB),
            "over_memory_budget": self.over_budget,
            "seconds_total": round(sum(self.seconds.values()), 3),
            "write_cpu_ms_per_file": round(self.write_cpu_seconds * 1000 / self.files, 3) if self.files else 0.0,
            "write_sys_ms_per_file": round(self.write_sys_seconds * 1000 / self.files, 3) if self.files else 0.0,
        }


# A warehouse file of a few dozen rows costs mainly a fixed amount per column chunk, so the
# files of one bucket are encoded together by ``BucketEncoder`` (per-value work once per
# bucket; per file one zstd page per column through one reused compression context;
# bench/encoders.py, bench/measured/). Files of DICTIONARY_MIN_ROWS rows or more, where a
# dictionary pays off, and tables of types the bucket encoder does not know are written by
# pyarrow, as ``encode_parquet``: no ``ARROW:schema`` footer entry, zstd with statistics
# (CONTRACT §3), dictionary-encoded. Both are deterministic: the same rows give the same
# bytes, which the warehouse's byte-identical rewrites rely on.
DICTIONARY_MIN_ROWS = 4_096


def encode_parquet(rows: pa.Table | pl.DataFrame) -> bytes:
    """One file's bytes, by pyarrow: the encoder of large files and of tables the bucket encoder does not know."""
    table = rows.to_arrow() if isinstance(rows, pl.DataFrame) else rows
    sink = pa.BufferOutputStream()
    pq.write_table(
        table,
        sink,
        compression="zstd",
        write_statistics=True,
        store_schema=False,
        use_dictionary=table.num_rows >= DICTIONARY_MIN_ROWS,
    )
    return sink.getvalue().to_pybytes()


def encode_files(
    rows: pl.DataFrame | pa.Table, lengths: Sequence[int], order: pl.Series | None = None
) -> Iterator[bytes]:
    """The files cutting ``rows`` (taken in ``order`` when given) into consecutive ranges of
    ``lengths`` rows, in order. A polars ``rows`` is consumed: its columns are dropped as
    the bucket encoder takes them, so a bucket and its encoding are not held whole at once."""
    if isinstance(rows, pa.Table):
        rows = pl.from_arrow(rows)
    schema = rows.head(0).to_arrow().schema
    if not supports(schema):
        table = (rows if order is None else rows[order]).to_arrow()
        offset = 0
        for length in lengths:
            yield encode_parquet(table.slice(offset, length))
            offset += length
        return
    bounds = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=bounds[1:])
    large = [i for i, n in enumerate(lengths) if n >= DICTIONARY_MIN_ROWS]
    large_rows = None
    if large:  # taken before the encoder consumes the columns
        positions = np.concatenate([np.arange(bounds[i], bounds[i + 1]) for i in large])
        large_rows = rows[positions if order is None else order.gather(positions)].to_arrow()

    def columns() -> Iterator[pa.Array]:
        for name in rows.columns:
            column = rows.drop_in_place(name)
            yield (column if order is None else column.gather(order)).to_arrow()

    encoder = BucketEncoder(schema, columns(), lengths)
    large_offset = 0
    for i, length in enumerate(lengths):
        if length >= DICTIONARY_MIN_ROWS:
            yield encode_parquet(large_rows.slice(large_offset, length))
            large_offset += length
        else:
            yield encoder.encode(i)


def file_order(bucket: pl.DataFrame) -> tuple[pl.Series, list[tuple[int, str]]]:
    """The order putting a bucket's rows in file order (by partition, then fact_uid), and
    the (rows, partition folder) runs of the rows in that order."""
    order = bucket.select(pl.arg_sort_by(PARTITION_DIR_COLUMN, "fact_uid")).to_series()
    runs = bucket.select(pl.col(PARTITION_DIR_COLUMN).gather(order).rle()).unnest(PARTITION_DIR_COLUMN).rows()
    return order, runs


def partition_files(runs: list[tuple[int, str]], max_rows_per_file: int) -> list[tuple[str, int]]:
    """(key, rows) of every file of the runs' partitions: one file per partition, or
    ``-NNNNN`` splits above ``max_rows_per_file``."""
    files: list[tuple[str, int]] = []
    for length, partition_dir in runs:
        if length <= max_rows_per_file:
            files.append((data_key(partition_dir, SINGLE_FILE_NAME), length))
        else:
            n_files = math.ceil(length / max_rows_per_file)
            for i, name in enumerate(data_file_names(n_files)):
                files.append((data_key(partition_dir, name), min(max_rows_per_file, length - i * max_rows_per_file)))
    return files


def planned_keys(bucket: pl.DataFrame, max_rows_per_file: int) -> list[str]:
    counts = bucket.group_by(PARTITION_DIR_COLUMN).len()
    return [
        data_key(d, name)
        for d, n in counts.iter_rows()
        for name in data_file_names(math.ceil(n / max_rows_per_file))
    ]


WRITTEN_SCHEMA = {"key": pl.String, "rows": pl.Int64, "bytes": pl.Int64}


@dataclass(frozen=True)
class BucketWritten:
    """What a worker reports for one bucket; its (key, rows, bytes, digest, kept) per file
    stay in ``listing`` on scratch, so the parent holds no key strings while the pool runs."""

    listing: Path
    rows: int
    files: int
    partitions: int
    cpu_seconds: float = 0.0  # the worker's CPU (all its threads, user+sys) on this bucket
    sys_seconds: float = 0.0  # of which in the kernel
    requests: Counter = field(default_factory=Counter)  # the bucket's storage requests, by operation
    retries: Counter = field(default_factory=Counter)  # of which retries


def written_listing(bucket_file: Path) -> Path:
    return bucket_file.with_name(f"{bucket_file.stem}.written.parquet")


def _cpu_since(started: os.times_result) -> tuple[float, float]:
    """(user+sys, sys) seconds of this process's CPU, all threads, since ``started``."""
    now = os.times()
    system = now.system - started.system
    return now.user - started.user + system, system


def write_bucket(
    storage: WarehouseStorage, manifest: MonthManifest, bucket_file: Path, max_rows_per_file: int
) -> BucketWritten:
    """Phase 2 for one bucket (runs in a worker process): digest its files, keep those the
    committed month holds, journal the others' keys, write them, wait until they are
    durable, list every file (written or kept) on scratch."""
    started = os.times()
    requests_before, retries_before = Counter(storage.requests), Counter(storage.retries)
    bucket = pl.read_ipc_stream(bucket_file)
    order, runs = file_order(bucket)
    files = partition_files(runs, max_rows_per_file)
    rows = bucket.select(FILE_COLUMNS)
    del bucket
    lengths = [n for _, n in files]
    planned = pl.DataFrame(
        {"key": [k for k, _ in files], "rows": lengths, "digest": file_digests(rows, order, lengths)},
        schema={k: LISTING_SCHEMA[k] for k in ("key", "rows", "digest")},
    )
    kept = kept_files(planned, bucket_file)
    # in file order: the files' row ranges follow it
    changed = planned.with_row_index("_file").join(kept.select("key"), on="key", how="anti").sort("_file")
    if changed.height:
        manifest.journal(bucket_file.stem, changed.select("key", "digest"))
    if changed.height < planned.height:
        chosen = changed["_file"].to_list()
        order = order.gather(positions_of(lengths, chosen))
    sizes = []
    for key, payload in zip(changed["key"], encode_files(rows, changed["rows"].to_list(), order), strict=True):
        storage.put_bytes(key, payload)
        sizes.append(len(payload))
    listing_frame = pl.concat(
        [
            changed.select("key", "rows", pl.Series("bytes", sizes, pl.Int64), "digest", kept=pl.lit(False)),
            kept.with_columns(kept=pl.lit(True)),
        ]
    )
    del files, order, planned, changed, kept
    storage.flush()
    listing = written_listing(bucket_file)
    listing_frame.write_parquet(listing, compression="lz4")
    return BucketWritten(
        listing, int(listing_frame["rows"].sum()), listing_frame.height, len(runs), *_cpu_since(started),
        requests=Counter(storage.requests) - requests_before, retries=Counter(storage.retries) - retries_before,
    )


def spill_buckets(
    enriched: pl.LazyFrame,
    scratch: Path,
    n_buckets: int,
    chunk_rows: int,
    on_chunk: Callable[[int], None] = lambda _rows: None,
) -> list[Path]:
    """Phase 1: scatter the month into ``n_buckets`` scratch files by partition hash.

    The month is pulled ``chunk_rows`` at a time by slicing the lazy frame, which on a
    parquet scan (what the staging IO manager hands over) reads only the row groups of
    that slice; a streaming ``sink_parquet`` of the same scan, even partitioned by
    bucket, holds several times more (bench/measured/design-measurements.md).

    Each bucket is an Arrow IPC stream (lz4) getting one record batch per chunk: a stream
    writer keeps nothing per batch. Parquet writers keep every row group's metadata until
    closed, which grows with buckets x chunks x columns; a stream's memory stays flat.
    """
    bucket = bucket_of(n_buckets).alias(BUCKET_COLUMN)
    rows = enriched.with_columns(partition_dir_expr()).select(PARTITION_DIR_COLUMN, *FILE_COLUMNS)
    options = pa.ipc.IpcWriteOptions(compression="lz4", use_threads=False)
    sinks: dict[int, pa.NativeFile] = {}
    writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
    try:
        offset = 0
        while True:
            chunk = rows.slice(offset, chunk_rows).collect()
            if chunk.height == 0:
                break
            offset += chunk.height
            on_chunk(offset)
            chunk = chunk.with_columns(bucket).sort(BUCKET_COLUMN)
            runs = chunk.select(pl.col(BUCKET_COLUMN).rle()).unnest(BUCKET_COLUMN)
            table = chunk.drop(BUCKET_COLUMN).to_arrow()
            start = 0
            for length, b in runs.iter_rows():
                if b not in writers:
                    sinks[b] = pa.OSFile(str(bucket_path(scratch, b)), "wb")
                    writers[b] = pa.ipc.new_stream(sinks[b], table.schema, options=options)
                writers[b].write_table(table.slice(start, length))
                start += length
            del chunk, table
    finally:
        for writer in writers.values():
            writer.close()
        for sink in sinks.values():
            sink.close()
    return sorted(bucket_path(scratch, b) for b in writers)


def bucket_of(n_buckets: int) -> pl.Expr:
    """The bucket of a partition folder (``PARTITION_DIR_COLUMN``)."""
    return pl.col(PARTITION_DIR_COLUMN).hash(42) % n_buckets


def bucket_path(scratch: Path, bucket: int) -> Path:
    return scratch / f"bucket-{bucket:06d}.arrows"


_spilled_rows = None  # in a spill process: the counter shared with the parent


def _share_spill_counter(counter) -> None:
    global _spilled_rows
    _spilled_rows = counter


def _spill_counted(
    enriched: pl.LazyFrame, scratch: Path, n_buckets: int, chunk_rows: int, manifest: MonthManifest, full_rewrite: bool
) -> list[Path]:
    def count(rows: int) -> None:
        _spilled_rows.value = rows

    bucket_files = spill_buckets(enriched, scratch, n_buckets, chunk_rows, on_chunk=count)
    _begin(manifest, bucket_files, n_buckets, full_rewrite)
    return bucket_files


def _begin(manifest: MonthManifest, bucket_files: list[Path], n_buckets: int, full_rewrite: bool) -> None:
    """Step 1 of the manifest's protocol, then each bucket's share of the trusted
    committed files put beside it (none for a full rewrite)."""
    trusted = manifest.begin()
    if not full_rewrite:
        split_trusted(trusted, bucket_files, bucket_of(n_buckets))


def _spill(
    enriched: pl.LazyFrame,
    scratch: Path,
    n_buckets: int,
    settings: WriterSettings,
    progress: WriteProgress,
    manifest: MonthManifest,
) -> list[Path]:
    """Phase 1 and the manifest's ``begin``, in a spawned process whenever a pool of
    writers follows. polars' allocator keeps freed memory for several seconds
    (bench/measured/design-measurements.md); in process, that would overlap the first
    buckets being written (the committed manifest is read there too: hundreds of
    thousands of keys)."""
    chunk_rows = settings.spill_chunk_rows()
    if n_buckets <= 1 or settings.max_workers <= 1:
        bucket_files = spill_buckets(
            enriched, scratch, n_buckets, chunk_rows, on_chunk=lambda rows: setattr(progress, "rows_done", rows)
        )
        _begin(manifest, bucket_files, n_buckets, settings.full_rewrite)
        return bucket_files
    counter = BARE_SPAWN.Value("q", 0, lock=False)
    with stopping_pool(1, initializer=_share_spill_counter, initargs=(counter,)) as pool:
        spilled = pool.submit(
            _spill_counted, enriched, scratch, n_buckets, chunk_rows, manifest, settings.full_rewrite
        )
        while True:
            try:
                return spilled.result(timeout=0.5)
            except TimeoutError:
                progress.rows_done = counter.value


def writer_process_setup() -> None:
    """Thread pools of a spawned partition-writing process, set deliberately: one worker
    process per core does the encoding in its own main thread (pyarrow's Parquet writer
    does not use Arrow's pools for a table this small), so Arrow's CPU and IO pools are
    cut to one thread each instead of one per core and eight. polars' pool keeps its
    default size: it reads and sorts each bucket once, between thousands of encodes, and
    its size is fixed when polars is imported, before an initializer runs; measured, a
    one-thread polars pool made no difference to the CPU per file (bench/write_profile.py)."""
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)


def _write_buckets(
    storage: WarehouseStorage,
    manifest: MonthManifest,
    bucket_files: list[Path],
    settings: WriterSettings,
    progress: WriteProgress,
) -> list[BucketWritten]:
    """Phase 2 over all buckets: in a pool of spawned processes (``BARE_SPAWN``, so a worker
    starts as a bare interpreter with polars rather than a copy of the parent or of its
    main module, e.g. Dagster), or in-process when one worker suffices."""

    def done(bucket: BucketWritten) -> BucketWritten:
        progress.rows_done += bucket.rows
        progress.files_done += bucket.files
        progress.partitions_done += bucket.partitions
        return bucket

    workers = min(max(1, settings.max_workers), len(bucket_files))
    if workers <= 1:
        return [done(write_bucket(storage, manifest, d, settings.max_rows_per_file)) for d in bucket_files]
    results: list[BucketWritten] = []
    # on any exception (an interrupt included) the pool's processes are stopped at once,
    # not left to finish the buckets already handed to them
    with stopping_pool(workers, initializer=writer_process_setup) as pool:
        pending: set[Future] = set()
        queue = list(reversed(bucket_files))
        # at most one queued bucket per worker: the parent never holds a backlog
        while queue or pending:
            while queue and len(pending) < 2 * workers:
                pending.add(pool.submit(write_bucket, storage, manifest, queue.pop(), settings.max_rows_per_file))
            # in short slices: an interrupt taken by another thread (polars', the S3
            # uploads') reaches this main thread only when it next runs Python
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for f in finished:
                bucket = done(f.result())
                storage.requests.update(bucket.requests)  # the workers' requests, counted here
                storage.retries.update(bucket.retries)
                results.append(bucket)
    return results


def write_month(
    storage: WarehouseStorage,
    year_month: str,
    enriched: pl.LazyFrame,
    *,
    expected_rows: int,
    settings: WriterSettings = WriterSettings(),
    log: Callable[[str], None] = lambda _msg: None,
    warn: Callable[[str], None] | None = None,
) -> MonthWriteResult:
    if expected_rows <= 0:
        raise ValueError(f"month {year_month} has no fact rows: nothing to write")
    result = MonthWriteResult(year_month, input_rows=expected_rows, budget_bytes=settings.budget_bytes())
    n_buckets = settings.bucket_count(expected_rows)
    result.buckets = n_buckets
    progress = WriteProgress(total_rows=expected_rows)
    watch = MemoryWatch(
        progress, settings.budget_bytes(), log=log, warn=warn or log, log_every_s=settings.progress_every_s,
        root_pid=settings.memory_root_pid,
    )
    scratch = Path(tempfile.mkdtemp(prefix=f"etl3-{year_month}-", dir=settings.scratch_dir))
    try:
        with watch:
            t0 = time.perf_counter()
            manifest = MonthManifest(storage, year_month)
            bucket_files = _spill(enriched, scratch, n_buckets, settings, progress, manifest)
            result.seconds["spill"] = time.perf_counter() - t0
            log(
                f"{year_month}: spilled {expected_rows:,} rows into {len(bucket_files)} buckets"
                f" in {result.seconds['spill']:.1f} s; writing with {settings.max_workers} workers"
            )

            t1 = time.perf_counter()
            progress.phase, progress.started, progress.rows_done = "write", t1, 0
            written = _write_buckets(storage, manifest, bucket_files, settings, progress)
            storage.flush()
            result.seconds["write"] = time.perf_counter() - t1

            result.rows = sum(b.rows for b in written)
            if result.rows != expected_rows:
                raise RuntimeError(
                    f"month {year_month}: wrote {result.rows} rows but the month has {expected_rows};"
                    " the month is left uncommitted and the next run repairs it"
                )
            progress.phase = "commit"
            t2 = time.perf_counter()
            frame = (
                pl.read_parquet([b.listing for b in written]).sort("key")
                if written
                else pl.DataFrame(schema=LISTING_SCHEMA)
            )
            result.stale_deleted = manifest.commit(frame.drop("kept"))
            result.seconds["commit"] = time.perf_counter() - t2
            result.files = frame.height
            result.bytes = int(frame["bytes"].sum())
            result.files_kept = int(frame["kept"].sum())
            result.bytes_written = int(frame.filter(~pl.col("kept"))["bytes"].sum())
            result.partitions = sum(b.partitions for b in written)
            result.write_cpu_seconds = sum(b.cpu_seconds for b in written)
            result.write_sys_seconds = sum(b.sys_seconds for b in written)
        result.peak_rss_bytes, result.over_budget = watch.peak_bytes, watch.over_budget
        log(
            f"{year_month}: {result.rows:,} rows, {result.partitions:,} partitions, {result.files:,} files"
            f" ({result.files - result.files_kept:,} written, {result.files_kept:,} kept as they were,"
            f" {result.stale_deleted:,} deleted)"
            f" in {sum(result.seconds.values()):.1f} s ({result.rows_per_second():,.0f} rows/s),"
            f" peak RSS {result.peak_rss_bytes / MIB:.0f} MiB of {result.budget_bytes / MIB:.0f} MiB"
        )
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
