"""The enriched fact of one month (CONTRACT section 2), as a lazy polars plan.

Every join is a left join onto a frame made unique on its join key first, so the
result has exactly one row per fact row of the month.
"""

from __future__ import annotations

import polars as pl

from .contract import (
    ADDRESS_FIELDS,
    BENCH_FIELDS,
    BENCH_MEDICARE,
    DIM_CODE,
    DIM_CODE_CAT,
    DIM_NPI,
    DIM_NPI_ADDRESS,
    DIM_NPI_ADDRESS_GEOLOCATION,
    DIM_PAYER,
    DIM_POS_SET,
    DIM_PROVIDER_GROUP,
    ENRICHED_SCHEMA,
    FACT_RATE,
    GEO_FIELDS,
    GEOCODING_FILLS,
    PROVIDER_FIELDS,
    XREF_PG_MEMBER_NPI,
)
from .etl1 import Etl1Source

ADDRESS_PURPOSE_RANK = {"LOCATION": 0, "MAILING": 1}


def primary_provider_by_group(source: Etl1Source) -> pl.LazyFrame:
    """pg_uid -> primary NPI with its provider, chosen address and geolocation fields."""
    primary = (
        source.scan(XREF_PG_MEMBER_NPI).group_by("pg_uid").agg(pl.col("npi").min())
    )
    chosen_address = (
        source.scan(DIM_NPI_ADDRESS)
        .rename({"state": "address_state"})
        .with_columns(
            _rank=pl.col("address_purpose").replace_strict(
                ADDRESS_PURPOSE_RANK, default=None, return_dtype=pl.Int8
            )
        )
        .filter(pl.col("_rank").is_not_null())
        .sort("npi", "_rank", "address_hash")
        .unique("npi", keep="first", maintain_order=False)
        .select("npi", *ADDRESS_FIELDS)
    )
    geolocation = source.scan(DIM_NPI_ADDRESS_GEOLOCATION).select("npi", "address_hash", *GEO_FIELDS)
    return (
        primary.join(source.scan(DIM_NPI), on="npi", how="left")
        .join(chosen_address, on="npi", how="left")
        .join(geolocation, on=["npi", "address_hash"], how="left")
        .select("pg_uid", "npi", *PROVIDER_FIELDS, *ADDRESS_FIELDS, *GEO_FIELDS)
    )


def _derived_fields() -> list[pl.Expr]:
    rate, medicare = pl.col("negotiated_rate"), pl.col("medicare_state_rate")
    ratio = rate / medicare
    return [
        pl.col("year_month").str.slice(0, 4).cast(pl.Int32).alias("year"),
        pl.col("year_month").str.slice(5, 2).cast(pl.Int32).alias("month"),
        pl.when((medicare > 0) & ratio.is_finite()).then(ratio).otherwise(None).alias(
            "rate_to_medicare_ratio"
        ),
        (rate > medicare).alias("is_above_medicare"),
        (pl.col("enumeration_type") == "NPI-1").alias("is_individual_provider"),
        (pl.col("sole_proprietor") == "YES").alias("is_sole_proprietor"),
        pl.when(pl.col("enumeration_type") == "NPI-1")
        .then(pl.lit("Individual"))
        .when(pl.col("enumeration_type") == "NPI-2")
        .then(pl.lit("Organization"))
        .alias("provider_type"),
    ]


def enriched_month(source: Etl1Source, year_month: str) -> pl.LazyFrame:
    """The month's fact rows with every dimension joined, in the contract's column order."""
    facts = source.scan(FACT_RATE).filter(pl.col("year_month") == year_month)
    payer = source.scan(DIM_PAYER).select("payer_slug", "reporting_entity_name")
    code = source.scan(DIM_CODE).select("code_type", "code", "code_description", "code_name")
    code_cat = source.scan(DIM_CODE_CAT).rename({"proc_cd": "code"})
    group = source.scan(DIM_PROVIDER_GROUP).select("pg_uid", "provider_group_id_raw")
    pos_set = source.scan(DIM_POS_SET)
    bench = source.scan(BENCH_MEDICARE).select("state", "code_type", "code", *BENCH_FIELDS)
    enriched = (
        facts.join(payer, on="payer_slug", how="left")
        .join(code, on=["code_type", "code"], how="left")
        .join(code_cat, on="code", how="left")
        .join(group, on="pg_uid", how="left")
        .join(pos_set, on="pos_set_id", how="left")
        .join(primary_provider_by_group(source), on="pg_uid", how="left")
        .join(bench, on=["state", "code_type", "code"], how="left")
        .with_columns(
            [pl.col(c).fill_null(v) for c, v in GEOCODING_FILLS.items()] + _derived_fields()
        )
    )
    return enriched.select([pl.col(c).cast(t) for c, t in ENRICHED_SCHEMA.items()])
