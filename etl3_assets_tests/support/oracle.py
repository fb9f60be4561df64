"""The test suite's independent second route to the enriched fact and the warehouse.

Nothing here imports production code: only constants of ``etl3_assets.lib.contract``
(the enriched column order, the warehouse layout's names). ``expected_enriched`` (in
``enrichment_oracle``, re-exported here) reads the ETL1 tables by meaning and enriches
them by plain DuckDB SQL written from CONTRACT §1-§2 (production uses polars); a
warehouse month is read back through three real Hive readers (pyarrow,
polars, DuckDB) so that a test can require all of them to return the original values,
nulls and escaped characters included (CONTRACT §3). The Hive layout reads an empty
partition value back as null: compare its months with ``as_read_from_hive(expected)``.

Behaviour of the readers (pyarrow 26, polars 2.1, duckdb 2.0), checked by experiment:
all three decode every ``%XX`` escape the contract writes (``/ = % # ? : \\ ^ { [ ] ' " *``,
DEL, control characters), leave ``+``, spaces, commas and non-ASCII text as written,
read ``__HIVE_DEFAULT_PARTITION__`` as null (the contract writes both null and the empty
string that way), read an empty value (``key=``) as the empty string, and keep strings
such as ``NULL``, ``NaN`` and ``08`` as they are when the partition keys are typed as
strings. None of them needs post-processing.

One trap: polars and DuckDB take ``name=value`` segments from the *whole* path, not from
the part below the glob, so a warehouse root such as ``/tmp/state=ZZ/wh`` makes DuckDB
silently return ``state = 'ZZ'`` (the root's segment wins) and polars raise. pyarrow reads
only below its base directory. The readers therefore refuse such roots.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds

from etl3_assets.lib.contract import DATA_FILE_STEM, HIVE_NULL, PARTITION_KEY_NAMES, WAREHOUSE_DATA_PREFIX
from etl3_assets_tests.support.enrichment_oracle import (  # noqa: F401 - tests import them from here
    CONTRACT_ENRICHED,
    ETL1_COLUMNS,
    ETL1_FILES,
    as_read_from_hive,
    check_year_month,
    enriched_columns,
    expected_enriched,
    sql_string,
)

# --------------------------------------------------------------------------------------
# 1. Reading one month back from a local warehouse, through three real Hive readers.
# --------------------------------------------------------------------------------------

# Partition keys are read as strings so the month filter matches the exact layout
# (``year=2025/month=08``); year and month are cast to Int32 afterwards.
_STRING_KEYS = {k: pl.String for k in PARTITION_KEY_NAMES}


def _data_dir(root: str | Path) -> Path:
    base = Path(root) / WAREHOUSE_DATA_PREFIX
    bad = [part for part in base.absolute().parts if "=" in part]
    if bad:
        raise ValueError(
            f"warehouse root {root!r} has name=value segments {bad}: polars and DuckDB "
            "would take them for partition keys"
        )
    return base


def month_files(root: str | Path, year_month: str) -> list[Path]:
    """The month's data files, per the CONTRACT §3 layout, sorted."""
    year, month = check_year_month(year_month)
    pattern = "/".join(f"{k}=*" for k in PARTITION_KEY_NAMES[:-2])
    pattern += f"/year={year}/month={month}/{DATA_FILE_STEM}*.parquet"
    return sorted(_data_dir(root).glob(pattern))


def _empty_enriched() -> pl.DataFrame:
    return pl.DataFrame(schema=enriched_columns())


def _has_data(base: Path) -> bool:
    """polars and DuckDB raise on a glob that matches nothing; an empty warehouse is no rows."""
    return base.is_dir() and next(base.rglob("*.parquet"), None) is not None


def _to_enriched(df: pl.DataFrame, reader: str) -> pl.DataFrame:
    """Check what a reader returned, then shape it as the enriched fact.

    Only year/month are cast (they are partition values read as strings); every stored
    column keeps the dtype the file gave it, so a wrongly typed file shows in
    assert_same_rows rather than being cast away here.
    """
    expected_cols = set(enriched_columns()) | {"taxonomy"}
    if set(df.columns) != expected_cols:
        raise AssertionError(
            f"{reader}: columns read back differ from the contract: "
            f"missing {sorted(expected_cols - set(df.columns))}, "
            f"extra {sorted(set(df.columns) - expected_cols)}"
        )
    # the taxonomy folder holds primary_taxonomy_code, its empty value as null (§3)
    stored = df["primary_taxonomy_code"]
    same = df["taxonomy"].eq_missing(stored.to_frame().select(pl.when(pl.col(stored.name) != "").then(stored.name)).to_series())
    if not same.all():
        row = df.filter(~same).row(0, named=True)
        raise AssertionError(
            f"{reader}: partition taxonomy={row['taxonomy']!r} but primary_taxonomy_code="
            f"{row['primary_taxonomy_code']!r} for fact_uid={row['fact_uid']!r}"
        )
    return (
        df.drop("taxonomy")
        .with_columns(pl.col("year", "month").cast(pl.Int32))
        .select(list(enriched_columns()))
        .sort("fact_uid")
    )


def read_month_pyarrow(root: str | Path, year_month: str) -> pl.DataFrame:
    """The month through ``pyarrow.dataset`` with explicit Hive partitioning."""
    year, month = check_year_month(year_month)
    base = _data_dir(root)
    if not _has_data(base):
        return _empty_enriched()
    partitioning = ds.HivePartitioning(
        pa.schema([(k, pa.string()) for k in PARTITION_KEY_NAMES]),
        null_fallback=HIVE_NULL,
        segment_encoding="uri",  # the default, spelled out: decodes %XX
    )
    dataset = ds.dataset(str(base), format="parquet", partitioning=partitioning)
    table = dataset.to_table(filter=(ds.field("year") == year) & (ds.field("month") == month))
    return _to_enriched(pl.from_arrow(table), "pyarrow")


def read_month_polars(root: str | Path, year_month: str) -> pl.DataFrame:
    """The month through ``pl.scan_parquet(..., hive_partitioning=True)``."""
    year, month = check_year_month(year_month)
    base = _data_dir(root)
    if not _has_data(base):
        return _empty_enriched()
    df = (
        pl.scan_parquet(f"{base}/**/*.parquet", hive_partitioning=True, hive_schema=_STRING_KEYS)
        .filter((pl.col("year") == year) & (pl.col("month") == month))
        .collect()
    )
    return _to_enriched(df, "polars")


def read_month_duckdb(root: str | Path, year_month: str) -> pl.DataFrame:
    """The month through DuckDB's ``read_parquet(..., hive_partitioning = true)``."""
    year, month = check_year_month(year_month)
    base = _data_dir(root)
    if not _has_data(base):
        return _empty_enriched()
    hive_types = ", ".join(f"{sql_string(k)}: VARCHAR" for k in PARTITION_KEY_NAMES)
    sql = (
        f"SELECT * FROM read_parquet({sql_string(f'{base}/**/*.parquet')}, "
        f"hive_partitioning = true, hive_types = {{{hive_types}}}, hive_types_autocast = false) "
        "WHERE year = $year AND month = $month"
    )
    con = duckdb.connect()
    try:
        df = con.sql(sql, params={"year": year, "month": month}).pl()
    finally:
        con.close()
    return _to_enriched(df, "duckdb")


READERS = {
    "pyarrow": read_month_pyarrow,
    "polars": read_month_polars,
    "duckdb": read_month_duckdb,
}


# --------------------------------------------------------------------------------------
# 2. Comparing two frames row by row.
# --------------------------------------------------------------------------------------


def _same_values(a: pl.Series, e: pl.Series, rel_tol: float) -> pl.Series:
    """Element-wise equality with null == null (and NaN == NaN); floats within rel_tol."""
    same = a.eq_missing(e)
    if a.dtype.is_float():
        x, y = pl.col("a"), pl.col("e")
        close = pl.DataFrame({"a": a, "e": e}).select(
            ((x - y).abs() <= rel_tol * pl.max_horizontal(x.abs(), y.abs())).fill_null(False)
        )
        same = same | close.to_series()
    return same


def assert_same_rows(
    actual: pl.DataFrame,
    expected: pl.DataFrame,
    key: str = "fact_uid",
    *,
    rel_tol: float = 1e-12,
    max_examples: int = 5,
) -> None:
    """Assert two frames hold the same rows: columns (and order), dtypes, keys, values.

    Rows are matched on ``key``, which must be non-null and unique in both. Floats are
    equal when exactly equal, both NaN, or within ``rel_tol``; nulls equal nulls only
    (so ``""`` differs from null); list columns are compared element by element.
    """
    if actual.columns != expected.columns:
        raise AssertionError(
            f"columns differ: missing {[c for c in expected.columns if c not in actual.columns]}, "
            f"extra {[c for c in actual.columns if c not in expected.columns]}; "
            f"actual order {actual.columns}, expected order {expected.columns}"
        )
    dtypes = [
        f"{c}: actual {actual.schema[c]}, expected {expected.schema[c]}"
        for c in expected.columns
        if actual.schema[c] != expected.schema[c]
    ]
    if dtypes:
        raise AssertionError("dtypes differ: " + "; ".join(dtypes))
    if actual.height != expected.height:
        raise AssertionError(f"row count: actual {actual.height}, expected {expected.height}")
    for name, df in (("actual", actual), ("expected", expected)):
        if df[key].null_count():
            raise AssertionError(f"{name} has {df[key].null_count()} null {key}")
        dups = df.filter(pl.col(key).is_duplicated())[key].unique().sort()
        if dups.len():
            raise AssertionError(f"{name} has duplicate {key}: {dups.head(max_examples).to_list()}")
    a, e = actual.sort(key), expected.sort(key)
    if not a[key].equals(e[key]):
        only_a = sorted(set(a[key]) - set(e[key]))[:max_examples]
        only_e = sorted(set(e[key]) - set(a[key]))[:max_examples]
        raise AssertionError(f"{key} differ: only in actual {only_a}, only in expected {only_e}")
    problems = []
    for c in expected.columns:
        bad = (~_same_values(a[c], e[c], rel_tol)).arg_true()
        if bad.len():
            examples = ", ".join(
                f"{key}={k!r}: actual {x!r}, expected {y!r}"
                for k, x, y in zip(
                    a[key].gather(bad[:max_examples]).to_list(),
                    a[c].gather(bad[:max_examples]).to_list(),
                    e[c].gather(bad[:max_examples]).to_list(),
                )
            )
            problems.append(f"column {c!r} differs in {bad.len()} rows: {examples}")
    if problems:
        raise AssertionError("\n".join(problems))


def assert_same_query_rows(actual: list[tuple], expected: list[tuple], what: str = "") -> None:
    """Two query results hold the same rows in any order; floats are compared to 9
    decimal places (an aggregate's sum order differs between the two routes)."""

    def normal(rows: list[tuple]) -> list[str]:
        return sorted(repr(tuple(round(v, 9) if isinstance(v, float) else v for v in row)) for row in rows)

    assert normal(actual) == normal(expected), what


# Partition values real upstream data may hold and the sample data does not: every test of
# the layouts runs them.
HOSTILE_VALUES = [
    "",
    ".",
    "..",
    "a/../b",
    "%",
    "%%2F",
    "x=y=z",
    "tab\there",
    "line\nbreak",
    "\x01ctl",
    " lead and trail ",
    "null",
    "NULL",
    "08",
    "Zürich – 東京 🏥",
    "{brace} [bracket] ^caret",
    "back\\slash",
    "q'u\"o`te",
    "~!@$&()+;<>|,",
]
