"""One raw batch -> the rows each of the seven tables gains (CONTRACT section 5), in DuckDB.

The rates file is read once into ``batch_rates`` (spilled to disk past the memory limit),
with the costly formulas computed once per distinct input rather than per row: a payer
name's slug, a ``last_updated_on`` value's month, a ``service_codes`` value's members.
Then, per table, the rows it gains: the first row of each key in file order (the
smallest ``file_row_number``), minus the keys the existing table already holds (an
anti-join against its file). Nothing here loops over rows in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from etl3_assets.lib.contract import (
    DIM_CODE, DIM_PAYER, DIM_POS_SET, DIM_PROVIDER_GROUP, ETL1_EXTRA_COLUMNS, FACT_RATE, XREF_PG_MEMBER_NPI,
    XREF_PG_MEMBER_TIN, Etl1Table,
)
from etl3_assets.lib.etl1.formulas import fact_uid_sql


def _q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _select_list(select: dict[str, str]) -> str:
    return ", ".join(f'{expr} AS "{name}"' for name, expr in select.items() if name != "pos_members_expr")


def load_batch(con: duckdb.DuckDBPyConnection, state: str, rates: tuple[str, dict], providers: tuple[str, dict]) -> int:
    """Read both files into ``batch_rates`` and ``batch_providers``; returns the rates rows.

    ``rates``/``providers``: (local path, column -> expression from ``raw.raw_select``).
    """
    rates_path, rates_select = rates
    providers_path, providers_select = providers
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW raw_rates AS SELECT file_row_number AS rn, {_select_list(rates_select)}"
        f" FROM read_parquet({_q(rates_path)}, file_row_number = true)"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW raw_providers AS SELECT file_row_number AS rn, {_select_list(providers_select)}"
        f" FROM read_parquet({_q(providers_path)}, file_row_number = true)"
    )
    members = rates_select["pos_members_expr"]
    con.execute(
        "CREATE OR REPLACE TABLE slug_map AS SELECT v, etl1_slug(v) AS slug"
        " FROM (SELECT DISTINCT reporting_entity_name AS v FROM raw_rates)"
    )
    con.execute(
        "CREATE OR REPLACE TABLE month_map AS SELECT v, etl1_year_month(v) AS year_month"
        " FROM (SELECT DISTINCT last_updated_on AS v FROM raw_rates)"
    )
    con.execute(
        f"CREATE OR REPLACE TABLE pos_map AS SELECT row_number() OVER () AS pos_ref, v, members,"
        f" etl1_pos_set_id(members) AS pos_set_id"
        f" FROM (SELECT v, {members.replace('service_codes', 'v')} AS members"
        f" FROM (SELECT DISTINCT service_codes AS v FROM raw_rates))"
    )
    con.execute(
        "CREATE OR REPLACE TABLE group_map AS SELECT s.slug, g.version, g.provider_reference_id,"
        " etl1_pg_uid(s.slug, g.version, g.provider_reference_id) AS pg_uid"
        " FROM (SELECT DISTINCT reporting_entity_name, version, provider_reference_id FROM raw_rates) g"
        " JOIN slug_map s ON g.reporting_entity_name IS NOT DISTINCT FROM s.v"
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE batch_rates AS
        SELECT rn, {fact_uid_sql()} AS fact_uid, * EXCLUDE (rn)
        FROM (
            SELECT r.rn, {_q(state)} AS state, m.year_month, s.slug AS payer_slug, r.billing_class,
                r.billing_code_type AS code_type, r.billing_code AS code,
                g.pg_uid, p.pos_set_id,
                r.negotiated_type, r.negotiation_arrangement, r.expiration_date, r.negotiated_rate,
                r.provider_reference_id AS provider_group_id_raw, r.reporting_entity_name, r.version,
                r.description AS code_description, r.name AS code_name, p.pos_ref
            FROM raw_rates r
            JOIN slug_map s ON r.reporting_entity_name IS NOT DISTINCT FROM s.v
            JOIN month_map m ON r.last_updated_on IS NOT DISTINCT FROM m.v
            JOIN pos_map p ON r.service_codes IS NOT DISTINCT FROM p.v
            JOIN group_map g ON g.slug = s.slug AND r.version IS NOT DISTINCT FROM g.version
                AND r.provider_reference_id IS NOT DISTINCT FROM g.provider_reference_id
        )
        """
    )
    con.execute(
        """
        CREATE OR REPLACE TABLE batch_providers AS
        SELECT rn, etl1_pg_uid(etl1_slug(reporting_entity_name), version, provider_group_id) AS pg_uid,
            nullif(npi, '') AS npi, tin_type, nullif(tin_value, '') AS tin_value
        FROM raw_providers
        """
    )
    return con.execute("SELECT count(*) FROM batch_rates").fetchone()[0]


@dataclass(frozen=True)
class TableRule:
    """How a table's candidate rows come out of the batch: from which batch table, which
    columns (name -> expression on alias ``s``), which rows, keyed how."""

    table: Etl1Table
    source: str
    columns: dict[str, str]
    where: str = "TRUE"
    join: str = ""

    @property
    def key(self) -> tuple[str, ...]:
        return self.table.key


def _columns(table: Etl1Table, overrides: dict[str, str] | None = None) -> dict[str, str]:
    names = [*table.schema, *ETL1_EXTRA_COLUMNS.get(table.name, {})]
    return {n: (overrides or {}).get(n, f"s.{n}") for n in names}


RULES = (
    TableRule(DIM_PAYER, "batch_rates", _columns(DIM_PAYER)),
    TableRule(
        DIM_CODE, "batch_rates", _columns(DIM_CODE), where="s.code_type IS NOT NULL AND s.code IS NOT NULL"
    ),
    TableRule(DIM_PROVIDER_GROUP, "batch_rates", _columns(DIM_PROVIDER_GROUP)),
    TableRule(
        DIM_POS_SET, "batch_rates", _columns(DIM_POS_SET, {"pos_members": "p.members"}),
        join="JOIN pos_map p ON p.pos_ref = s.pos_ref",
    ),
    TableRule(XREF_PG_MEMBER_NPI, "batch_providers", _columns(XREF_PG_MEMBER_NPI), where="s.npi IS NOT NULL"),
    TableRule(
        XREF_PG_MEMBER_TIN, "batch_providers", _columns(XREF_PG_MEMBER_TIN), where="s.tin_value IS NOT NULL"
    ),
    TableRule(FACT_RATE, "batch_rates", _columns(FACT_RATE)),
)


def new_rows(con: duckdb.DuckDBPyConnection, rule: TableRule, existing_path: str | None) -> int:
    """``new_<table>``: the first row of each key, in file order, whose key the existing
    table (at ``existing_path``; None when there is none yet) does not hold."""
    where = rule.where.replace("s.", "")
    first = f"SELECT min(rn) FROM {rule.source} WHERE {where} GROUP BY {', '.join(rule.key)}"
    anti = ""
    if existing_path is not None:
        match = " AND ".join(f"CAST(e.{k} AS VARCHAR) = s.{k}" for k in rule.key)
        anti = f" AND NOT EXISTS (SELECT 1 FROM read_parquet({_q(existing_path)}) e WHERE {match})"
    columns = ", ".join(f'{expr} AS "{name}"' for name, expr in rule.columns.items())
    con.execute(
        f"CREATE OR REPLACE TABLE new_{rule.table.name} AS SELECT {columns} FROM {rule.source} s {rule.join}"
        f" WHERE {rule.where} AND s.rn IN ({first}){anti}"
    )
    return con.execute(f"SELECT count(*) FROM new_{rule.table.name}").fetchone()[0]


def changed_months(con: duckdb.DuckDBPyConnection, existing_fact: str | None) -> list[str]:
    """The months whose enriched rows the gains change: months of new facts, and months of
    existing facts that reference a key a table gains (a new NPI or TIN of their provider
    group changes its primary member and counts; a new dimension row fills a field that
    dangled). NPI ``0`` is no member, so gaining it changes nothing."""
    parts = ["SELECT year_month FROM new_fact_rate"]
    if existing_fact is not None:
        parts.append(
            f"""
            SELECT f.year_month FROM read_parquet({_q(existing_fact)}) f
            WHERE f.pg_uid IN (SELECT pg_uid FROM new_xref_pg_member_npi WHERE npi <> '0'
                               UNION ALL SELECT pg_uid FROM new_xref_pg_member_tin
                               UNION ALL SELECT pg_uid FROM new_dim_provider_group)
               OR f.payer_slug IN (SELECT payer_slug FROM new_dim_payer)
               OR f.pos_set_id IN (SELECT pos_set_id FROM new_dim_pos_set)
               OR EXISTS (SELECT 1 FROM new_dim_code c WHERE c.code_type = f.code_type AND c.code = f.code)
            """
        )
    rows = con.execute(
        f"SELECT DISTINCT CAST(year_month AS VARCHAR) FROM ({' UNION ALL '.join(parts)}) WHERE year_month <> '' ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def write_table(
    con: duckdb.DuckDBPyConnection, table: Etl1Table, existing: tuple[str, dict[str, str]] | None, target: str
) -> None:
    """The table's new file at ``target``: the existing rows (``existing``: its path and
    column -> expression, contract columns read by meaning, other columns as stored) then
    the gained ones; a column only one side has is null on the other."""
    query = f"SELECT * FROM new_{table.name}"
    if existing is not None:
        path, select = existing
        kept = ", ".join(f'{expr} AS "{name}"' for name, expr in select.items())
        query = f"SELECT {kept} FROM read_parquet({_q(path)}) UNION ALL BY NAME SELECT * FROM new_{table.name}"
    con.execute(f"COPY ({query}) TO {_q(target)} (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1, ROW_GROUP_SIZE 122880)")
