"""Write one enriched month into the partitioned warehouse, out of core.

The month arrives as a lazy frame and is never collected whole:

1. *spill*: a streaming pass computes each row's partition folder and scatters the rows
   into ``n_buckets`` scratch files by a hash of that folder, so every partition lands
   whole in exactly one bucket;
2. *write*: buckets are read one at a time per worker, sorted by partition, and every
   partition is written once, as one file (or as ``-NNNNN`` splits above
   ``max_rows_per_file``);
3. *commit*: the month manifest is replaced and the month's stale objects deleted.

The cost of a real month is per file (hundreds of thousands of partitions of ~10 rows),
so phase 2 is what runs in parallel.
"""

from __future__ import annotations

import io
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from .contract import FILE_COLUMNS
from .layout import PARTITION_DIR_COLUMN, data_file_names, data_key, partition_dir_expr
from .month_manifest import MonthManifest
from .storage import WarehouseStorage

BUCKET_COLUMN = "_bucket"
# In-memory bytes per enriched row while a bucket is read, sorted and sliced (measured
# on the sample data, with headroom); used only to size the buckets.
BYTES_PER_ROW_IN_MEMORY = 3_000


@dataclass(frozen=True)
class WriterSettings:
    chunk_size: int = 250_000
    memory_limit_mb: int = 1024
    max_rows_per_file: int = 1_000_000
    max_workers: int = 2
    scratch_dir: str | None = None

    def bucket_count(self, expected_rows: int) -> int:
        per_worker = self.memory_limit_mb * 1024 * 1024 / max(1, self.max_workers) / 2
        rows_per_bucket = max(1_000, int(per_worker // BYTES_PER_ROW_IN_MEMORY))
        return max(1, math.ceil(expected_rows / rows_per_bucket))


@dataclass
class MonthWriteResult:
    year_month: str
    rows: int = 0
    partitions: int = 0
    files: int = 0
    bytes: int = 0
    buckets: int = 0
    stale_deleted: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


def encode_parquet(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_parquet(buf, compression="zstd", statistics=True)
    return buf.getvalue()


def write_partitions(
    storage: WarehouseStorage, bucket: pl.DataFrame, max_rows_per_file: int
) -> list[tuple[str, int, int]]:
    """Write every partition of one bucket; returns (key, rows, bytes) per file."""
    bucket = bucket.sort(PARTITION_DIR_COLUMN, "fact_uid")
    runs = bucket.select(pl.col(PARTITION_DIR_COLUMN).rle()).unnest(PARTITION_DIR_COLUMN)
    data = bucket.select(FILE_COLUMNS)
    written: list[tuple[str, int, int]] = []
    offset = 0
    for length, partition_dir in runs.iter_rows():
        n_files = math.ceil(length / max_rows_per_file)
        for i, name in enumerate(data_file_names(n_files)):
            start = i * max_rows_per_file
            part = data.slice(offset + start, min(max_rows_per_file, length - start))
            payload = encode_parquet(part)
            key = data_key(partition_dir, name)
            storage.put_bytes(key, payload)
            written.append((key, part.height, len(payload)))
        offset += length
    return written


def planned_keys(bucket: pl.DataFrame, max_rows_per_file: int) -> list[str]:
    counts = bucket.group_by(PARTITION_DIR_COLUMN).len()
    return [
        data_key(d, name)
        for d, n in counts.iter_rows()
        for name in data_file_names(math.ceil(n / max_rows_per_file))
    ]


def write_month(
    storage: WarehouseStorage,
    year_month: str,
    enriched: pl.LazyFrame,
    *,
    expected_rows: int,
    settings: WriterSettings = WriterSettings(),
    log: Callable[[str], None] = lambda _msg: None,
) -> MonthWriteResult:
    if expected_rows <= 0:
        raise ValueError(f"month {year_month} has no fact rows: nothing to write")
    result = MonthWriteResult(year_month)
    n_buckets = settings.bucket_count(expected_rows)
    result.buckets = n_buckets
    scratch = Path(tempfile.mkdtemp(prefix=f"etl3-{year_month}-", dir=settings.scratch_dir))
    try:
        t0 = time.perf_counter()
        (
            enriched.with_columns(partition_dir_expr())
            .select(PARTITION_DIR_COLUMN, *FILE_COLUMNS)
            .with_columns((pl.col(PARTITION_DIR_COLUMN).hash(42) % n_buckets).alias(BUCKET_COLUMN))
            .sink_parquet(
                pl.PartitionBy(scratch, key=BUCKET_COLUMN, include_key=False),
                mkdir=True,
                engine="streaming",
            )
        )
        result.seconds["spill"] = time.perf_counter() - t0
        log(f"{year_month}: spilled {expected_rows} rows into {n_buckets} buckets")

        manifest = MonthManifest(storage, year_month)
        manifest.begin()
        t1 = time.perf_counter()
        bucket_dirs = sorted(p for p in scratch.iterdir() if p.is_dir())

        def write_bucket(bucket_dir: Path) -> list[tuple[str, int, int]]:
            bucket = pl.read_parquet(bucket_dir)
            manifest.journal(bucket_dir.name.split("=")[-1], planned_keys(bucket, settings.max_rows_per_file))
            return write_partitions(storage, bucket, settings.max_rows_per_file)

        written: list[tuple[str, int, int]] = []
        with ThreadPoolExecutor(max_workers=max(1, settings.max_workers)) as pool:
            for files in pool.map(write_bucket, bucket_dirs):
                written.extend(files)
        storage.flush()
        result.seconds["write"] = time.perf_counter() - t1

        frame = pl.DataFrame(
            written, schema={"key": pl.String, "rows": pl.Int64, "bytes": pl.Int64}, orient="row"
        )
        result.rows = int(frame["rows"].sum())
        if result.rows != expected_rows:
            raise RuntimeError(
                f"month {year_month}: wrote {result.rows} rows but the month has {expected_rows};"
                " the month is left uncommitted and the next run repairs it"
            )
        t2 = time.perf_counter()
        result.stale_deleted = len(manifest.commit(frame))
        result.seconds["commit"] = time.perf_counter() - t2
        result.files = frame.height
        result.bytes = int(frame["bytes"].sum())
        result.partitions = frame["key"].str.replace(r"/[^/]+$", "").n_unique()
        return result
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
