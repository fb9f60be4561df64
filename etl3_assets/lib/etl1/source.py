"""Reading ETL1's star schema (CONTRACT section 1) by meaning, not by physical type.

Parquet writers store the same values in several ways: polars writes an all-null column
with the Null type and a categorical as a dictionary, pyarrow may write large strings or
string views, DuckDB writes ``INTEGER`` as int32, ``FLOAT`` as float32 and an untyped
``NULL`` column as int32 with a null logical type. CONTRACT section 1 says which of those
are the same data; :func:`contract_reading` turns a table's stored schema into the casts
to the contract dtypes, and everything that reads ETL1 (``Etl1Source.scan``,
``fact_batches``, the sensor's digests in ``watch``, the input checks, the staging) goes
through it, so a table rewritten by another tool with the same values reads the same.

Anything that would change on conversion is refused with a message naming the table,
the column, the stored dtype and an offending value.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from etl3_assets.lib.contract import ETL1_TABLES, FACT_RATE, Etl1Table
from etl3_assets.lib.storage import WarehouseStorage

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Integer dtypes whose every value fits Int64; wider ones (UInt64, 128-bit) are read
# only after their values were checked.
_FITS_INT64 = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32)
MAX_VALUE_CHARS = 60


class Etl1InputError(ValueError):
    """ETL1 output that breaks the contract; the message names table, column and value."""


def _is_string_kind(dtype: pl.DataType) -> bool:
    """The stored forms of a String column, as polars reads them: string (large strings
    and string views included), categorical/dictionary, enum."""
    return dtype == pl.String or isinstance(dtype, (pl.Categorical, pl.Enum))


def _conversion(found: pl.DataType, expected: pl.DataType) -> str:
    """``"same"``, ``"cast"`` (lossless whatever the values), ``"range"`` (an integer whose
    values must be checked against Int64's range) or ``"lossy"`` (only an all-null column
    converts without changing a value)."""
    if found == expected:
        return "same"
    if found == pl.Null:
        return "cast"
    if expected == pl.String:
        return "cast" if _is_string_kind(found) else "lossy"
    if expected == pl.Int64:
        if any(found == t for t in _FITS_INT64):
            return "cast"
        return "range" if found.is_integer() else "lossy"
    if expected == pl.Float64:
        return "cast" if found == pl.Float32 else "lossy"
    if isinstance(expected, pl.List) and isinstance(found, pl.List):
        inner = _conversion(found.inner, expected.inner)
        return "cast" if inner in ("same", "cast") else "lossy"
    return "lossy"


def shorten(value: object, limit: int = MAX_VALUE_CHARS) -> str:
    """``repr`` of a value, a long string cut to ``limit`` characters (marked ``…``), so
    that a message naming it stays one readable line."""
    if isinstance(value, str) and len(value) > limit:
        return repr(value[:limit] + "…")
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


@dataclass(frozen=True)
class ColumnProblem:
    """A contract column that cannot be read losslessly (or is missing)."""

    table: str
    column: str
    problem: str

    @property
    def message(self) -> str:
        return f"ETL1 table {self.table}, column {self.column}: {self.problem}"


@dataclass(frozen=True)
class ContractReading:
    """How one stored ETL1 table becomes its contract columns.

    ``casts``: contract column -> expression on the stored frame, in contract order;
    ``ignored``: stored columns the contract does not name; ``to_check``: columns whose
    conversion depends on the values (``"range"``: integers wider than Int64; ``"lossy"``:
    acceptable only when every value is null), settled by :meth:`Etl1Source.reading`.
    """

    table: Etl1Table
    found: Mapping[str, pl.DataType]
    casts: Mapping[str, pl.Expr]
    ignored: tuple[str, ...] = ()
    problems: tuple[ColumnProblem, ...] = ()
    to_check: Mapping[str, str] = field(default_factory=dict)

    def select(self) -> list[pl.Expr]:
        return [self.casts[c].alias(c) for c in self.table.schema]

    def raise_problems(self) -> None:
        if self.problems:
            more = f" (+{len(self.problems) - 1} more findings)" if len(self.problems) > 1 else ""
            raise Etl1InputError(self.problems[0].message + more)


def polars_schema(schema: pa.Schema | Mapping[str, pl.DataType]) -> dict[str, pl.DataType]:
    """A stored schema as polars dtypes; a pyarrow schema is mapped the way polars reads it."""
    if isinstance(schema, pa.Schema):
        return dict(pl.from_arrow(schema.empty_table()).schema)
    return dict(schema)


def contract_reading(table: Etl1Table, schema: pa.Schema | Mapping[str, pl.DataType]) -> ContractReading:
    """The casts from a table's stored schema (a parquet footer read by polars or pyarrow)
    to its contract dtypes, decided from the dtypes alone.

    Columns are matched by name, in any order; columns the contract does not name are
    ignored (and listed), whatever their type. In the dimension tables a NaN in a Float64
    column is read as null. A missing column is a problem; so is a dtype that no value of
    could convert losslessly, unless the values say otherwise (``to_check``).
    """
    found = polars_schema(schema)
    casts: dict[str, pl.Expr] = {}
    problems: list[ColumnProblem] = []
    to_check: dict[str, str] = {}
    for column, expected in table.schema.items():
        if column not in found:
            problems.append(
                ColumnProblem(table.name, column, f"column is missing (found columns: {', '.join(found)})")
            )
            continue
        kind = _conversion(found[column], expected)
        casts[column] = pl.col(column) if kind == "same" else pl.col(column).cast(expected)
        if kind == "lossy":
            # every value null: no value changes, so the column is read as all-null
            casts[column] = pl.col(column).cast(pl.Null).cast(expected)
        if kind in ("range", "lossy"):
            to_check[column] = kind
        if expected == pl.Float64 and table is not FACT_RATE:
            # pandas writes a missing number of a reference table as NaN (CONTRACT section 1)
            casts[column] = casts[column].fill_nan(None)
    ignored = tuple(c for c in found if c not in table.schema)
    return ContractReading(table, found, casts, ignored, tuple(problems), to_check)


def _value_problems(reading: ContractReading, lf: pl.LazyFrame) -> list[ColumnProblem]:
    """Settle ``to_check`` on the data: one streaming query for all such columns."""
    if not reading.to_check:
        return []
    probes = []
    for column, kind in reading.to_check.items():
        values = pl.col(column)
        if kind == "range":
            values = values.filter((values < INT64_MIN) | (values > INT64_MAX))
        probes.append(values.drop_nulls().first().alias(column))
    offending = lf.select(probes).collect(engine="streaming").row(0, named=True)
    problems = []
    for column, value in offending.items():
        if value is None:
            continue
        expected, found = reading.table.schema[column], reading.found[column]
        detail = " (outside Int64's range)" if reading.to_check[column] == "range" else ""
        problems.append(
            ColumnProblem(
                reading.table.name, column, f"expected {expected}, found {found} (e.g. value {shorten(value)}{detail})"
            )
        )
    return problems


@dataclass(frozen=True)
class Etl1Source:
    """ETL1's output: its tables in a storage (a local folder or an S3 prefix)."""

    storage: WarehouseStorage

    def path(self, table: Etl1Table) -> str:
        return self.storage.uri(table.relative_path)

    def scan_stored(self, table: Etl1Table) -> pl.LazyFrame:
        """The table's file exactly as stored (dtypes, column order, extra columns)."""
        return pl.scan_parquet(self.path(table), storage_options=self.storage.reader_options())

    def reading(self, table: Etl1Table) -> ContractReading:
        """How the stored table is read as its contract columns, with every problem found:
        from the footer's schema, then (only for dtypes that need it) from the values."""
        stored = self.scan_stored(table)
        reading = contract_reading(table, stored.collect_schema())
        problems = [*reading.problems, *_value_problems(reading, stored)]
        order = list(table.schema)
        problems.sort(key=lambda p: order.index(p.column))
        return ContractReading(reading.table, reading.found, reading.casts, reading.ignored, tuple(problems))

    def scan(self, table: Etl1Table) -> pl.LazyFrame:
        """The table as exactly its contract columns and dtypes, read by meaning.

        Raises :class:`Etl1InputError` when a column is missing or cannot be read without
        changing a value.
        """
        reading = self.reading(table)
        reading.raise_problems()
        return self.scan_stored(table).select(reading.select())

    def fact_batches(self, year_month: str, batch_rows: int) -> Iterator[pl.DataFrame]:
        """The month's fact rows in slices of at most ``batch_rows`` rows (contract columns).

        Read with pyarrow's batch reader, whose memory follows the batch, not the file's
        row groups (polars' reader holds a whole row group, which ETL1 may make as large
        as the file). Each batch is converted by the same rules as ``scan``.
        """
        this_month = pl.col("year_month") == year_month
        self.reading(FACT_RATE).raise_problems()
        reader = pq.ParquetFile(self.storage.open_input_file(FACT_RATE.relative_path))
        for batch in reader.iter_batches(batch_size=batch_rows, columns=list(FACT_RATE.schema)):
            frame = pl.from_arrow(batch)
            yield frame.select(contract_reading(FACT_RATE, frame.schema).select()).filter(this_month)

    def exists(self, table: Etl1Table) -> bool:
        return self.storage.stat(table.relative_path) is not None

    def fingerprints(self, tables: Iterable[Etl1Table] = ETL1_TABLES) -> dict[str, str | None]:
        """Table name -> fingerprint of its file (changes whenever ETL1 rewrites it; None
        when the file is absent)."""
        stats = {t.name: self.storage.stat(t.relative_path) for t in tables}
        return {name: None if stat is None else stat.fingerprint for name, stat in stats.items()}


def fact_months(source: Etl1Source) -> dict[str, int]:
    """Month -> fact row count, computed by a streaming aggregation, not a load."""
    counts = (
        source.scan(FACT_RATE)
        .group_by("year_month")
        .agg(pl.len().alias("rows"))
        .collect(engine="streaming")
    )
    return {r["year_month"]: r["rows"] for r in counts.iter_rows(named=True) if r["year_month"]}
