"""Parquet encoders for one partition file, compared on the same partitions (issue 13, item 2).

    PYTHONPATH=. .venv/bin/python bench/encoders.py --staged /tmp/perf-bench/enriched-200000.parquet

Takes a realistic set of whole partitions from a staged month (every partition whose folder
hashes into one of ``--sample-buckets`` of the writer's buckets), sorted the way the writer
sorts a bucket, and encodes every partition with each contender, in rounds: the contenders
run interleaved (a fresh order each round), and each gets the CPU time of the process
(``time.process_time``: all its threads, so a polars pool thread counts) over all the
partitions. Reports, per contender, CPU ms per file (median and min over rounds) and bytes
per file.

Every contender's files are then checked against CONTRACT §3 before its figure counts:
written under a Hive layout (``layout.data_key``), each file must have every column chunk
zstd-compressed with statistics (min/max wherever the column has a value), exactly the
contract's file columns (no partition columns) with the contract's dtypes, encode to the
same bytes twice, and the month must read back identical to the source rows through
pyarrow, polars and DuckDB (the test suite's oracle readers, ``assert_same_rows``).

The contenders:

* ``polars``: the writer before issue 13, ``DataFrame.slice(...).write_parquet`` (zstd,
  statistics) into a BytesIO;
* ``pyarrow-default``: ``pq.write_table`` of a zero-copy ``pa.Table.slice`` of the bucket
  (converted from polars once), zstd with statistics, pyarrow's defaults otherwise
  (dictionary on, ``ARROW:schema`` stored);
* ``pyarrow-no-schema``: the same without ``store_schema``;
* ``pyarrow-plain``: no schema, no dictionary (one data page per column chunk);
* ``pyarrow-plain-view``: the same from a ``string_view`` table (polars' newest arrow
  export, no conversion of its strings);
* ``pyarrow-dict-lowcard``: no schema, dictionary only for the columns whose values
  repeat across a month (codes, names, categories) and only in partitions above
  ``DICT_MIN_ROWS`` rows;
* ``pyarrow-plain-pageindex``: ``pyarrow-plain`` with ``write_page_index``;
* ``writer``: the project's ``writer.encode_files`` as it stands in this checkout: all the
  sampled partitions from one arrow table, as a worker encodes a bucket (its set-up counts).

Also, per route to a file (``--file-routes``): encode into a ``pa.BufferOutputStream`` and
``LocalStorage.put_bytes`` it (temp file, rename), against ``pq.write_table`` straight to the
temp path and a rename.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from etl3_assets.lib.hive import writer as month_writer  # noqa: E402
from etl3_assets.lib.contract import ENRICHED_SCHEMA, FILE_COLUMNS, FILE_SCHEMA, PARTITION_KEY_NAMES  # noqa: E402
from etl3_assets.lib.hive.layout import PARTITION_DIR_COLUMN, data_key, partition_dir_expr  # noqa: E402
from etl3_assets.lib.storage import LocalStorage  # noqa: E402

YEAR_MONTH = "2025-08"
DICT_MIN_ROWS = 64
# Columns whose values repeat across a month: candidates for dictionary encoding.
LOW_CARDINALITY = (
    "year_month", "code_type", "code", "negotiated_type", "negotiation_arrangement", "expiration_date",
    "reporting_entity_name", "code_description", "code_name", "procedure_group", "enumeration_type",
    "status", "primary_taxonomy_code", "primary_taxonomy_desc", "primary_taxonomy_state", "credential",
    "sole_proprietor", "address_purpose", "address_type", "address_state", "country_code", "county_name",
    "stat_area_code", "benchmark_type", "opps_si", "asc_pi", "provider_type",
)


class Partitions:
    """The sampled partitions: one sorted frame, its arrow tables, (offset, length, dir) runs."""

    def __init__(self, staged: str, n_buckets: int, sample_buckets: int, max_partitions: int):
        bucket = pl.col(PARTITION_DIR_COLUMN).hash(42) % n_buckets
        frame = (
            pl.scan_parquet(staged)
            .with_columns(partition_dir_expr())
            .filter(bucket < sample_buckets)
            .sort(PARTITION_DIR_COLUMN, "fact_uid")
            .collect()
        )
        runs = frame.select(pl.col(PARTITION_DIR_COLUMN).rle()).unnest(PARTITION_DIR_COLUMN).rows()
        runs = runs[:max_partitions] if max_partitions else runs
        rows = sum(n for n, _ in runs)
        self.source = frame.head(rows)
        self.data = self.source.select(FILE_COLUMNS)
        self.table = self.data.to_arrow().combine_chunks()
        self.view_table = self.data.to_arrow(compat_level=pl.CompatLevel.newest()).combine_chunks()
        self.runs: list[tuple[int, int, str]] = []
        offset = 0
        for length, partition_dir in runs:
            self.runs.append((offset, length, partition_dir))
            offset += length


def _pa_writer(table_attr: str, **options) -> Callable[[Partitions, int, int], bytes]:
    def encode(p: Partitions, offset: int, length: int) -> bytes:
        sink = pa.BufferOutputStream()
        pq.write_table(getattr(p, table_attr).slice(offset, length), sink, compression="zstd", write_statistics=True, **options)
        return sink.getvalue().to_pybytes()

    return encode


def _polars(p: Partitions, offset: int, length: int) -> bytes:
    buf = io.BytesIO()
    p.data.slice(offset, length).write_parquet(buf, compression="zstd", statistics=True)
    return buf.getvalue()


def _dict_lowcard(p: Partitions, offset: int, length: int) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(
        p.table.slice(offset, length), sink, compression="zstd", write_statistics=True, store_schema=False,
        use_dictionary=list(LOW_CARDINALITY) if length >= DICT_MIN_ROWS else False,
    )
    return sink.getvalue().to_pybytes()


def _writer(p: Partitions) -> list[bytes]:
    """The checkout's ``encode_files``: every sampled partition's file from the one sorted
    table, as a bucket's worker encodes them (``BucketEncoder`` under DICTIONARY_MIN_ROWS)."""
    return list(month_writer.encode_files(p.table, [length for _, length, _ in p.runs]))


def _each_file(encode: Callable[[Partitions, int, int], bytes]) -> Callable[[Partitions], list[bytes]]:
    return lambda p: [encode(p, offset, length) for offset, length, _ in p.runs]


# Each contender encodes every sampled partition (in run order) and returns the files.
CONTENDERS: dict[str, Callable[[Partitions], list[bytes]]] = {
    "polars": _each_file(_polars),
    "pyarrow-default": _each_file(_pa_writer("table")),
    "pyarrow-no-schema": _each_file(_pa_writer("table", store_schema=False)),
    "pyarrow-plain": _each_file(_pa_writer("table", store_schema=False, use_dictionary=False)),
    "pyarrow-plain-view": _each_file(_pa_writer("view_table", store_schema=False, use_dictionary=False)),
    "pyarrow-dict-lowcard": _each_file(_dict_lowcard),
    "pyarrow-plain-pageindex": _each_file(
        _pa_writer("table", store_schema=False, use_dictionary=False, write_page_index=True)
    ),
    "writer": _writer,
}


def time_encoder(p: Partitions, encode) -> tuple[float, int]:
    """(CPU seconds of the process, bytes) to encode every partition once."""
    cpu = time.process_time()
    files = encode(p)
    return time.process_time() - cpu, sum(map(len, files))


# --- file routes -----------------------------------------------------------------------


def _route_buffer_put(p: Partitions, storage: LocalStorage) -> None:
    for offset, length, partition_dir in p.runs:
        storage.put_bytes(data_key(partition_dir, "fact_rate_enriched.parquet"), _pa_writer("table", store_schema=False, use_dictionary=False)(p, offset, length))


def _route_direct(p: Partitions, storage: LocalStorage) -> None:
    for offset, length, partition_dir in p.runs:
        path = storage.root / data_key(partition_dir, "fact_rate_enriched.parquet")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
        pq.write_table(p.table.slice(offset, length), str(tmp), compression="zstd", write_statistics=True, store_schema=False, use_dictionary=False)
        os.replace(tmp, path)


FILE_ROUTES = {"buffer+put_bytes": _route_buffer_put, "write_table to path": _route_direct}


# --- contract verification ------------------------------------------------------------


def verify(p: Partitions, name: str, encode, root: Path) -> dict:
    """Write every partition with ``encode`` under ``root``, check each file and read the
    month back through the oracle's three readers."""
    from etl3_assets_tests.support.oracle import READERS, assert_same_rows

    shutil.rmtree(root, ignore_errors=True)
    storage = LocalStorage(root)
    files = encode(p)
    if encode(p) != files:
        raise AssertionError(f"{name}: two encodes of the same partitions differ")
    for (offset, length, partition_dir), payload in zip(p.runs, files, strict=True):
        storage.put_bytes(data_key(partition_dir, "fact_rate_enriched.parquet"), payload)
        if offset == 0 or length >= DICT_MIN_ROWS:
            _check_file(name, io.BytesIO(payload))
    # every file's footer, cheaply: compression and statistics of each column chunk
    for path in root.rglob("*.parquet"):
        _check_footer(name, pq.ParquetFile(path).metadata)
    expected = p.source.select(list(ENRICHED_SCHEMA)).sort("fact_uid")
    for reader, read in READERS.items():
        assert_same_rows(read(root, YEAR_MONTH), expected)
    shutil.rmtree(root, ignore_errors=True)
    return {"files_checked": len(p.runs), "readers": sorted(READERS)}


def _check_footer(name: str, meta: pq.FileMetaData) -> None:
    names = meta.schema.to_arrow_schema().names
    if names != list(FILE_COLUMNS) or set(names) & set(PARTITION_KEY_NAMES):
        raise AssertionError(f"{name}: columns {names}")
    for rg in range(meta.num_row_groups):
        group = meta.row_group(rg)
        for c in range(group.num_columns):
            column = group.column(c)
            if column.compression != "ZSTD":
                raise AssertionError(f"{name}: {column.path_in_schema} is {column.compression}")
            stats = column.statistics
            if stats is None or (stats.null_count < column.num_values and not stats.has_min_max):
                raise AssertionError(f"{name}: {column.path_in_schema} has no statistics")


def _check_file(name: str, data: io.BytesIO) -> None:
    schema = pl.read_parquet(data).schema
    if schema != pl.Schema(FILE_SCHEMA):
        raise AssertionError(f"{name}: polars reads {schema}")
    data.seek(0)
    _check_footer(name, pq.ParquetFile(data).metadata)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--staged", required=True)
    parser.add_argument("--contenders", default=",".join(CONTENDERS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--n-buckets", type=int, default=64, help="sample partitions as the writer's buckets of this count")
    parser.add_argument("--sample-buckets", type=int, default=1)
    parser.add_argument("--max-partitions", type=int, default=2000)
    parser.add_argument("--file-routes", action="store_true")
    parser.add_argument("--no-verify", action="store_true")
    parser.add_argument("--workdir", default="/tmp/etl3-encoders")
    parser.add_argument("--out", default="")
    args = parser.parse_args()

    p = Partitions(args.staged, args.n_buckets, args.sample_buckets, args.max_partitions)
    names = args.contenders.split(",")
    lengths = [n for _, n, _ in p.runs]
    report = {
        "cores": os.cpu_count(),
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        "polars_threads": pl.thread_pool_size(),
        "POLARS_MAX_THREADS": os.environ.get("POLARS_MAX_THREADS"),
        "arrow_cpu_count": pa.cpu_count(),
        "versions": {"polars": pl.__version__, "pyarrow": pa.__version__},
        "partitions": len(p.runs),
        "rows": sum(lengths),
        "rows_per_partition_mean": round(sum(lengths) / len(lengths), 2),
        "rows_per_partition_max": max(lengths),
        "rounds": args.rounds,
        "contenders": {},
    }
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if not args.no_verify:
        for name in names:
            report["contenders"].setdefault(name, {})["contract"] = verify(p, name, CONTENDERS[name], workdir / "verify")
            print(f"{name}: contract ok", file=sys.stderr, flush=True)
    samples: dict[str, list[float]] = {n: [] for n in names}
    sizes: dict[str, int] = {}
    rng = random.Random(13)
    for r in range(args.rounds):
        order = names[:]
        rng.shuffle(order)
        for name in order:
            cpu, size = time_encoder(p, CONTENDERS[name])
            samples[name].append(cpu * 1000 / len(p.runs))
            sizes[name] = size
        print(f"round {r + 1}: " + ", ".join(f"{n} {samples[n][-1]:.3f}" for n in names), file=sys.stderr, flush=True)
    for name in names:
        report["contenders"].setdefault(name, {}).update(
            cpu_ms_per_file_median=round(statistics.median(samples[name]), 3),
            cpu_ms_per_file_min=round(min(samples[name]), 3),
            cpu_ms_per_file_rounds=[round(x, 3) for x in samples[name]],
            bytes_per_file=round(sizes[name] / len(p.runs)),
        )
    if args.file_routes:
        report["file_routes"] = {}
        route_samples: dict[str, list[float]] = {n: [] for n in FILE_ROUTES}
        for _ in range(args.rounds):
            for name, route in rng.sample(list(FILE_ROUTES.items()), len(FILE_ROUTES)):
                root = Path(tempfile.mkdtemp(dir=workdir, prefix="route-"))
                cpu = time.process_time()
                route(p, LocalStorage(root))
                route_samples[name].append((time.process_time() - cpu) * 1000 / len(p.runs))
                shutil.rmtree(root, ignore_errors=True)
        for name, xs in route_samples.items():
            report["file_routes"][name] = {
                "cpu_ms_per_file_median": round(statistics.median(xs), 3),
                "cpu_ms_per_file_min": round(min(xs), 3),
            }
    report["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text)
    print(text)


if __name__ == "__main__":
    main()
