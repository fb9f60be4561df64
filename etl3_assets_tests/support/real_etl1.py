"""Hostile ETL1 output in the real layout (CONTRACT §1), written with pyarrow alone.

Independent of the project's sample-data generator: the tables are built here from the
contract's description of what the real ETL1 writes, with every item of §1's list of
what real output contains (fact rows with an empty year_month, npi ``0`` for TIN-level
groups, placeholder ``dim_npi`` rows, geolocation only for LOCATION addresses, ``[]``
and ``["l","n","u"]`` pos_members, three stacked benchmark tables with their own
code_type labels and several effective months, one after a fact month, 0.0 rates and
benchmarks, ``9999-12-31`` and empty expiration dates, ``Office/ outpatient services``,
CSA market areas), extra columns of odd types (timestamps, booleans, an all-null Null
column), NaN for missing numbers in the reference tables, hostile values (spaces,
commas, slashes, ``=``, ``%``, quotes, non-ASCII, control characters, null and empty
string) reaching every partition column, dangling foreign keys, several addresses per
NPI, several NPIs and TINs per group, and ties. Columns are stored in several lossless
ways (dictionary, large and view strings, Int32, Float32, the Null type).

``write_previous_layout`` writes the same data as the previous contract laid it out
(TINs on the provider group, ``procedure_*`` in dim_code_cat, one benchmark row per
(state, code_type, code)): bad input now. ``write_rows`` writes tiny hand-made tables
(the oracle's own tests).
"""

from __future__ import annotations

import hashlib
import math
import random
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

MONTHS = ("2025-07", "2025-08")
EMPTY_MONTH_ROWS = 7  # fact rows with year_month "" (they belong to no month)
NAN = math.nan
STAMP = datetime(2025, 9, 1, 12, 30, tzinfo=timezone.utc)


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


# --- payers (payer_slug partition: hostile, empty; facts add null and a dangling slug) ---
PAYERS = [
    ("aetna-life", "Aetna Life Insurance Company"),
    ("blue cross, blue/shield=ga 100%", 'Blue Cross, Blue/Shield = GA "100%"'),
    ("q'u\"ote-zürich-東京 #1?", "Zürich 東京 Health, Inc."),
    ("", None),
]
FACT_PAYERS = [p for p, _ in PAYERS] + [None, "dangling-payer"]

# --- states (fact.state partition; GA and TX have benchmarks) ---
FACT_STATES = ["GA", "TX", "GA", "TX", "", None, "Nuevo León, MX", "N/A=50%", ".", "a/../b", "O'Higgins \"Región\""]
BILLING = [
    "professional", "institutional", "", None, "ambulatory, surgical/ctr 'asc'", "tab\there",
    "ambulant=ärztlich \"50%\"", "Professional",  # not `professional`: no benchmark
]

# --- codes: (code_type, code); the same code under two types; dangling ones ---
CODES = [
    ("CPT", "99213"), ("CPT", "99214"), ("HCPCS", "G0008"), ("CPT", "27447"), ("RC", "0450"),
    ("HCPCS", "99213"), ("CPT", "0001U"), ("MS-DRG", "470"), ("CPT", "99215"), (None, "99213"),
    ("CPT", None), ("cpt", "99213"),  # not `CPT`: no benchmark
]
BENCH_CODES = ["99213", "99214", "G0008", "27447", "0450", "0001U"]
DIM_CODE = [
    ("CPT", "99213", "Office visit, est. patient, 20-29 min", "Office/outpatient visit est"),
    ("CPT", "99214", 'Office visit "moderate" / 30-39 min', "Office/outpatient visit est"),
    ("HCPCS", "G0008", "Admin influenza virus vac", None),
    ("CPT", "27447", "Total knee arthroplasty; 100% = both", "Arthroplasty, knee"),
    ("RC", "0450", "Emergency room – général", "ER"),
    ("HCPCS", "99213", "Same code, other type", "dup label"),
    ("CPT", "0001U", None, None),
    ("MS-DRG", "470", "Major hip/knee joint replacement", ""),
]
# proc_cd -> (proc_set, proc_class, proc_group): hostile, empty and null values
DIM_CODE_CAT = [
    ("99213", "Evaluation and Management", "Office/ outpatient services", "New/ established patient"),
    ("99214", "E&M, Office / visits=50%", "Office/ outpatient services", "Established"),
    ("G0008", "Procedures", "", "Immunization"),
    ("27447", "Procedures", 'Major procedure, "knee" / \'hip\'', "Orthopedic"),
    ("0450", "", None, None),
    ("0001U", None, "Minor procedures = 100% – ünder", "Lab"),
    ("470", "Ärztliche 'Leistung' \"#1\" ?", "Hospital: inpatient {DRG} [x]^", "DRG"),
    ("99999", "line\nbreak", "..", "unused"),
]

# --- NPIs: (npi, dim_npi row or "placeholder" or None) ---
N = {i: f"10000000{i:02d}" for i in range(1, 10)}
NO_ROW_NPI = "1999999999"


def _npi_row(npi, first, last, org, etype, tax, sole):
    return {
        "npi": npi, "first_name": first, "last_name": last, "organization_name": org,
        "enumeration_type": etype, "status": "A", "primary_taxonomy_code": tax,
        "primary_taxonomy_desc": None if tax is None else f"Taxonomy of {tax}",
        "primary_taxonomy_state": "GA", "primary_taxonomy_license": "L-1, \"x\"",
        "credential": "M.D.", "sole_proprietor": sole, "enumeration_date": "2010-05-01",
        "last_updated": "2024-12-31",
    }


DIM_NPI = [
    _npi_row(N[1], "Ana", "O'Neil", None, "NPI-1", "207Q00000X", "YES"),
    _npi_row(N[2], None, None, "Clínica Ñandú, LLC", "NPI-2", "208D0/0000X=%", None),
    {"npi": N[3]},  # placeholder: not fetched from NPPES yet
    _npi_row(N[5], "Bo", "Li", None, "NPI-1", "", "NO"),
    _npi_row(N[6], None, None, "Zürich – 東京 Care", None, "Zürich–東京, tax", "YES"),
    _npi_row(N[7], "Cy", "Doe", None, "NPI-1", "207Q00000X", "X"),
    _npi_row(N[8], "Di", "Roe", None, "NPI-2", "q'u\"o`te tax", "NO"),
    {"npi": N[9]},  # placeholder, not in any group
]

# --- addresses: (npi, purpose, hash, state, city); several per NPI, ties on purpose ---
ADDRESSES = [
    (N[1], "LOCATION", "b2", "GA", "Atlanta"),
    (N[1], "LOCATION", "a1", "GA", "Decatur"),  # LOCATION tie: smallest hash wins
    (N[1], "MAILING", "00", "GA", "PO Box"),
    (N[2], "MAILING", "m2", "TX", "Austin"),
    (N[2], "MAILING", "m1", "TX", "Dallas"),  # no LOCATION: smallest MAILING hash
    (N[3], "LOCATION", "c1", "GA", "Macon"),
    (N[4], "LOCATION", "d1", "TX", "El Paso"),
    (N[5], "MAILING", "e0", "GA", "Athens"),
    (N[5], "LOCATION", "e1", "GA", "Athens"),  # LOCATION beats a smaller MAILING hash
    (N[7], "LOCATION", "f1", "TX", "Fort Worth"),
    (N[7], "MAILING", "f1", "TX", "Fort Worth"),  # the same address under both purposes
    (N[8], "LOCATION", "g1", "G/A", "Zürich, \"Süd\""),
]
# --- geolocation: only LOCATION addresses; (npi, hash, stat_area_name, county, lat, lon) ---
ATLANTA_CSA = "Atlanta--Athens-Clarke County--Sandy Springs, GA-AL CSA"
GEO = [
    (N[1], "a1", ATLANTA_CSA, "DeKalb County", 33.77, -84.29),
    (N[1], "b2", "Never chosen, GA MSA", "Fulton County", 33.75, -84.39),
    (N[3], "c1", None, None, NAN, NAN),  # a match lacking fields: fills; NaN is null
    (N[4], "d1", "", "", 31.76, -106.49),  # empty stat_area_name reaches a partition
    (N[5], "e1", "Zürich / \"Metro\" = 100% ; 'x'", "Clarke County", 33.95, NAN),
    (N[7], "f1", "Dallas-Fort Worth, TX-OK CSA", "Tarrant County", 32.75, -97.33),
    (N[8], "g1", "..", "Cobb County", 0.0, 0.0),
    (N[9], "zz", "Dangling, no address", "X", 1.0, 1.0),
]

# --- provider groups: (pg name, [npi...], [(tin_type, tin_value)...], in dim_provider_group) ---
GROUPS = [
    ("g1", [N[7], N[1], N[3]], [("ein", "987654321"), ("npi", N[1]), ("ein", "123456789")], True),
    ("g2", ["0"], [("ein", "555000111")], True),  # TIN-level contract: no NPI
    ("g3", ["0", N[5], N[2]], [], True),
    ("g4", [], [], True),
    ("g5", [N[3]], [("npi", N[3])], True),
    ("g6", [N[6], N[4]], [(None, "111"), ("ein", "222")], True),
    ("g7", [N[8]], [("ein", "12-3456789"), ("", "")], True),  # an empty TIN is the smallest
    ("g8", [N[6]], [("ein", "777")], True),
    ("g9", [N[7]], [("ein", "999")], False),  # dangling: members but no dim row
    ("g11", [NO_ROW_NPI], [], True),
    ("g12", [N[5]], [("ein", "5")], True),
]
FACT_GROUPS = [md5(g) for g, *_ in GROUPS] + [md5("g10-dangling"), None]

POS_SETS = [("p1", ["11", "22"]), ("p2", []), ("p3", ["l", "n", "u"]), ("p4", None), ("p5", ["02", "05"])]
FACT_POS = [md5(p) for p, _ in POS_SETS] + [md5("p-dangling"), None]

NEGOTIATED_TYPES = ["negotiated", "fee schedule", "percentage"]
ARRANGEMENTS = ["ffs", "bundle", None]
EXPIRATIONS = ["9999-12-31", "", None, "2026-06-30"]
RATES = [0.0, 12.5, 75.31, 120.0, 1500.75, None, 99.99, 0.01, 250000.0]


def _bench_rows() -> list[dict]:
    """Three benchmark tables stacked: each row fills its own type's columns; the other
    types' columns are NaN (as pandas writes them) or null."""
    rows = []
    filler = [NAN, None]

    def add(state, ym, btype, code, values, si=None, pi=None, k=0):
        row = {"state": state, "year_month": ym, "benchmark_type": btype, "code": code,
               "code_type": {"professional": "CPT", "opps": "HCPCS", "asc": "CPT"}[btype],
               "opps_si": si, "asc_pi": pi}
        for col in ("medicare_prof_national", "medicare_prof_stateavg", "medicare_opps_national",
                    "medicare_opps_stateavg", "medicare_asc_national", "medicare_asc_stateavg",
                    "work_rvu", "practice_expense_rvu", "malpractice_rvu", "total_rvu",
                    "conversion_factor", "opps_weight"):
            row[col] = values.get(col, filler[k % 2])
        rows.append(row)

    for k, (state, code) in enumerate((s, c) for s in ("GA", "TX") for c in BENCH_CODES):
        base = 40.0 + 10 * k
        for ym, scale in (("2024-01", 0.9), ("2025-01", 1.0)):
            if code != "0001U":
                add(state, ym, "professional", code, {
                    "medicare_prof_national": base * scale, "medicare_prof_stateavg": base * scale * 1.1,
                    "work_rvu": 1.3, "practice_expense_rvu": 1.1, "malpractice_rvu": 0.1,
                    "total_rvu": 2.5, "conversion_factor": 32.3465,
                }, k=k)
                add(state, ym, "opps", code, {
                    "medicare_opps_national": base * 3 * scale, "medicare_opps_stateavg": base * 3.2 * scale,
                    "opps_weight": 1.75,
                }, si="J1" if k % 2 else "T", k=k + 1)
            if k % 3 != 1:
                add(state, ym, "asc", code, {
                    "medicare_asc_national": base * 2 * scale, "medicare_asc_stateavg": base * 2.1 * scale,
                }, pi="A2" if k % 2 else "G2", k=k)
    # took effect in a fact month: applies to 2025-08 facts, not to 2025-07 ones
    add("GA", "2025-08", "professional", "99213", {
        "medicare_prof_national": 81.0, "medicare_prof_stateavg": 85.5, "work_rvu": 1.4,
        "total_rvu": 2.6, "conversion_factor": 33.0,
    })
    add("GA", "2025-08", "opps", "27447", {"medicare_opps_national": 9000.0, "medicare_opps_stateavg": 9100.0}, si="J1")
    add("GA", "2025-08", "asc", "27447", {"medicare_asc_national": 7000.0, "medicare_asc_stateavg": 7100.0}, pi="J8")
    # takes effect after every fact month: never applies
    add("TX", "2026-01", "professional", "99214", {"medicare_prof_national": 1.0, "medicare_prof_stateavg": 1.0})
    add("GA", "2026-01", "asc", "G0008", {"medicare_asc_national": 2.0, "medicare_asc_stateavg": 2.0}, pi="Z9")
    add("TX", "2026-01", "professional", "0001U", {"medicare_prof_national": 3.0, "medicare_prof_stateavg": 3.0})
    # a missing relative value is 0: benchmarks of 0.0
    add("TX", "2025-06", "professional", "G0008", {
        "medicare_prof_national": 0.0, "medicare_prof_stateavg": 0.0, "work_rvu": 0.0,
        "practice_expense_rvu": 0.0, "malpractice_rvu": 0.0, "total_rvu": 0.0, "conversion_factor": 32.3465,
    })
    # a missing state average (NaN): no ratio, no is_above_medicare
    add("TX", "2025-07", "professional", "27447", {"medicare_prof_national": 1400.0, "medicare_prof_stateavg": NAN})
    # hostile states
    add("N/A=50%", "2025-01", "professional", "99213", {"medicare_prof_national": 50.0, "medicare_prof_stateavg": 55.0})
    rows[-1]["code_type"] = None  # the label is not matched on: it may even be missing
    add("Nuevo León, MX", "2025-01", "opps", "99214", {"medicare_opps_national": 70.0, "medicare_opps_stateavg": 71.0})
    return rows


def _fact_rows(months, rows_per_month: int, seed: int) -> list[dict]:
    rnd = random.Random(seed)
    rows = []

    def fact(ym, i, state, billing, code_type, code):
        rate = rnd.choice(RATES)
        row = {
            "state": state, "year_month": ym, "payer_slug": rnd.choice(FACT_PAYERS),
            "billing_class": billing, "code_type": code_type, "code": code,
            "pg_uid": rnd.choice(FACT_GROUPS), "pos_set_id": rnd.choice(FACT_POS),
            "negotiated_type": rnd.choice(NEGOTIATED_TYPES), "negotiation_arrangement": rnd.choice(ARRANGEMENTS),
            "expiration_date": rnd.choice(EXPIRATIONS), "negotiated_rate": rate,
        }
        row["fact_uid"] = md5(f"{ym}|{i}|{row}")
        rows.append(row)

    for ym in months:
        i = 0
        # every benchmark case: GA/TX x professional/institutional x the benchmark codes
        for state in ("GA", "TX"):
            for billing in ("professional", "institutional"):
                for code_type, code in CODES[:7]:
                    fact(ym, i, state, billing, code_type, code)
                    i += 1
        # benchmarks of hostile states
        for state, billing, code in (("N/A=50%", "professional", "99213"), ("Nuevo León, MX", "institutional", "99214")):
            fact(ym, i, state, billing, "CPT", code)
            i += 1
        while i < rows_per_month:
            fact(ym, i, rnd.choice(FACT_STATES), rnd.choice(BILLING), *rnd.choice(CODES))
            i += 1
    for i in range(EMPTY_MONTH_ROWS):  # source file date not parsed
        fact("", i, rnd.choice(FACT_STATES), rnd.choice(BILLING), *rnd.choice(CODES))
    return rows


def _dictionary(values) -> pa.Array:
    return pa.array(values, pa.string()).dictionary_encode()


def _stamps(n: int, unit: str = "us", tz: str | None = "UTC") -> pa.Array:
    return pa.array([STAMP] * n, pa.timestamp(unit, tz=tz))


def _strings(rows: list[dict], columns, type_=pa.string()) -> dict[str, pa.Array]:
    return {c: pa.array([r.get(c) for r in rows], type_) for c in columns}


def real_etl1_tables(months=MONTHS, rows_per_month: int = 120, seed: int = 19) -> dict[str, pa.Table]:
    """The §1 tables (name -> arrow table), in the storage variants described above."""
    facts = _fact_rows(months, rows_per_month, seed)
    n = len(facts)
    fact_cols = ["fact_uid", "state", "year_month", "payer_slug", "billing_class", "code_type", "code",
                 "pg_uid", "pos_set_id", "negotiated_type", "negotiation_arrangement", "expiration_date"]
    fact = {
        **_strings(facts, fact_cols),
        "negotiated_rate": pa.array([r["negotiated_rate"] for r in facts], pa.float64()),
    }
    fact["fact_uid"] = pa.array([r["fact_uid"] for r in facts], pa.large_string())
    for c in ("payer_slug", "state", "billing_class"):
        fact[c] = _dictionary([r[c] for r in facts])
    fact["code"] = pa.array([r["code"] for r in facts], pa.string_view())
    fact_extra = {
        "version": pa.array(["1.0.0"] * n),
        "provider_group_id_raw": pa.array(range(n), pa.int64()),
        "reporting_entity_name": pa.array(["Some Entity, Inc."] * n),
        "created_at": _stamps(n),
        "is_latest": pa.array([i % 2 == 0 for i in range(n)]),
        "modifier": pa.nulls(n, pa.null()),
    }
    # extra columns first: column order is free
    tables = {"fact_rate": pa.table({**fact_extra, **fact})}

    tables["dim_payer"] = pa.table({
        "payer_slug": [p for p, _ in PAYERS], "reporting_entity_name": [e for _, e in PAYERS],
        "version": ["1.0.0"] * len(PAYERS), "created_date": _stamps(len(PAYERS), "ns", None),
    })
    tables["dim_code"] = pa.table({
        c: pa.array([row[i] for row in DIM_CODE], pa.large_string())
        for i, c in enumerate(("code_type", "code", "code_description", "code_name"))
    })
    tables["dim_code_cat"] = pa.table({
        **{c: [row[i] for row in DIM_CODE_CAT] for i, c in enumerate(("proc_cd", "proc_set", "proc_class", "proc_group"))},
        "betos_version": pa.array([2024] * len(DIM_CODE_CAT), pa.int16()),
    })
    in_dim = [g for g in GROUPS if g[3]]
    tables["dim_provider_group"] = pa.table({
        "provider_group_id_raw": pa.array([100 + i for i in range(len(in_dim))], pa.int32()),
        "pg_uid": [md5(g[0]) for g in in_dim],
        "payer_slug": [PAYERS[i % len(PAYERS)][0] for i in range(len(in_dim))],
        "version": ["1.0.0"] * len(in_dim),
    })
    tables["dim_pos_set"] = pa.table({
        "pos_set_id": [md5(p) for p, _ in POS_SETS],
        "pos_members": pa.array([m for _, m in POS_SETS], pa.list_(pa.string())),
    })
    npi_xref = [(md5(g), npi) for g, npis, _, _ in GROUPS for npi in npis]
    tables["xref_pg_member_npi"] = pa.table({
        "pg_uid": _dictionary([p for p, _ in npi_xref]), "npi": [n for _, n in npi_xref],
        "created_date": _stamps(len(npi_xref)),
    })
    tin_xref = [(md5(g), t, v) for g, _, tins, _ in GROUPS for t, v in tins]
    tables["xref_pg_member_tin"] = pa.table({
        "pg_uid": [p for p, _, _ in tin_xref], "tin_type": [t for _, t, _ in tin_xref],
        "tin_value": [v for _, _, v in tin_xref], "version": ["1.0.0"] * len(tin_xref),
    })
    npi_cols = ["npi", "first_name", "last_name", "organization_name", "enumeration_type", "status",
                "primary_taxonomy_code", "primary_taxonomy_desc", "primary_taxonomy_state",
                "primary_taxonomy_license", "credential", "sole_proprietor", "enumeration_date", "last_updated"]
    tables["dim_npi"] = pa.table({
        **_strings(DIM_NPI, npi_cols),
        "replacement_npi": pa.nulls(len(DIM_NPI), pa.null()),
        "nppes_fetched": pa.array([len(r) > 1 for r in DIM_NPI]),
        "created_date": _stamps(len(DIM_NPI), "ms"),
    })
    addresses = [
        {"npi": npi, "address_purpose": purpose, "address_hash": h, "state": st, "city": city,
         "address_type": "DOM", "address_1": f"{h.upper()} Peachtree St, Suite 1/2", "address_2": None,
         "postal_code": "30303", "country_code": "US", "telephone_number": "404-555-0100"}
        for npi, purpose, h, st, city in ADDRESSES
    ]
    addr_cols = ["npi", "address_purpose", "address_type", "address_1", "address_2", "city", "state",
                 "postal_code", "country_code", "telephone_number", "address_hash"]
    tables["dim_npi_address"] = pa.table({
        **_strings(addresses, addr_cols),
        "fax_number": pa.nulls(len(addresses), pa.null()),  # an all-null contract column
        "created_date": _stamps(len(addresses)),
    })
    tables["dim_npi_address_geolocation"] = pa.table({
        "npi": [g[0] for g in GEO], "address_hash": [g[1] for g in GEO],
        "matched_address": [None if g[2] is None else f"{g[1]} MATCHED ST, GA" for g in GEO],
        "county_name": [g[3] for g in GEO],
        "county_fips": [None if g[3] is None else ("" if g[3] == "" else "13089") for g in GEO],
        "stat_area_name": [g[2] for g in GEO],
        "stat_area_code": [None if g[2] is None else "122" for g in GEO],
        "latitude": pa.array([g[4] for g in GEO], pa.float64()),
        "longitude": pa.array([g[5] for g in GEO], pa.float64()),
        "geocoded_at": _stamps(len(GEO)),
    })
    bench = _bench_rows()
    bench_table = pa.Table.from_pylist(bench)
    cf = bench_table.column_names.index("conversion_factor")
    bench_table = bench_table.set_column(
        cf, "conversion_factor", bench_table.column(cf).cast(pa.float32())
    ).append_column("created_at", _stamps(len(bench)))
    tables["bench_medicare_comprehensive"] = bench_table
    return tables


FILES = {
    "fact_rate": "gold", "xref_pg_member_npi": "xrefs", "xref_pg_member_tin": "xrefs",
}


def write_tables(root: Path, tables: dict[str, pa.Table]) -> Path:
    root = Path(root)
    for name, table in tables.items():
        path = root / FILES.get(name, "dims") / f"{name}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)
    return root


def write_real_etl1(root: Path, months=MONTHS, rows_per_month: int = 120, seed: int = 19) -> Path:
    """The hostile real-layout ETL1 output under ``root``."""
    return write_tables(root, real_etl1_tables(months, rows_per_month, seed))


# Of the real layout, what the previous contract's layout lacks (table -> columns; None:
# the whole table).
MISSING_IN_PREVIOUS_LAYOUT = {
    "xref_pg_member_tin": None,
    "dim_code_cat": ("proc_set", "proc_class", "proc_group"),
    "bench_medicare_comprehensive": (
        "year_month", "medicare_prof_national", "medicare_prof_stateavg", "medicare_opps_national",
        "medicare_opps_stateavg", "medicare_asc_national", "medicare_asc_stateavg",
    ),
}


def write_previous_layout(root: Path, months=MONTHS, rows_per_month: int = 60, seed: int = 19) -> Path:
    """The same data as the previous contract laid it out (bad input now)."""
    tables = real_etl1_tables(months, rows_per_month, seed)
    tins = tables.pop("xref_pg_member_tin").to_pylist()
    first_tin = {}
    for row in sorted(tins, key=lambda r: r["tin_value"]):
        first_tin.setdefault(row["pg_uid"], row)
    pg = tables["dim_provider_group"]
    tables["dim_provider_group"] = pg.append_column(
        "tin_type", pa.array([first_tin.get(u, {}).get("tin_type") for u in pg.column("pg_uid").to_pylist()], pa.string())
    ).append_column(
        "tin_value", pa.array([first_tin.get(u, {}).get("tin_value") for u in pg.column("pg_uid").to_pylist()], pa.string())
    )
    tables["dim_payer"] = tables["dim_payer"].append_column(
        "reporting_entity_type", pa.array(["health insurance issuer"] * tables["dim_payer"].num_rows)
    )
    tables["dim_code_cat"] = tables["dim_code_cat"].rename_columns(
        {"proc_set": "procedure_set", "proc_class": "procedure_class", "proc_group": "procedure_group"}
    )
    bench = {}
    for row in tables["bench_medicare_comprehensive"].to_pylist():
        prefix = {"professional": "prof", "opps": "opps", "asc": "asc"}[row["benchmark_type"]]
        bench.setdefault((row["state"], row["code_type"], row["code"]), {
            "state": row["state"], "code_type": row["code_type"], "code": row["code"],
            "benchmark_type": row["benchmark_type"], "opps_si": row["opps_si"], "asc_pi": row["asc_pi"],
            "medicare_national_rate": row[f"medicare_{prefix}_national"],
            "medicare_state_rate": row[f"medicare_{prefix}_stateavg"],
            **{c: row[c] for c in ("work_rvu", "practice_expense_rvu", "malpractice_rvu", "total_rvu",
                                   "conversion_factor", "opps_weight")},
        })
    tables["bench_medicare_comprehensive"] = pa.Table.from_pylist(list(bench.values()))
    return write_tables(root, tables)


def write_rows(root: Path, rows: dict[str, list[dict]], types: dict[str, dict[str, pa.DataType]] = {}) -> Path:
    """Tiny hand-made ETL1 output: every §1 table, of the given rows (a table not given is
    empty); contract columns a row leaves out are null. ``types`` stores a column as
    the given arrow type (a storage variant)."""
    from etl3_assets_tests.support.enrichment_oracle import ETL1_COLUMNS  # the §1 column names

    tables = {}
    for name, columns in ETL1_COLUMNS.items():
        given = rows.get(name, [])
        extra = [c for r in given for c in r if c not in columns]
        data = {}
        for c in [*columns, *dict.fromkeys(extra)]:
            values = [r.get(c) for r in given]
            default = pa.list_(pa.string()) if c == "pos_members" else _default_type(values)
            data[c] = pa.array(values, types.get(name, {}).get(c, default))
        tables[name] = pa.table(data)
    return write_tables(root, tables)


def _default_type(values: list) -> pa.DataType:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return pa.bool_()
    if present and all(isinstance(v, float) for v in present):
        return pa.float64()
    if present and all(isinstance(v, int) for v in present):
        return pa.int64()
    return pa.string()
