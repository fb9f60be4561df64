"""The enriched fact of one month (CONTRACT section 2), as a lazy polars plan.

Every join is a left join onto a frame made unique on its join key first, so the
result has exactly one row per fact row of the month.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, fields

import polars as pl
import pyarrow.parquet as pq

from etl3_assets.lib.contract import (
    ADDRESS_FIELDS,
    ASC_BILLING_CLASS,
    BENCH_MEDICARE,
    BENCH_RVU_FIELDS,
    BENCHMARK_CODE_TYPES,
    BENCHMARK_RATE_COLUMNS,
    BENCHMARK_TYPE_OF_BILLING_CLASS,
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
    PROCEDURE_FIELDS,
    PROVIDER_FIELDS,
    TIN_LEVEL_NPI,
    XREF_PG_MEMBER_NPI,
    XREF_PG_MEMBER_TIN,
)
from etl3_assets.lib.etl1.source import Etl1Source

ADDRESS_PURPOSE_RANK = {"LOCATION": 0, "MAILING": 1}
# Fact rows per enriched batch when a month is staged (memory follows it: README, Performance).
STAGING_BATCH_ROWS = 50_000
# The fact's benchmark type (join key onto the benchmark in effect), dropped after the joins.
_BENCHMARK_TYPE_KEY = "_benchmark_type"
_ASC_KEY = "_asc"
COUNT_FIELDS = ("provider_group_tin_count", "provider_group_npi_count")


def primary_tin_by_group(source: Etl1Source) -> pl.LazyFrame:
    """pg_uid -> the group's primary TIN (smallest tin_value, ties: smallest tin_type) and
    its number of distinct TINs."""
    return (
        source.scan(XREF_PG_MEMBER_TIN)
        .filter(pl.col("pg_uid").is_not_null() & pl.col("tin_value").is_not_null())
        .sort("pg_uid", "tin_value", "tin_type", nulls_last=True)
        .group_by("pg_uid")
        .agg(
            pl.col("tin_type").first(),
            pl.col("tin_value").first(),
            pl.col("tin_value").n_unique().cast(pl.Int64).alias("provider_group_tin_count"),
        )
    )


def primary_provider_by_group(source: Etl1Source) -> pl.LazyFrame:
    """pg_uid -> primary NPI (the smallest, `0` excluded) and the group's number of NPIs,
    with the NPI's provider, chosen address and geolocation fields."""
    primary = (
        source.scan(XREF_PG_MEMBER_NPI)
        .filter(pl.col("pg_uid").is_not_null() & pl.col("npi").is_not_null() & (pl.col("npi") != TIN_LEVEL_NPI))
        .group_by("pg_uid")
        .agg(
            pl.col("npi").min(),
            pl.col("npi").n_unique().cast(pl.Int64).alias("provider_group_npi_count"),
        )
    )
    chosen_address = (
        source.scan(DIM_NPI_ADDRESS)
        .filter(pl.col("npi").is_not_null())
        .rename({"state": "address_state"})
        .with_columns(
            _rank=pl.col("address_purpose").replace_strict(
                ADDRESS_PURPOSE_RANK, default=None, return_dtype=pl.Int8
            )
        )
        .filter(pl.col("_rank").is_not_null())
        .sort("npi", "_rank", "address_hash", nulls_last=True)
        .unique("npi", keep="first", maintain_order=False)
        .select("npi", *ADDRESS_FIELDS)
    )
    # placeholder rows (npi null) never match a primary npi
    providers = source.scan(DIM_NPI).filter(pl.col("npi").is_not_null())
    geolocation = source.scan(DIM_NPI_ADDRESS_GEOLOCATION).select("npi", "address_hash", *GEO_FIELDS)
    return (
        primary.join(providers, on="npi", how="left")
        .join(chosen_address, on="npi", how="left")
        .join(geolocation, on=["npi", "address_hash"], how="left")
        .select("pg_uid", "npi", "provider_group_npi_count", *PROVIDER_FIELDS, *ADDRESS_FIELDS, *GEO_FIELDS)
    )


def benchmarks_in_effect(source: Etl1Source, year_month: str) -> pl.LazyFrame:
    """(state, code, benchmark_type) -> the benchmark row in effect in ``year_month``: the
    latest one that took effect in or before it (CONTRACT section 2)."""
    return (
        source.scan(BENCH_MEDICARE)
        .filter(
            (pl.col("year_month") <= year_month)
            & pl.all_horizontal(pl.col("state", "code", "benchmark_type").is_not_null())
        )
        .sort("year_month")
        .unique(["state", "code", "benchmark_type"], keep="last", maintain_order=False)
    )


def _rate_of_type(which: int) -> pl.Expr:
    """The row's national (0) or state (1) rate, from the columns of its own benchmark type."""
    expr = pl.lit(None, dtype=pl.Float64)
    for benchmark_type, columns in BENCHMARK_RATE_COLUMNS.items():
        expr = pl.when(pl.col("benchmark_type") == benchmark_type).then(pl.col(columns[which])).otherwise(expr)
    return expr


def primary_benchmark(in_effect: pl.LazyFrame) -> pl.LazyFrame:
    """(state, code, fact's benchmark type) -> the §2 benchmark fields."""
    return in_effect.filter(
        pl.col("benchmark_type").is_in(sorted(set(BENCHMARK_TYPE_OF_BILLING_CLASS.values())))
    ).select(
        "state",
        "code",
        pl.col("benchmark_type").alias(_BENCHMARK_TYPE_KEY),
        "benchmark_type",
        pl.col("year_month").alias("benchmark_year_month"),
        _rate_of_type(0).alias("medicare_national_rate"),
        _rate_of_type(1).alias("medicare_state_rate"),
        *BENCH_RVU_FIELDS,
        "opps_si",
    )


def asc_alternative(in_effect: pl.LazyFrame) -> pl.LazyFrame:
    """(state, code) -> the ambulatory surgery center fields, for institutional facts."""
    national, state = BENCHMARK_RATE_COLUMNS["asc"]
    return in_effect.filter(pl.col("benchmark_type") == "asc").select(
        "state",
        "code",
        pl.lit(True).alias(_ASC_KEY),
        pl.col(national).alias("medicare_asc_national_rate"),
        pl.col(state).alias("medicare_asc_state_rate"),
        "asc_pi",
    )


def _benchmark_keys() -> list[pl.Expr]:
    """The fact's benchmark type and whether it takes the ASC alternative (null: none)."""
    has_benchmark = pl.col("code_type").is_in(list(BENCHMARK_CODE_TYPES))
    return [
        pl.when(has_benchmark)
        .then(pl.col("billing_class").replace_strict(BENCHMARK_TYPE_OF_BILLING_CLASS, default=None))
        .alias(_BENCHMARK_TYPE_KEY),
        pl.when(has_benchmark & (pl.col("billing_class") == ASC_BILLING_CLASS)).then(pl.lit(True)).alias(_ASC_KEY),
    ]


def _derived_fields() -> list[pl.Expr]:
    rate, medicare = pl.col("negotiated_rate"), pl.col("medicare_state_rate")
    ratio = rate / medicare
    return [
        pl.col("year_month").str.slice(0, 4).cast(ENRICHED_SCHEMA["year"]).alias("year"),
        pl.col("year_month").str.slice(5, 2).cast(ENRICHED_SCHEMA["month"]).alias("month"),
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


@dataclass(frozen=True)
class Lookups:
    """Every dimension side of the enrichment of one month, unique on its join key.

    Lazy scans by default; ``collected()`` holds them in memory, which is bounded by the
    dimensions' size (tens of MB for a real month), never by the month's. The benchmarks
    are those in effect in the month, so a lookup serves facts of that month only.
    """

    payer: pl.LazyFrame
    code: pl.LazyFrame
    code_cat: pl.LazyFrame
    group: pl.LazyFrame
    pos_set: pl.LazyFrame
    tin: pl.LazyFrame
    provider: pl.LazyFrame
    bench: pl.LazyFrame
    asc: pl.LazyFrame

    @classmethod
    def scan(cls, source: Etl1Source, year_month: str) -> "Lookups":
        in_effect = benchmarks_in_effect(source, year_month)
        return cls(
            payer=source.scan(DIM_PAYER).select("payer_slug", "reporting_entity_name"),
            code=source.scan(DIM_CODE).select("code_type", "code", "code_description", "code_name"),
            code_cat=source.scan(DIM_CODE_CAT).rename({"proc_cd": "code", **PROCEDURE_FIELDS}),
            group=source.scan(DIM_PROVIDER_GROUP).select("pg_uid", "provider_group_id_raw"),
            pos_set=source.scan(DIM_POS_SET),
            tin=primary_tin_by_group(source),
            provider=primary_provider_by_group(source),
            bench=primary_benchmark(in_effect),
            asc=asc_alternative(in_effect),
        )

    def collected(self) -> "Lookups":
        frames = pl.collect_all([getattr(self, f.name) for f in fields(self)])
        return Lookups(*(frame.lazy() for frame in frames))


def enrich_facts(facts: pl.LazyFrame, lookups: Lookups) -> pl.LazyFrame:
    """Fact rows (of the lookups' month) with every dimension joined, in the contract's
    column order."""
    enriched = (
        facts.with_columns(_benchmark_keys())
        .join(lookups.payer, on="payer_slug", how="left")
        .join(lookups.code, on=["code_type", "code"], how="left")
        .join(lookups.code_cat, on="code", how="left")
        .join(lookups.group, on="pg_uid", how="left")
        .join(lookups.pos_set, on="pos_set_id", how="left")
        .join(lookups.tin, on="pg_uid", how="left")
        .join(lookups.provider, on="pg_uid", how="left")
        .join(lookups.bench, on=["state", "code", _BENCHMARK_TYPE_KEY], how="left")
        .join(lookups.asc, on=["state", "code", _ASC_KEY], how="left")
        .with_columns(
            [pl.col(c).fill_null(v) for c, v in GEOCODING_FILLS.items()]
            + [pl.col(c).fill_null(0) for c in COUNT_FIELDS]
            + _derived_fields()
        )
    )
    return enriched.select([pl.col(c).cast(t) for c, t in ENRICHED_SCHEMA.items()])


def enriched_month(source: Etl1Source, year_month: str) -> pl.LazyFrame:
    """The month's enriched fact as one lazy plan (for planning and small months)."""
    facts = source.scan(FACT_RATE).filter(pl.col("year_month") == year_month)
    return enrich_facts(facts, Lookups.scan(source, year_month))


@dataclass(frozen=True)
class EnrichedMonth:
    """A month of the enriched fact that can be produced in bounded batches.

    polars' streaming engine holds several times the month's fact in memory when the
    whole join plan runs in it (bench/measured/design-measurements.md), so ``batches``
    streams the fact itself in slices and joins each slice eagerly against the
    in-memory dimensions: memory follows ``batch_rows``, not the month.
    """

    source: Etl1Source
    year_month: str

    def lazy(self) -> pl.LazyFrame:
        return enriched_month(self.source, self.year_month)

    def batches(self, batch_rows: int) -> Iterator[pl.DataFrame]:
        lookups = Lookups.scan(self.source, self.year_month).collected()
        for facts in self.source.fact_batches(self.year_month, batch_rows):
            if facts.height:
                yield enrich_facts(facts.lazy(), lookups).collect()

    def write_parquet(self, path: str, batch_rows: int) -> int:
        """Stream the month into one local zstd parquet file (a row group per batch),
        written under a temporary name and renamed; returns the row count."""
        partial, rows, writer = f"{path}.{os.getpid()}.tmp", 0, None
        try:
            for batch in self.batches(batch_rows):
                table = batch.to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(partial, table.schema, compression="zstd")
                writer.write_table(table)
                rows += batch.height
        finally:
            if writer is not None:
                writer.close()
        os.replace(partial, path)
        return rows
