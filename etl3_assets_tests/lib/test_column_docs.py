"""Every column has its one-line description: every column of the contract's schemas in
code, and every column CONTRACT.md's sections 1 and 2 name (read from the file); every
enriched column's lineage points at ETL1 columns the code's contract has."""

from __future__ import annotations

import re

import pytest

from etl3_assets.lib.column_docs import COLUMN_DESCRIPTIONS, ENRICHED_LINEAGE, describe, lineage
from etl3_assets.lib.contract import ENRICHED_SCHEMA, ETL1_TABLES, PARTITION_KEY_NAMES
from etl3_assets_tests.support import REPO

CONTRACT = REPO.parent / "shared" / "CONTRACT.md"


def _contract_section(number: int) -> str:
    assert CONTRACT.is_file(), f"the data contract is expected at {CONTRACT} (README: ../shared/CONTRACT.md)"
    text = CONTRACT.read_text()
    start = text.index(f"\n## {number}.")
    return text[start : text.index("\n## ", start + 1)]


def _names(cell: str) -> list[str]:
    """Column names of a table cell: parenthesized notes and backticked values dropped."""
    cell = re.sub(r"\([^)]*\)", "", cell)
    return [n.strip() for n in re.split(r"[,;]", cell) if re.fullmatch(r"[a-z][a-z0-9_]*", n.strip())]


def _contract_etl1_columns() -> dict[str, list[str]]:
    rows = re.findall(r"^\| (\w+) \| [^|]+ \| ([^|]+) \|$", _contract_section(1), flags=re.M)
    return {table: _names(cell) for table, cell in rows if table != "table"}


# lower-case values that section 2 writes in backticks beside column names
CONTRACT_VALUES = {"professional", "institutional", "opps", "asc"}


def _contract_enriched_columns() -> set[str]:
    """The enriched fields of section 2's tables and every column it names in backticks."""
    section = _contract_section(2)
    names = set()
    for cell in re.findall(r"^\| ([^|]+) \| [^|]+ \|", section, flags=re.M):
        names |= set(_names(cell)) - {"field", "enriched"}
    names |= set(re.findall(r"`([a-z][a-z0-9_]*)`", section))
    return names - CONTRACT_VALUES


def test_the_contract_file_is_parsed_into_its_tables():
    tables = _contract_etl1_columns()
    assert len(tables) >= 12 and "negotiated_rate" in tables["fact_rate"] and "tin_value" in tables["xref_pg_member_tin"]
    assert {"tin_type", "provider_group_npi_count", "benchmark_year_month", "rate_to_medicare_ratio"} <= _contract_enriched_columns()


@pytest.mark.parametrize("table", sorted(_contract_etl1_columns()) if CONTRACT.is_file() else ["(no contract)"])
def test_every_column_of_contract_section_1_is_described(table):
    for column in _contract_etl1_columns()[table]:
        assert describe(column, table), (table, column)


def test_every_column_of_contract_section_2_is_described():
    missing = sorted(c for c in _contract_enriched_columns() if c not in COLUMN_DESCRIPTIONS)
    assert not missing, missing


def test_every_column_of_the_schemas_in_code_is_described_in_one_line():
    columns = [(t.name, c) for t in ETL1_TABLES for c in t.schema]
    columns += [(None, c) for c in [*ENRICHED_SCHEMA, *PARTITION_KEY_NAMES]]
    for table, column in columns:
        text = describe(column, table)
        assert text and "\n" not in text and len(text) <= 160, (table, column, text)


def test_every_enriched_column_has_lineage_to_columns_the_etl1_schemas_have():
    schemas = {t.name: t.schema for t in ETL1_TABLES}
    for column in [*ENRICHED_SCHEMA, "taxonomy"]:
        found = lineage(column, schemas)
        assert found, f"{column}: no ETL1 column of the code's contract"
        assert all(source in schemas[table] for table, source in found), (column, found)
    assert set(ENRICHED_SCHEMA) <= set(ENRICHED_LINEAGE)
