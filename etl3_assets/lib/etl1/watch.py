"""What changed in ETL1's output since the last look, and which months that touches.

ETL1 rewrites every file in place whenever it upserts, so a new file fingerprint (size
and mtime locally, the ETag on S3) only says "look again". What decides is content:

- ``fact_rate``: one digest per month (row count and the wrapping sum of a 64-bit hash of
  every row), computed by a streaming group-by on ``year_month``: memory stays bounded by
  the number of months, whatever the size of the table. The sum is order-independent, so
  ETL1 writing the same rows in another order changes nothing.
- every dimension / xref table: one digest of the whole table, computed the same way.

Months whose digest is new or different are requested. A dimension whose digest changed
requests every month already in the warehouse that ETL1 still has (the joins go through
chains of keys, so narrowing that down would take the old file, which is gone).

A file being rewritten is not acted on: a table that cannot be read (a parquet file
without its footer yet) or whose fingerprint differs between the look before reading it
and the look after raises :class:`Etl1NotReady`, and the caller keeps its old state.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import polars as pl

from etl3_assets.lib.contract import ETL1_TABLES, FACT_RATE, Etl1Table
from etl3_assets.lib.etl1.source import Etl1Source

DIGEST_SCHEME = "polars-struct-hash-sum-v1"
"""Bumped whenever the digest computation changes: a cursor of another scheme is ignored,
so the next evaluation requests every ETL1 month, as the first one does. (polars does not
promise the same hash values across its versions: after a polars upgrade that changes
them, every month's digest differs once, with the same effect.)"""


class Etl1NotReady(Exception):
    """ETL1's output is missing, unreadable or still being written; try again later."""


@dataclass(frozen=True)
class Etl1Snapshot:
    """ETL1's output as last seen: file fingerprints and content digests."""

    files: Mapping[str, str] = field(default_factory=dict)
    tables: Mapping[str, str] = field(default_factory=dict)
    months: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {"scheme": DIGEST_SCHEME, "files": self.files, "tables": self.tables, "months": self.months},
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> Etl1Snapshot | None:
        if not text:
            return None
        data = json.loads(text)
        if data.get("scheme") != DIGEST_SCHEME:
            return None
        return cls(files=data["files"], tables=data["tables"], months=data["months"])

    @property
    def version(self) -> str:
        """Short digest of every file fingerprint: names one state of ETL1's output."""
        return hashlib.sha256(json.dumps(self.files, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Etl1Change:
    new_months: tuple[str, ...] = ()
    changed_months: tuple[str, ...] = ()
    removed_months: tuple[str, ...] = ()
    changed_tables: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.new_months or self.changed_months or self.removed_months or self.changed_tables)


def _row_hash(table: Etl1Table) -> pl.Expr:
    return pl.struct(list(table.schema)).hash(seed=0)


def _digest(rows: int, hash_sum: int) -> str:
    return f"{rows}:{hash_sum:016x}"


def month_digests(source: Etl1Source) -> dict[str, str]:
    """``year_month`` -> digest of that month's fact rows (streaming; never loads the table)."""
    per_month = (
        source.scan(FACT_RATE)
        .group_by("year_month")
        .agg(pl.len().alias("rows"), _row_hash(FACT_RATE).sum().alias("hash_sum"))
        .collect(engine="streaming")
    )
    return {
        r["year_month"]: _digest(r["rows"], r["hash_sum"])
        for r in per_month.iter_rows(named=True)
        if r["year_month"]  # fact rows without a month (empty year_month) make none
    }


def table_digest(source: Etl1Source, table: Etl1Table) -> str:
    """Digest of a whole table's rows (streaming)."""
    row = (
        source.scan(table)
        .select(pl.len().alias("rows"), _row_hash(table).sum().alias("hash_sum"))
        .collect(engine="streaming")
        .row(0, named=True)
    )
    return _digest(row["rows"], row["hash_sum"] or 0)


def take_snapshot(
    source: Etl1Source,
    previous: Etl1Snapshot | None,
    fingerprints: Callable[[], Mapping[str, str | None]],
) -> Etl1Snapshot:
    """The current snapshot, reading only the tables whose fingerprint changed.

    ``fingerprints`` gives table name -> fingerprint of its file (None when absent).

    Raises :class:`Etl1NotReady` when a table is missing, unreadable, or was rewritten
    while it was being read (its fingerprint changed between the two looks).
    """
    before = dict(fingerprints())
    missing = [name for name, fp in before.items() if fp is None]
    if missing:
        raise Etl1NotReady(f"ETL1 table(s) missing: {', '.join(missing)}")
    previous = previous or Etl1Snapshot()
    tables = dict(previous.tables)
    months = dict(previous.months)
    for table in ETL1_TABLES:
        if previous.files.get(table.name) == before[table.name] and (
            table is FACT_RATE or table.name in tables
        ):
            continue
        try:
            if table is FACT_RATE:
                months = month_digests(source)
            else:
                tables[table.name] = table_digest(source, table)
        except Exception as error:  # noqa: BLE001 - any read failure means "not complete yet"
            raise Etl1NotReady(
                f"ETL1 table {table.name} is not readable (still being written?): "
                f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"
            ) from error
    after = dict(fingerprints())
    moving = [name for name in before if before[name] != after.get(name)]
    if moving:
        raise Etl1NotReady(f"ETL1 table(s) changed while being read (still being written): {', '.join(moving)}")
    return Etl1Snapshot(files=before, tables=tables, months=months)


def compare(previous: Etl1Snapshot | None, current: Etl1Snapshot) -> Etl1Change:
    """What differs between two snapshots. Without a previous one, every month is new."""
    if previous is None:
        return Etl1Change(new_months=tuple(sorted(current.months)))
    return Etl1Change(
        new_months=tuple(sorted(set(current.months) - set(previous.months))),
        changed_months=tuple(
            sorted(m for m in current.months if m in previous.months and previous.months[m] != current.months[m])
        ),
        removed_months=tuple(sorted(set(previous.months) - set(current.months))),
        changed_tables=tuple(
            sorted(n for n, d in current.tables.items() if n in previous.tables and previous.tables[n] != d)
        ),
    )


def months_to_build(change: Etl1Change, current: Etl1Snapshot, materialized: Iterable[str]) -> list[str]:
    """New and changed months; after a dimension change, also every materialized month ETL1 still has."""
    months = set(change.new_months) | set(change.changed_months)
    if change.changed_tables:
        months |= set(materialized) & set(current.months)
    return sorted(months)
