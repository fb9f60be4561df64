"""The §5 formulas in DuckDB (lib/etl1/formulas.py) against the Python the contract
states them in (support/etl1_oracle.py), on hostile and exhaustive inputs."""

from __future__ import annotations

import random

import duckdb
import pytest

from etl3_assets.lib.etl1.formulas import install_macros
from etl3_assets_tests.support import etl1_oracle as oracle


@pytest.fixture(scope="module")
def con():
    con = duckdb.connect()
    install_macros(con)
    return con


def _map(con, macro: str, values: list, sql_type: str = "VARCHAR") -> list:
    rows = con.execute(
        f"SELECT {macro}(v) FROM (SELECT unnest(?::{sql_type}[]) AS v, generate_subscripts(?::{sql_type}[], 1) AS i) ORDER BY i",
        [values, values],
    ).fetchall()
    return [r[0] for r in rows]


def test_payer_slug_equals_python_for_every_character(con):
    # every code point of the first three planes, embedded between letters and alone
    chars = [chr(i) for i in range(0x30000) if not 0xD800 <= i < 0xE000]
    values = [f"A{c}b" for c in chars] + chars + [None, "", "  Aetna Life & Casualty, Inc.  ", "İSTANBUL Kelvin K"]
    assert _map(con, "etl1_slug", values) == [oracle.payer_slug(v) for v in values]


def test_year_month_equals_python_strptime(con):
    rng = random.Random(3)
    alphabet = "0123456789-/ "
    values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(4, 11))) for _ in range(20_000)]
    values += [f"{y}{sep}{m}{sep}{d}" for y in ("2024", "2025", "0000", "0001", "9999") for sep in "-/"
               for m in ("1", "01", "12", "13", "00", "2") for d in ("", "1", " 1", "29", "30", "31", "00", "010")]
    values += ["2025-07-01", "20240229", "20250229", "2025111", "2025110", "2025123", "202513", "20251", None, ""]
    assert _map(con, "etl1_year_month", values) == [oracle.year_month(v) for v in values]


def test_pos_members_from_text_and_list_equal_python(con):
    texts = ["['02', '05']", '["11","22"]', "[]", "", None, "{02; 05|11}", "('l', 'n', 'u')", "02,\u00a005\u3000 11",
             "a\x1cb\x85c", "[[['x']]]", "'05' '02' '02'", ";;,|", "é, e, É"]
    assert _map(con, "etl1_pos_from_text", texts) == [oracle.pos_members(t) for t in texts]
    lists = [["02", "05"], [" 11 ", "22", "22"], [], None, ["", None, "a|b"], ["\u200a09\u3000"], ["b", "a", "é", "e"]]
    got = _map(con, "etl1_pos_from_list", lists, "VARCHAR[]")
    assert got == [oracle.pos_members(v) for v in lists]
    ids = con.execute("SELECT etl1_pos_set_id(?::VARCHAR[])", [["02", "05"]]).fetchone()[0]
    assert ids == oracle.md5("02|05")
    assert con.execute("SELECT etl1_pos_set_id([]::VARCHAR[])").fetchone()[0] == oracle.md5("")


def test_rate_text_equals_python_format(con):
    rng = random.Random(9)
    values = [m * 10.0**e for e in range(-12, 309) for m in (1.0, 1.2345678901234567, -9.87654321) if m * 10.0**e != float("inf")]
    values += [rng.randint(0, 10**8) / 10**5 + 0.00005 for _ in range(20_000)]
    values += [round(rng.uniform(0, 1e4), 5) for _ in range(20_000)]
    values += [0.0, -0.0, 0.00005, 2.675, 1e-320, float("nan"), float("inf"), float("-inf"), None, 1.7976931348623157e308]
    assert _map(con, "etl1_rate_text", values, "DOUBLE") == [oracle.rate_text(v) for v in values]


def test_pg_uid_and_null_parts(con):
    got = con.execute("SELECT etl1_pg_uid('aetna', NULL, 42::BIGINT), etl1_pg_uid('', '1.0', NULL)").fetchone()
    assert got == (oracle.pg_uid("aetna", None, 42), oracle.pg_uid("", "1.0", None))
