"""Raw batches (CONTRACT section 5): found under ``ETL1_RAW_ROOT`` and read by meaning.

A batch is ``<YYYYMM>_<payer>_<state>``; it is ready when both its files exist. Its
files are read with section 1's storage rules: a column is matched by name and read as
its contract dtype when every value converts without change (dictionary strings, Int32
ids, Float32 rates, all-null columns); anything else (a missing file or column, a number
in a text column, text in a number column) raises :class:`RawInputError` naming the
file, the column and a value, before anything is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb
import polars as pl
import pyarrow.parquet as pq

from etl3_assets.lib.contract import (
    RAW_BATCH_PATTERN, RAW_FILES, RAW_PROVIDERS, RAW_RATES, RAW_SERVICE_CODES, Etl1Table, RawExtractFile,
)
from etl3_assets.lib.etl1.source import _conversion, _is_string_kind, polars_schema, shorten
from etl3_assets.lib.storage import WarehouseStorage

_BATCH = re.compile(RAW_BATCH_PATTERN)
_SQL_TYPES = {pl.String: "VARCHAR", pl.Int64: "BIGINT", pl.Float64: "DOUBLE"}


class RawInputError(ValueError):
    """A raw batch that breaks section 5; the message names the file, the column and a value."""


@dataclass(frozen=True)
class RawBatch:
    """One batch: its stem and what the stem says (month, payer label, state)."""

    stem: str
    year_month: str
    payer: str
    state: str

    @classmethod
    def parse(cls, stem: str) -> RawBatch | None:
        match = _BATCH.match(stem)
        if not match:
            return None
        return cls(stem, f"{match['year']}-{match['month']}", match["payer"], match["state"].upper())

    def key(self, file: RawExtractFile) -> str:
        return file.key(self.stem)

    @property
    def order(self) -> tuple[str, str]:
        """Oldest month first, then by stem."""
        return (self.year_month, self.stem)


@dataclass(frozen=True)
class BatchListing:
    ready: tuple[RawBatch, ...]
    incomplete: tuple[tuple[str, str], ...]  # (stem, the missing file's key)


def _batch_stem(key: str) -> tuple[str, RawExtractFile] | None:
    if "/" in key:
        return None
    for file in RAW_FILES:
        suffix = f"_{file.suffix}.parquet"
        if key.endswith(suffix):
            return key[: -len(suffix)], file
    return None


def list_batches(raw: WarehouseStorage) -> BatchListing:
    """Every batch at the top of the landing folder, ready ones oldest month first."""
    found: dict[str, set[str]] = {}
    for key, _size in raw.list(""):
        named = _batch_stem(key)
        if named and RawBatch.parse(named[0]):
            found.setdefault(named[0], set()).add(named[1].suffix)
    ready, incomplete = [], []
    for stem, suffixes in found.items():
        batch = RawBatch.parse(stem)
        missing = [f for f in RAW_FILES if f.suffix not in suffixes]
        if missing:
            incomplete.append((stem, batch.key(missing[0])))
        else:
            ready.append(batch)
    return BatchListing(tuple(sorted(ready, key=lambda b: b.order)), tuple(sorted(incomplete)))


def find_batch(raw: WarehouseStorage, stem: str) -> RawBatch:
    """The named batch, or :class:`RawInputError` saying which file is missing."""
    batch = RawBatch.parse(stem)
    if batch is None:
        raise RawInputError(f"batch {stem!r}: expected <YYYYMM>_<payer>_<state> (e.g. 202508_aetna_GA)")
    for file in RAW_FILES:
        if raw.stat(batch.key(file)) is None:
            raise RawInputError(f"batch {stem}: raw file {raw.uri(batch.key(file))} is missing (a batch needs both files)")
    return batch


def batch_fingerprint(raw: WarehouseStorage, batch: RawBatch) -> str:
    """Both files' fingerprints: changes whenever either file is replaced."""
    stats = [raw.stat(batch.key(f)) for f in RAW_FILES]
    return "+".join("missing" if s is None else s.fingerprint for s in stats)


def _first_value(con: duckdb.DuckDBPyConnection, path: str, where: str) -> object:
    row = con.execute(f"SELECT {where} FROM read_parquet(?) LIMIT 1", [path]).fetchone()
    return None if row is None else row[0]


def _service_codes_sql(found: pl.DataType) -> str | None:
    if _is_string_kind(found):
        return "etl1_pos_from_text(service_codes)"
    if isinstance(found, pl.List) and (_is_string_kind(found.inner) or found.inner == pl.Null):
        return "etl1_pos_from_list(CAST(service_codes AS VARCHAR[]))"
    if found == pl.Null:
        return "[]::VARCHAR[]"
    return None


def raw_select(con: duckdb.DuckDBPyConnection, file: RawExtractFile, uri: str, path: str) -> dict[str, str]:
    """Contract column -> DuckDB expression reading it by meaning from the file at ``path``
    (``uri`` names it in messages). For the rates file, ``service_codes`` becomes the
    sorted members list (``pos_members``). Raises :class:`RawInputError`."""
    found = polars_schema(pq.read_schema(path))
    schema = {c: t for c, t in file.schema.items() if c != RAW_SERVICE_CODES}
    select: dict[str, str] = {}
    for column, expected in schema.items():
        if column not in found:
            raise RawInputError(
                f"raw file {uri}, column {column}: column is missing (found columns: {', '.join(found)})"
            )
        kind = _conversion(found[column], expected)
        sql_type = _SQL_TYPES[expected]
        if kind in ("same", "cast"):
            select[column] = f'CAST("{column}" AS {sql_type})'
            continue
        probe = (
            f'"{column}"' if kind == "lossy" else f'"{column}" FILTER (WHERE "{column}" > 9223372036854775807)'
        )
        value = _first_value(con, path, f'first({probe}) FILTER (WHERE "{column}" IS NOT NULL)')
        if value is not None:
            detail = " (outside Int64's range)" if kind == "range" else ""
            raise RawInputError(
                f"raw file {uri}, column {column}: expected {expected}, found {found[column]}"
                f" (e.g. value {shorten(value)}{detail}): it would change on conversion"
            )
        select[column] = f'CAST("{column}" AS {sql_type})' if kind == "range" else f"CAST(NULL AS {sql_type})"
    if RAW_SERVICE_CODES in file.schema:
        if RAW_SERVICE_CODES not in found:
            raise RawInputError(
                f"raw file {uri}, column {RAW_SERVICE_CODES}: column is missing (found columns: {', '.join(found)})"
            )
        members = _service_codes_sql(found[RAW_SERVICE_CODES])
        if members is None:
            value = _first_value(con, path, f"first({RAW_SERVICE_CODES}) FILTER (WHERE {RAW_SERVICE_CODES} IS NOT NULL)")
            if value is not None:
                raise RawInputError(
                    f"raw file {uri}, column {RAW_SERVICE_CODES}: expected the text of a list or List[String],"
                    f" found {found[RAW_SERVICE_CODES]} (e.g. value {shorten(value)})"
                )
            members = "[]::VARCHAR[]"
        select[RAW_SERVICE_CODES] = f"{RAW_SERVICE_CODES}"
        select["pos_members_expr"] = members
    return select


def table_select(table: Etl1Table, found: pl.DataType | dict) -> dict[str, str]:
    """Contract column -> DuckDB expression reading an existing ETL1 table by meaning (its
    problems were already refused by ``Etl1Source.reading``): all-null columns of another
    type are read as nulls, the rest cast."""
    found = polars_schema(found)
    select = {}
    for column, expected in table.schema.items():
        sql_type = "VARCHAR[]" if isinstance(expected, pl.List) else _SQL_TYPES[expected]
        kind = _conversion(found[column], expected)
        select[column] = f"CAST(NULL AS {sql_type})" if kind == "lossy" else f'CAST("{column}" AS {sql_type})'
    return select


__all__ = [
    "BatchListing", "RAW_PROVIDERS", "RAW_RATES", "RawBatch", "RawInputError", "batch_fingerprint", "find_batch",
    "list_batches", "raw_select", "table_select",
]
