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
from etl3_assets.lib.etl1.source import Etl1Source

ADDRESS_PURPOSE_RANK = {"LOCATION": 0, "MAILING": 1}
# Fact rows per enriched batch when a month is staged (memory follows it: README, Performance).
STAGING_BATCH_ROWS = 50_000


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
    """Every dimension side of the enrichment, keyed and unique on its join key.

    Lazy scans by default; ``collected()`` holds them in memory, which is bounded by the
    dimensions' size (tens of MB for a real month), never by the month's.
    """

    payer: pl.LazyFrame
    code: pl.LazyFrame
    code_cat: pl.LazyFrame
    group: pl.LazyFrame
    pos_set: pl.LazyFrame
    provider: pl.LazyFrame
    bench: pl.LazyFrame

    @classmethod
    def scan(cls, source: Etl1Source) -> "Lookups":
        return cls(
            payer=source.scan(DIM_PAYER).select("payer_slug", "reporting_entity_name"),
            code=source.scan(DIM_CODE).select("code_type", "code", "code_description", "code_name"),
            code_cat=source.scan(DIM_CODE_CAT).rename({"proc_cd": "code"}),
            group=source.scan(DIM_PROVIDER_GROUP).select("pg_uid", "provider_group_id_raw"),
            pos_set=source.scan(DIM_POS_SET),
            provider=primary_provider_by_group(source),
            bench=source.scan(BENCH_MEDICARE).select("state", "code_type", "code", *BENCH_FIELDS),
        )

    def collected(self) -> "Lookups":
        frames = pl.collect_all([getattr(self, f.name) for f in fields(self)])
        return Lookups(*(frame.lazy() for frame in frames))


def enrich_facts(facts: pl.LazyFrame, lookups: Lookups) -> pl.LazyFrame:
    """Fact rows with every dimension joined, in the contract's column order."""
    enriched = (
        facts.join(lookups.payer, on="payer_slug", how="left")
        .join(lookups.code, on=["code_type", "code"], how="left")
        .join(lookups.code_cat, on="code", how="left")
        .join(lookups.group, on="pg_uid", how="left")
        .join(lookups.pos_set, on="pos_set_id", how="left")
        .join(lookups.provider, on="pg_uid", how="left")
        .join(lookups.bench, on=["state", "code_type", "code"], how="left")
        .with_columns(
            [pl.col(c).fill_null(v) for c, v in GEOCODING_FILLS.items()] + _derived_fields()
        )
    )
    return enriched.select([pl.col(c).cast(t) for c, t in ENRICHED_SCHEMA.items()])


def enriched_month(source: Etl1Source, year_month: str) -> pl.LazyFrame:
    """The month's enriched fact as one lazy plan (for planning and small months)."""
    facts = source.scan(FACT_RATE).filter(pl.col("year_month") == year_month)
    return enrich_facts(facts, Lookups.scan(source))


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
        lookups = Lookups.scan(self.source).collected()
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
