"""One line per column, from CONTRACT sections 1 and 2, and where each enriched column comes
from: the column descriptions of the ``dagster/column_schema`` metadata and the column
lineage of the enriched month.

Kept apart from ``lib/contract.py`` (which holds dtypes and keys) so that the prose can
change without touching the contract's code. Keyed by column name; where one name means
different things in different tables (``state``, ``npi``, ``year_month``, ``code_type``),
``TABLE_COLUMN_DESCRIPTIONS`` gives the table's own meaning.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

COLUMN_DESCRIPTIONS: dict[str, str] = {
    # fact_rate (CONTRACT section 1)
    "fact_uid": "Unique id of the negotiated rate: md5 of its fields, the rate with four decimals and the provider reference.",
    "state": "Two-letter state the payer's in-network file covers (upper case).",
    "year_month": "Month of the rate, YYYY-MM, from the file's last_updated_on; empty when unparseable.",
    "payer_slug": "The payer: reporting_entity_name lower-cased, runs of other characters than a-z0-9 as '-'.",
    "billing_class": "Billing class of the rate as the payer reports it (professional, institutional, ...).",
    "code_type": "Type of the billing code (CPT, HCPCS, RC, MS-DRG, ...).",
    "code": "The billing code the rate is for.",
    "pg_uid": "Provider group id: md5 of payer_slug|version|provider reference id|.",
    "pos_set_id": "Id of the set of places of service: md5 of its sorted members joined by '|'.",
    "negotiated_type": "How the rate is expressed (negotiated, fee schedule, percentage, per diem, ...).",
    "negotiation_arrangement": "Arrangement of the rate (ffs fee for service, bundle, capitation).",
    "expiration_date": "Date the rate expires as reported (9999-12-31 or empty when open-ended).",
    "negotiated_rate": "The negotiated rate in dollars (0.0 occurs).",
    # dim_payer
    "reporting_entity_name": "Name of the entity that published the in-network file (the payer).",
    "reporting_entity_type": "Type of the reporting entity (health insurance issuer, TPA, ...).",
    # dim_code
    "code_description": "Description of the billing code from the payer's file.",
    "code_name": "Short name of the billing code from the payer's file.",
    # dim_code_cat (CMS BETOS/RBCS)
    "proc_cd": "Procedure code the category applies to (joins fact.code).",
    "proc_set": "CMS BETOS/RBCS level 1: the procedure set (e.g. Procedures, Evaluation and Management).",
    "proc_class": "CMS BETOS/RBCS level 2: the procedure class (e.g. Office/ outpatient services).",
    "proc_group": "CMS BETOS/RBCS level 3: the procedure group.",
    "procedure_set": "CMS BETOS/RBCS level 1 of the code (dim_code_cat.proc_set).",
    "procedure_class": "CMS BETOS/RBCS level 2 of the code (dim_code_cat.proc_class).",
    "procedure_group": "CMS BETOS/RBCS level 3 of the code (dim_code_cat.proc_group).",
    # dim_provider_group, dim_pos_set
    "provider_group_id_raw": "The provider group's id in the payer's file (provider_reference_id).",
    "pos_members": "Place-of-service codes of the set, sorted, carried as ETL1 wrote them (may be empty).",
    # xref_pg_member_tin, xref_pg_member_npi
    "tin_type": "Type of the provider group's TIN: ein, or npi for a TIN that is an NPI.",
    "tin_value": "The TIN (EIN or NPI) of the provider group.",
    "provider_group_tin_count": "Number of distinct TINs of the provider group; 0 when it has none.",
    "npi": "The provider group's primary NPI: its smallest NPI, 0 excluded; null when it has none.",
    "provider_group_npi_count": "Number of distinct NPIs of the provider group, 0 excluded; 0 when it has none.",
    # dim_npi (NPPES)
    "first_name": "First name of an individual provider (NPPES).",
    "last_name": "Last name of an individual provider (NPPES).",
    "organization_name": "Name of an organization provider (NPPES).",
    "enumeration_type": "NPI-1 for an individual, NPI-2 for an organization (NPPES).",
    "status": "Status of the NPI in NPPES (A active).",
    "primary_taxonomy_code": "Primary taxonomy (specialty) code of the provider (NPPES).",
    "primary_taxonomy_desc": "Description of the primary taxonomy (NPPES).",
    "primary_taxonomy_state": "State of the license of the primary taxonomy (NPPES).",
    "primary_taxonomy_license": "License number of the primary taxonomy (NPPES).",
    "credential": "Credential of an individual provider, e.g. MD (NPPES).",
    "sole_proprietor": "YES or NO when the provider is a sole proprietor; null when unknown (NPPES).",
    "enumeration_date": "Date the NPI was issued (NPPES).",
    "last_updated": "Date NPPES last updated the NPI's record.",
    # dim_npi_address
    "address_purpose": "LOCATION (practice) or MAILING address.",
    "address_type": "Address type from NPPES (DOM domestic, FGN foreign).",
    "address_1": "First line of the street address.",
    "address_2": "Second line of the street address.",
    "city": "City of the address.",
    "address_state": "State of the provider's chosen address (dim_npi_address.state).",
    "postal_code": "ZIP or postal code of the address.",
    "country_code": "Country of the address (US, ...).",
    "telephone_number": "Telephone number at the address.",
    "fax_number": "Fax number at the address.",
    "address_hash": "Hash identifying the address of the NPI.",
    # dim_npi_address_geolocation (Census geocoder)
    "matched_address": "Address as the Census geocoder matched it; 'Not Geocoded' when not matched.",
    "county_name": "County of the geocoded address; 'Unknown' when not geocoded.",
    "county_fips": "Five-digit county FIPS code; '00000' when not geocoded.",
    "stat_area_name": "Market area (MSA or CSA) of the geocoded address; 'Unknown' when not geocoded.",
    "stat_area_code": "Code of the market area; '00000' when not geocoded.",
    "latitude": "Latitude of the geocoded address; null when not geocoded.",
    "longitude": "Longitude of the geocoded address; null when not geocoded.",
    # bench_medicare_comprehensive (CMS fee schedules)
    "benchmark_type": "Medicare benchmark of the rate: professional (physician fee schedule) or opps (hospital outpatient).",
    "benchmark_year_month": "Month the applied benchmark took effect (YYYY-MM), not after the rate's month.",
    "opps_si": "OPPS status indicator of the code.",
    "asc_pi": "ASC payment indicator of the code (institutional facts only).",
    "medicare_prof_national": "Physician fee schedule national amount (professional rows).",
    "medicare_prof_stateavg": "Physician fee schedule average over the state's localities (professional rows).",
    "medicare_opps_national": "OPPS national payment rate (opps rows).",
    "medicare_opps_stateavg": "OPPS rate adjusted to the state's average wage index (opps rows).",
    "medicare_asc_national": "ASC national payment rate (asc rows).",
    "medicare_asc_stateavg": "ASC rate adjusted to the state's average wage index (asc rows).",
    "medicare_national_rate": "Medicare national rate of the applied benchmark (professional or OPPS).",
    "medicare_state_rate": "Medicare state rate of the applied benchmark (professional or OPPS).",
    "medicare_asc_national_rate": "ASC national rate, the surgery center alternative of institutional facts.",
    "medicare_asc_state_rate": "ASC state rate, the surgery center alternative of institutional facts.",
    "work_rvu": "Work relative value unit (0 when missing).",
    "practice_expense_rvu": "Practice expense relative value unit (0 when missing).",
    "malpractice_rvu": "Malpractice relative value unit (0 when missing).",
    "total_rvu": "Total relative value units (0 when missing).",
    "conversion_factor": "Dollar conversion factor of the fee schedule.",
    "opps_weight": "OPPS relative payment weight of the code.",
    # derived (CONTRACT section 2)
    "year": "Year of the rate's month (Int32, from year_month).",
    "month": "Month of the year of the rate (Int32, from year_month; written 01-12 in folder names).",
    "rate_to_medicare_ratio": "negotiated_rate / medicare_state_rate when that rate is above 0, else null.",
    "is_above_medicare": "negotiated_rate > medicare_state_rate; null without a benchmark rate.",
    "is_individual_provider": "True for an NPI-1 provider; null when no NPI matched or its type is unknown.",
    "is_sole_proprietor": "True when sole_proprietor is YES; null when unknown.",
    "provider_type": "Individual for NPI-1, Organization for NPI-2, null otherwise.",
    # partition column of the warehouse (CONTRACT section 3)
    "taxonomy": "Partition column: the value of primary_taxonomy_code.",
}

# Where a table gives a shared name its own meaning.
TABLE_COLUMN_DESCRIPTIONS: dict[tuple[str, str], str] = {
    ("dim_npi_address", "state"): "State of the address.",
    ("bench_medicare_comprehensive", "state"): "State the benchmark applies to.",
    ("bench_medicare_comprehensive", "year_month"): "Month the benchmark took effect (YYYY-MM).",
    ("bench_medicare_comprehensive", "code_type"): "The benchmark's own code label (CPT or HCPCS), not the fact's code_type.",
    ("bench_medicare_comprehensive", "code"): "The code the benchmark is for.",
    ("bench_medicare_comprehensive", "benchmark_type"): "Which stacked fee schedule the row belongs to: professional, opps or asc.",
    ("xref_pg_member_npi", "npi"): "A 10-digit NPI member of the provider group, or 0 for a TIN-level contract.",
    ("dim_npi", "npi"): "The provider's 10-digit NPI.",
    ("dim_npi_address", "npi"): "The provider's 10-digit NPI.",
    ("dim_npi_address_geolocation", "npi"): "The provider's 10-digit NPI.",
    ("dim_npi_address_geolocation", "matched_address"): "Address as the Census geocoder matched it.",
    ("dim_npi_address_geolocation", "county_name"): "County of the geocoded address.",
    ("dim_npi_address_geolocation", "county_fips"): "Five-digit county FIPS code.",
    ("dim_npi_address_geolocation", "stat_area_name"): "Market area (MSA or CSA) of the geocoded address.",
    ("dim_npi_address_geolocation", "stat_area_code"): "Code of the market area.",
    ("dim_npi_address_geolocation", "latitude"): "Latitude of the geocoded address.",
    ("dim_npi_address_geolocation", "longitude"): "Longitude of the geocoded address.",
    ("dim_provider_group", "payer_slug"): "The payer of the provider group.",
    ("dim_provider_group", "tin_type"): "Type of the provider group's TIN (ein or npi).",
    ("dim_provider_group", "tin_value"): "The provider group's TIN.",
}


def describe(column: str, table: str | None = None) -> str:
    """The column's one-line description (the table's own meaning first, if it has one)."""
    return TABLE_COLUMN_DESCRIPTIONS.get((table, column)) or COLUMN_DESCRIPTIONS[column]


def dtype_name(dtype: pl.DataType) -> str:
    """A dtype as the column schema shows it: ``String``, ``Int64``, ``List(String)``."""
    return str(dtype)


def column_rows(schema: Mapping[str, pl.DataType], table: str | None = None) -> list[tuple[str, str, str]]:
    """(name, dtype, description) of every column of ``schema``, in its order."""
    return [(name, dtype_name(dtype), describe(name, table)) for name, dtype in schema.items()]


# --- Column lineage of the enriched fact (CONTRACT section 2) ------------------------------
# Each enriched column -> the ETL1 columns it is computed from. A source given as several
# (table, column) candidates is the first one the code's contract has: CONTRACT section 1
# renamed some ETL1 columns (proc_set was procedure_set, the TINs moved from
# dim_provider_group to xref_pg_member_tin, the benchmark's rates are per benchmark type).

Source = tuple[tuple[str, str], ...]  # candidates, first present wins


def _one(table: str, *columns: str) -> Source:
    return tuple((table, c) for c in columns)


_FACT_COLUMNS = (
    "fact_uid", "state", "year_month", "payer_slug", "billing_class", "code_type", "code", "pg_uid",
    "pos_set_id", "negotiated_type", "negotiation_arrangement", "expiration_date", "negotiated_rate",
)
_NPI_COLUMNS = (
    "first_name", "last_name", "organization_name", "enumeration_type", "status", "primary_taxonomy_code",
    "primary_taxonomy_desc", "primary_taxonomy_state", "primary_taxonomy_license", "credential",
    "sole_proprietor", "enumeration_date", "last_updated",
)
_ADDRESS_COLUMNS = (
    "address_purpose", "address_type", "address_1", "address_2", "city", "postal_code", "country_code",
    "telephone_number", "fax_number", "address_hash",
)
_GEO_COLUMNS = (
    "matched_address", "county_name", "county_fips", "stat_area_name", "stat_area_code", "latitude", "longitude",
)
_BENCH = "bench_medicare_comprehensive"
_RVU_COLUMNS = ("work_rvu", "practice_expense_rvu", "malpractice_rvu", "total_rvu", "conversion_factor", "opps_weight")

ENRICHED_LINEAGE: dict[str, tuple[Source, ...]] = {
    **{c: (_one("fact_rate", c),) for c in _FACT_COLUMNS},
    "reporting_entity_name": (_one("dim_payer", "reporting_entity_name"),),
    "code_description": (_one("dim_code", "code_description"),),
    "code_name": (_one("dim_code", "code_name"),),
    "procedure_set": (_one("dim_code_cat", "proc_set", "procedure_set"),),
    "procedure_class": (_one("dim_code_cat", "proc_class", "procedure_class"),),
    "procedure_group": (_one("dim_code_cat", "proc_group", "procedure_group"),),
    "provider_group_id_raw": (_one("dim_provider_group", "provider_group_id_raw"),),
    "pos_members": (_one("dim_pos_set", "pos_members"),),
    "tin_type": ((("xref_pg_member_tin", "tin_type"), ("dim_provider_group", "tin_type")),),
    "tin_value": ((("xref_pg_member_tin", "tin_value"), ("dim_provider_group", "tin_value")),),
    "provider_group_tin_count": (_one("xref_pg_member_tin", "tin_value"),),
    "npi": (_one("xref_pg_member_npi", "npi"),),
    "provider_group_npi_count": (_one("xref_pg_member_npi", "npi"),),
    **{c: (_one("dim_npi", c),) for c in _NPI_COLUMNS},
    **{c: (_one("dim_npi_address", c),) for c in _ADDRESS_COLUMNS},
    "address_state": (_one("dim_npi_address", "state"),),
    **{c: (_one("dim_npi_address_geolocation", c),) for c in _GEO_COLUMNS},
    "benchmark_type": (_one(_BENCH, "benchmark_type"),),
    "benchmark_year_month": (_one(_BENCH, "year_month"),),
    "medicare_national_rate": (
        _one(_BENCH, "medicare_prof_national", "medicare_national_rate"), _one(_BENCH, "medicare_opps_national"),
    ),
    "medicare_state_rate": (
        _one(_BENCH, "medicare_prof_stateavg", "medicare_state_rate"), _one(_BENCH, "medicare_opps_stateavg"),
    ),
    **{c: (_one(_BENCH, c),) for c in _RVU_COLUMNS},
    "opps_si": (_one(_BENCH, "opps_si"),),
    "medicare_asc_national_rate": (_one(_BENCH, "medicare_asc_national"),),
    "medicare_asc_state_rate": (_one(_BENCH, "medicare_asc_stateavg"),),
    "asc_pi": (_one(_BENCH, "asc_pi"),),
    "year": (_one("fact_rate", "year_month"),),
    "month": (_one("fact_rate", "year_month"),),
    "rate_to_medicare_ratio": (
        _one("fact_rate", "negotiated_rate"),
        _one(_BENCH, "medicare_prof_stateavg", "medicare_state_rate"),
        _one(_BENCH, "medicare_opps_stateavg"),
    ),
    "is_above_medicare": (
        _one("fact_rate", "negotiated_rate"),
        _one(_BENCH, "medicare_prof_stateavg", "medicare_state_rate"),
        _one(_BENCH, "medicare_opps_stateavg"),
    ),
    "is_individual_provider": (_one("dim_npi", "enumeration_type"),),
    "is_sole_proprietor": (_one("dim_npi", "sole_proprietor"),),
    "provider_type": (_one("dim_npi", "enumeration_type"),),
    "taxonomy": (_one("dim_npi", "primary_taxonomy_code"),),
}


def lineage(column: str, etl1_schemas: Mapping[str, Mapping[str, pl.DataType]]) -> list[tuple[str, str]]:
    """(ETL1 table, column) pairs the enriched ``column`` is computed from, each source
    resolved to the first candidate present in ``etl1_schemas`` (table -> schema)."""
    found: list[tuple[str, str]] = []
    for candidates in ENRICHED_LINEAGE.get(column, ()):
        for table, source in candidates:
            if source in etl1_schemas.get(table, {}):
                if (table, source) not in found:
                    found.append((table, source))
                break
    return found
