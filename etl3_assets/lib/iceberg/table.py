"""The enriched months as one Apache Iceberg table (CONTRACT section 4), with pyiceberg 0.12.

Plain Python, no Dagster: the asset layer opens the catalog, calls ``write_month`` with the
staged month, then the maintenance functions, and reports the result's metrics.

Why the month is written here and not with pyiceberg's ``append``/``overwrite``: those
take the whole month as one Arrow table (a partitioned table cannot be fed a
``RecordBatchReader`` in 0.12), which does not fit the memory budget. Instead:

1. *sample*: the sort columns are read slice by slice and every k-th row kept; the sorted
   sample gives the boundaries of ``sort runs`` (key ranges) of bounded size;
2. *spill*: the staged month is read in slices; each slice is sorted together with the
   boundary rows, which assigns every row to its range (the same polars sort as step 3,
   so the split agrees with the final order exactly: nulls first, strings by bytes) and
   each range is appended to its own Arrow IPC stream (lz4) on local scratch;
3. *write*: the runs are taken in key order, each sorted in memory (a run that came out
   larger than twice its share is split again), and streamed into zstd parquet files with
   Iceberg field ids and statistics; a file is closed once it reaches the target size,
   so files cover disjoint, ascending key ranges and min/max statistics prune them;
4. *commit*: ONE Iceberg snapshot (an ``OVERWRITE`` from pyiceberg's
   ``update_snapshot().overwrite()``) removes every data file the month had and adds the
   new ones, so a reader sees the whole old or the whole new month, and other months'
   manifests entries are carried over untouched. ``Transaction.delete`` + ``add_files``
   would commit two snapshots (an empty month in between, visible to time travel) and
   re-read every new file's footer; the overwrite producer takes the ``DataFile`` built
   from the footer the writer already holds.

Failed or killed runs: data files are named ``<attempt>-<nnnnn>.parquet`` and only the
commit of their own attempt ever references them. Each attempt keeps a heartbeat marker
(``<table>/attempts/year=Y/month=M/<attempt>.json``, rewritten every ``heartbeat_s``)
while it runs; ``remove_orphan_files`` deletes unreferenced files whose attempt has no
live marker (a run that ended or was killed), and files named otherwise only once they
are older than a grace period. A new run of a month cleans up first, waiting out a
recent marker (a run killed a moment ago) and refusing to run next to a live one.

Snapshot expiry (``expire_snapshots``) keeps every snapshot that was current within the
retention (default 7 days, longer than any query against the table can run): a snapshot
is expired only once the snapshot that replaced it is older than the retention, so a
query that planned its files just before a month was replaced still finds them. pyiceberg
0.12's expiry only drops snapshots from the metadata; the data files it frees are deleted
by ``remove_orphan_files`` (called after expiry).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from etl3_assets.lib.contract import (
    ENRICHED_SCHEMA,
    GLUE_DATABASE,
    ICEBERG_PARTITION_COLUMNS,
    ICEBERG_PREFIX,
    ICEBERG_SCHEMA,
    ICEBERG_TABLE,
    PARTITION_KEYS,
)
from etl3_assets.lib.hive.writer import BYTES_PER_ROW_IN_MEMORY, FIXED_OVERHEAD_MB, slice_rows_within_budget
from etl3_assets.lib.progress import MIB, MemoryWatch, WriteProgress
from etl3_assets.lib.storage import WarehouseStorage, is_catalogued

IDENTIFIER = (GLUE_DATABASE, ICEBERG_TABLE)
CATALOG_NAME = "etl3"
SQLITE_FILE = "catalog.db"

# The declared sort order: the Hive partition columns in path order, year/month aside
# (they are the Iceberg partition), then fact_uid.
SORT_COLUMNS: tuple[str, ...] = (
    *(key for key, _ in PARTITION_KEYS if key not in ("year", "month")),
    "fact_uid",
)
# The partition columns that have no enriched column of their own name (`taxonomy`).
DERIVED_PARTITION_COLUMNS = {key: column for key, column in PARTITION_KEYS if key != column}

# Longer than the longest query against the table: a replaced month's files stay
# readable this long after the replacement (see expire_snapshots).
DEFAULT_SNAPSHOT_RETENTION = timedelta(days=7)
# Unreferenced files not named by this writer are deleted only once this old.
DEFAULT_ORPHAN_GRACE = timedelta(days=7)
DEFAULT_TARGET_FILE_BYTES = 256 * MIB
# Rows per parquet row group: the unit a reader skips on statistics. Sorted data makes a
# row group cover a narrow key range; smaller groups prune finer but cost footer size.
DEFAULT_ROW_GROUP_ROWS = 128 * 1024
# Part of the budget one sort run may fill (the rest: the open parquet writer, slack).
RUN_SHARE_OF_BUDGET = 0.4
MIN_RUN_ROWS = 100
SAMPLES_PER_RUN = 64
MIN_SAMPLE_ROWS = 10_000
MAX_SPLIT_DEPTH = 4
MARKER_COLUMN = "_etl3_boundary"
RUN_COLUMN = "_etl3_run"
ROW_COLUMN = "_etl3_row"
DATA_FILE_PATTERN = re.compile(r"^(?P<attempt>[0-9a-f]{32})-\d{5}\.parquet$")
ATTEMPT_FILE_PATTERN = re.compile(r"^(?P<attempt>[0-9a-f]{32})\.json$")


class IcebergTableError(RuntimeError):
    """The table, a month or an attempt is not as the contract requires; names them."""


def table_name() -> str:
    return ".".join(IDENTIFIER)


# --------------------------------------------------------------------------------------
# The table definition (CONTRACT section 4), derived from contract.ICEBERG_SCHEMA once.
# --------------------------------------------------------------------------------------


def _iceberg_type(column: str, dtype: pl.DataType, next_id: Callable[[], int]):
    from pyiceberg.types import (
        BooleanType,
        DoubleType,
        IntegerType,
        ListType,
        LongType,
        StringType,
    )

    simple = {
        pl.String: StringType,
        pl.Float64: DoubleType,
        pl.Int64: LongType,
        pl.Int32: IntegerType,
        pl.Boolean: BooleanType,
    }
    for polars_type, iceberg_type in simple.items():
        if dtype == polars_type:
            return iceberg_type()
    if dtype == pl.List(pl.String):
        return ListType(element_id=next_id(), element_type=StringType(), element_required=False)
    raise IcebergTableError(
        f"table {table_name()}: column {column!r} has dtype {dtype} in ICEBERG_SCHEMA, "
        "which has no Iceberg type here"
    )


def iceberg_schema():
    """Every enriched column and every partition column (taxonomy), in contract order, all
    optional (any non-key may be null); top-level field ids 1..n in column order, list
    element ids after them."""
    from pyiceberg.schema import Schema
    from pyiceberg.types import NestedField

    columns = list(ICEBERG_SCHEMA.items())
    counter = iter(range(len(columns) + 1, 10_000))
    fields = [
        NestedField(i, name, _iceberg_type(name, dtype, lambda: next(counter)), required=False)
        for i, (name, dtype) in enumerate(columns, start=1)
    ]
    return Schema(*fields)


def partition_spec(schema):
    from pyiceberg.partitioning import PartitionField, PartitionSpec
    from pyiceberg.transforms import IdentityTransform

    return PartitionSpec(
        *(
            PartitionField(schema.find_field(c).field_id, 1000 + i, IdentityTransform(), c)
            for i, c in enumerate(ICEBERG_PARTITION_COLUMNS)
        )
    )


def sort_order(schema):
    from pyiceberg.table.sorting import NullOrder, SortDirection, SortField, SortOrder
    from pyiceberg.transforms import IdentityTransform

    return SortOrder(
        *(
            SortField(schema.find_field(c).field_id, IdentityTransform(), SortDirection.ASC, NullOrder.NULLS_FIRST)
            for c in SORT_COLUMNS
        )
    )


def table_properties(target_file_bytes: int = DEFAULT_TARGET_FILE_BYTES) -> dict[str, str]:
    return {
        "write.format.default": "parquet",
        "write.parquet.compression-codec": "zstd",
        "write.target-file-size-bytes": str(target_file_bytes),
        # keep the metadata folder bounded: one metadata.json per commit otherwise
        "write.metadata.delete-after-commit.enabled": "true",
        "write.metadata.previous-versions-max": "50",
        "etl3.contract": "CONTRACT.md section 4",
    }


def table_location(storage: WarehouseStorage) -> str:
    """``<root>/iceberg/fact_rate_enriched_iceberg``: the same under SQLite and Glue
    (each catalog's default location differs), so files never move with the catalog.

    A local location carries its ``file://`` scheme, so every path the table stores does:
    iceberg-rust (DataFusion's provider) cannot open a table whose paths lack it."""
    return storage.table_uri(f"{ICEBERG_PREFIX}/{ICEBERG_TABLE}")


# --------------------------------------------------------------------------------------
# Catalogs
# --------------------------------------------------------------------------------------


def open_catalog(
    storage: WarehouseStorage,
    *,
    glue_client: Any = None,
    sqlite_path: str | os.PathLike | None = None,
):
    """The table's catalog (CONTRACT section 4), over the warehouse's storage.

    * with ``glue_client`` (the warehouse must be where Glue can reach it, S3):
      pyiceberg's ``GlueCatalog``;
    * otherwise a SQLite ``SqlCatalog`` named ``etl3``: at ``<root>/iceberg/catalog.db``
      for a local warehouse; for a warehouse Glue could reach but no Glue is configured,
      at ``sqlite_path`` on local disk (required: SQLite cannot live on S3).

    ``warehouse`` is ``<root>/iceberg``; pyiceberg's FileIO gets the storage's own
    endpoint and credentials (``storage.file_io_properties()``).
    """
    props = {"warehouse": storage.table_uri(ICEBERG_PREFIX), **storage.file_io_properties()}
    if glue_client is not None:
        if not is_catalogued(storage):
            raise IcebergTableError(
                f"table {table_name()}: the Glue catalog needs a warehouse on S3, got {storage.root_uri!r}"
            )
        from pyiceberg.catalog.glue import GlueCatalog

        return GlueCatalog(CATALOG_NAME, client=glue_client, **props)
    from pyiceberg.catalog.sql import SqlCatalog

    if sqlite_path is None:
        if is_catalogued(storage):
            raise IcebergTableError(
                f"table {table_name()} on {storage.root_uri}: without Glue the SQLite catalog needs a local sqlite_path"
            )
        sqlite_path = storage.uri(f"{ICEBERG_PREFIX}/{SQLITE_FILE}")
    Path(sqlite_path).parent.mkdir(parents=True, exist_ok=True)
    return SqlCatalog(CATALOG_NAME, uri=f"sqlite:///{Path(sqlite_path).absolute()}", **props)


def ensure_table(catalog, storage: WarehouseStorage, target_file_bytes: int = DEFAULT_TARGET_FILE_BYTES):
    """Load the table, creating its namespace and the table itself when missing; an
    existing table must have the contract's schema, partition spec and sort order."""
    from pyiceberg.exceptions import NoSuchTableError, TableAlreadyExistsError

    catalog.create_namespace_if_not_exists(GLUE_DATABASE)
    schema = iceberg_schema()
    try:
        table = catalog.load_table(IDENTIFIER)
    except NoSuchTableError:
        try:
            table = catalog.create_table(
                IDENTIFIER,
                schema=schema,
                location=table_location(storage),
                partition_spec=partition_spec(schema),
                sort_order=sort_order(schema),
                properties=table_properties(target_file_bytes),
            )
        except TableAlreadyExistsError:  # created concurrently by another run
            table = catalog.load_table(IDENTIFIER)
    check_table(table)
    return table


def check_table(table) -> None:
    """Raise naming the first difference between the table and CONTRACT section 4."""
    expected = iceberg_schema()
    actual = {f.name: f for f in table.schema().fields}
    for f in expected.fields:
        got = actual.get(f.name)
        if got is None:
            hint = (
                " (a table created before the contract's §4 named all nine partition columns: drop it and"
                " materialize its months again)" if f.name in DERIVED_PARTITION_COLUMNS else ""
            )
            raise IcebergTableError(f"table {table_name()}: column {f.name!r} is missing{hint}")
        if got.field_type != f.field_type:
            raise IcebergTableError(
                f"table {table_name()}: column {f.name!r} is {got.field_type}, the contract says {f.field_type}"
            )
    extra = sorted(set(actual) - {f.name for f in expected.fields})
    if extra:
        raise IcebergTableError(f"table {table_name()}: columns not in the contract: {extra}")
    spec_columns = [table.schema().find_column_name(f.source_id) for f in table.spec().fields]
    transforms = {str(f.transform) for f in table.spec().fields}
    if spec_columns != list(ICEBERG_PARTITION_COLUMNS) or transforms != {"identity"}:
        raise IcebergTableError(
            f"table {table_name()}: partition spec is {table.spec()}, the contract says identity(year), identity(month)"
        )
    sorted_by = [table.schema().find_column_name(f.source_id) for f in table.sort_order().fields]
    if sorted_by != list(SORT_COLUMNS):
        raise IcebergTableError(f"table {table_name()}: sort order is {sorted_by}, the contract says {list(SORT_COLUMNS)}")


# --------------------------------------------------------------------------------------
# Months, files and digests
# --------------------------------------------------------------------------------------


def parse_year_month(year_month: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{4})-(0[1-9]|1[0-2])", year_month or "")
    if not match:
        raise IcebergTableError(f"table {table_name()}: year_month must be YYYY-MM, got {year_month!r}")
    return int(match.group(1)), int(match.group(2))


def month_filter(year_month: str):
    from pyiceberg.expressions import And, EqualTo

    year, month = parse_year_month(year_month)
    return And(EqualTo("year", year), EqualTo("month", month))


def month_data_dir(table_or_location, year_month: str) -> str:
    """Where the writer puts a month's files (Iceberg's own ``year=2025/month=8`` form)."""
    location = table_or_location if isinstance(table_or_location, str) else table_or_location.location()
    year, month = parse_year_month(year_month)
    return f"{location.rstrip('/')}/data/year={year}/month={month}"


def month_attempt_dir(table_or_location, year_month: str) -> str:
    location = table_or_location if isinstance(table_or_location, str) else table_or_location.location()
    year, month = parse_year_month(year_month)
    return f"{location.rstrip('/')}/attempts/year={year}/month={month}"


def month_data_files(table, year_month: str, snapshot_id: int | None = None) -> list:
    """The ``DataFile`` entries of the month in a snapshot (default: the current one)."""
    scan = table.scan(row_filter=month_filter(year_month), snapshot_id=snapshot_id)
    return [task.file for task in scan.plan_files()]


@dataclass(frozen=True)
class MonthDigest:
    """Row count and an order-independent content hash: the sum, modulo 2**64, of a
    64-bit hash of every row over all enriched columns in contract order.

    Built on polars' row hash, which is stable within one polars version, not across
    versions: compare digests computed by the same installation (the staged month and
    the table read back, in the same check), never stored ones from another version.
    """

    rows: int
    hash_sum: str

    @classmethod
    def of_frames(cls, frames: Iterable[pl.DataFrame]) -> MonthDigest:
        rows, low, high = 0, 0, 0
        for frame in frames:
            if frame.height == 0:
                continue
            hashes = _normalized(frame).hash_rows(seed=0)
            rows += frame.height
            halves = pl.DataFrame({"h": hashes}).select(
                low=(pl.col("h") % (1 << 32)).sum(), high=(pl.col("h") // (1 << 32)).sum()
            )
            low += int(halves["low"][0])
            high += int(halves["high"][0])
        return cls(rows, f"{(low + (high << 32)) % (1 << 64):016x}")


def _normalized(frame: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in ENRICHED_SCHEMA if c not in frame.columns]
    if missing:
        raise IcebergTableError(f"table {table_name()}: rows lack the enriched columns {missing}")
    return frame.select(pl.col(c).cast(t) for c, t in ENRICHED_SCHEMA.items())


def staged_digest(staged: str | os.PathLike, storage_options: dict | None = None, chunk_rows: int = 250_000) -> MonthDigest:
    """The digest of a staged month, read in slices (bounded memory)."""
    return MonthDigest.of_frames(_slices(_scan_staged(staged, storage_options), chunk_rows))


def month_digest(table, year_month: str, snapshot_id: int | None = None) -> MonthDigest:
    """The digest of the month as the table holds it, streamed batch by batch."""
    scan = table.scan(row_filter=month_filter(year_month), snapshot_id=snapshot_id)
    reader = scan.to_arrow_batch_reader()
    return MonthDigest.of_frames(pl.from_arrow(batch) for batch in reader)


def scan_month(
    table, year_month: str, snapshot_id: int | None = None, *, partition_columns: bool = False
) -> pl.DataFrame:
    """The month through pyiceberg's scan, as polars rows in contract column order, with
    the dtypes the files give (not cast: a wrongly typed table shows). For checks and
    tests: the whole month in memory. A derived partition column (taxonomy) that differs
    from its enriched column raises; it is kept only with ``partition_columns``."""
    scan = table.scan(row_filter=month_filter(year_month), snapshot_id=snapshot_id)
    frame = pl.from_arrow(scan.to_arrow())
    for key, column in DERIVED_PARTITION_COLUMNS.items():
        differs = frame.filter(pl.col(key).ne_missing(pl.col(column)))
        if differs.height:
            row = differs.row(0, named=True)
            raise IcebergTableError(
                f"table {table_name()}: {key}={row[key]!r} but {column}={row[column]!r} (fact_uid={row['fact_uid']!r})"
            )
    return frame.select(list(ICEBERG_SCHEMA if partition_columns else ENRICHED_SCHEMA))


def _scan_staged(staged: str | os.PathLike | pl.LazyFrame, storage_options: dict | None) -> pl.LazyFrame:
    if isinstance(staged, pl.LazyFrame):
        return staged
    return pl.scan_parquet(str(staged), storage_options=storage_options)


def with_partition_columns(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Enriched rows with the table's columns: the derived partition columns added."""
    return frame.with_columns(pl.col(c).alias(k) for k, c in DERIVED_PARTITION_COLUMNS.items()).select(
        list(ICEBERG_SCHEMA)
    )


def _slices(frame: pl.LazyFrame, chunk_rows: int) -> Iterator[pl.DataFrame]:
    """The frame in slices; slicing a parquet scan reads only the slice's row groups."""
    offset = 0
    while True:
        chunk = frame.slice(offset, chunk_rows).collect()
        if chunk.height == 0:
            return
        offset += chunk.height
        yield chunk


def _chunks(source: pl.LazyFrame | Path, chunk_rows: int, columns: Iterable[str] | None = None) -> Iterator[pl.DataFrame]:
    """Slices of a lazy frame, or of a spilled run (an Arrow IPC stream, read batch by
    batch and regrouped into chunks of up to ``chunk_rows``)."""
    columns = list(columns) if columns is not None else None
    if isinstance(source, pl.LazyFrame):
        yield from _slices(source.select(columns) if columns else source, chunk_rows)
        return
    with pa.OSFile(str(source), "rb") as sink, pa.ipc.open_stream(sink) as reader:
        batches, rows = [], 0
        for batch in reader:
            batches.append(batch.select(columns) if columns else batch)
            rows += batch.num_rows
            if rows >= chunk_rows:
                yield pl.from_arrow(pa.Table.from_batches(batches))
                batches, rows = [], 0
        if rows:
            yield pl.from_arrow(pa.Table.from_batches(batches))


# --------------------------------------------------------------------------------------
# Writing a month
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class IcebergWriteSettings:
    """``memory_limit_mb``: the budget the process tree's RSS stays within, plus
    ``FIXED_OVERHEAD_MB`` (the Hive writer's semantics); sort runs are sized from it.
    ``target_file_bytes``: data files are closed once they reach it (compressed bytes).
    ``attempt_timeout_s``: a run's marker not refreshed for this long means the run is
    dead; ``heartbeat_s`` must be well below it. ``memory_root_pid``: the process whose
    tree the budget counts (default this one)."""

    memory_limit_mb: int = 1024
    chunk_rows: int = 250_000
    target_file_bytes: int = DEFAULT_TARGET_FILE_BYTES
    row_group_rows: int = DEFAULT_ROW_GROUP_ROWS
    scratch_dir: str | None = None
    progress_every_s: float = 10.0
    heartbeat_s: float = 10.0
    attempt_timeout_s: float = 120.0
    orphan_grace: timedelta = DEFAULT_ORPHAN_GRACE
    zstd_level: int = 3
    memory_root_pid: int | None = None

    def __post_init__(self) -> None:
        # a live attempt's marker may look this old: one beat, plus S3's whole-second
        # LastModified, plus the listing
        if self.attempt_timeout_s < 2 * self.heartbeat_s + 1:
            raise ValueError(
                f"attempt_timeout_s={self.attempt_timeout_s} must be at least 2 * heartbeat_s"
                f" ({self.heartbeat_s}) + 1 s, or a live attempt could be taken for a dead one"
            )

    def budget_bytes(self) -> int:
        return (self.memory_limit_mb + FIXED_OVERHEAD_MB) * MIB

    def run_rows(self) -> int:
        """Rows of one sort run: the run is sorted in memory."""
        return max(MIN_RUN_ROWS, int(self.memory_limit_mb * MIB * RUN_SHARE_OF_BUDGET // BYTES_PER_ROW_IN_MEMORY))

    def spill_chunk_rows(self) -> int:
        return slice_rows_within_budget(self.chunk_rows, self.memory_limit_mb, MIN_RUN_ROWS)


@dataclass
class IcebergWriteResult:
    year_month: str
    attempt: str
    input_rows: int = 0
    rows: int = 0
    files: int = 0
    bytes: int = 0
    row_groups: int = 0
    sort_runs: int = 0
    removed_files: int = 0
    orphans_deleted: int = 0
    snapshot_id: int | None = None
    digest: MonthDigest | None = None
    peak_rss_bytes: int = 0
    budget_bytes: int = 0
    over_budget: bool = False
    seconds: dict[str, float] = field(default_factory=dict)
    file_paths: list[str] = field(default_factory=list)

    def metrics(self) -> dict[str, Any]:
        """Materialization metadata (plain values)."""
        total = sum(self.seconds.values())
        return {
            "rows": self.rows,
            "files": self.files,
            "bytes": self.bytes,
            "row_groups": self.row_groups,
            "sort_runs": self.sort_runs,
            "removed_files": self.removed_files,
            "orphans_deleted": self.orphans_deleted,
            "snapshot_id": str(self.snapshot_id),
            "digest_rows": self.digest.rows if self.digest else 0,
            "digest_hash_sum": self.digest.hash_sum if self.digest else "",
            "peak_rss_mb": round(self.peak_rss_bytes / MIB, 1),
            "memory_budget_mb": round(self.budget_bytes / MIB),
            "over_memory_budget": self.over_budget,
            "seconds_total": round(total, 3),
            **{f"seconds_{k}": round(v, 3) for k, v in self.seconds.items()},
            "rows_per_second": round(self.rows / total, 1) if total else 0.0,
        }


def _sort(frame: pl.DataFrame, *extra: str) -> pl.DataFrame:
    """The table's sort order: ascending, nulls first, strings by UTF-8 bytes."""
    return frame.sort([*SORT_COLUMNS, *extra], nulls_last=False, maintain_order=False)


def _sample_boundaries(source: pl.LazyFrame | Path, rows: int, runs: int, chunk_rows: int) -> pl.DataFrame:
    """``runs - 1`` boundary keys that split ``source`` into ranges of about equal size,
    from every k-th row's sort key (column projection: only the sort columns are read)."""
    if runs <= 1:
        return pl.DataFrame(schema={c: ICEBERG_SCHEMA[c] for c in SORT_COLUMNS})
    sample_target = max(MIN_SAMPLE_ROWS, runs * SAMPLES_PER_RUN)
    step = max(1, rows // sample_target)
    parts = [chunk.gather_every(step) for chunk in _chunks(source, max(chunk_rows, step), SORT_COLUMNS)]
    sample = _sort(pl.concat(parts)) if parts else pl.DataFrame(schema={c: ICEBERG_SCHEMA[c] for c in SORT_COLUMNS})
    if sample.height == 0:
        return sample
    picks = sorted({min(sample.height - 1, (i * sample.height) // runs) for i in range(1, runs)})
    return sample[picks]


def _spill_runs(
    source: pl.LazyFrame | Path,
    boundaries: pl.DataFrame,
    scratch: Path,
    prefix: str,
    chunk_rows: int,
    on_chunk: Callable[[int], None] = lambda _rows: None,
) -> list[tuple[Path, int]]:
    """Scatter ``source`` into one IPC stream per key range; returns (path, rows) per
    non-empty range, in key order. A row equal to a boundary goes to the lower range."""
    marker = boundaries.with_columns(pl.lit(1, pl.UInt8).alias(MARKER_COLUMN))
    options = pa.ipc.IpcWriteOptions(compression="lz4", use_threads=False)
    sinks: dict[int, pa.NativeFile] = {}
    writers: dict[int, pa.ipc.RecordBatchStreamWriter] = {}
    counts: dict[int, int] = {}
    try:
        for chunk in _chunks(source, chunk_rows):
            on_chunk(chunk.height)
            chunk = chunk.select(list(ICEBERG_SCHEMA))
            if boundaries.height:
                # only the keys go through the sort with the boundaries; the rows then
                # move once, by an integer sort on their run
                keys = chunk.select(SORT_COLUMNS).with_row_index(ROW_COLUMN)
                both = pl.concat(
                    [keys.with_columns(pl.lit(0, pl.UInt8).alias(MARKER_COLUMN)), marker],
                    how="diagonal_relaxed",
                )
                run_of_row = (
                    _sort(both, MARKER_COLUMN)
                    .with_columns(pl.col(MARKER_COLUMN).cast(pl.UInt32).cum_sum().alias(RUN_COLUMN))
                    .filter(pl.col(MARKER_COLUMN) == 0)
                    .sort(ROW_COLUMN)[RUN_COLUMN]
                )
                del keys, both
                chunk = chunk.with_columns(run_of_row).sort(RUN_COLUMN)
            else:
                chunk = chunk.with_columns(pl.lit(0, pl.UInt32).alias(RUN_COLUMN))
            runs = chunk.select(pl.col(RUN_COLUMN).rle()).unnest(RUN_COLUMN)
            table = chunk.drop(RUN_COLUMN).to_arrow()
            del chunk
            start = 0
            for length, run in runs.iter_rows():
                if run not in writers:
                    sinks[run] = pa.OSFile(str(scratch / f"{prefix}-{run:06d}.arrows"), "wb")
                    writers[run] = pa.ipc.new_stream(sinks[run], table.schema, options=options)
                    counts[run] = 0
                writers[run].write_table(table.slice(start, length))
                counts[run] += length
                start += length
            del table
    finally:
        for writer in writers.values():
            writer.close()
        for sink in sinks.values():
            sink.close()
    return [(scratch / f"{prefix}-{run:06d}.arrows", counts[run]) for run in sorted(writers)]


def _sorted_runs(
    run_file: Path, rows: int, scratch: Path, settings: IcebergWriteSettings, depth: int, stats: dict
) -> Iterator[pl.DataFrame]:
    """The rows of one spilled run, sorted, in bounded pieces: a run more than twice its
    share (an unlucky sample) is split again by its own sample before it is sorted."""
    limit = settings.run_rows()
    if rows > 2 * limit and depth < MAX_SPLIT_DEPTH:
        source = run_file
        n_runs = math.ceil(rows / limit)
        boundaries = _sample_boundaries(source, rows, n_runs, settings.spill_chunk_rows())
        parts = _spill_runs(source, boundaries, scratch, f"{run_file.stem}-s", settings.spill_chunk_rows())
        run_file.unlink()
        if len(parts) > 1:
            stats["splits"] = stats.get("splits", 0) + 1
            for part, part_rows in parts:
                yield from _sorted_runs(part, part_rows, scratch, settings, depth + 1, stats)
            return
        run_file = parts[0][0]  # no progress (all keys equal): sort it whole
    frame = pl.read_ipc_stream(run_file)
    run_file.unlink()
    stats["runs"] = stats.get("runs", 0) + 1
    yield _sort(frame)


@dataclass
class _WrittenFile:
    path: str
    data_file: Any
    rows: int
    bytes: int
    row_groups: int


class _RollingParquetWriter:
    """Sorted rows in, zstd parquet files of about ``target_file_bytes`` out, each with
    Iceberg field ids, statistics and row groups of ``row_group_rows``; every closed file
    is turned into a pyiceberg ``DataFile`` from the footer the writer holds."""

    def __init__(self, table, year_month: str, attempt: str, settings: IcebergWriteSettings):
        from pyiceberg.io.pyarrow import compute_statistics_plan, parquet_path_to_id_mapping, schema_to_pyarrow

        self.table = table
        self.settings = settings
        self.year, self.month = parse_year_month(year_month)
        self.directory = month_data_dir(table, year_month)
        self.attempt = attempt
        self.schema = table.schema()
        self.arrow_schema = schema_to_pyarrow(self.schema)
        self.stats_plan = compute_statistics_plan(self.schema, table.properties)
        self.column_mapping = parquet_path_to_id_mapping(self.schema)
        self.files: list[_WrittenFile] = []
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._stream = None
        self._writer = None
        self._path = None
        self._rows = 0
        self._row_groups = 0

    def write(self, frame: pl.DataFrame) -> None:
        wrong = frame.filter((pl.col("year") != self.year) | (pl.col("month") != self.month))
        if wrong.height or frame["year"].null_count() or frame["month"].null_count():
            row = (wrong if wrong.height else frame.filter(pl.col("year").is_null() | pl.col("month").is_null())).row(
                0, named=True
            )
            raise IcebergTableError(
                f"table {table_name()}: month {self.year}-{self.month:02d} got a row of year={row['year']!r}"
                f" month={row['month']!r} (fact_uid={row['fact_uid']!r})"
            )
        table = frame.to_arrow().cast(self.arrow_schema)
        self._pending.append(table)
        self._pending_rows += table.num_rows
        while self._pending_rows >= self.settings.row_group_rows:
            self._flush_group(self.settings.row_group_rows)

    def _flush_group(self, rows: int) -> None:
        pending = pa.concat_tables(self._pending)
        group, rest = pending.slice(0, rows), pending.slice(rows)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows
        if self._writer is None:
            self._open()
        self._writer.write_table(group, row_group_size=rows)
        self._rows += group.num_rows
        self._row_groups += 1
        if self._stream.tell() >= self.settings.target_file_bytes:
            self._close()

    def _open(self) -> None:
        self._path = f"{self.directory}/{self.attempt}-{len(self.files):05d}.parquet"
        self._stream = self.table.io.new_output(self._path).create(overwrite=False)
        self._writer = pq.ParquetWriter(
            self._stream,
            self.arrow_schema,
            compression="zstd",
            compression_level=self.settings.zstd_level,
            write_statistics=True,
        )
        self._rows = 0
        self._row_groups = 0

    def _close(self) -> None:
        from pyiceberg.io.pyarrow import data_file_statistics_from_parquet_metadata
        from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
        from pyiceberg.typedef import Record

        self._writer.close()
        # the footer just written (pyarrow keeps it on its writer); read back otherwise
        metadata = getattr(getattr(self._writer, "writer", None), "metadata", None)
        size = self._stream.tell()
        self._stream.close()
        if metadata is None:
            with self.table.io.new_input(self._path).open() as stream:
                metadata = pq.read_metadata(stream)
        statistics = data_file_statistics_from_parquet_metadata(metadata, self.stats_plan, self.column_mapping)
        data_file = DataFile.from_args(
            content=DataFileContent.DATA,
            file_path=self._path,
            file_format=FileFormat.PARQUET,
            partition=Record(self.year, self.month),
            file_size_in_bytes=size,
            sort_order_id=self.table.sort_order().order_id,
            spec_id=self.table.spec().spec_id,
            equality_ids=None,
            key_metadata=None,
            **statistics.to_serialized_dict(),
        )
        self.files.append(_WrittenFile(self._path, data_file, self._rows, size, self._row_groups))
        self._writer = self._stream = self._path = None

    def finish(self) -> list[_WrittenFile]:
        if self._pending_rows:
            self._flush_group(self._pending_rows)
        if self._writer is not None:
            self._close()
        return self.files

    def abort(self) -> None:
        """Close what is open; the caller deletes the files (they were never committed)."""
        try:
            if self._writer is not None:
                self._writer.close()
            if self._stream is not None:
                self._stream.close()
        except Exception:  # noqa: BLE001 - already failing; the orphan sweep is the backstop
            pass
        if self._path is not None:
            self.files.append(_WrittenFile(self._path, None, 0, 0, 0))


# --------------------------------------------------------------------------------------
# Attempts (heartbeat markers) and orphan files
# --------------------------------------------------------------------------------------


def _filesystem(table, location: str):
    """The pyarrow filesystem pyiceberg's FileIO uses for ``location``, and the path in it."""
    from pyiceberg.io.pyarrow import PyArrowFileIO

    io = table.io
    if not isinstance(io, PyArrowFileIO):
        io = PyArrowFileIO(properties=table.io.properties)
    scheme, netloc, path = io.parse_location(location)
    # locations are written back as the table stores them: a local table's with `file://`
    # (CONTRACT section 4), one created before that without
    prefix = f"{scheme}://" if scheme != "file" or location.startswith(f"{scheme}:") else ""
    return io.fs_by_scheme(scheme, netloc), path, prefix


def _list_files(table, location: str) -> list[tuple[str, float, int]]:
    """(full location, mtime epoch s, size) of every file under ``location``."""
    from pyarrow.fs import FileSelector, FileType

    fs, path, scheme = _filesystem(table, location)
    try:
        infos = fs.get_file_info(FileSelector(path, recursive=True, allow_not_found=True))
    except FileNotFoundError:
        return []
    return [
        (f"{scheme}{info.path}", info.mtime.timestamp() if info.mtime else 0.0, info.size or 0)
        for info in infos
        if info.type == FileType.File
    ]


def _delete(table, locations: Iterable[str]) -> int:
    deleted = 0
    for location in locations:
        try:
            table.io.delete(location)
            deleted += 1
        except FileNotFoundError:
            pass
    return deleted


class AttemptMarker:
    """The heartbeat of one write attempt of a month: a small JSON object rewritten every
    ``heartbeat_s`` by a thread; removed when the attempt ends. Its modification time
    (from the listing) tells other runs whether the attempt is alive."""

    def __init__(self, table, year_month: str, attempt: str, heartbeat_s: float):
        self.table = table
        self.location = f"{month_attempt_dir(table, year_month)}/{attempt}.json"
        self.body = {
            "attempt": attempt,
            "year_month": year_month,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": datetime.now(timezone.utc).isoformat(),
        }
        self.heartbeat_s = heartbeat_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="etl3-iceberg-heartbeat", daemon=True)

    def beat(self) -> None:
        body = json.dumps({**self.body, "heartbeat": datetime.now(timezone.utc).isoformat()}).encode()
        with self.table.io.new_output(self.location).create(overwrite=True) as out:
            out.write(body)

    def _run(self) -> None:
        while not self._stop.wait(self.heartbeat_s):
            try:
                self.beat()
            except Exception:  # noqa: BLE001 - a missed beat only makes the attempt look older
                pass

    def __enter__(self) -> AttemptMarker:
        self.beat()
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        _delete(self.table, [self.location])


@dataclass
class OrphanReport:
    deleted_files: list[str] = field(default_factory=list)
    deleted_markers: list[str] = field(default_factory=list)
    kept_live: list[str] = field(default_factory=list)
    kept_young: list[str] = field(default_factory=list)
    live_attempts: dict[str, float] = field(default_factory=dict)  # attempt -> seconds since its beat


def referenced_data_files(table, year_month: str | None = None) -> set[str]:
    """Paths of the data files any snapshot still in the metadata references (of one
    month, or all): these are what time travel and running queries may read."""
    from pyiceberg.manifest import ManifestContent

    year_month_filter = parse_year_month(year_month) if year_month else None
    seen_manifests: set[str] = set()
    paths: set[str] = set()
    for snapshot in table.metadata.snapshots:
        for manifest in snapshot.manifests(table.io):
            if manifest.manifest_path in seen_manifests or manifest.content != ManifestContent.DATA:
                continue
            seen_manifests.add(manifest.manifest_path)
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                partition = entry.data_file.partition
                if year_month_filter and (partition[0], partition[1]) != year_month_filter:
                    continue
                paths.add(entry.data_file.file_path)
    return paths


def remove_orphan_files(
    table,
    year_month: str | None = None,
    *,
    grace: timedelta = DEFAULT_ORPHAN_GRACE,
    attempt_timeout_s: float = 120.0,
    keep_attempt: str | None = None,
    now: float | None = None,
) -> OrphanReport:
    """Delete the month's (or, without ``year_month``, every month's) data files that no
    snapshot references: those of attempts without a live marker (failed, killed, or
    ended) at once, files not named by this writer once older than ``grace``.

    Order matters: files and markers are listed *before* the table is reloaded, so a run
    that commits meanwhile (and then drops its marker) has its files in the reloaded
    snapshots; a file is never judged against metadata older than its listing.
    """
    data_location = month_data_dir(table, year_month) if year_month else f"{table.location().rstrip('/')}/data"
    attempt_location = month_attempt_dir(table, year_month) if year_month else f"{table.location().rstrip('/')}/attempts"
    files = _list_files(table, data_location)
    markers = _list_files(table, attempt_location)
    table.refresh()
    referenced = referenced_data_files(table, year_month)
    now = time.time() if now is None else now
    report = OrphanReport()
    for location, mtime, _ in markers:
        match = ATTEMPT_FILE_PATTERN.match(location.rsplit("/", 1)[-1])
        if not match:
            continue
        age = now - mtime
        if age <= attempt_timeout_s or match["attempt"] == keep_attempt:
            report.live_attempts[match["attempt"]] = age
        else:
            report.deleted_markers.append(location)
    for location, mtime, _ in files:
        if location in referenced:
            continue
        match = DATA_FILE_PATTERN.match(location.rsplit("/", 1)[-1])
        if match:
            if match["attempt"] in report.live_attempts:
                report.kept_live.append(location)
            else:
                report.deleted_files.append(location)
        elif now - mtime > grace.total_seconds():
            report.deleted_files.append(location)
        else:
            report.kept_young.append(location)
    _delete(table, report.deleted_files)
    _delete(table, report.deleted_markers)
    return report


def expire_snapshots(table, retention: timedelta = DEFAULT_SNAPSHOT_RETENTION, now: datetime | None = None) -> list[int]:
    """Expire the snapshots that stopped being current more than ``retention`` ago.

    pyiceberg's ``expire_snapshots().older_than(t)`` goes by a snapshot's own timestamp, so
    a month written 8 days ago and replaced a minute ago would lose its old snapshot at
    once, under a query that started on it. Here a snapshot's age is that of the snapshot
    that replaced it (the next entry of the snapshot log). The current snapshot and
    branch/tag heads are never expired. Files the expired snapshots alone referenced are
    left for ``remove_orphan_files``.
    """
    now = now or datetime.now(timezone.utc)
    cutoff_ms = int((now - retention).timestamp() * 1000)
    table.refresh()
    metadata = table.metadata
    protected = {ref.snapshot_id for ref in metadata.refs.values()}
    replaced_at: dict[int, int] = {}
    log = list(metadata.snapshot_log)
    for entry, following in zip(log, log[1:]):
        replaced_at.setdefault(entry.snapshot_id, following.timestamp_ms)
    expire = [
        s.snapshot_id
        for s in metadata.snapshots
        if s.snapshot_id not in protected
        # a snapshot never current (absent from the log) counts from its own timestamp
        and replaced_at.get(s.snapshot_id, s.timestamp_ms) < cutoff_ms
    ]
    if expire:
        table.maintenance.expire_snapshots().by_ids(expire).commit()
    return expire


# --------------------------------------------------------------------------------------
# write_month
# --------------------------------------------------------------------------------------


def _wait_for_other_attempts(table, year_month: str, attempt: str, settings: IcebergWriteSettings, log) -> OrphanReport:
    """Clean the month's orphans; if another attempt's marker is still fresh, wait until
    it goes stale (a run killed moments ago) or raise (a run that is alive)."""
    deadline = time.monotonic() + 2 * settings.attempt_timeout_s + settings.heartbeat_s
    report = OrphanReport()
    while True:
        step = remove_orphan_files(
            table,
            year_month,
            grace=settings.orphan_grace,
            attempt_timeout_s=settings.attempt_timeout_s,
            keep_attempt=attempt,
        )
        report.deleted_files += step.deleted_files
        report.deleted_markers += step.deleted_markers
        others = {a: age for a, age in step.live_attempts.items() if a != attempt}
        if not others:
            report.kept_young = step.kept_young
            return report
        if time.monotonic() > deadline:
            raise IcebergTableError(
                f"table {table_name()}: month {year_month} is being written by attempt(s) "
                + ", ".join(f"{a} (last heartbeat {age:.0f} s ago)" for a, age in others.items())
                + "; refusing to write it concurrently"
            )
        log(
            f"{year_month}: waiting for attempt(s) {sorted(others)} to finish or go stale"
            f" (timeout {settings.attempt_timeout_s:.0f} s)"
        )
        time.sleep(min(settings.heartbeat_s, max(0.2, settings.attempt_timeout_s / 4)))


def _commit_month(table, year_month: str, attempt: str, written: list[_WrittenFile], digest: MonthDigest):
    """ONE snapshot: the month's current files out, the new ones in. The delete predicate
    also scopes pyiceberg's conflict validation to the month, so a concurrent commit of
    another month is retried on top of, and one touching this month fails the commit."""
    table.refresh()
    old = month_data_files(table, year_month)
    properties = {
        "etl3.year_month": year_month,
        "etl3.attempt": attempt,
        "etl3.rows": str(digest.rows),
        "etl3.digest": digest.hash_sum,
    }
    with table.transaction() as transaction:
        with transaction.update_snapshot(snapshot_properties=properties).overwrite() as overwrite:
            overwrite.delete_by_predicate(month_filter(year_month))
            for data_file in old:
                overwrite.delete_data_file(data_file)
            for f in written:
                overwrite.append_data_file(f.data_file)
            snapshot_id = overwrite.snapshot_id
    table.refresh()
    current = table.current_snapshot()
    if current is None or table.snapshot_by_id(snapshot_id) is None:
        raise IcebergTableError(f"table {table_name()}: commit of month {year_month} (attempt {attempt}) did not land")
    return snapshot_id, len(old)


def write_month(
    table,
    staged: str | os.PathLike | pl.LazyFrame,
    year_month: str,
    settings: IcebergWriteSettings = IcebergWriteSettings(),
    *,
    storage_options: dict | None = None,
    expected_rows: int | None = None,
    log: Callable[[str], None] = lambda _msg: None,
    warn: Callable[[str], None] | None = None,
) -> IcebergWriteResult:
    """Replace the month ``year_month`` of the table by the staged month's rows, in one
    commit, within ``settings.memory_limit_mb`` (+ ``FIXED_OVERHEAD_MB``) for the process
    tree. ``staged`` is the staged month's parquet (any path ``pl.scan_parquet`` reads,
    with ``storage_options``) or a lazy frame of enriched rows.
    """
    year, month = parse_year_month(year_month)
    attempt = uuid.uuid4().hex
    source = with_partition_columns(_scan_staged(staged, storage_options))
    rows = expected_rows if expected_rows is not None else int(source.select(pl.len()).collect().item())
    if rows <= 0:
        raise IcebergTableError(f"table {table_name()}: month {year_month} has no fact rows: nothing to write")
    result = IcebergWriteResult(year_month, attempt, input_rows=rows, budget_bytes=settings.budget_bytes())
    progress = WriteProgress(total_rows=rows, phase="prepare")
    watch = MemoryWatch(
        progress, settings.budget_bytes(), log=log, warn=warn or log, log_every_s=settings.progress_every_s,
        root_pid=settings.memory_root_pid,
    )
    scratch = Path(tempfile.mkdtemp(prefix=f"etl3-iceberg-{year_month}-", dir=settings.scratch_dir))
    writer = None
    committed = commit_attempted = False
    try:
        with watch:
            t = time.perf_counter()
            cleaned = _wait_for_other_attempts(table, year_month, attempt, settings, log)
            result.orphans_deleted = len(cleaned.deleted_files)
            result.seconds["prepare"] = time.perf_counter() - t
            with AttemptMarker(table, year_month, attempt, settings.heartbeat_s):
                n_runs = math.ceil(rows / settings.run_rows())
                t = time.perf_counter()
                progress.phase = "sample"
                boundaries = _sample_boundaries(source, rows, n_runs, settings.spill_chunk_rows())
                result.seconds["sample"] = time.perf_counter() - t

                t = time.perf_counter()
                progress.phase, progress.started = "spill", time.perf_counter()

                def spilled(chunk: int) -> None:
                    progress.rows_done += chunk

                runs = _spill_runs(source, boundaries, scratch, "run", settings.spill_chunk_rows(), spilled)
                result.seconds["spill"] = time.perf_counter() - t
                spilled_rows = sum(n for _, n in runs)
                if spilled_rows != rows:
                    raise IcebergTableError(
                        f"table {table_name()}: month {year_month} staged {rows} rows but {spilled_rows} were read"
                    )
                log(f"{year_month}: {rows:,} rows spilled into {len(runs)} sort runs in {result.seconds['spill']:.1f} s")

                t = time.perf_counter()
                progress.phase, progress.started, progress.rows_done = "write", time.perf_counter(), 0
                writer = _RollingParquetWriter(table, year_month, attempt, settings)
                stats: dict[str, int] = {}
                digest_parts: list[MonthDigest] = []
                for run_file, run_rows in runs:
                    for frame in _sorted_runs(run_file, run_rows, scratch, settings, 0, stats):
                        digest_parts.append(MonthDigest.of_frames([frame]))
                        writer.write(frame)
                        progress.rows_done += frame.height
                        progress.files_done = len(writer.files)
                        del frame
                written = writer.finish()
                result.seconds["write"] = time.perf_counter() - t
                result.sort_runs = stats.get("runs", 0)
                result.digest = _combine(digest_parts)
                result.rows = sum(f.rows for f in written)
                if result.rows != rows or result.digest.rows != rows:
                    raise IcebergTableError(
                        f"table {table_name()}: month {year_month} wrote {result.rows} rows but staged {rows};"
                        " nothing was committed"
                    )

                t = time.perf_counter()
                progress.phase = "commit"
                commit_attempted = True
                result.snapshot_id, result.removed_files = _commit_month(
                    table, year_month, attempt, written, result.digest
                )
                committed = True
                result.seconds["commit"] = time.perf_counter() - t
            result.files = len(written)
            result.bytes = sum(f.bytes for f in written)
            result.row_groups = sum(f.row_groups for f in written)
            result.file_paths = [f.path for f in written]
        result.peak_rss_bytes, result.over_budget = watch.peak_bytes, watch.over_budget
        log(
            f"{year_month}: {result.rows:,} rows in {result.files} files ({result.bytes / MIB:.1f} MiB),"
            f" snapshot {result.snapshot_id}, {sum(result.seconds.values()):.1f} s,"
            f" peak RSS {result.peak_rss_bytes / MIB:.0f} MiB of {result.budget_bytes / MIB:.0f} MiB"
        )
        return result
    except BaseException as error:
        if writer is not None and not committed:
            writer.abort()
            # A commit that failed for any reason but a refused commit (CommitFailed,
            # Validation) may have landed (e.g. the catalog's answer was lost): its files
            # are left to the next run's orphan sweep, which checks the snapshots first.
            if not commit_attempted or _commit_refused(error):
                try:
                    _delete(table, [f.path for f in writer.files])
                except Exception:  # noqa: BLE001 - best effort; the orphan sweep is the backstop
                    pass
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _commit_refused(error: BaseException) -> bool:
    from pyiceberg.exceptions import CommitFailedException, ValidationException

    return isinstance(error, (CommitFailedException, ValidationException))


def check_month(
    table, year_month: str, staged: str | os.PathLike, *, storage_options: dict | None = None, snapshot_id: int | None = None
) -> dict[str, Any]:
    """The month as the table holds it (a snapshot, default the current one) against the
    staged month: row count and content digest, both read back independently."""
    table.refresh()
    snapshot_id = snapshot_id or (table.current_snapshot().snapshot_id if table.current_snapshot() else None)
    in_table = month_digest(table, year_month, snapshot_id=snapshot_id)
    staged_month = staged_digest(staged, storage_options)
    files = month_data_files(table, year_month, snapshot_id=snapshot_id)
    return {
        "passed": in_table == staged_month,
        "snapshot_id": snapshot_id,
        "table_rows": in_table.rows,
        "staged_rows": staged_month.rows,
        "table_digest": in_table.hash_sum,
        "staged_digest": staged_month.hash_sum,
        "files": len(files),
        "bytes": sum(f.file_size_in_bytes for f in files),
    }


def _combine(parts: list[MonthDigest]) -> MonthDigest:
    total = sum(int(p.hash_sum, 16) for p in parts) % (1 << 64)
    return MonthDigest(sum(p.rows for p in parts), f"{total:016x}")


def maintain(
    table,
    retention: timedelta = DEFAULT_SNAPSHOT_RETENTION,
    *,
    grace: timedelta = DEFAULT_ORPHAN_GRACE,
    attempt_timeout_s: float = 120.0,
) -> dict[str, Any]:
    """Snapshot expiry, then the table-wide orphan sweep of what expiry freed."""
    expired = expire_snapshots(table, retention)
    report = remove_orphan_files(table, grace=grace, attempt_timeout_s=attempt_timeout_s)
    return {
        "expired_snapshots": len(expired),
        "orphan_files_deleted": len(report.deleted_files),
        "stale_markers_deleted": len(report.deleted_markers),
        "snapshots": len(table.metadata.snapshots),
    }


def result_dict(result: IcebergWriteResult) -> dict[str, Any]:
    """The result as JSON-able data (for a subprocess or a benchmark to print)."""
    data = asdict(result)
    data["digest"] = asdict(result.digest) if result.digest else None
    return data
