"""The oracle's enrichment: CONTRACT §1 read by meaning and §2 written as plain DuckDB SQL.

Independent of production (which enriches with polars): of ``etl3_assets.lib.contract``
only constants are imported (``ENRICHED_SCHEMA`` for the column order, the month pattern,
the partition key names); the §1 tables, their columns and the enriched columns with
their dtypes are written here from the contract.
Tests import it through ``support.oracle``.
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import polars as pl

from etl3_assets.lib.contract import ENRICHED_SCHEMA, PARTITION_KEY_NAMES, YEAR_MONTH_PATTERN

# --------------------------------------------------------------------------------------
# The enriched fact, from the ETL1 star schema, in SQL (CONTRACT §1 and §2).
# --------------------------------------------------------------------------------------

_STR, _F64, _I64 = "VARCHAR", "DOUBLE", "BIGINT"

# CONTRACT §1's tables as this oracle reads them: file, and each contract column with the
# DuckDB type it is read as. Written here from the contract, not taken from production.
_ETL1_TABLES: dict[str, tuple[str, dict[str, str]]] = {
    "fact_rate": ("gold/fact_rate.parquet", {
        **dict.fromkeys((
            "fact_uid", "state", "year_month", "payer_slug", "billing_class", "code_type",
            "code", "pg_uid", "pos_set_id", "negotiated_type", "negotiation_arrangement",
            "expiration_date",
        ), _STR),
        "negotiated_rate": _F64,
    }),
    "dim_payer": ("dims/dim_payer.parquet", dict.fromkeys(("payer_slug", "reporting_entity_name"), _STR)),
    "dim_code": ("dims/dim_code.parquet", dict.fromkeys(("code_type", "code", "code_description", "code_name"), _STR)),
    "dim_code_cat": ("dims/dim_code_cat.parquet", dict.fromkeys(("proc_cd", "proc_set", "proc_class", "proc_group"), _STR)),
    "dim_provider_group": ("dims/dim_provider_group.parquet", {
        "pg_uid": _STR, "payer_slug": _STR, "provider_group_id_raw": _I64,
    }),
    "dim_pos_set": ("dims/dim_pos_set.parquet", {"pos_set_id": _STR, "pos_members": "VARCHAR[]"}),
    "xref_pg_member_npi": ("xrefs/xref_pg_member_npi.parquet", dict.fromkeys(("pg_uid", "npi"), _STR)),
    "xref_pg_member_tin": ("xrefs/xref_pg_member_tin.parquet", dict.fromkeys(("pg_uid", "tin_type", "tin_value"), _STR)),
    "dim_npi": ("dims/dim_npi.parquet", dict.fromkeys((
        "npi", "first_name", "last_name", "organization_name", "enumeration_type", "status",
        "primary_taxonomy_code", "primary_taxonomy_desc", "primary_taxonomy_state",
        "primary_taxonomy_license", "credential", "sole_proprietor", "enumeration_date",
        "last_updated",
    ), _STR)),
    "dim_npi_address": ("dims/dim_npi_address.parquet", dict.fromkeys((
        "npi", "address_purpose", "address_type", "address_1", "address_2", "city", "state",
        "postal_code", "country_code", "telephone_number", "fax_number", "address_hash",
    ), _STR)),
    "dim_npi_address_geolocation": ("dims/dim_npi_address_geolocation.parquet", {
        **dict.fromkeys((
            "npi", "address_hash", "matched_address", "county_name", "county_fips",
            "stat_area_name", "stat_area_code",
        ), _STR),
        "latitude": _F64, "longitude": _F64,
    }),
    "bench_medicare_comprehensive": ("dims/bench_medicare_comprehensive.parquet", {
        **dict.fromkeys(("state", "year_month", "code_type", "code", "benchmark_type", "opps_si", "asc_pi"), _STR),
        **dict.fromkeys((
            "medicare_prof_national", "medicare_prof_stateavg", "medicare_opps_national",
            "medicare_opps_stateavg", "medicare_asc_national", "medicare_asc_stateavg",
            "work_rvu", "practice_expense_rvu", "malpractice_rvu", "total_rvu",
            "conversion_factor", "opps_weight",
        ), _F64),
    }),
}
ETL1_FILES = {name: rel for name, (rel, _) in _ETL1_TABLES.items()}
ETL1_COLUMNS = {name: list(columns) for name, (_, columns) in _ETL1_TABLES.items()}

# The enriched fact of CONTRACT §2 with its dtypes, in the contract's order (fact columns,
# the joins' fields in the order of §2's table, the benchmark's, the derived fields).
_S, _F = pl.String, pl.Float64
CONTRACT_ENRICHED: dict[str, pl.DataType] = {
    **{c: (_F if t == _F64 else _S) for c, t in _ETL1_TABLES["fact_rate"][1].items()},
    **dict.fromkeys(("reporting_entity_name", "code_description", "code_name"), _S),
    **dict.fromkeys(("procedure_set", "procedure_class", "procedure_group"), _S),
    "provider_group_id_raw": pl.Int64,
    "pos_members": pl.List(pl.String),
    "tin_type": _S, "tin_value": _S, "provider_group_tin_count": pl.Int64,
    "npi": _S, "provider_group_npi_count": pl.Int64,
    **{c: _S for c in list(_ETL1_TABLES["dim_npi"][1])[1:]},
    **dict.fromkeys((
        "address_purpose", "address_type", "address_1", "address_2", "city", "address_state",
        "postal_code", "country_code", "telephone_number", "fax_number", "address_hash",
    ), _S),
    **dict.fromkeys(("matched_address", "county_name", "county_fips", "stat_area_name", "stat_area_code"), _S),
    "latitude": _F, "longitude": _F,
    "benchmark_type": _S, "benchmark_year_month": _S,
    **dict.fromkeys((
        "medicare_national_rate", "medicare_state_rate", "work_rvu", "practice_expense_rvu",
        "malpractice_rvu", "total_rvu", "conversion_factor", "opps_weight",
    ), _F),
    "opps_si": _S,
    "medicare_asc_national_rate": _F, "medicare_asc_state_rate": _F, "asc_pi": _S,
    "year": pl.Int32, "month": pl.Int32,
    "rate_to_medicare_ratio": _F,
    "is_above_medicare": pl.Boolean, "is_individual_provider": pl.Boolean, "is_sole_proprietor": pl.Boolean,
    "provider_type": _S,
}

_ENRICH_SQL = """
WITH
fact AS (SELECT * FROM fact_rate WHERE year_month = $year_month),
-- the group's primary TIN: smallest tin_value, ties to the smallest tin_type
primary_tin AS (
    SELECT pg_uid, tin_type, tin_value FROM xref_pg_member_tin
    QUALIFY row_number() OVER (PARTITION BY pg_uid ORDER BY tin_value, tin_type NULLS LAST) = 1
),
tin_count AS (SELECT pg_uid, count(DISTINCT tin_value) AS n FROM xref_pg_member_tin GROUP BY pg_uid),
-- the group's primary NPI: the smallest member npi; `0` (a TIN-level contract) is no NPI
primary_npi AS (
    SELECT pg_uid, min(npi) AS npi, count(DISTINCT npi) AS n
    FROM xref_pg_member_npi WHERE npi <> '0' GROUP BY pg_uid
),
-- per npi: its LOCATION address, else its MAILING one; ties to the smallest address_hash
chosen_address AS (
    SELECT * FROM dim_npi_address
    WHERE address_purpose IN ('LOCATION', 'MAILING')
    QUALIFY row_number() OVER (
        PARTITION BY npi
        ORDER BY CASE address_purpose WHEN 'LOCATION' THEN 0 ELSE 1 END, address_hash
    ) = 1
),
-- the benchmark type a fact takes: by billing class, for CPT and HCPCS codes only
fact_bench_type AS (
    SELECT fact_uid, state, code, year_month,
           CASE billing_class WHEN 'professional' THEN 'professional'
                              WHEN 'institutional' THEN 'opps' END AS benchmark_type,
           billing_class = 'institutional' AS wants_asc
    FROM fact WHERE code_type IN ('CPT', 'HCPCS')
),
-- the row of that type in effect in the fact's month: latest year_month not after it;
-- matched on state and code, not on code_type (the benchmark's own label)
bench AS (
    SELECT t.fact_uid, b.* FROM fact_bench_type AS t
    JOIN bench_medicare_comprehensive AS b
      ON b.state = t.state AND b.code = t.code AND b.benchmark_type = t.benchmark_type
     AND b.year_month <= t.year_month
    QUALIFY row_number() OVER (PARTITION BY t.fact_uid ORDER BY b.year_month DESC) = 1
),
asc_bench AS (
    SELECT t.fact_uid, b.* FROM fact_bench_type AS t
    JOIN bench_medicare_comprehensive AS b
      ON b.state = t.state AND b.code = t.code AND b.benchmark_type = 'asc'
     AND b.year_month <= t.year_month
    WHERE t.wants_asc
    QUALIFY row_number() OVER (PARTITION BY t.fact_uid ORDER BY b.year_month DESC) = 1
),
joined AS (
    SELECT
        f.*,
        pay.reporting_entity_name,
        c.code_description, c.code_name,
        cat.proc_set AS procedure_set, cat.proc_class AS procedure_class,
        cat.proc_group AS procedure_group,
        pg.provider_group_id_raw,
        pos.pos_members,
        pt.tin_type, pt.tin_value, coalesce(tc.n, 0) AS provider_group_tin_count,
        pn.npi, coalesce(pn.n, 0) AS provider_group_npi_count,
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
        b.benchmark_type, b.year_month AS benchmark_year_month,
        CASE b.benchmark_type WHEN 'professional' THEN b.medicare_prof_national
                              WHEN 'opps' THEN b.medicare_opps_national END AS medicare_national_rate,
        CASE b.benchmark_type WHEN 'professional' THEN b.medicare_prof_stateavg
                              WHEN 'opps' THEN b.medicare_opps_stateavg END AS medicare_state_rate,
        b.work_rvu, b.practice_expense_rvu, b.malpractice_rvu, b.total_rvu,
        b.conversion_factor, b.opps_weight, b.opps_si,
        ab.medicare_asc_national AS medicare_asc_national_rate,
        ab.medicare_asc_stateavg AS medicare_asc_state_rate,
        ab.asc_pi
    FROM fact AS f
    LEFT JOIN dim_payer AS pay ON pay.payer_slug = f.payer_slug
    LEFT JOIN dim_code AS c ON c.code_type = f.code_type AND c.code = f.code
    LEFT JOIN dim_code_cat AS cat ON cat.proc_cd = f.code
    LEFT JOIN dim_provider_group AS pg ON pg.pg_uid = f.pg_uid
    LEFT JOIN dim_pos_set AS pos ON pos.pos_set_id = f.pos_set_id
    LEFT JOIN primary_tin AS pt ON pt.pg_uid = f.pg_uid
    LEFT JOIN tin_count AS tc ON tc.pg_uid = f.pg_uid
    LEFT JOIN primary_npi AS pn ON pn.pg_uid = f.pg_uid
    LEFT JOIN dim_npi AS n ON n.npi = pn.npi
    LEFT JOIN chosen_address AS a ON a.npi = pn.npi
    LEFT JOIN dim_npi_address_geolocation AS g
           ON g.npi = pn.npi AND g.address_hash = a.address_hash
    LEFT JOIN bench AS b ON b.fact_uid = f.fact_uid
    LEFT JOIN asc_bench AS ab ON ab.fact_uid = f.fact_uid
)
SELECT
    *,
    CAST(substr(year_month, 1, 4) AS INTEGER) AS year,
    CAST(substr(year_month, 6, 2) AS INTEGER) AS month,
    -- isfinite() is false for inf and NaN (a NaN rate over a real benchmark included)
    CASE WHEN medicare_state_rate > 0 AND isfinite(negotiated_rate / medicare_state_rate)
         THEN negotiated_rate / medicare_state_rate END AS rate_to_medicare_ratio,
    negotiated_rate > medicare_state_rate AS is_above_medicare,
    enumeration_type = 'NPI-1' AS is_individual_provider,
    sole_proprietor = 'YES' AS is_sole_proprietor,
    CASE enumeration_type WHEN 'NPI-1' THEN 'Individual'
                          WHEN 'NPI-2' THEN 'Organization' END AS provider_type
FROM joined
ORDER BY fact_uid
"""


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def check_year_month(year_month: str) -> tuple[str, str]:
    if not re.match(YEAR_MONTH_PATTERN, year_month):
        raise ValueError(f"year_month must be YYYY-MM, got {year_month!r}")
    year, month = year_month.split("-")
    return year, month


def _load(con: duckdb.DuckDBPyConnection, etl1_root: str) -> None:
    """Each §1 table into a DuckDB table of its contract columns, read by meaning.

    DuckDB reads every lossless storage of §1 (dictionary, large and view strings,
    narrower integers, Float32, the Null type) and the casts give the contract types;
    columns the contract does not name are left out. A NaN in a dimension table's
    Float64 column is a missing number: set to null, in the table (over a view of
    ``read_parquet``, DuckDB 2.0.1 leaves the NaN in place).
    """
    for name, (rel, columns) in _ETL1_TABLES.items():
        path = sql_string(str(Path(etl1_root) / rel))
        found = {row[0]: row[1] for row in con.sql(f"DESCRIBE SELECT * FROM read_parquet({path})").fetchall()}
        missing = [c for c in columns if c not in found]
        if missing:
            raise ValueError(f"oracle: ETL1 table {name} lacks contract columns {missing}")
        select = ", ".join(
            f"CAST(NULL AS {t}) AS {c}" if found[c] == '"NULL"' else f"CAST({c} AS {t}) AS {c}"
            for c, t in columns.items()
        )
        con.execute(f"CREATE TABLE {name} AS SELECT {select} FROM read_parquet({path})")
        if name != "fact_rate":
            for c in (c for c, t in columns.items() if t == _F64):
                con.execute(f"UPDATE {name} SET {c} = NULL WHERE isnan({c})")


def enriched_columns() -> dict[str, pl.DataType]:
    """The enriched fact's columns and dtypes: the contract's, in production's column
    order when ``contract.ENRICHED_SCHEMA`` names the same columns (column order is not
    the contract's business), else in the contract's order."""
    if set(ENRICHED_SCHEMA) == set(CONTRACT_ENRICHED):
        return {c: CONTRACT_ENRICHED[c] for c in ENRICHED_SCHEMA}
    return dict(CONTRACT_ENRICHED)


def expected_enriched(etl1_root: str, year_month: str) -> pl.DataFrame:
    """The enriched fact of one month per CONTRACT §2, sorted by fact_uid.

    Fact rows of another month, or of none (an empty ``year_month``), are not in it.
    Float semantics are DuckDB's, which agree with polars': NaN compares greater than
    every number, so ``is_above_medicare`` is true for a NaN negotiated_rate against a
    real benchmark (IEEE would say false; the contract does not say).
    """
    check_year_month(year_month)
    con = duckdb.connect()
    try:
        _load(con, etl1_root)
        df = con.sql(_ENRICH_SQL, params={"year_month": year_month}).pl()
        n_fact = con.sql(
            "SELECT count(*), count(DISTINCT fact_uid) FROM fact_rate WHERE year_month = $year_month",
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
    if df.columns != list(CONTRACT_ENRICHED):  # the SQL lists the columns in contract order
        raise AssertionError(f"oracle SQL and CONTRACT_ENRICHED disagree: {df.columns}")
    return df.select(pl.col(c).cast(t) for c, t in enriched_columns().items())


def as_read_from_hive(expected: pl.DataFrame) -> pl.DataFrame:
    """The enriched rows as the Hive layout gives them back (CONTRACT §3): an empty value
    of a column that is a partition key is written ``__HIVE_DEFAULT_PARTITION__`` and
    read back as null. ``primary_taxonomy_code`` is stored in the files and keeps it."""
    keys = [c for c in PARTITION_KEY_NAMES if c in expected.columns and expected.schema[c] == pl.String]
    return expected.with_columns(pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in keys)
