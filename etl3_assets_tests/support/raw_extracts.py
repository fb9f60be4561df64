"""Hostile raw extracts (CONTRACT §5) for the ETL1 tests, written with pyarrow in the
storage variants real extractors produce: service_codes as text or List[String],
dictionary strings, large strings, Int32 ids, Float32 rates, extra columns.

``hostile_batches`` writes the batches the oracle tests apply in order: a first payer,
a second payer, a later month of the first payer (same provider groups with new members,
a code re-described), each with repeated rows and the values real files contain.
"""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

NAMES = {
    "aetna": "Aetna Life & Casualty (CT), Inc. / \"Open\" 100% = ÉTÉ",
    "cigna": "  CIGNA Health-&-Life  İnsurance Co.  ",
}
DATES = [
    "2025-07-01", "2025/07/15", "2025-07", "2025/7", "20250731", "202507", "2025-7-4", "2025-07- 4",
    "2025-02-30", "0000-07-01", "2025-07-01T00:00:00", " 2025-07-01", "", None, "July 2025", "2025-13-01",
]
SERVICE_TEXTS = ["['02', '05']", "[\"11\",\"22\"]", "[]", "", None, "{02; 05|11}", "('l', 'n', 'u')", "['05','02','02']", "02,\u00a005\u3000 11"]
SERVICE_LISTS = [["02", "05"], [" 11 ", "22", "22"], [], None, ["", None, "a|b"], ["a", "b"], ["\u200a09"]]
RATES = [0.0, 12.5, 0.00005, 1.00005, 2.675, 123456.78915, -0.00001, 1e20, 1e60, None, 99.99994999, 3.3333333]
TEXTS = ["", None, "a, b", "x/y=z%", "quote's \"q\"", "naïve café", "tab\there", "9999-12-31", "fee schedule"]


def _rates_rows(rng: random.Random, payer: str, month: str, groups: range, codes: list[tuple], n: int) -> list[dict]:
    rows = []
    for i in range(n):
        code_type, code, description = rng.choice(codes)
        rows.append({
            "provider_reference_id": rng.choice(list(groups)) if i % 17 else None,
            "negotiated_rate": rng.choice(RATES) if i % 3 == 0 else round(rng.uniform(0, 5000), rng.choice([2, 4, 6])),
            "negotiated_type": rng.choice(["negotiated", "fee schedule", "", None]),
            "billing_class": rng.choice(["professional", "institutional", "", None]),
            "expiration_date": rng.choice(["9999-12-31", "2026-12-31", "", None]),
            "billing_code": code,
            "billing_code_type": code_type,
            "description": description,
            "name": rng.choice(TEXTS),
            "negotiation_arrangement": rng.choice(["ffs", "bundle", ""]),
            # two spellings of the name share one slug (and so their provider groups)
            "reporting_entity_name": NAMES[payer] if i % 7 else NAMES[payer].upper(),
            "reporting_entity_type": "health insurance issuer",
            "last_updated_on": rng.choice([f"{month[:4]}-{month[4:]}-01"] * 6 + DATES),
            "version": rng.choice(["1.0.0", "1.0.0", None]),
        })
    rows += rows[: n // 5]  # rows repeat
    return rows


def _providers_rows(rng: random.Random, payer: str, groups: range, npis: list[str]) -> list[dict]:
    rows = []
    for group in groups:
        for _ in range(rng.randint(0, 4)):
            rows.append({
                "provider_group_id": group,
                "npi": rng.choice([*npis, "0", "", None]),
                "tin_type": rng.choice(["ein", "npi", "", None]),
                "tin_value": rng.choice(["12-3456789", "98-7654321", f"{group:09d}", "", None]),
                "reporting_entity_name": NAMES[payer],
                "reporting_entity_type": "health insurance issuer",
                "last_updated_on": "2025-07-01",
                "version": "1.0.0",
            })
    rows.append({**rows[0]})  # repeated row
    rows.append({**rows[0], "provider_group_id": None})
    return rows


def write_batch(
    raw_root: Path, stem: str, rates: list[dict], providers: list[dict], *, service_codes: list,
    variant: str = "plain",
) -> None:
    """Both files of a batch. ``variant``: ``plain`` (string, int64, float64),
    ``dictionary`` (dictionary strings, Int32 ids, Float32-exact rates kept Float64),
    ``large`` (large strings, service codes as List[String], extra columns)."""
    raw_root.mkdir(parents=True, exist_ok=True)
    rates = [{**r, "service_codes": s} for r, s in zip(rates, service_codes)]
    rates_table = pa.Table.from_pylist(rates)
    providers_table = pa.Table.from_pylist(providers)
    rates_table = _cast(rates_table, variant)
    providers_table = _cast(providers_table, variant)
    if variant == "large":
        rates_table = rates_table.append_column("billing_code_modifier", pa.array([["25"]] * len(rates_table)))
        rates_table = rates_table.append_column("plan_name", pa.array(["x"] * len(rates_table)))
    pq.write_table(rates_table, raw_root / f"{stem}_rates.parquet", row_group_size=97)
    pq.write_table(providers_table, raw_root / f"{stem}_providers.parquet")


def _cast(table: pa.Table, variant: str) -> pa.Table:
    columns = []
    for name in table.column_names:
        column = table[name]
        if pa.types.is_string(column.type) or pa.types.is_null(column.type):
            if variant == "dictionary":
                column = column.cast(pa.string()).dictionary_encode()
            elif variant == "large":
                column = column.cast(pa.large_string())
            else:
                column = column.cast(pa.string())
        elif pa.types.is_integer(column.type) and variant == "dictionary":
            column = column.cast(pa.int32())
        elif pa.types.is_list(column.type) and variant == "large":
            column = column.cast(pa.list_(pa.large_string()))
        columns.append(column)
    return pa.Table.from_arrays(columns, names=table.column_names)


CODES_FIRST = [("CPT", "99213", "Office visit, est."), ("CPT", "99214", None), ("HCPCS", "J3490", "Drug / unclassified"),
               ("RC", "0450", "Emergency room"), (None, "X1", "no type"), ("CPT", None, "no code"), ("CPT", "", "empty code")]
CODES_LATER = [("CPT", "99213", "Office visit, RE-DESCRIBED"), ("CPT", "99215", "Office visit, high"), ("RC", "0450", "ER 2")]


def hostile_batches(raw_root: Path, seed: int = 5, rows: int = 300) -> list[str]:
    """Writes the oracle tests' batches; returns their stems in the order to apply them."""
    rng = random.Random(seed)
    npis = [f"{1000000000 + i * 7919:010d}" for i in range(40)]
    batches = [
        ("202507_aetna_ga", "aetna", "202507", range(1, 30), CODES_FIRST, "dictionary", SERVICE_TEXTS),
        ("202507_cigna_nc", "cigna", "202507", range(1, 20), CODES_FIRST, "large", SERVICE_LISTS),
        ("202508_aetna_ga", "aetna", "202508", range(10, 40), CODES_LATER + CODES_FIRST, "plain", SERVICE_TEXTS),
    ]
    for stem, payer, month, groups, codes, variant, services in batches:
        rates = _rates_rows(rng, payer, month, groups, codes, rows)
        providers = _providers_rows(rng, payer, groups, npis[: 25 if month == "202507" else 40])
        write_batch(
            raw_root, stem, rates, providers, service_codes=[rng.choice(services) for _ in rates], variant=variant
        )
    return [b[0] for b in batches]
