"""Applying raw batches to ETL1's star schema (CONTRACT section 5), one writer at a time.

``Etl1Writer.apply(batch)``:

1. takes the ETL1 writer's lease (``_etl3/locks/etl1/writer.json`` in the ETL1 root, the
   month lease's mechanism), so the CLI, a Dagster run and anything else never write the
   tables at once;
2. completes a batch that a killed writer left pending (see ``journal``);
3. reads the batch by meaning (bad input: an error naming file, column and value, and
   nothing written) and computes in DuckDB, within ``memory_limit_mb`` and spilling to a
   work folder, the rows each table gains;
4. if no table gains a row, writes nothing (not even the table files' timestamps move);
5. else writes each gaining table's new file in the work folder, records the batch as
   pending, replaces the tables one by one (each replacement atomic: a rename in a
   folder, one PUT on S3; dimensions first, the fact last), writes the batch's record
   and clears the pending mark.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import duckdb

from etl3_assets.lib.contract import ETL1_EXTRACT_TABLES, FACT_RATE, RAW_PROVIDERS, RAW_RATES, Etl1Table
from etl3_assets.lib.etl1 import batch_sql
from etl3_assets.lib.etl1.formulas import install_macros
from etl3_assets.lib.etl1.journal import (
    PENDING_KEY, BatchRecord, applied_key, applied_records, pending, read_record, state_digest, table_fingerprints,
    write_record,
)
from etl3_assets.lib.etl1.raw import (
    RawBatch, RawInputError, batch_fingerprint, find_batch, list_batches, raw_select, table_select,
)
from etl3_assets.lib.etl1.source import Etl1Source, polars_schema, shorten
from etl3_assets.lib.hive.writer import FIXED_OVERHEAD_MB
from etl3_assets.lib.progress import MIB, MemoryWatch, WriteProgress
from etl3_assets.lib.storage import WarehouseStorage
from etl3_assets.lib.storage.local_copy import local_path
from etl3_assets.lib.storage.lock import LockOwner, MonthLease

WRITER_LOCK = ("etl1", "writer")  # lease key _etl3/locks/etl1/writer.json in the ETL1 root
DUCKDB_SHARE_OF_BUDGET = 0.55
"""DuckDB's own memory limit, as a share of ``memory_limit_mb``: the rest holds the
interpreter, the libraries and the allocator's slack (the budget covers the process)."""


class Etl1WriterLease(MonthLease):
    """The month lease's mechanism, held on the ETL1 root by whoever writes its tables."""

    def _held_message(self, holder) -> str:
        return f"the ETL1 tables in {self.where} are being written by {holder.describe()}"


@dataclass
class BatchResult:
    batch: str
    input_rows: int = 0
    gained: dict[str, int] = field(default_factory=dict)
    months: list[str] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    dry_run: bool = False
    seconds: float = 0.0
    peak_rss_bytes: int = 0
    completed_pending: str | None = None

    @property
    def rows_per_second(self) -> float:
        return self.input_rows / self.seconds if self.seconds else 0.0


@dataclass
class Etl1Writer:
    """Applies raw batches from ``raw`` to the star schema in ``etl1``."""

    etl1: WarehouseStorage
    raw: WarehouseStorage
    memory_limit_mb: int = 1024
    work_dir: str | None = None
    lease_seconds: float = 120.0
    wait_seconds: float = 600.0
    run_id: str | None = None
    log: Callable[[str], None] = print
    warn: Callable[[str], None] = print
    progress_every_s: float = 10.0

    # -- which batches ---------------------------------------------------------------

    def batches_to_apply(self) -> list[RawBatch]:
        """Ready batches never applied, or whose files changed since, oldest month first."""
        records = applied_records(self.etl1)
        listing = list_batches(self.raw)
        for stem, missing in listing.incomplete:
            self.warn(f"batch {stem} is not ready: {self.raw.uri(missing)} is missing")
        return [
            b for b in listing.ready
            if b.stem not in records or records[b.stem].fingerprint != batch_fingerprint(self.raw, b)
        ]

    def batch(self, stem: str) -> RawBatch:
        return find_batch(self.raw, stem)

    # -- applying ----------------------------------------------------------------------

    @contextlib.contextmanager
    def lease(self) -> Iterator[None]:
        lease = Etl1WriterLease(
            self.etl1, *WRITER_LOCK, lease_seconds=self.lease_seconds, wait_seconds=self.wait_seconds,
            owner=LockOwner.current(self.run_id),
            log=lambda message: self.log(message.replace("month writer of etl1", "the ETL1 writer")),
        )
        lease.acquire()
        try:
            yield
        finally:
            lease.release()
        if lease.lost:
            raise RuntimeError(f"{lease.lost}; apply the batch again")

    def apply(self, batches: list[RawBatch], *, dry_run: bool = False) -> list[BatchResult]:
        """Apply ``batches`` in the order given (dry run: compute what each table would
        gain, write nothing, take no lease)."""
        if dry_run:
            return [self._apply_one(b, dry_run=True) for b in batches]
        results = []
        with self.lease():
            interrupted = pending(self.etl1)
            if interrupted is not None:
                self.log(f"completing batch {interrupted.batch}, interrupted while it replaced the tables")
                result = self._apply_one(find_batch(self.raw, interrupted.batch), interrupted=interrupted)
                result.completed_pending = interrupted.batch
                results.append(result)
            for batch in batches:
                results.append(self._apply_one(batch))
        return results

    @property
    def budget_bytes(self) -> int:
        """The process tree's budget: the memory limit plus the fixed overhead."""
        return (self.memory_limit_mb + FIXED_OVERHEAD_MB) * MIB

    def _duckdb(self, work: str) -> duckdb.DuckDBPyConnection:
        # in memory, spilling to the work folder past the limit: a file-backed database
        # would compress and write every intermediate table even when it fits
        con = duckdb.connect()
        limit = max(64, int(self.memory_limit_mb * DUCKDB_SHARE_OF_BUDGET))
        con.execute(f"SET memory_limit = '{limit}MB'")
        con.execute(f"SET temp_directory = '{os.path.join(work, 'spill')}'")
        con.execute("SET preserve_insertion_order = false")
        con.execute(f"SET threads = {max(1, min(os.cpu_count() or 2, 4))}")
        install_macros(con)
        return con

    def _apply_one(self, batch: RawBatch, *, dry_run: bool = False, interrupted: BatchRecord | None = None) -> BatchResult:
        result = BatchResult(batch.stem, dry_run=dry_run)
        progress = WriteProgress(total_rows=0, phase="read")
        budget = self.budget_bytes
        started = time.perf_counter()
        work = tempfile.mkdtemp(prefix="etl3-etl1-", dir=self.work_dir)
        watch = MemoryWatch(progress, budget, log=self.log, warn=self.warn, log_every_s=self.progress_every_s)
        try:
            with watch:
                self._compute(batch, work, progress, result, dry_run, interrupted)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        result.seconds = time.perf_counter() - started
        result.peak_rss_bytes = watch.peak_bytes
        gains = ", ".join(f"{t} +{n:,}" for t, n in result.gained.items())
        self.log(
            f"batch {batch.stem}: {result.input_rows:,} rate rows in {result.seconds:.1f} s"
            f" ({result.rows_per_second:,.0f} rows/s, peak RSS {watch.peak_bytes / MIB:.0f} MiB of"
            f" {budget / MIB:.0f} MiB); {'would gain' if dry_run else 'gained'}: {gains};"
            f" months changed: {', '.join(result.months) or 'none'}"
        )
        return result

    def _existing(self, table: Etl1Table, work: str) -> tuple[str, dict[str, str]] | None:
        """The table's current file as a local path and its columns read by meaning (bad
        existing tables are refused, naming table, column and value)."""
        if self.etl1.stat(table.relative_path) is None:
            return None
        reading = Etl1Source(self.etl1).reading(table)
        reading.raise_problems()
        path = local_path(self.etl1, table.relative_path, work)
        found = polars_schema(dict(reading.found))
        select = table_select(table, found)
        select.update({c: f'"{c}"' for c in found if c not in select})
        return path, select

    def _compute(
        self, batch: RawBatch, work: str, progress: WriteProgress, result: BatchResult, dry_run: bool,
        interrupted: BatchRecord | None,
    ) -> None:
        fingerprint = batch_fingerprint(self.raw, batch)
        con = self._duckdb(work)
        try:
            files = {}
            for file in (RAW_RATES, RAW_PROVIDERS):
                key = batch.key(file)
                path = local_path(self.raw, key, work)
                files[file.suffix] = (path, raw_select(con, file, self.raw.uri(key), path))
            self._check_npis(con, batch, files["providers"][0])
            progress.phase = "transform"
            result.input_rows = batch_sql.load_batch(con, batch.state, files["rates"], files["providers"])
            progress.total_rows = progress.rows_done = result.input_rows
            progress.phase = "anti-join"
            existing = {t.name: self._existing(t, work) for t in ETL1_EXTRACT_TABLES}
            for rule in batch_sql.RULES:
                found = existing[rule.table.name]
                result.gained[rule.table.name] = batch_sql.new_rows(con, rule, found[0] if found else None)
            fact = existing[FACT_RATE.name]
            result.gained[FACT_RATE.name] = batch_sql.new_facts(con, fact[0] if fact else None)
            months = set(batch_sql.changed_months(con, fact[0] if fact else None))
            if interrupted is not None:
                months |= set(interrupted.months)
            result.months = sorted(months)
            if dry_run:
                return
            key = applied_key(batch.stem)
            if not any(result.gained.values()):
                known = read_record(self.etl1, key)
                if interrupted is not None or known is None or known.fingerprint != fingerprint:
                    state = state_digest(table_fingerprints(self.etl1))
                    before = interrupted.state_before if interrupted else state
                    write_record(self.etl1, key, BatchRecord(batch.stem, fingerprint, result.gained, tuple(result.months), before, state))
                    if interrupted is not None:
                        self.etl1.delete([PENDING_KEY])
                return
            progress.phase = "write"
            staged = {}
            for table in ETL1_EXTRACT_TABLES:
                if result.gained[table.name]:
                    staged[table.name] = os.path.join(work, f"{table.name}.parquet")
                    batch_sql.write_table(con, table, existing[table.name], staged[table.name])
        finally:
            con.close()
        self._replace(batch, fingerprint, staged, result, interrupted)

    def _check_npis(self, con: duckdb.DuckDBPyConnection, batch: RawBatch, path: str) -> None:
        """An npi that is neither empty, 0 nor 10 digits would make every month of the
        star schema fail its input check: refused here, before anything is written."""
        row = con.execute(
            "SELECT npi FROM (SELECT CAST(npi AS VARCHAR) AS npi FROM read_parquet(?))"
            " WHERE npi <> '' AND npi <> '0' AND NOT regexp_full_match(npi, '[0-9]{10}') LIMIT 1",
            [path],
        ).fetchone()
        if row is not None:
            raise RawInputError(
                f"raw file {self.raw.uri(batch.key(RAW_PROVIDERS))}, column npi: value {shorten(row[0])} is neither"
                " a 10-digit NPI, 0 (a TIN-level contract) nor empty"
            )

    def _replace(
        self, batch: RawBatch, fingerprint: str, staged: dict[str, str], result: BatchResult,
        interrupted: BatchRecord | None,
    ) -> None:
        before = interrupted.state_before if interrupted else state_digest(table_fingerprints(self.etl1))
        plan = BatchRecord(batch.stem, fingerprint, result.gained, tuple(result.months), before, "")
        write_record(self.etl1, PENDING_KEY, plan)
        for table in ETL1_EXTRACT_TABLES:  # dimensions first, the fact last
            if table.name in staged:
                self.etl1.put_file(table.relative_path, staged[table.name])
                result.written.append(table.relative_path)
        after = state_digest(table_fingerprints(self.etl1))
        write_record(self.etl1, applied_key(batch.stem), BatchRecord(**{**plan.__dict__, "state_after": after}))
        self.etl1.delete([PENDING_KEY])
