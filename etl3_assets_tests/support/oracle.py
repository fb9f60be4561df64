"""The test suite's independent second route to the enriched fact and the warehouse.

Nothing here imports production code: only the column names and dtypes of
``etl3_assets.contract``. The enrichment is plain DuckDB SQL written from CONTRACT §2
(production uses polars), and a warehouse month is read back through three real Hive
readers (pyarrow, polars, DuckDB) so that a test can require all of them to return the
original values, nulls and escaped characters included (CONTRACT §3).

Behaviour of the readers (pyarrow 26, polars 2.1, duckdb 2.0), checked by experiment:
all three decode every ``%XX`` escape the contract writes (``/ = % # ? : \\ ^ { [ ] ' " *``,
DEL, control characters), leave ``+``, spaces, commas and non-ASCII text as written,
read ``__HIVE_DEFAULT_PARTITION__`` as null, read an empty value (``key=``) as the empty
string, and keep strings such as ``NULL``, ``NaN`` and ``08`` as they are when the
partition keys are typed as strings. None of them needs post-processing.

One trap: polars and DuckDB take ``name=value`` segments from the *whole* path, not from
the part below the glob, so a warehouse root such as ``/tmp/state=ZZ/wh`` makes DuckDB
silently return ``state = 'ZZ'`` (the root's segment wins) and polars raise. pyarrow reads
only below its base directory. The readers therefore refuse such roots.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds

from etl3_assets.lib.contract import (
    DATA_FILE_STEM,
    ENRICHED_SCHEMA,
    HIVE_NULL,
    PARTITION_KEY_NAMES,
    WAREHOUSE_DATA_PREFIX,
    YEAR_MONTH_PATTERN,
)

# --------------------------------------------------------------------------------------
# 1. The enriched fact, from the ETL1 star schema, in SQL.
# --------------------------------------------------------------------------------------

_ENRICH_SQL = """
WITH
fact AS (SELECT * FROM {fact_rate} WHERE year_month = $year_month),
-- the group's primary NPI: the smallest member npi
primary_npi AS (SELECT pg_uid, min(npi) AS npi FROM {xref_pg_member_npi} GROUP BY pg_uid),
-- per npi: its LOCATION address, else its MAILING one; ties to the smallest address_hash
chosen_address AS (
    SELECT * FROM {dim_npi_address}
    WHERE address_purpose IN ('LOCATION', 'MAILING')
    QUALIFY row_number() OVER (
        PARTITION BY npi
        ORDER BY CASE address_purpose WHEN 'LOCATION' THEN 0 ELSE 1 END, address_hash
    ) = 1
)
SELECT
    f.fact_uid, f.state, f.year_month, f.payer_slug, f.billing_class, f.code_type, f.code,
    f.pg_uid, f.pos_set_id, f.negotiated_type, f.negotiation_arrangement, f.expiration_date,
    f.negotiated_rate,
    pay.reporting_entity_name,
    c.code_description, c.code_name,
    cat.procedure_set, cat.procedure_class, cat.procedure_group,
    pg.provider_group_id_raw,
    pos.pos_members,
    pn.npi,
    n.first_name, n.last_name, n.organization_name, n.enumeration_type, n.status,
    n.primary_taxonomy_code, n.primary_taxonomy_desc, n.primary_taxonomy_state,
    n.primary_taxonomy_license, n.credential, n.sole_proprietor, n.enumeration_date,
    n.last_updated,
    a.address_purpose, a.address_type, a.address_1, a.address_2, a.city,
    a.state AS address_state, a.postal_code, a.country_code, a.telephone_number,
    a.fax_number, a.address_hash,
    coalesce(g.matched_address, 'Not Geocoded') AS matched_address,
    coalesce(g.county_name, 'Unknown') AS county_name,
    coalesce(g.county_fips, '00000') AS county_fips,
    coalesce(g.stat_area_name, 'Unknown') AS stat_area_name,
    coalesce(g.stat_area_code, '00000') AS stat_area_code,
    g.latitude, g.longitude,
    b.benchmark_type, b.opps_si, b.asc_pi, b.medicare_national_rate, b.medicare_state_rate,
    b.work_rvu, b.practice_expense_rvu, b.malpractice_rvu, b.total_rvu,
    b.conversion_factor, b.opps_weight,
    CAST(substr(f.year_month, 1, 4) AS INTEGER) AS year,
    CAST(substr(f.year_month, 6, 2) AS INTEGER) AS month,
    -- isfinite() is false for inf and NaN (and DuckDB orders NaN above 0, so a NaN
    -- benchmark passes the "> 0" test and must be caught here)
    CASE WHEN b.medicare_state_rate > 0
          AND isfinite(f.negotiated_rate / b.medicare_state_rate)
         THEN f.negotiated_rate / b.medicare_state_rate END AS rate_to_medicare_ratio,
    f.negotiated_rate > b.medicare_state_rate AS is_above_medicare,
    n.enumeration_type = 'NPI-1' AS is_individual_provider,
    n.sole_proprietor = 'YES' AS is_sole_proprietor,
    CASE n.enumeration_type WHEN 'NPI-1' THEN 'Individual'
                            WHEN 'NPI-2' THEN 'Organization' END AS provider_type
FROM fact AS f
LEFT JOIN {dim_payer} AS pay ON pay.payer_slug = f.payer_slug
LEFT JOIN {dim_code} AS c ON c.code_type = f.code_type AND c.code = f.code
LEFT JOIN {dim_code_cat} AS cat ON cat.proc_cd = f.code
LEFT JOIN {dim_provider_group} AS pg ON pg.pg_uid = f.pg_uid
LEFT JOIN {dim_pos_set} AS pos ON pos.pos_set_id = f.pos_set_id
LEFT JOIN primary_npi AS pn ON pn.pg_uid = f.pg_uid
LEFT JOIN {dim_npi} AS n ON n.npi = pn.npi
LEFT JOIN chosen_address AS a ON a.npi = pn.npi
LEFT JOIN {dim_npi_address_geolocation} AS g
       ON g.npi = pn.npi AND g.address_hash = a.address_hash
LEFT JOIN {bench_medicare_comprehensive} AS b
       ON b.state = f.state AND b.code_type = f.code_type AND b.code = f.code
ORDER BY f.fact_uid
"""

_ETL1_FILES = {
    "fact_rate": "gold/fact_rate.parquet",
    "xref_pg_member_npi": "xrefs/xref_pg_member_npi.parquet",
    **{
        name: f"dims/{name}.parquet"
        for name in (
            "dim_payer", "dim_code", "dim_code_cat", "dim_provider_group", "dim_pos_set",
            "dim_npi", "dim_npi_address", "dim_npi_address_geolocation",
            "bench_medicare_comprehensive",
        )
    },
}


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _check_year_month(year_month: str) -> tuple[str, str]:
    if not re.match(YEAR_MONTH_PATTERN, year_month):
        raise ValueError(f"year_month must be YYYY-MM, got {year_month!r}")
    year, month = year_month.split("-")
    return year, month


def expected_enriched(etl1_root: str, year_month: str) -> pl.DataFrame:
    """The enriched fact of one month per CONTRACT §2, sorted by fact_uid.

    Float semantics are DuckDB's, which agree with polars': NaN compares greater than
    every number, so ``is_above_medicare`` is true for a NaN negotiated_rate against a
    real benchmark (IEEE would say false; the contract does not say).
    """
    _check_year_month(year_month)
    tables = {
        name: f"read_parquet({_sql_string(str(Path(etl1_root) / rel))})"
        for name, rel in _ETL1_FILES.items()
    }
    con = duckdb.connect()
    try:
        sql = _ENRICH_SQL.format(**tables)
        df = con.sql(sql, params={"year_month": year_month}).pl()
        n_fact = con.sql(
            f"SELECT count(*), count(DISTINCT fact_uid) FROM {tables['fact_rate']} "
            "WHERE year_month = $year_month",
            params={"year_month": year_month},
        ).fetchall()[0]
    finally:
        con.close()
    if n_fact[0] != n_fact[1]:
        raise AssertionError(f"fact_rate has duplicate fact_uid in {year_month}")
    if df.height != n_fact[0]:
        raise AssertionError(
            f"enrichment gave {df.height} rows for {n_fact[0]} fact rows: "
            "a dimension is not unique on its join key"
        )
    if df.columns != list(ENRICHED_SCHEMA):  # the SQL lists the columns in contract order
        raise AssertionError(
            "oracle SQL and contract.ENRICHED_SCHEMA disagree: "
            f"missing {sorted(set(ENRICHED_SCHEMA) - set(df.columns))}, "
            f"extra {sorted(set(df.columns) - set(ENRICHED_SCHEMA))}, order {df.columns}"
        )
    return df.select(pl.col(c).cast(t) for c, t in ENRICHED_SCHEMA.items())


# --------------------------------------------------------------------------------------
# 2. Reading one month back from a local warehouse, through three real Hive readers.
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
    year, month = _check_year_month(year_month)
    pattern = "/".join(f"{k}=*" for k in PARTITION_KEY_NAMES[:-2])
    pattern += f"/year={year}/month={month}/{DATA_FILE_STEM}*.parquet"
    return sorted(_data_dir(root).glob(pattern))


def _empty_enriched() -> pl.DataFrame:
    return pl.DataFrame(schema=ENRICHED_SCHEMA)


def _has_data(base: Path) -> bool:
    """polars and DuckDB raise on a glob that matches nothing; an empty warehouse is no rows."""
    return base.is_dir() and next(base.rglob("*.parquet"), None) is not None


def _to_enriched(df: pl.DataFrame, reader: str) -> pl.DataFrame:
    """Check what a reader returned, then shape it as the enriched fact.

    Only year/month are cast (they are partition values read as strings); every stored
    column keeps the dtype the file gave it, so a wrongly typed file shows in
    assert_same_rows rather than being cast away here.
    """
    expected_cols = set(ENRICHED_SCHEMA) | {"taxonomy"}
    if set(df.columns) != expected_cols:
        raise AssertionError(
            f"{reader}: columns read back differ from the contract: "
            f"missing {sorted(expected_cols - set(df.columns))}, "
            f"extra {sorted(set(df.columns) - expected_cols)}"
        )
    same = df["taxonomy"].eq_missing(df["primary_taxonomy_code"])
    if not same.all():
        row = df.filter(~same).row(0, named=True)
        raise AssertionError(
            f"{reader}: partition taxonomy={row['taxonomy']!r} but primary_taxonomy_code="
            f"{row['primary_taxonomy_code']!r} for fact_uid={row['fact_uid']!r}"
        )
    return (
        df.drop("taxonomy")
        .with_columns(pl.col("year", "month").cast(pl.Int32))
        .select(list(ENRICHED_SCHEMA))
        .sort("fact_uid")
    )


def read_month_pyarrow(root: str | Path, year_month: str) -> pl.DataFrame:
    """The month through ``pyarrow.dataset`` with explicit Hive partitioning."""
    year, month = _check_year_month(year_month)
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
    year, month = _check_year_month(year_month)
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
    year, month = _check_year_month(year_month)
    base = _data_dir(root)
    if not _has_data(base):
        return _empty_enriched()
    hive_types = ", ".join(f"{_sql_string(k)}: VARCHAR" for k in PARTITION_KEY_NAMES)
    sql = (
        f"SELECT * FROM read_parquet({_sql_string(f'{base}/**/*.parquet')}, "
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
# 3. Comparing two frames row by row.
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
