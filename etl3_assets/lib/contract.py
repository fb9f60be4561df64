"""The ETL1 -> warehouse data contract (``../shared/CONTRACT.md``) as data.

Every other module takes table names, columns, dtypes, keys and the warehouse
layout from here, so the contract is written down exactly once in code.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

S = pl.String
F = pl.Float64


@dataclass(frozen=True)
class Etl1Table:
    name: str
    folder: str
    key: tuple[str, ...]
    schema: dict[str, pl.DataType]

    @property
    def relative_path(self) -> str:
        return f"{self.folder}/{self.name}.parquet"


def _strings(*names: str) -> dict[str, pl.DataType]:
    return {n: S for n in names}


FACT_RATE = Etl1Table(
    "fact_rate",
    "gold",
    ("fact_uid",),
    {
        **_strings(
            "fact_uid", "state", "year_month", "payer_slug", "billing_class", "code_type",
            "code", "pg_uid", "pos_set_id", "negotiated_type", "negotiation_arrangement",
            "expiration_date",
        ),
        "negotiated_rate": F,
    },
)
DIM_PAYER = Etl1Table(
    "dim_payer", "dims", ("payer_slug",), _strings("payer_slug", "reporting_entity_name"),
)
DIM_CODE = Etl1Table(
    "dim_code", "dims", ("code_type", "code"),
    _strings("code_type", "code", "code_description", "code_name"),
)
# CMS BETOS/RBCS levels 1 to 3; written to the enriched fact as procedure_set/_class/_group.
DIM_CODE_CAT = Etl1Table(
    "dim_code_cat", "dims", ("proc_cd",), _strings("proc_cd", "proc_set", "proc_class", "proc_group"),
)
PROCEDURE_FIELDS = {"proc_set": "procedure_set", "proc_class": "procedure_class", "proc_group": "procedure_group"}
DIM_PROVIDER_GROUP = Etl1Table(
    "dim_provider_group", "dims", ("pg_uid",),
    {**_strings("pg_uid", "payer_slug"), "provider_group_id_raw": pl.Int64},
)
DIM_POS_SET = Etl1Table(
    "dim_pos_set", "dims", ("pos_set_id",),
    {"pos_set_id": S, "pos_members": pl.List(pl.String)},
)
XREF_PG_MEMBER_NPI = Etl1Table(
    "xref_pg_member_npi", "xrefs", ("pg_uid", "npi"), _strings("pg_uid", "npi"),
)
XREF_PG_MEMBER_TIN = Etl1Table(
    "xref_pg_member_tin", "xrefs", ("pg_uid", "tin_value"), _strings("pg_uid", "tin_type", "tin_value"),
)
TIN_TYPES = ("ein", "npi")
# The xref's npi of a TIN-level contract (a group with a TIN and no NPI): never an NPI.
TIN_LEVEL_NPI = "0"
PROVIDER_FIELDS = (
    "first_name", "last_name", "organization_name", "enumeration_type", "status",
    "primary_taxonomy_code", "primary_taxonomy_desc", "primary_taxonomy_state",
    "primary_taxonomy_license", "credential", "sole_proprietor", "enumeration_date",
    "last_updated",
)
DIM_NPI = Etl1Table("dim_npi", "dims", ("npi",), _strings("npi", *PROVIDER_FIELDS))
DIM_NPI_ADDRESS = Etl1Table(
    "dim_npi_address", "dims", ("npi", "address_purpose", "address_hash"),
    _strings(
        "npi", "address_purpose", "address_type", "address_1", "address_2", "city", "state",
        "postal_code", "country_code", "telephone_number", "fax_number", "address_hash",
    ),
)
DIM_NPI_ADDRESS_GEOLOCATION = Etl1Table(
    "dim_npi_address_geolocation", "dims", ("npi", "address_hash"),
    {
        **_strings(
            "npi", "address_hash", "matched_address", "county_name", "county_fips",
            "stat_area_name", "stat_area_code",
        ),
        "latitude": F,
        "longitude": F,
    },
)
# Three benchmark tables stacked (CONTRACT section 1): each row fills the columns of its
# own benchmark_type; year_month is when the benchmark took effect.
BENCH_RVU_FIELDS = (
    "work_rvu", "practice_expense_rvu", "malpractice_rvu", "total_rvu", "conversion_factor", "opps_weight",
)
BENCH_MEDICARE = Etl1Table(
    "bench_medicare_comprehensive", "dims", ("state", "year_month", "benchmark_type", "code"),
    {
        **_strings("state", "year_month", "code_type", "code", "benchmark_type", "opps_si", "asc_pi"),
        **{
            n: F
            for n in (
                "medicare_prof_national", "medicare_prof_stateavg", "medicare_opps_national",
                "medicare_opps_stateavg", "medicare_asc_national", "medicare_asc_stateavg",
                *BENCH_RVU_FIELDS,
            )
        },
    },
)
BENCHMARK_TYPES = ("professional", "opps", "asc")
# A fact's benchmark type follows its billing_class; other billing classes have none.
BENCHMARK_TYPE_OF_BILLING_CLASS = {"professional": "professional", "institutional": "opps"}
# Only facts of these code types have a benchmark.
BENCHMARK_CODE_TYPES = ("CPT", "HCPCS")
# benchmark_type -> (its national column, its state column) in bench_medicare_comprehensive.
BENCHMARK_RATE_COLUMNS = {
    "professional": ("medicare_prof_national", "medicare_prof_stateavg"),
    "opps": ("medicare_opps_national", "medicare_opps_stateavg"),
    "asc": ("medicare_asc_national", "medicare_asc_stateavg"),
}
# The billing class whose facts also carry the ASC alternative.
ASC_BILLING_CLASS = "institutional"

ETL1_TABLES: tuple[Etl1Table, ...] = (
    FACT_RATE, DIM_CODE, DIM_CODE_CAT, DIM_PAYER, DIM_PROVIDER_GROUP, DIM_POS_SET, DIM_NPI,
    DIM_NPI_ADDRESS, DIM_NPI_ADDRESS_GEOLOCATION, BENCH_MEDICARE, XREF_PG_MEMBER_NPI,
    XREF_PG_MEMBER_TIN,
)
ETL1_BY_NAME = {t.name: t for t in ETL1_TABLES}
DIMENSION_TABLES = tuple(t for t in ETL1_TABLES if t is not FACT_RATE)

YEAR_MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
NPI_PATTERN = r"^\d{10}$"

# USPS codes of the 50 states, DC and the inhabited territories plus the Minor Outlying
# Islands (AS, GU, MP, PR, VI, UM); a fact's `state` is expected to be one of them.
US_STATE_CODES = frozenset(
    "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ"
    " NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC AS GU MP PR VI UM".split()
)

# --- The enriched fact (CONTRACT section 2), in its canonical column order. ---

ADDRESS_FIELDS = (
    "address_purpose", "address_type", "address_1", "address_2", "city", "address_state",
    "postal_code", "country_code", "telephone_number", "fax_number", "address_hash",
)
GEO_FIELDS = (
    "matched_address", "county_name", "county_fips", "stat_area_name", "stat_area_code",
    "latitude", "longitude",
)
# The benchmark in effect for the fact (CONTRACT section 2, "The Medicare benchmark").
BENCH_FIELDS: dict[str, pl.DataType] = {
    "benchmark_type": S,
    "benchmark_year_month": S,
    "medicare_national_rate": F,
    "medicare_state_rate": F,
    **{c: F for c in BENCH_RVU_FIELDS},
    "opps_si": S,
}
# The ambulatory surgery center alternative, carried by institutional facts only.
ASC_FIELDS: dict[str, pl.DataType] = {
    "medicare_asc_national_rate": F,
    "medicare_asc_state_rate": F,
    "asc_pi": S,
}

ENRICHED_SCHEMA: dict[str, pl.DataType] = {
    **FACT_RATE.schema,
    "reporting_entity_name": S,
    "code_description": S,
    "code_name": S,
    **{c: S for c in PROCEDURE_FIELDS.values()},
    "provider_group_id_raw": pl.Int64,
    "pos_members": pl.List(pl.String),
    "tin_type": S,
    "tin_value": S,
    "provider_group_tin_count": pl.Int64,
    "npi": S,
    "provider_group_npi_count": pl.Int64,
    **{c: S for c in PROVIDER_FIELDS},
    **{c: S for c in ADDRESS_FIELDS},
    **{c: DIM_NPI_ADDRESS_GEOLOCATION.schema[c] for c in GEO_FIELDS},
    **BENCH_FIELDS,
    **ASC_FIELDS,
    "year": pl.Int32,
    "month": pl.Int32,
    "rate_to_medicare_ratio": F,
    "is_above_medicare": pl.Boolean,
    "is_individual_provider": pl.Boolean,
    "is_sole_proprietor": pl.Boolean,
    "provider_type": S,
}

GEOCODING_FILLS = {
    "stat_area_name": "Unknown",
    "county_name": "Unknown",
    "stat_area_code": "00000",
    "county_fips": "00000",
    "matched_address": "Not Geocoded",
}

# --- The warehouse (CONTRACT section 3). ---

WAREHOUSE_DATA_PREFIX = "partitioned-data"
# (partition key, enriched column it takes its value from), in path order.
PARTITION_KEYS: tuple[tuple[str, str], ...] = (
    ("payer_slug", "payer_slug"),
    ("state", "state"),
    ("billing_class", "billing_class"),
    ("procedure_set", "procedure_set"),
    ("procedure_class", "procedure_class"),
    ("taxonomy", "primary_taxonomy_code"),
    ("stat_area_name", "stat_area_name"),
    ("year", "year"),
    ("month", "month"),
)
PARTITION_KEY_NAMES = tuple(k for k, _ in PARTITION_KEYS)
# Each partition key's dtype as readers decode it: its column's enriched dtype.
PARTITION_SCHEMA: dict[str, pl.DataType] = {k: ENRICHED_SCHEMA[c] for k, c in PARTITION_KEYS}
INTEGER_PARTITION_KEYS = tuple(k for k, t in PARTITION_SCHEMA.items() if t.is_integer())
HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
HIVE_ESCAPED_CHARS = frozenset('"#%\'*/:=?\\^{[]') | {chr(0x7F)} | {chr(i) for i in range(0x20)}
DATA_FILE_STEM = "fact_rate_enriched"

# Columns stored inside each partition file: every enriched column but the partition keys.
FILE_COLUMNS: tuple[str, ...] = tuple(c for c in ENRICHED_SCHEMA if c not in PARTITION_KEY_NAMES)
FILE_SCHEMA = {c: ENRICHED_SCHEMA[c] for c in FILE_COLUMNS}

GLUE_DATABASE = "healthcare_data_lake"
GLUE_TABLE = "fact_rate_enriched"

# --- The Iceberg table (CONTRACT section 4). ---

ICEBERG_PREFIX = "iceberg"  # data and metadata under <root>/iceberg/
ICEBERG_TABLE = "fact_rate_enriched_iceberg"
ICEBERG_PARTITION_COLUMNS = ("year", "month")
# Every enriched column and all nine partition columns: `taxonomy` (the partition key
# that has no column of its own name) right after primary_taxonomy_code.
_AFTER_TAXONOMY_CODE = list(ENRICHED_SCHEMA).index("primary_taxonomy_code") + 1
ICEBERG_SCHEMA: dict[str, pl.DataType] = dict(
    [
        *list(ENRICHED_SCHEMA.items())[:_AFTER_TAXONOMY_CODE],
        ("taxonomy", ENRICHED_SCHEMA["primary_taxonomy_code"]),
        *list(ENRICHED_SCHEMA.items())[_AFTER_TAXONOMY_CODE:],
    ]
)

# --- Asset names the layers share. ---

STAGED_ASSET = "staged_enriched_month"  # the month staged as one parquet file
WAREHOUSE_ASSET = "fact_rate_enriched"  # the month in the Hive layout (CONTRACT section 3)
ICEBERG_ASSET = ICEBERG_TABLE  # the month in the Iceberg table (CONTRACT section 4)
