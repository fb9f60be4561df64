"""The quality rules as pandera (polars backend) schemas: the ETL1 inputs and the enriched fact.

Dtypes come from the contract. Every row-level rule is written once, as a polars
expression in a :class:`Rule`; the pandera schemas wrap it as a ``pa.Check`` (so the
schemas validate a frame on their own), and the streaming evaluation in
``quality_validation`` and the metrics in ``quality_metrics`` reuse the same rule.

Each rule belongs to a *check*: the Dagster asset check that reports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandera.polars as pa
import polars as pl

from etl3_assets.lib.contract import (
    BENCH_MEDICARE,
    BENCHMARK_TYPES,
    ENRICHED_SCHEMA,
    ETL1_TABLES,
    FACT_RATE,
    NPI_PATTERN,
    TIN_LEVEL_NPI,
    US_STATE_CODES,
    XREF_PG_MEMBER_NPI,
    YEAR_MONTH_PATTERN,
    Etl1Table,
)

# --- Dagster checks (rule groups). ---

ETL1_SCHEMA_CHECK = "etl1_schema"  # tables, columns, dtypes, contract formats (blocking)
ETL1_KEYS_CHECK = "etl1_keys_unique"  # dimension keys and the month's fact_uid (blocking)
WAREHOUSE_SCHEMA_CHECK = "month_schema"
REQUIRED_FIELDS_CHECK = "required_fields"
RATE_RANGE_CHECK = "rate_range"
STATE_CODE_CHECK = "state_code"
COORDINATES_CHECK = "coordinates"
FACT_UID_UNIQUE_CHECK = "fact_uid_unique"

RATE_RANGE = (0.01, 1_000_000.0)
LATITUDE_RANGE = (-90.0, 90.0)
LONGITUDE_RANGE = (-180.0, 180.0)
REQUIRED_FIELDS = ("fact_uid", "negotiated_rate", "state", "payer_slug")


@dataclass(frozen=True)
class Rule:
    """A row-level rule on one column. ``passes`` maps the column to a boolean
    expression; a null value is not judged (nullability is the schema's business)."""

    check: str
    column: str
    meaning: str
    passes: Callable[[pl.Expr], pl.Expr]

    def failing(self) -> pl.Expr:
        """True where a non-null value breaks the rule."""
        return self.passes(pl.col(self.column)).not_().fill_null(False)

    def pandera_check(self) -> pa.Check:
        return pa.Check(
            lambda data: data.lazyframe.select(self.passes(pl.col(data.key))),
            name=self.check,
            error=f"{self.column} is {self.meaning}",
        )


def _between(low: float, high: float) -> Callable[[pl.Expr], pl.Expr]:
    return lambda c: c.is_between(low, high)


def _matches(pattern: str) -> Callable[[pl.Expr], pl.Expr]:
    return lambda c: c.str.contains(pattern)


YEAR_MONTH_RULE = Rule(ETL1_SCHEMA_CHECK, "year_month", "a YYYY-MM month", _matches(YEAR_MONTH_PATTERN))
# A fact's year_month may be empty: ETL1 could not parse its file's date. Such a row
# belongs to no month; it is counted, never written (CONTRACT section 1).
FACT_YEAR_MONTH_RULE = Rule(
    ETL1_SCHEMA_CHECK, "year_month", "a YYYY-MM month (or empty: no month)",
    lambda c: c.str.contains(YEAR_MONTH_PATTERN) | (c == ""),
)
BENCHMARK_TYPE_RULE = Rule(
    ETL1_SCHEMA_CHECK, "benchmark_type", f"one of {', '.join(BENCHMARK_TYPES)}",
    lambda c: c.is_in(list(BENCHMARK_TYPES)),
)


def npi_rule(check: str) -> Rule:
    return Rule(check, "npi", "a 10-digit NPI", _matches(NPI_PATTERN))


# In the xref, npi `0` stands for a TIN-level contract (a group with a TIN and no NPI).
XREF_NPI_RULE = Rule(
    ETL1_SCHEMA_CHECK, "npi", f"a 10-digit NPI or {TIN_LEVEL_NPI} (a TIN-level contract)",
    lambda c: c.str.contains(NPI_PATTERN) | (c == TIN_LEVEL_NPI),
)


RATE_RULE = Rule(
    RATE_RANGE_CHECK, "negotiated_rate", "a rate between $0.01 and $1,000,000", _between(*RATE_RANGE)
)
STATE_RULE = Rule(
    STATE_CODE_CHECK,
    "state",
    "a US state code (50 states, DC, territories)",
    lambda c: c.is_in(sorted(US_STATE_CODES)),
)
LATITUDE_RULE = Rule(COORDINATES_CHECK, "latitude", "a latitude in [-90, 90]", _between(*LATITUDE_RANGE))
LONGITUDE_RULE = Rule(
    COORDINATES_CHECK, "longitude", "a longitude in [-180, 180]", _between(*LONGITUDE_RANGE)
)

# The enriched month's value rules; they warn (the contract lets these fields be anything).
ENRICHED_VALUE_RULES: tuple[Rule, ...] = (RATE_RULE, STATE_RULE, LATITUDE_RULE, LONGITUDE_RULE)
WARNING_CHECKS = (REQUIRED_FIELDS_CHECK, RATE_RANGE_CHECK, STATE_CODE_CHECK, COORDINATES_CHECK)


def etl1_rules(table: Etl1Table) -> tuple[Rule, ...]:
    """The format rules the contract fixes for an ETL1 table (part of its blocking schema check)."""
    rules = []
    if table is FACT_RATE:
        rules.append(FACT_YEAR_MONTH_RULE)
    if table is BENCH_MEDICARE:
        rules += [YEAR_MONTH_RULE, BENCHMARK_TYPE_RULE]
    if table is XREF_PG_MEMBER_NPI:
        rules.append(XREF_NPI_RULE)
    elif "npi" in table.schema:
        rules.append(npi_rule(ETL1_SCHEMA_CHECK))
    return tuple(rules)


def _schema(
    name: str,
    dtypes: dict[str, pl.DataType],
    rules: tuple[Rule, ...],
    non_null: tuple[str, ...],
    unique: tuple[str, ...],
) -> pa.DataFrameSchema:
    by_column = {r.column: r for r in rules}
    if len(by_column) != len(rules):
        raise ValueError(f"{name}: at most one rule per column")
    return pa.DataFrameSchema(
        {
            column: pa.Column(
                dtype,
                nullable=column not in non_null,
                checks=[by_column[column].pandera_check()] if column in by_column else None,
            )
            for column, dtype in dtypes.items()
        },
        unique=list(unique),
        name=name,
    )


def etl1_schema(table: Etl1Table) -> pa.DataFrameSchema:
    """One ETL1 table: contract dtypes, non-null unique key, contract formats.

    For fact_rate the key is unique within a month, so validate one month's rows.
    """
    return _schema(table.name, table.schema, etl1_rules(table), table.key, table.key)


ETL1_SCHEMAS: dict[str, pa.DataFrameSchema] = {t.name: etl1_schema(t) for t in ETL1_TABLES}

ENRICHED_FACT_SCHEMA = _schema(
    "fact_rate_enriched", ENRICHED_SCHEMA, ENRICHED_VALUE_RULES, REQUIRED_FIELDS, ("fact_uid",)
)
