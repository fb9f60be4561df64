"""Sample raw extracts (CONTRACT section 5): two payers' in-network extracts for each
sample month, as the MRF extractor writes them, plus the five reference tables of the
sample ETL1 data (``sample_data``), so that ``etl3 etl1`` builds the star schema the
months are built from.

The extracts are made from the sample star schema's own facts, groups and members, so
the enriched months carry the same hostile values (billing classes, procedure classes,
taxonomies and market areas with every character Hive escapes, dangling keys, NPI ``0``,
several NPIs and TINs per group). On top, what raw files have: ``service_codes`` as the
text of a Python list for one payer and as ``List[String]`` for the other, dates in
several formats and some unreadable (their rows have no month), empty strings for
missing values, ids beyond 2**53, repeated rows. A later month of a payer reuses its provider
groups (same ``pg_uid``) with more members, so applying it changes the earlier month too.
"""

from __future__ import annotations

import os
import tempfile
import zlib
from collections.abc import Sequence

import polars as pl

from etl3_assets.devtools.etl1_files import write_etl1_table
from etl3_assets.devtools.sample_data import DIM_PAYERS, sample_etl1_frames
from etl3_assets.lib.contract import ETL1_REFERENCE_TABLES, RAW_PROVIDERS, RAW_RATES
from etl3_assets.lib.storage import open_storage

SAMPLE_PAYERS = (  # (label in the file name, state of its files, reporting_entity_name)
    ("aetna", "GA", DIM_PAYERS[0][1]),
    ("cigna", "NC", DIM_PAYERS[2][1]),
)
DEFAULT_RAW_MONTHS = ("2025-07", "2025-08")
DATE_SHAPES = ("{y}-{m}-01", "{y}-{m}-01", "{y}/{m}/15", "{y}{m}", "{y}-{m}", "{y}{m}28")


def sample_raw_extracts(
    raw_root: str | os.PathLike,
    etl1_root: str | os.PathLike,
    *,
    months: Sequence[str] = DEFAULT_RAW_MONTHS,
    rows_per_month: int = 400,
    seed: int = 7,
) -> list[str]:
    """Write the batches under ``raw_root`` and the reference tables under ``etl1_root``;
    returns the batch stems, oldest month first."""
    frames = sample_etl1_frames(months=months, rows_per_month=rows_per_month, seed=seed)
    for table in ETL1_REFERENCE_TABLES:
        write_etl1_table(etl1_root, table.name, frames[table.name])
    storage = open_storage(os.fspath(raw_root))
    stems = []
    for month_index, month in enumerate(sorted(months)):
        facts = frames["fact_rate"].filter(pl.col("year_month") == month).with_row_index("row")
        for payer_index, (label, state, name) in enumerate(SAMPLE_PAYERS):
            stem = f"{month.replace('-', '')}_{label}_{state.lower()}"
            rates = _rates(frames, facts.filter(pl.col("row") % 2 == payer_index), month, name, payer_index)
            providers = _providers(frames, rates, name, later=month_index > 0)
            for file, frame in ((RAW_RATES, rates), (RAW_PROVIDERS, providers)):
                fd, local = tempfile.mkstemp(suffix=".parquet")
                os.close(fd)
                frame.write_parquet(local)
                storage.put_file(file.key(stem), local)
            stems.append(stem)
    return stems


def _group_ids(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """pg_uid -> the provider reference id the extract carries (a stable number when the
    sample group has none)."""
    groups = frames["dim_provider_group"].select("pg_uid", "provider_group_id_raw")
    fallback = pl.col("pg_uid").map_elements(lambda u: zlib.crc32(u.encode()) % 10_000_000, return_dtype=pl.Int64)
    return groups.with_columns(provider_reference_id=pl.coalesce("provider_group_id_raw", fallback)).drop(
        "provider_group_id_raw"
    )


def _rates(frames: dict, facts: pl.DataFrame, month: str, name: str, payer_index: int) -> pl.DataFrame:
    y, m = month.split("-")
    shapes = [s.format(y=y, m=m) for s in DATE_SHAPES]
    members = frames["dim_pos_set"].with_columns(
        service_codes=(
            pl.col("pos_members").map_elements(lambda v: str(list(v)), return_dtype=pl.String)
            if payer_index == 0 else pl.col("pos_members")
        )
    )
    rates = (
        facts.join(_group_ids(frames), on="pg_uid", how="left")
        .join(frames["dim_code"], on=["code_type", "code"], how="left")
        .join(members.select("pos_set_id", "service_codes"), on="pos_set_id", how="left")
        .with_columns(
            last_updated_on=pl.when(pl.col("row") % 41 == 5).then(pl.lit("not a date"))
            .otherwise(pl.lit(pl.Series(shapes)).get(pl.col("row") % len(shapes))),
        )
        .select(
            "provider_reference_id",
            "negotiated_rate",
            pl.col("negotiated_type").fill_null(""),
            pl.col("billing_class").fill_null(""),
            pl.col("expiration_date").fill_null(""),
            "service_codes",
            pl.col("code").alias("billing_code"),
            pl.col("code_type").alias("billing_code_type"),
            pl.col("code_description").alias("description"),
            pl.col("code_name").alias("name"),
            pl.col("negotiation_arrangement").fill_null(""),
            *_reporting_entity(name, pl.col("last_updated_on")),
            pl.lit(f"plan {payer_index}").alias("plan_name"),
        )
    )
    return pl.concat([rates, rates.head(max(1, rates.height // 20))])  # rows repeat


def _reporting_entity(name: str, last_updated_on: pl.Expr) -> list[pl.Expr]:
    """The columns both files of an extract carry about the file that was extracted."""
    return [
        pl.lit(name).alias("reporting_entity_name"),
        pl.lit("health insurance issuer").alias("reporting_entity_type"),
        last_updated_on.alias("last_updated_on"),
        pl.lit("1.0.0").alias("version"),
    ]


def _providers(frames: dict, rates: pl.DataFrame, name: str, *, later: bool) -> pl.DataFrame:
    """One row per NPI x group (the group's first TIN on it), and a row per further TIN;
    an earlier month holds each group's members but its largest NPI."""
    ids = _group_ids(frames).filter(pl.col("provider_reference_id").is_in(rates["provider_reference_id"].implode()))
    npis = frames["xref_pg_member_npi"].join(ids, on="pg_uid")
    if not later:
        npis = npis.filter((pl.col("npi") != pl.col("npi").max().over("pg_uid")) | (pl.len().over("pg_uid") == 1))
    tins = frames["xref_pg_member_tin"].join(ids, on="pg_uid").with_columns(n=pl.int_range(pl.len()).over("pg_uid"))
    first_tin = tins.filter(pl.col("n") == 0).select("pg_uid", "tin_type", "tin_value")
    rows = pl.concat(
        [
            npis.join(first_tin, on="pg_uid", how="left").select("provider_reference_id", "npi", "tin_type", "tin_value"),
            tins.filter(pl.col("n") > 0).select("provider_reference_id", pl.lit("").alias("npi"), "tin_type", "tin_value"),
        ]
    )
    return rows.select(
        pl.col("provider_reference_id").alias("provider_group_id"),
        pl.col("npi").fill_null(""),
        pl.col("tin_type").fill_null(""),
        pl.col("tin_value").fill_null(""),
        *_reporting_entity(name, pl.lit("2025-07-01")),
    )
