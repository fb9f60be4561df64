"""Deterministic sample ETL1 data (CONTRACT.md section 1) with the awkward values real data has.

The files are laid out as the real ETL1 (``workcomp-rates-etl``) writes them: extra columns
of any type (timestamps, booleans, an all-null column), NaN for missing numbers in the
reference tables, placeholder ``dim_npi`` rows, ``npi`` ``0`` for TIN-level contracts,
several TINs per group, fact rows with an empty ``year_month``, ``pos_members`` ``[]`` and
``["l", "n", "u"]``, and the three Medicare benchmarks stacked with two effective months.

Every character Hive percent-encodes, values that already look percent-encoded, padding,
non-ASCII text and nulls reach every partition column of the enriched fact, and every
foreign key dangles somewhere, so the enrichment joins, the partition writer and the
readers are all exercised on them.

How the partition columns are reached: payer_slug, state and billing_class are fact
columns; procedure_set and procedure_class come from dim_code_cat through the fact's code;
taxonomy and stat_area_name come from the primary NPI of the fact's provider group and
that NPI's chosen address.  Fact rows are drawn from a fixed set of row templates (one
value for each of those columns), so partitions are small but hold several rows, and a
few "hot" templates make a few large partitions.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

# the file writer lives in etl1_files; its names stay importable from here
from etl3_assets.devtools.etl1_files import (  # noqa: F401
    as_etl1_writes,
    conform_to_contract,
    etl1_extra_columns,
    write_etl1_table,
)
from etl3_assets.lib.contract import (
    BENCHMARK_RATE_COLUMNS,
    ETL1_BY_NAME,
    ETL1_TABLES,
    FACT_RATE,
    TIN_LEVEL_NPI,
    YEAR_MONTH_PATTERN,
)

DEFAULT_MONTHS = ("2025-07", "2025-08", "2025-09")

# --- Vocabularies. In every partition column the hostile values together hold all of
# `/ , = % # " ' : * ? [ ] { } ^ \`, a tab, DEL, non-ASCII, padding and a fake `%2F`. ---

DIM_PAYERS = (
    ("aetna", "Aetna Life Insurance Company"),
    ("blue cross/blue shield, ga", "Blue Cross & Blue Shield of Georgia, Inc."),
    ('cigna "open access" #2', 'Cigna Health and Life "OAP" = 100%'),
    ("uhc=50% o'neil", "UnitedHealthcare of Puerto Rico — Mayagüez"),
)
MAIN_PAYERS = tuple(p[0] for p in DIM_PAYERS)
DANGLING_PAYERS = ("kaiser: *? [ca] {north} ^1", "tricare\\east\tregion\x7f", " mayagüez 東京 ", "a%2Fb", "", None)

BENCH_STATES = ("GA", "CA", "PR", "TX", "São Paulo")
MAIN_STATES = BENCH_STATES[:4]
ODD_STATES = ("N/A, unknown", '"XX" #1 = 5%', "'PR': *? [a] {b} ^c", "TX\\NM\tEL\x7f", " GA ", "a%2Fb", "", None)

MAIN_BILLING_CLASSES = ("professional", "institutional")
# Real extracts write a missing billing_class as "" (CONTRACT section 3: an empty partition value).
ODD_BILLING_CLASSES = (
    None, "", "professional/institutional, both", "inst'l \"facility\" #2 = 80%", "prof: *? [a] {b} ^c",
    "prof\\inst\tx\x7f", " profesión 東京 ", "a%2Fb",
)

# (code_type, code, code_description, code_name)
CODES = (
    ("CPT", "99213", "Office or other outpatient visit, established patient, 20-29 minutes", "Office/outpatient visit est"),
    ("CPT", "99214", "Office or other outpatient visit, established patient, 30-39 minutes", "Office/outpatient visit est"),
    ("CPT", "99283", 'Emergency department visit, "moderate" severity', "Emergency dept visit"),
    ("CPT", "99284", "Emergency department visit: high* severity?", "Emergency dept visit"),
    ("CPT", "70553", "MRI brain w/o & w/ contrast [3T] {adult}", "Mri brain stem w/o & w/dye"),
    ("CPT", "80053", "Comprehensive metabolic panel; 14 analytes = 100% #CMP", "Comprehen metabolic panel"),
    ("CPT", "27447", "Arthroplasty, knee; condyle and plateau — patient's choice", "Total knee arthroplasty"),
    ("CPT", "00790", "Anesthesia\\intraperitoneal procedures,\tupper abdomen\x7f", "Anesth surg upper abdomen"),
    ("CPT", "90471", "Immunization administration ^1 vaccine", "Immunization admin"),
    ("CPT", "36415", "Collection of venous blood by venipuncture", "Routine venipuncture"),
    ("CPT", "97110", "Therapeutic exercises, each 15 minutes", "Therapeutic exercises"),
    ("CPT", "93000", "Electrocardiogram, routine ECG with at least 12 leads", "Electrocardiogram complete"),
    ("CPT", "0001U", "Red blood cell antigen typing, DNA, 35 antigens", None),
    ("HCPCS", "J1885", "Injection, ketorolac tromethamine, per 15 mg", "Ketorolac tromethamine inj"),
    ("HCPCS", "G0008", "Administración de vacuna contra la influenza", "Admin influenza virus vac"),
    ("HCPCS", "E0601", "Continuous positive airway pressure (CPAP) device", None),
    ("MS-DRG", "470", "Major hip and knee joint replacement w/o MCC", None),
    ("RC", "0450", "Emergency room - general", "ER general"),
)
# (proc_cd, proc_set, proc_class, proc_group): the BETOS/RBCS levels, with the real
# `Office/ outpatient services` (a space after the slash).  MS-DRG 470 and RC 0450 have
# no row; A0428 has a row but no dim_code entry.
CODE_CATS = (
    ("99213", "Evaluation and Management", "Office/ outpatient services", "Office visits"),
    ("99214", "Evaluation and Management", "Office/ outpatient services", "Office visits"),
    ("99283", "Evaluation and Management", "Emergency department services", "ED visits"),
    ("99284", "Evaluation and Management", None, "ED visits"),
    ("97110", "Medicine", "", None),
    ("27447", "Procedures", "Major procedure", "Musculoskeletal"),
    ("00790", "Anesthesia", "Major procedure", "Anesthesia"),
    ("70553", "Imaging: CT*? [MRI] {PET} ^x", "Advanced imaging: *? [CT] {MRI} ^2", "Imaging"),
    ("80053", "Lab\\Path\tology\x7f", 'Lab "panel" \'basic\' #3 = 50%', "Chemistry"),
    ("36415", "Lab\\Path\tology\x7f", "Other\\misc\tclass\x7f", None),
    ("J1885", "Drugs/Biologics, injectable", " Mayagüez clínica 東京 ", "Drugs"),
    ("E0601", 'Durable "DME" \'supplies\' #1 = 100%', "Durable medical equipment", "DME"),
    ("G0008", "Medicine", "Immunizations", "Vaccines"),
    ("90471", " Cirugía São Paulo 東京 ", "Immunizations", "Vaccines"),
    ("0001U", "a%2Fb", "50%25 off%2Fon", "PLA codes"),
    ("93000", None, "Tests", "Cardiology"),
    ("A0428", "Transport", "Ambulance, ground", "Ambulance"),
)
COMMON_CODES = (("CPT", "99213"), ("CPT", "99214"), ("CPT", "99283"), ("CPT", "70553"),
                ("CPT", "80053"), ("CPT", "27447"), ("HCPCS", "J1885"))
# Code pairs the fact uses although dim_code (and maybe dim_code_cat) lacks them.
DANGLING_CODES = (("HCPCS", "99213"), ("HCPCS", "A0428"), ("CPT", "99999"), ("CPT", None), (None, "99213"))
BASE_RATES = {
    "99213": 92.0, "99214": 130.0, "99283": 75.0, "99284": 120.0, "70553": 410.0, "80053": 10.6,
    "27447": 1300.0, "00790": 230.0, "90471": 20.0, "36415": 3.0, "97110": 30.0, "93000": 17.0,
    "0001U": 700.0, "J1885": 0.5, "G0008": 25.0, "E0601": 60.0, "470": 14000.0, "0450": 350.0,
}

TAXONOMIES = (
    "207Q00000X", "208D00000X", "207R00000X", "261QM1300X", "282N00000X", None,
    "207Q00000X/FM, peds", '"363L00000X" \'NP\' #1 = 100%', "2084P0800X: *? [psych] {adult} ^1",
    "122300000X\\dental\tx\x7f", " Médico 東京 ", "363L%2FF0200X", "",
)
TAXONOMY_DESCRIPTIONS = {
    "207Q00000X": "Family Medicine", "208D00000X": "General Practice",
    "207R00000X": "Internal Medicine", "261QM1300X": "Clinic/Center, Multi-Specialty",
    "282N00000X": "General Acute Care Hospital",
}
# Market areas are MSAs or CSAs, as the Census geocoder names them.
STAT_AREAS = (
    "Atlanta--Athens-Clarke County--Sandy Springs, GA-AL CSA", "Los Angeles-Long Beach-Anaheim, CA",
    "San Juan-Bayamón, PR CSA", "Mayagüez, PR", "Dallas-Fort Worth, TX-OK CSA",
    "São Paulo", "東京", "Winston-Salem/High Point, NC", 'Metro "East" \'Side\' #4 = 25%',
    "Area: *? [north] {south} ^up", "Back\\slash\tarea\x7f", " Padded Area ", "a%2Fb", "",
)
REAL_STAT_AREAS = STAT_AREAS[:5]
STAT_AREA_CODES = dict(zip(REAL_STAT_AREAS, ("122", "31080", "490", "32420", "206")))

# (city, state, postal_code, country_code, county_name, county_fips, latitude, longitude)
CITIES = (
    ("Atlanta", "GA", "30303", "US", "Fulton", "13121", 33.749, -84.388),
    ("Los Angeles", "CA", "90012", "US", "Los Angeles", "06037", 34.052, -118.244),
    ("Mayagüez", "PR", "00680", "US", "Mayagüez Municipio", "72097", 18.201, -67.139),
    ("San Juan", "PR", "00901", "US", "San Juan Municipio", "72127", 18.466, -66.106),
    ("Dallas", "TX", "75201", "US", "Dallas", "48113", 32.777, -96.797),
    ("Sheldon", "IA", "51201", "US", "O'Brien", "19141", 43.181, -95.856),
    ("São Paulo", None, "01000-000", "BR", None, None, -23.550, -46.633),
    ("東京", None, "100-0001", "JP", None, None, 35.681, 139.767),
)
ADDRESS_LINES = (
    "123 Peachtree St NE, Suite #400", "PO Box 9/11", "Calle Méndez Vigo 55", '1 "Main" St',
    "C/O Billing: Dept*", "  456 Elm St  ", "789 Oak Ave\tRear", "100% Plaza = 1st [Fl]",
)
FIRST_NAMES = ("María José", "Jean-Luc", "Zoë", "健二", "Ann", " Lee ", "D'Andre")
LAST_NAMES = ("O'Brien", "Muñoz", "Smith, Jr.", "van der Berg", "Nguyễn", "Doe", "Back\\slash")
ORG_NAMES = (
    'Atlanta "Family" Clinic, LLC', "Clínica Mayagüez #5 / Suite=2", "Peachtree Ortho: Knee* & Hip?",
    "東京 Medical [Intl] {Group}", "Back\\Office\tHealth\x7f", " Padded Health ", "100% Care ^Plus",
)

# pos_members of the dim_pos_set rows; each pos_set_id is derived from the position.
POS_SETS = (
    ["11"], ["11", "22"], ["21", "22", "23"], [], None, ["02", "10"], ["19", "22", "99 - other, unlisted"],
    ["l", "n", "u"],
)
NEGOTIATED_TYPES = ("negotiated", "fee schedule", "percentage", "derived", "per diem")
ARRANGEMENTS = ("ffs", "bundle", "capitation", None)
EXPIRATION_DATES = ("9999-12-31", "2025-12-31", "2026-06-30", "", None)
# Placed on the first rows of every month so the extremes exist whatever the seed.
EXTREME_RATES = (0.01, 0.04, 999_999.99, 425_000.0, 0.0)
# Fact rows whose source file date ETL1 could not parse: no month ("" and, once, null).
ROWS_WITHOUT_MONTH = 7

# The Medicare benchmarks (CONTRACT section 1): three tables stacked, each row filling its
# own columns and labelled with its own code_type, effective from its year_month.
BENCH_LABELS = {"professional": "CPT", "opps": "HCPCS", "asc": "CPT"}
BENCH_FIRST_EFFECTIVE = "2025-01"  # the 2025 fee schedules
BENCH_REVISED = "2025-08"  # a mid-year revision of some cells, effective from August
BENCH_FUTURE = "2026-01"  # takes effect after every sample month: never applies
# Cells (state, code) pinned so the fact is sure to meet a zero, a null and a missing rate,
# a cell that only exists from the revision on, and a cell only in the future.
BENCH_ZERO = {("GA", "99214"), ("CA", "J1885"), ("GA", "99283")}
BENCH_NULL = {("GA", "99283"), ("PR", "80053")}
BENCH_MISSING = {("CA", "70553"), ("TX", "99213")}
BENCH_PRESENT = {("GA", "99213"), ("PR", "99214")}
BENCH_ONLY_REVISED = {("PR", "99213"), ("GA", "70553")}
BENCH_ONLY_FUTURE = {("CA", "99214")}

# --- Provider network shape. ---

N_GROUPS = 48
GROUP_SIZES = (0, 1, 1, 2, 3, 2, 4, 3)  # members per group, cycled by group index
GROUPS_WITH_DANGLING_MEMBER = (6, 14, 22)  # an extra member absent from dim_npi
GROUP_WITH_DANGLING_PRIMARY = 11  # ... and here that member is the smallest npi
GROUP_ONLY_IN_XREF = 13  # in xref_pg_member_npi but not dim_provider_group
# TIN-level contracts: npi `0` in xref_pg_member_npi, alone (groups without members) or
# beside real NPIs (where `0` would be the smallest npi if it counted).
GROUPS_WITH_TIN_LEVEL_NPI = (0, 8, 2, 5)
TINS_PER_GROUP = (1, 2, 0, 3, 1, 1, 2)  # cycled by group index
PLACEHOLDER_NPI_ROWS = 3  # dim_npi rows with every contract column null
DANGLING_PG = "pg_0000deadbeef0000"
# Address layouts, cycled over primary NPIs.  Only the first three expose a stat_area_name.
LAYOUTS = ("loc", "multi", "mail_only", "none", "no_geo", "null_stat")
EXPOSING_LAYOUTS = ("loc", "multi", "mail_only")
ENUMERATION_CYCLE = ("NPI-1", "NPI-2", "NPI-1", None)
SOLE_PROPRIETOR_CYCLE = ("YES", "NO", None)


@dataclass(frozen=True)
class _Profile:
    taxonomy: str | None
    layout: str
    stat_area: str | None  # stat_area_name of the address the contract picks
    enumeration_type: str | None
    sole_proprietor: str | None


# --- Generation. ---


def generate_sample_etl1(
    root: str | os.PathLike,
    *,
    months: Sequence[str] = DEFAULT_MONTHS,
    rows_per_month: int = 400,
    seed: int = 7,
) -> dict[str, int]:
    """Writes <root>/gold/fact_rate.parquet, <root>/dims/*.parquet, <root>/xrefs/*.parquet.

    Returns {table_name: row_count}.
    """
    frames = sample_etl1_frames(months=months, rows_per_month=rows_per_month, seed=seed)
    for name, frame in frames.items():
        write_etl1_table(root, name, frame)
    return {name: frame.height for name, frame in frames.items()}


def sample_etl1_frames(
    *, months: Sequence[str] = DEFAULT_MONTHS, rows_per_month: int = 400, seed: int = 7
) -> dict[str, pl.DataFrame]:
    """The sample tables in the contract schema, keyed by table name, without writing them.

    The dimensions depend only on ``seed``; a month's fact rows depend only on ``seed`` and
    that month, so generating one month alone gives the same rows as generating it with others.
    """
    months = _checked_months(months)
    if rows_per_month < 0:
        raise ValueError(f"rows_per_month must be >= 0, got {rows_per_month}")
    rng = random.Random(seed)
    pg_uids = [_uid("pg", g) for g in range(N_GROUPS)]
    rows = _provider_network(rng, pg_uids)
    rows |= {
        "dim_payer": _rows_from_tuples("dim_payer", DIM_PAYERS),
        "dim_code": _rows_from_tuples("dim_code", CODES),
        "dim_code_cat": _rows_from_tuples("dim_code_cat", CODE_CATS),
        "dim_pos_set": [{"pos_set_id": _uid("pos", i), "pos_members": m} for i, m in enumerate(POS_SETS)],
        "bench_medicare_comprehensive": _bench_rows(rng),
    }
    frames = {name: pl.from_dicts(r, schema=ETL1_BY_NAME[name].schema) for name, r in rows.items()}
    templates, weights = _fact_templates(rng, pg_uids)
    frames["fact_rate"] = _fact_rate(templates, weights, months, rows_per_month, seed)
    return {t.name: conform_to_contract(t, frames[t.name]) for t in ETL1_TABLES}


def _checked_months(months: Sequence[str]) -> list[str]:
    months = list(months)
    bad = [m for m in months if not re.match(YEAR_MONTH_PATTERN, m)]
    if bad:
        raise ValueError(f"months must be YYYY-MM, got {bad}")
    if len(set(months)) != len(months):
        raise ValueError(f"months repeat: {months}")
    return months


def _rows_from_tuples(table_name: str, tuples: Sequence[tuple]) -> list[dict]:
    return [dict(zip(ETL1_BY_NAME[table_name].schema, t, strict=True)) for t in tuples]


def _sha(*parts: object) -> str:
    return hashlib.sha1("|".join(map(str, parts)).encode()).hexdigest()


def _uid(prefix: str, i: int) -> str:
    return f"{prefix}_{_sha(prefix, i)[:16]}"


def _fresh_npi(start: int, step: int, taken: set[str]) -> str:
    n = start + step
    while str(n) in taken:
        n += step
    return str(n)


def _provider_network(rng: random.Random, pg_uids: list[str]) -> dict[str, list[dict]]:
    """Rows of dim_provider_group, xref_pg_member_npi, dim_npi, dim_npi_address and its geolocation."""
    pool = iter(str(n) for n in rng.sample(range(1_100_000_000, 2_000_000_000), 400))
    groups = [[next(pool) for _ in range(GROUP_SIZES[g % len(GROUP_SIZES)])] for g in range(N_GROUPS)]
    taken = {n for members in groups for n in members}
    dangling: list[str] = []
    for g in GROUPS_WITH_DANGLING_MEMBER:
        dangling.append(_fresh_npi(int(max(groups[g])), 1, taken))
        groups[g].append(dangling[-1])
    dangling.append(_fresh_npi(int(min(groups[GROUP_WITH_DANGLING_PRIMARY])), -1, taken))
    groups[GROUP_WITH_DANGLING_PRIMARY].append(dangling[-1])
    taken |= set(dangling)
    # An NPI in two groups, never the primary of the second one.
    for g in range(3, N_GROUPS, 7):
        shared = max(groups[g - 1], default=None)
        if shared and groups[g] and shared > min(groups[g]) and shared not in groups[g]:
            groups[g].append(shared)

    profiles = _npi_profiles(rng, groups, set(dangling))
    for _ in range(6):  # NPIs in no group
        profiles[next(pool)] = _random_profile(rng)

    npi_rows, address_rows, geo_rows = [], [], []
    for npi, profile in profiles.items():
        npi_rows.append(_npi_row(rng, npi, profile))
        addresses, geos = _npi_addresses(rng, npi, profile)
        address_rows += addresses
        geo_rows += geos
    orphan_hash = _sha("orphan", dangling[0])[:16]  # an NPI in no dimension, geocoded anyway
    geo_rows.append(_geolocation_row(rng, dangling[0], orphan_hash, rng.choice(CITIES), REAL_STAT_AREAS[0]))

    # placeholders: NPIs not fetched from NPPES yet, every contract column null
    npi_rows += [{}] * PLACEHOLDER_NPI_ROWS
    xref_rows = []
    for g, members in enumerate(groups):
        tin_level = [TIN_LEVEL_NPI] if g in GROUPS_WITH_TIN_LEVEL_NPI else []
        # Mostly largest first, so the primary (smallest) npi is usually not the first row.
        for npi in sorted(members, reverse=g % 5 != 0) + tin_level:
            xref_rows.append({"pg_uid": pg_uids[g], "npi": npi})
    pg_rows = [_provider_group_row(rng, g, pg_uids[g]) for g in range(N_GROUPS) if g != GROUP_ONLY_IN_XREF]
    return {
        "dim_provider_group": pg_rows,
        "xref_pg_member_npi": xref_rows,
        "xref_pg_member_tin": _tin_rows(rng, pg_uids, groups),
        "dim_npi": npi_rows,
        "dim_npi_address": address_rows,
        "dim_npi_address_geolocation": geo_rows,
    }


def _tin_rows(rng: random.Random, pg_uids: list[str], groups: list[list[str]]) -> list[dict]:
    """Several TINs per group (EINs, and NPIs used as TINs), one EIN shared by two groups,
    groups without TINs, and TINs of a group that is in no other table."""
    shared_ein = "581234567"
    rows = []
    for g, pg_uid in enumerate([*pg_uids, DANGLING_PG]):
        tins = []
        for k in range(TINS_PER_GROUP[g % len(TINS_PER_GROUP)]):
            if k == 1 and g < len(groups) and groups[g]:
                tins.append(("npi", max(groups[g])))
            else:
                tins.append(("ein", f"{rng.randint(10, 99)}{rng.randint(1000000, 9999999)}"))
        if g % 9 == 4:
            tins.append(("ein", shared_ein))
        # largest first, so the primary (smallest) TIN is not the first row
        rows += [{"pg_uid": pg_uid, "tin_type": t, "tin_value": v} for t, v in sorted(tins, key=lambda t: t[1], reverse=True)]
    return rows


def _npi_profiles(rng: random.Random, groups: list[list[str]], dangling: set[str]) -> dict[str, _Profile]:
    """Primary NPIs cycle through the hostile taxonomies, layouts and stat areas; others are random."""
    profiles: dict[str, _Profile] = {}
    primaries = [min(m) for m in groups if m and min(m) not in dangling]
    exposed = 0
    for i, npi in enumerate(primaries):
        layout = LAYOUTS[i % len(LAYOUTS)]
        stat_area = None
        if layout in EXPOSING_LAYOUTS:
            stat_area = STAT_AREAS[exposed % len(STAT_AREAS)]
            exposed += 1
        enumeration = ENUMERATION_CYCLE[i % len(ENUMERATION_CYCLE)]
        sole = SOLE_PROPRIETOR_CYCLE[i % len(SOLE_PROPRIETOR_CYCLE)] if enumeration == "NPI-1" else None
        profiles.setdefault(npi, _Profile(TAXONOMIES[i % len(TAXONOMIES)], layout, stat_area, enumeration, sole))
    for npi in (n for members in groups for n in members):
        if npi not in dangling and npi not in profiles:
            profiles[npi] = _random_profile(rng)
    return profiles


def _random_profile(rng: random.Random) -> _Profile:
    enumeration = rng.choice(ENUMERATION_CYCLE)
    return _Profile(
        taxonomy=rng.choice(TAXONOMIES[:6]),
        layout=rng.choice(LAYOUTS),
        stat_area=rng.choice(REAL_STAT_AREAS),
        enumeration_type=enumeration,
        sole_proprietor=rng.choice(SOLE_PROPRIETOR_CYCLE) if enumeration == "NPI-1" else rng.choice(("NO", None)),
    )


def _npi_row(rng: random.Random, npi: str, p: _Profile) -> dict:
    person = p.enumeration_type != "NPI-2"
    enumerated = f"{rng.randint(2005, 2020)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    return {
        "npi": npi,
        "first_name": rng.choice(FIRST_NAMES) if person else None,
        "last_name": rng.choice(LAST_NAMES) if person else None,
        "organization_name": None if person else rng.choice(ORG_NAMES),
        "enumeration_type": p.enumeration_type,
        "status": rng.choice(("A", "A", "A", None)),
        "primary_taxonomy_code": p.taxonomy,
        "primary_taxonomy_desc": _taxonomy_description(p.taxonomy),
        "primary_taxonomy_state": rng.choice(("GA", "CA", "PR", "TX", None)),
        "primary_taxonomy_license": rng.choice((f"MD{rng.randint(10000, 99999)}", "L-12/34#5", None)),
        "credential": rng.choice(("M.D.", "MD, PhD", "D.O.", "N.P.", None)) if person else None,
        "sole_proprietor": p.sole_proprietor,
        "enumeration_date": enumerated,
        "last_updated": rng.choice(("2024-11-05", "2025-03-17", "2025-06-30")),
    }


def _taxonomy_description(code: str | None) -> str | None:
    if code is None:
        return None
    return TAXONOMY_DESCRIPTIONS.get(code, 'Other: see "taxonomy" #notes')


def _npi_addresses(rng: random.Random, npi: str, p: _Profile) -> tuple[list[dict], list[dict]]:
    """Address and geolocation rows of one NPI; only the address the contract picks gets p.stat_area.

    The other addresses are geocoded to other areas, so picking the wrong one shows.
    """
    purposes = {
        "loc": ["LOCATION"],
        "multi": ["LOCATION"] * 3 + ["MAILING"] * 2,
        "mail_only": ["MAILING"] * 2,
        "none": [],
        "no_geo": ["LOCATION", "MAILING"],
        "null_stat": ["LOCATION"],
    }[p.layout]
    addresses = [_address_row(rng, npi, purpose, k) for k, purpose in enumerate(purposes)]
    if p.layout == "loc":  # the same place as both LOCATION and MAILING: one hash, one geolocation
        addresses.append({**addresses[0], "address_purpose": "MAILING"})
    chosen = _contract_address(addresses)
    geos = []
    for hash_, address in {a["address_hash"]: a for a in addresses}.items():
        city = next(c for c in CITIES if c[0] == address["city"])
        if hash_ != chosen:
            decoy = rng.choice([s for s in REAL_STAT_AREAS if s != p.stat_area])
            geos.append(_geolocation_row(rng, npi, hash_, city, decoy))
        elif p.layout == "null_stat":
            geos.append(_geolocation_row(rng, npi, hash_, city, None))
        elif p.layout != "no_geo":
            geos.append(_geolocation_row(rng, npi, hash_, city, p.stat_area))
    if p.layout == "none":  # a geolocation whose address is gone
        geos.append(_geolocation_row(rng, npi, _sha("gone", npi)[:16], CITIES[0], rng.choice(REAL_STAT_AREAS)))
    # Largest hash first, so file order is never the tie-break order.
    addresses.sort(key=lambda a: a["address_hash"], reverse=True)
    return addresses, geos


def _contract_address(addresses: list[dict]) -> str | None:
    """address_hash of the address CONTRACT section 2 picks: LOCATION, else MAILING, smallest hash."""
    for purpose in ("LOCATION", "MAILING"):
        hashes = [a["address_hash"] for a in addresses if a["address_purpose"] == purpose]
        if hashes:
            return min(hashes)
    return None


def _address_row(rng: random.Random, npi: str, purpose: str, k: int) -> dict:
    city, state, postal, country, *_ = rng.choice(CITIES)
    return {
        "npi": npi,
        "address_purpose": purpose,
        "address_type": "DOM" if country == "US" else "FGN",
        "address_1": rng.choice(ADDRESS_LINES),
        "address_2": rng.choice(("Suite 100", "Apt. #2B", "Piso 3º", None, None)),
        "city": city,
        "state": state,
        "postal_code": postal,
        "country_code": country,
        "telephone_number": rng.choice((f"404-555-{rng.randint(0, 9999):04d}", "+55 11 5555-0100", None)),
        "fax_number": rng.choice(("404-555-0199", None, None)),
        "address_hash": _sha(npi, purpose, k)[:16],
    }


def _geolocation_row(rng: random.Random, npi: str, address_hash: str, city: tuple, stat_area: str | None) -> dict:
    name, state, postal, _, county, fips, lat, lon = city
    located = rng.random() > 0.1
    return {
        "npi": npi,
        "address_hash": address_hash,
        "matched_address": f"{name.upper()}, {state or ''} {postal}".strip() if rng.random() > 0.1 else None,
        "county_name": county,
        "county_fips": fips,
        "stat_area_name": stat_area,
        "stat_area_code": STAT_AREA_CODES.get(stat_area),
        "latitude": round(lat + rng.uniform(-0.05, 0.05), 6) if located else None,
        "longitude": round(lon + rng.uniform(-0.05, 0.05), 6) if located else None,
    }


def _provider_group_row(rng: random.Random, g: int, pg_uid: str) -> dict:
    payer = {9: None, 17: DANGLING_PAYERS[0]}.get(g, MAIN_PAYERS[g % len(MAIN_PAYERS)])
    raw_id = {5: None, 7: 2**53 + 1}.get(g, rng.randint(1, 5_000_000))
    return {"pg_uid": pg_uid, "payer_slug": payer, "provider_group_id_raw": raw_id}


def _bench_rows(rng: random.Random) -> list[dict]:
    """The three benchmarks stacked: for each (state, code, benchmark type) a row effective
    from January, for some cells a revision effective from August and one from a month
    after every sample month."""
    rows = []
    for state in BENCH_STATES:
        for code_type, code, *_ in CODES:
            cell = (state, code)
            if cell in BENCH_MISSING:
                continue
            if cell in BENCH_ONLY_REVISED:
                effective = [BENCH_REVISED]
            elif cell in BENCH_ONLY_FUTURE:
                effective = [BENCH_FUTURE]
            else:
                effective = [BENCH_FIRST_EFFECTIVE] + [m for m in (BENCH_REVISED, BENCH_FUTURE) if rng.random() < 0.3]
            for benchmark_type in BENCH_LABELS:
                if cell not in BENCH_ZERO | BENCH_NULL | BENCH_PRESENT and rng.random() < 0.1:
                    continue
                rows += [_bench_row(rng, state, code, benchmark_type, year_month) for year_month in effective]
    rng.shuffle(rows)
    return rows


def _bench_row(rng: random.Random, state: str, code: str, benchmark_type: str, year_month: str) -> dict:
    national = round(BASE_RATES[code] * rng.uniform(0.9, 1.1), 2)
    state_rate = round(national * rng.uniform(0.85, 1.2), 2)
    if (state, code) in BENCH_ZERO:
        state_rate = 0.0
    elif (state, code) in BENCH_NULL:
        state_rate = None
    national_column, state_column = BENCHMARK_RATE_COLUMNS[benchmark_type]
    row = {
        "state": state,
        "year_month": year_month,
        "code_type": BENCH_LABELS[benchmark_type],
        "code": code,
        "benchmark_type": benchmark_type,
        national_column: national,
        state_column: state_rate,
    }
    if benchmark_type == "professional":
        # a missing relative value is 0
        rvus = [round(rng.uniform(0.1, 20.0), 2) if rng.random() > 0.15 else 0.0 for _ in range(3)]
        row |= {
            "work_rvu": rvus[0], "practice_expense_rvu": rvus[1], "malpractice_rvu": rvus[2],
            "total_rvu": round(sum(rvus), 2), "conversion_factor": 32.3465,
        }
    elif benchmark_type == "opps":
        row |= {"opps_weight": round(rng.uniform(0.1, 30.0), 4), "opps_si": rng.choice(("J1", "Q1", "S", "T", "N", None))}
    else:
        row |= {"asc_pi": rng.choice(("A2", "P3", "N1", None))}
    return row


# A template is (payer_slug, state, billing_class, code_type, code, pg_uid).
Template = tuple[str | None, str | None, str | None, str | None, str | None, str | None]


def _fact_templates(rng: random.Random, pg_uids: list[str]) -> tuple[list[Template], list[float]]:
    """Row templates and their draw weights: a few hot ones, one per value of every axis, random ones."""
    hot_pgs = pg_uids[1:4]  # primaries with realistic taxonomies and stat areas
    hot = [
        ("aetna", "GA", "professional", "CPT", "99213", hot_pgs[0]),
        ("blue cross/blue shield, ga", "GA", "institutional", "CPT", "99283", hot_pgs[1]),
        ("uhc=50% o'neil", "PR", "professional", "CPT", "99214", hot_pgs[2]),
    ]
    pinned_benchmarks = [  # zero, null and missing Medicare rates
        ("aetna", "GA", "professional", "CPT", "99214", hot_pgs[0]),
        ('cigna "open access" #2', "GA", "institutional", "CPT", "99283", hot_pgs[1]),
        ("aetna", "CA", "professional", "CPT", "70553", hot_pgs[2]),
        ("blue cross/blue shield, ga", "TX", "professional", "CPT", "99213", hot_pgs[0]),
    ]
    axes = (
        MAIN_PAYERS + DANGLING_PAYERS,
        BENCH_STATES + ODD_STATES,
        MAIN_BILLING_CLASSES + ODD_BILLING_CLASSES,
        tuple((c[0], c[1]) for c in CODES) + DANGLING_CODES,
        tuple(pg_uids) + (DANGLING_PG, None),
    )
    width = max(len(a) for a in axes)
    covering = [_template(*(axis[i % len(axis)] for axis in axes)) for i in range(width)]
    common = (MAIN_PAYERS, MAIN_STATES, MAIN_BILLING_CLASSES, COMMON_CODES, tuple(pg_uids[:24]))
    random_ones = [
        _template(*(rng.choice(c if rng.random() < 0.85 else a) for c, a in zip(common, axes)))
        for _ in range(40)
    ]
    templates = hot + pinned_benchmarks + covering + random_ones
    weights = [15.0] * len(hot) + [3.0] * len(pinned_benchmarks) + [1.0] * len(covering) + [1.5] * len(random_ones)
    return templates, weights


def _template(payer, state, billing_class, code, pg_uid) -> Template:
    return (payer, state, billing_class, code[0], code[1], pg_uid)


def _fact_rate(
    templates: list[Template], weights: list[float], months: list[str], n: int, seed: int
) -> pl.DataFrame:
    """Each month: every template once (as far as n allows), the rest drawn by weight, shuffled."""
    columns: dict[str, list] = {c: [] for c in FACT_RATE.schema}
    pos_ids = [_uid("pos", i) for i in range(len(POS_SETS))] + ["pos_0000missing0000", None]
    for ym in months:
        rng = random.Random(f"{seed}:{ym}")
        picks = list(range(min(n, len(templates))))
        picks += rng.choices(range(len(templates)), weights=weights, k=n - len(picks))
        rng.shuffle(picks)
        rows = [templates[t] for t in picks]
        columns["fact_uid"] += [f"fr-{ym}-{i:08d}" for i in range(n)]
        columns["year_month"] += [ym] * n
        for j, name in enumerate(("payer_slug", "state", "billing_class", "code_type", "code", "pg_uid")):
            columns[name] += [r[j] for r in rows]
        columns["pos_set_id"] += rng.choices(pos_ids, weights=[4, 3, 2, 2, 1, 1, 1, 1, 0.5, 0.5], k=n)
        columns["negotiated_type"] += rng.choices(NEGOTIATED_TYPES, weights=[8, 3, 1, 1, 1], k=n)
        columns["negotiation_arrangement"] += rng.choices(ARRANGEMENTS, weights=[8, 2, 1, 1], k=n)
        columns["expiration_date"] += rng.choices(EXPIRATION_DATES, weights=[6, 2, 2, 1, 1], k=n)
        rates = [_rate(rng, r[4]) for r in rows]
        rates[: len(EXTREME_RATES)] = EXTREME_RATES[: len(rates)]
        columns["negotiated_rate"] += rates
    facts = pl.DataFrame(columns, schema=FACT_RATE.schema)
    return pl.concat([facts, _facts_without_month(templates, seed)]) if months else facts


def _facts_without_month(templates: list[Template], seed: int) -> pl.DataFrame:
    """Fact rows whose source file date ETL1 could not parse: year_month "" (one null)."""
    rng = random.Random(f"{seed}:no month")
    rows = []
    for i in range(ROWS_WITHOUT_MONTH):
        payer, state, billing_class, code_type, code, pg_uid = rng.choice(templates)
        rows.append({
            "fact_uid": f"fr-nomonth-{i:08d}", "state": state, "year_month": None if i == 0 else "",
            "payer_slug": payer, "billing_class": billing_class, "code_type": code_type, "code": code,
            "pg_uid": pg_uid, "pos_set_id": None, "negotiated_type": "negotiated",
            "negotiation_arrangement": "ffs", "expiration_date": "9999-12-31",
            "negotiated_rate": _rate(rng, code),
        })
    return pl.DataFrame(rows, schema=FACT_RATE.schema)


def _rate(rng: random.Random, code: str | None) -> float:
    rate = BASE_RATES.get(code, 100.0) * rng.lognormvariate(0.0, 0.6)
    return min(max(round(rate, 2), 0.01), 999_999.99)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write contract-conformant sample ETL1 data.")
    parser.add_argument("--root", default="data/etl1", help="ETL1 root folder (default: %(default)s)")
    parser.add_argument("--months", default=",".join(DEFAULT_MONTHS), help="comma-separated YYYY-MM list")
    parser.add_argument("--rows-per-month", type=int, default=400)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    months = [m.strip() for m in args.months.split(",") if m.strip()]
    counts = generate_sample_etl1(args.root, months=months, rows_per_month=args.rows_per_month, seed=args.seed)
    for table in ETL1_TABLES:
        print(f"{table.name:<30} {counts[table.name]:>9} rows  {os.path.join(args.root, table.relative_path)}")


if __name__ == "__main__":
    main()
