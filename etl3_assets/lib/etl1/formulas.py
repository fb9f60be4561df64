"""CONTRACT section 5's formulas as DuckDB macros, exact to the Python the real ETL1 runs.

Each macro reproduces a Python expression, not an approximation of it:

* ``etl1_slug``: ``re.sub('[^a-z0-9]+', '-', name.lower()).strip('-')``. DuckDB's
  ``lower`` differs from Python's ``str.lower`` on one character that lower-cases into
  ``a-z``: ``İ`` (U+0130), which Python makes ``i`` plus a combining dot (two characters,
  so ``-`` follows the ``i``); it is spelled out before ``lower``. A null name is ``""``.
* ``etl1_year_month``: ``datetime.strptime(value, fmt)`` for each of
  ``RAW_DATE_FORMATS`` in order, the first success written ``YYYY-MM``. Each directive is
  the regular expression ``_strptime`` compiles it to (``%m`` takes ``1`` or ``01``,
  ``%d`` also `` 1``), matched against the whole value; the date must then exist (year
  1 or later, the day within its month), as ``datetime`` requires.
* ``etl1_pos_from_text`` / ``etl1_pos_from_list``: the members of a service-codes value;
  "whitespace" is Python's ``str.isspace`` set (``str.split()`` and ``str.strip()``),
  not RE2's ``\\s``; the sort is by code point, as Python sorts strings.
* ``etl1_rate_text``: ``f"{rate:.4f}"``. DuckDB's ``printf`` rounds exactly like Python
  (round-half-even on the binary value, ``nan``, ``inf``, ``-0.0000``) for magnitudes
  below ``PRINTF_EXACT_BELOW``; the rare larger value is formatted by Python itself
  (a scalar function evaluated only on those rows). A null rate is ``""``.
"""

from __future__ import annotations

import re

import duckdb

from etl3_assets.lib.contract import RAW_DATE_FORMATS

PYTHON_WHITESPACE = "".join(chr(i) for i in range(0x110000) if chr(i).isspace())
_WS_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in PYTHON_WHITESPACE) + "]"
# DuckDB's printf (the fmt library) writes Python's digits below this magnitude (checked
# against Python for every power of ten up to 1e308 in the tests).
PRINTF_EXACT_BELOW = 1e50

# What _strptime compiles each directive to (ASCII digits: see the README's notes).
_DIRECTIVE_PATTERNS = {
    "%Y": "([0-9]{4})",
    "%m": "(1[0-2]|0[1-9]|[1-9])",
    "%d": "(3[01]|[12][0-9]|0[1-9]|[1-9]| [1-9])",
}


def _format_pattern(fmt: str) -> str:
    parts = re.split(r"(%[Ymd])", fmt)
    return "^" + "".join(_DIRECTIVE_PATTERNS.get(p, re.escape(p)) for p in parts if p) + "$"


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _year_month_case() -> str:
    """The first format that reads the whole value and gives a real date, as YYYY-MM."""
    branches = []
    for fmt in RAW_DATE_FORMATS:
        pattern = _sql_text(_format_pattern(fmt))
        year = f"CAST(regexp_extract(v, {pattern}, 1) AS INTEGER)"
        month = f"CAST(regexp_extract(v, {pattern}, 2) AS INTEGER)"
        valid = f"{year} >= 1"
        if "%d" in fmt:
            day = f"CAST(trim(regexp_extract(v, {pattern}, 3)) AS INTEGER)"
            valid += f" AND {day} <= day(last_day(make_date({year}, {month}, 1)))"
        # nested CASE: the extraction only runs on values the pattern reads
        branches.append(
            f"CASE WHEN regexp_full_match(v, {pattern}) THEN "
            f"(CASE WHEN {valid} THEN printf('%04d-%02d', {year}, {month}) END) END"
        )
    return f"coalesce({', '.join(branches)}, '')"


MACROS = (
    "CREATE OR REPLACE MACRO etl1_slug(name) AS "
    "trim(regexp_replace(lower(replace(coalesce(name, ''), chr(304), 'i' || chr(775))), '[^a-z0-9]+', '-', 'g'), '-')",
    f"CREATE OR REPLACE MACRO etl1_year_month(value) AS (SELECT {_year_month_case()} FROM (SELECT value AS v))",
    "CREATE OR REPLACE MACRO etl1_members(items) AS "
    "list_sort(list_distinct(list_filter(items, lambda x: x IS NOT NULL AND x <> '')))",
    "CREATE OR REPLACE MACRO etl1_pos_from_text(t) AS etl1_members(regexp_split_to_array("
    f"regexp_replace(coalesce(t, ''), '[\\[\\]{{}}()\"'';,|]', ' ', 'g'), '{_WS_CLASS}+'))",
    "CREATE OR REPLACE MACRO etl1_pos_from_list(l) AS etl1_members(list_transform(coalesce(l, []::VARCHAR[]), "
    f"lambda x: regexp_replace(x, '^{_WS_CLASS}+|{_WS_CLASS}+$', '', 'g')))",
    "CREATE OR REPLACE MACRO etl1_pos_set_id(members) AS md5(array_to_string(members, '|'))",
    "CREATE OR REPLACE MACRO etl1_rate_text(r) AS CASE WHEN r IS NULL THEN '' "
    f"WHEN isfinite(r) AND abs(r) >= {PRINTF_EXACT_BELOW} THEN etl1_python_rate_text(r) "
    "ELSE printf('%.4f', r) END",
    "CREATE OR REPLACE MACRO etl1_text(v) AS coalesce(CAST(v AS VARCHAR), '')",
    "CREATE OR REPLACE MACRO etl1_pg_uid(slug, version, id) AS "
    "md5(slug || '|' || etl1_text(version) || '|' || etl1_text(id) || '|')",
)


def _python_rate_text(rate: float) -> str:
    return f"{rate:.4f}"


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """Define section 5's formulas on a connection (idempotent)."""
    try:
        con.create_function(
            "etl1_python_rate_text", _python_rate_text, ["DOUBLE"], "VARCHAR", null_handling="default"
        )
    except duckdb.CatalogException:
        pass  # already defined on this connection
    for macro in MACROS:
        con.execute(macro)


FACT_UID_PARTS = (
    "state", "year_month", "payer_slug", "billing_class", "code_type", "code", "pg_uid", "pos_set_id",
    "negotiated_type", "negotiation_arrangement", "expiration_date",
)


def fact_uid_sql(rate: str = "negotiated_rate", reference_id: str = "provider_group_id_raw") -> str:
    """md5 of the fact's parts joined by ``|`` (a null part as ``""``), then the rate with
    four decimals, then the provider reference id in decimal."""
    parts = [f"etl1_text({p})" for p in FACT_UID_PARTS] + [f"etl1_rate_text({rate})", f"etl1_text({reference_id})"]
    return "md5(" + " || '|' || ".join(parts) + ")"
