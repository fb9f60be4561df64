"""The seven tables ETL1 builds from raw batches, computed straight from CONTRACT §5 in
plain Python (row by row, small data): the independent route the engine (DuckDB SQL,
``lib/etl1``) is compared with. Written from the contract's text, not from the engine.

One reading the contract leaves open and that both routes take: the extractor writes a
missing value as ``""``, so an empty ``npi`` or ``tin_value`` is no member (an empty
NPI would fail every month's input check; an empty TIN would count as a TIN).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from etl3_assets.lib.contract import ETL1_BY_NAME, ETL1_EXTRA_COLUMNS

FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y-%m", "%Y/%m", "%Y%m%d", "%Y%m")
KEYS = {
    "fact_rate": ("fact_uid",),
    "dim_payer": ("payer_slug",),
    "dim_code": ("code_type", "code"),
    "dim_provider_group": ("pg_uid",),
    "dim_pos_set": ("pos_set_id",),
    "xref_pg_member_npi": ("pg_uid", "npi"),
    "xref_pg_member_tin": ("pg_uid", "tin_value"),
}


def md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def text(value) -> str:
    return "" if value is None else str(value)


def payer_slug(name: str | None) -> str:
    return re.sub(r"[^a-z0-9]+", "-", (name or "").lower()).strip("-")


def year_month(value: str | None) -> str:
    for fmt in FORMATS:
        try:
            parsed = datetime.strptime(value, fmt)
        except (ValueError, TypeError):
            continue
        return f"{parsed.year:04d}-{parsed.month:02d}"
    return ""


def pos_members(value) -> list[str]:
    if value is None:
        items = []
    elif isinstance(value, str):
        cleaned = value
        for ch in "[]{}()\"'":
            cleaned = cleaned.replace(ch, " ")
        items = re.sub(r"[;,|]+", " ", cleaned).split()
    else:
        items = [item.strip() for item in value if item is not None]
    return sorted({item for item in items if item})


def rate_text(rate: float | None) -> str:
    return "" if rate is None else f"{rate:.4f}"


def pg_uid(slug: str, version, group_id) -> str:
    return md5(f"{slug}|{text(version)}|{text(group_id)}|")


def batch_rows(rates_path: Path, providers_path: Path, state: str) -> dict[str, list[dict]]:
    """Each table's candidate rows from one batch, in file order."""
    out: dict[str, list[dict]] = {name: [] for name in KEYS}
    for r in pq.read_table(rates_path).to_pylist():
        slug = payer_slug(r["reporting_entity_name"])
        uid = pg_uid(slug, r["version"], r["provider_reference_id"])
        members = pos_members(r["service_codes"])
        pos_set_id = md5("|".join(members))
        fact = {
            "state": state, "year_month": year_month(r["last_updated_on"]), "payer_slug": slug,
            "billing_class": r["billing_class"], "code_type": r["billing_code_type"], "code": r["billing_code"],
            "pg_uid": uid, "pos_set_id": pos_set_id, "negotiated_type": r["negotiated_type"],
            "negotiation_arrangement": r["negotiation_arrangement"], "expiration_date": r["expiration_date"],
        }
        parts = [text(v) for v in fact.values()] + [rate_text(r["negotiated_rate"]), text(r["provider_reference_id"])]
        out["fact_rate"].append(
            {"fact_uid": md5("|".join(parts)), **fact, "negotiated_rate": r["negotiated_rate"],
             "provider_group_id_raw": r["provider_reference_id"], "reporting_entity_name": r["reporting_entity_name"],
             "version": r["version"]}
        )
        out["dim_payer"].append(
            {"payer_slug": slug, "reporting_entity_name": r["reporting_entity_name"], "version": r["version"]}
        )
        if r["billing_code_type"] is not None and r["billing_code"] is not None:
            out["dim_code"].append(
                {"code_type": r["billing_code_type"], "code": r["billing_code"],
                 "code_description": r["description"], "code_name": r["name"]}
            )
        out["dim_provider_group"].append(
            {"pg_uid": uid, "payer_slug": slug, "provider_group_id_raw": r["provider_reference_id"], "version": r["version"]}
        )
        out["dim_pos_set"].append({"pos_set_id": pos_set_id, "pos_members": members})
    for p in pq.read_table(providers_path).to_pylist():
        uid = pg_uid(payer_slug(p["reporting_entity_name"]), p["version"], p["provider_group_id"])
        if p["npi"] not in (None, ""):
            out["xref_pg_member_npi"].append({"pg_uid": uid, "npi": p["npi"]})
        if p["tin_value"] not in (None, ""):
            out["xref_pg_member_tin"].append({"pg_uid": uid, "tin_type": p["tin_type"], "tin_value": p["tin_value"]})
    return out


class OracleStarSchema:
    """The seven tables after applying batches in order: first writer wins, within a
    batch and across batches."""

    def __init__(self):
        self.tables: dict[str, dict[tuple, dict]] = {name: {} for name in KEYS}

    def apply(self, raw_root: Path, stem: str) -> dict[str, int]:
        state = stem.rsplit("_", 1)[1].upper()
        rows = batch_rows(raw_root / f"{stem}_rates.parquet", raw_root / f"{stem}_providers.parquet", state)
        gained = {}
        for name, candidates in rows.items():
            table = self.tables[name]
            before = len(table)
            for row in candidates:
                table.setdefault(tuple(row[k] for k in KEYS[name]), row)
            gained[name] = len(table) - before
        return gained

    def rows(self, name: str) -> list[dict]:
        return list(self.tables[name].values())


def assert_tables_equal_oracle(etl1: Path, oracle: OracleStarSchema) -> None:
    for name, key in KEYS.items():
        table = ETL1_BY_NAME[name]
        got = pl.read_parquet(etl1 / table.relative_path)
        columns = [*table.schema, *ETL1_EXTRA_COLUMNS.get(name, {})]
        assert got.columns == columns, name
        expected = pl.DataFrame(oracle.rows(name), schema=got.schema)
        assert got.height == got.select(key).unique().height, f"{name}: key not unique"
        got, expected = (f.sort(list(key), nulls_last=True) for f in (got, expected))
        assert got.equals(expected), f"{name} differs from the oracle"
