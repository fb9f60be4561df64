"""One raw batch -> the rows each of the seven tables gains (CONTRACT section 5), in DuckDB.

The rates file is read once into ``batch_rates`` (spilled to disk past the memory limit),
with the costly formulas computed once per distinct input rather than per row: a payer
name's slug, a ``last_updated_on`` value's month, a ``service_codes`` value's members.
Then, per table, the rows it gains: the first row of each key in file order (the
smallest ``file_row_number``), minus the keys the existing table already holds (an
anti-join against its file). The dimensions come from the small per-value maps (each
value's first row kept with it); the facts stay narrow (the payer, group and service
codes by reference) and are streamed into the new file rather than materialized.
Nothing here loops over rows in Python.
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
        f"CREATE OR REPLACE VIEW raw_rates AS SELECT file_row_number AS rn, {_select_list(rates_select)}"
        f" FROM read_parquet({_q(rates_path)}, file_row_number = true)"
    )
    con.execute(
        f"CREATE OR REPLACE VIEW raw_providers AS SELECT file_row_number AS rn, {_select_list(providers_select)}"
        f" FROM read_parquet({_q(providers_path)}, file_row_number = true)"
    )
    members = rates_select["pos_members_expr"].replace("service_codes", "v")
    # the formulas once per distinct input; first_rn: the value's first row in the file
    con.execute(
        "CREATE OR REPLACE TABLE month_map AS SELECT v, etl1_year_month(v) AS year_month"
        " FROM (SELECT DISTINCT last_updated_on AS v FROM raw_rates)"
    )
    con.execute(
        f"CREATE OR REPLACE TABLE pos_map AS SELECT row_number() OVER () AS pos_ref, v, first_rn,"
        f" members, etl1_pos_set_id(members) AS pos_set_id"
        f" FROM (SELECT v, first_rn, {members} AS members"
        f" FROM (SELECT service_codes AS v, min(rn) AS first_rn FROM raw_rates GROUP BY service_codes))"
    )
    con.execute(
        "CREATE OR REPLACE TABLE group_map AS SELECT row_number() OVER () AS g_ref, *,"
        " etl1_pg_uid(slug, version, provider_reference_id) AS pg_uid"
        " FROM (SELECT reporting_entity_name, version, provider_reference_id, first_rn,"
        " etl1_slug(reporting_entity_name) AS slug"
        " FROM (SELECT reporting_entity_name, version, provider_reference_id, min(rn) AS first_rn FROM raw_rates"
        " GROUP BY reporting_entity_name, version, provider_reference_id))"
    )
    # the first row of each code, with its description and name
    con.execute(
        "CREATE OR REPLACE TABLE code_map AS SELECT rn, billing_code_type AS code_type, billing_code AS code,"
        " description AS code_description, name AS code_name FROM raw_rates WHERE rn IN ("
        " SELECT min(rn) FROM raw_rates WHERE billing_code_type IS NOT NULL AND billing_code IS NOT NULL"
        " GROUP BY billing_code_type, billing_code)"
    )
    # the facts, narrow: the payer, group and service codes by reference into the maps
    con.execute(
        f"""
        CREATE OR REPLACE TABLE batch_rates AS
        SELECT rn, fact_uid, hash(fact_uid) AS h, * EXCLUDE (rn, fact_uid, payer_slug, pg_uid, pos_set_id, state)
        FROM (
            SELECT *, {fact_uid_sql()} AS fact_uid
            FROM (
                SELECT r.rn, {_q(state)} AS state, m.year_month, g.slug AS payer_slug, r.billing_class,
                    r.billing_code_type AS code_type, r.billing_code AS code, g.pg_uid, p.pos_set_id,
                    r.negotiated_type, r.negotiation_arrangement, r.expiration_date, r.negotiated_rate,
                    r.provider_reference_id AS provider_group_id_raw, g.g_ref, p.pos_ref
                FROM raw_rates r
                JOIN month_map m ON r.last_updated_on IS NOT DISTINCT FROM m.v
                JOIN pos_map p ON r.service_codes IS NOT DISTINCT FROM p.v
                JOIN group_map g ON r.reporting_entity_name IS NOT DISTINCT FROM g.reporting_entity_name
                    AND r.version IS NOT DISTINCT FROM g.version
                    AND r.provider_reference_id IS NOT DISTINCT FROM g.provider_reference_id
            )
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
    # the facts as the table stores them
    con.execute(
        f"""
        CREATE OR REPLACE VIEW batch_facts AS
        SELECT s.rn, s.fact_uid, {_q(state)} AS state, s.year_month, g.slug AS payer_slug, s.billing_class,
            s.code_type, s.code, g.pg_uid, p.pos_set_id, s.negotiated_type, s.negotiation_arrangement,
            s.expiration_date, s.negotiated_rate, s.provider_group_id_raw, g.reporting_entity_name, g.version
        FROM batch_rates s JOIN group_map g USING (g_ref) JOIN pos_map p USING (pos_ref)
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
    rn: str = "rn"  # the column giving each candidate's first row in the file

    @property
    def key(self) -> tuple[str, ...]:
        return self.table.key


def _columns(table: Etl1Table, overrides: dict[str, str] | None = None) -> dict[str, str]:
    names = [*table.schema, *ETL1_EXTRA_COLUMNS.get(table.name, {})]
    return {n: (overrides or {}).get(n, f"s.{n}") for n in names}


RULES = (
    TableRule(
        DIM_PAYER, "group_map",
        _columns(DIM_PAYER, {"payer_slug": "s.slug", "reporting_entity_name": "s.reporting_entity_name"}),
        rn="first_rn",
    ),
    TableRule(DIM_CODE, "code_map", _columns(DIM_CODE)),
    TableRule(
        DIM_PROVIDER_GROUP, "group_map",
        _columns(DIM_PROVIDER_GROUP, {"payer_slug": "s.slug", "provider_group_id_raw": "s.provider_reference_id"}),
        rn="first_rn",
    ),
    TableRule(DIM_POS_SET, "pos_map", _columns(DIM_POS_SET, {"pos_members": "s.members"}), rn="first_rn"),
    TableRule(XREF_PG_MEMBER_NPI, "batch_providers", _columns(XREF_PG_MEMBER_NPI), where="s.npi IS NOT NULL"),
    TableRule(
        XREF_PG_MEMBER_TIN, "batch_providers", _columns(XREF_PG_MEMBER_TIN), where="s.tin_value IS NOT NULL"
    ),
)


def new_rows(con: duckdb.DuckDBPyConnection, rule: TableRule, existing_path: str | None) -> int:
    """``new_<table>``: the first row of each key, in file order, whose key the existing
    table (at ``existing_path``; None when there is none yet) does not hold."""
    keys = ", ".join(rule.columns[k] for k in rule.key)
    first = f"SELECT min(s.{rule.rn}) FROM {rule.source} s WHERE {rule.where} GROUP BY {keys}"
    columns = ", ".join(f'{expr} AS "{name}"' for name, expr in rule.columns.items())
    con.execute(
        f"CREATE OR REPLACE TABLE new_{rule.table.name} AS SELECT {columns} FROM {rule.source} s"
        f" WHERE {rule.where} AND s.{rule.rn} IN ({first})"
    )
    if existing_path is not None:
        match = " AND ".join(f"CAST(e.{k} AS VARCHAR) = n.{k}" for k in rule.key)
        con.execute(
            f"DELETE FROM new_{rule.table.name} n WHERE EXISTS"
            f" (SELECT 1 FROM read_parquet({_q(existing_path)}) e WHERE {match})"
        )
    return con.execute(f"SELECT count(*) FROM new_{rule.table.name}").fetchone()[0]


def new_facts(con: duckdb.DuckDBPyConnection, existing_path: str | None) -> int:
    """``new_fact_rate`` (a view, streamed when written): the batch's facts but the rows
    ``fact_drop`` names: a repeat of a ``fact_uid`` after its first row (found among the
    rows whose 64-bit hash repeats, a small set) and a ``fact_uid`` the table holds."""
    con.execute(
        """
        CREATE OR REPLACE TABLE fact_drop AS
        SELECT rn FROM batch_rates b JOIN (
            SELECT fact_uid, min(rn) AS first_rn FROM batch_rates
            WHERE h IN (SELECT h FROM batch_rates GROUP BY h HAVING count(*) > 1)
            GROUP BY fact_uid HAVING count(*) > 1
        ) d USING (fact_uid)
        WHERE b.rn <> d.first_rn
        """
    )
    if existing_path is not None:
        con.execute(
            f"INSERT INTO fact_drop SELECT rn FROM batch_rates b"
            f" WHERE b.fact_uid IN (SELECT CAST(fact_uid AS VARCHAR) FROM read_parquet({_q(existing_path)}))"
        )
    columns = ", ".join(f's.{c} AS "{c}"' for c in _columns(FACT_RATE))
    con.execute(
        f"CREATE OR REPLACE VIEW new_fact_rate AS SELECT {columns.replace('s.', 'f.')} FROM batch_facts f"
        " WHERE f.rn NOT IN (SELECT rn FROM fact_drop)"
    )
    return con.execute(
        "SELECT count(*) FROM batch_rates WHERE rn NOT IN (SELECT rn FROM fact_drop)"
    ).fetchone()[0]


def changed_months(con: duckdb.DuckDBPyConnection, existing_fact: str | None) -> list[str]:
    """The months whose enriched rows the gains change: months of new facts, and months of
    existing facts that reference a key a table gains (a new NPI or TIN of their provider
    group changes its primary member and counts; a new dimension row fills a field that
    dangled). NPI ``0`` is no member, so gaining it changes nothing."""
    parts = ["SELECT year_month FROM batch_rates WHERE rn NOT IN (SELECT rn FROM fact_drop)"]
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
