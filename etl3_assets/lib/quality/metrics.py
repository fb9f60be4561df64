"""The seed's quality metrics of a month, as materialization metadata.

Column statistics come from one streaming aggregation over the enriched month; partition
statistics from the month's manifest (key, rows and bytes of every file written). The
data-quality score is defined in the README ("Quality checks").
"""

from __future__ import annotations

import polars as pl

from etl3_assets.lib.contract import ENRICHED_SCHEMA, GEOCODING_FILLS
from etl3_assets.lib.hive.layout import key_partition_dir
from etl3_assets.lib.quality.schemas import ENRICHED_VALUE_RULES, REQUIRED_FIELDS

class Markdown(str):
    """A metric meant to be rendered as markdown (the Dagster UI does)."""


# Upper bounds of the rows-per-partition histogram's bins.
ROWS_PER_PARTITION_BINS = (1, 5, 10, 20, 50, 100, 1_000, 10_000, 100_000)
BAR_WIDTH = 30
# Digits kept in the metadata: rates to the cent, shares (0..1) to a millionth. More would
# be float noise, not information.
RATE_DIGITS = 2
SHARE_DIGITS = 6


def column_metrics(enriched: pl.LazyFrame) -> dict[str, float | int | dict]:
    """Completeness, rates, coverage and rule pass shares of the month.

    Three kinds of streaming query, kept apart: polars runs a select in memory as soon
    as one expression cannot stream, and a median or a distinct count next to 70 null
    counts would load the whole month (bench/measured/design-measurements.md).
    """
    rule_checks = dict.fromkeys(r.check for r in ENRICHED_VALUE_RULES)
    counts = _streamed(
        enriched.select(
            pl.len().alias("rows"),
            *[pl.col(c).null_count().alias(f"null:{c}") for c in ENRICHED_SCHEMA],
            pl.col("medicare_state_rate").is_not_null().sum().alias("benchmark_rows"),
            pl.any_horizontal(pl.col(REQUIRED_FIELDS).is_null()).not_().sum().alias("required_ok"),
            *[
                pl.any_horizontal([r.failing() for r in ENRICHED_VALUE_RULES if r.check == check])
                .sum()
                .alias(f"failing:{check}")
                for check in rule_checks
            ],
        )
    )
    rate = pl.col("negotiated_rate")
    rates = _streamed(
        enriched.select(
            rate.mean().alias("rate_mean"),
            rate.median().alias("rate_median"),
            rate.min().alias("rate_min"),
            rate.max().alias("rate_max"),
        )
    )
    distinct = {
        name: _streamed(_distinct(enriched, column).select(pl.len().alias(name)))[name]
        for name, column in (
            ("distinct_market_areas", "stat_area_name"),
            ("distinct_counties", "county_fips"),
            ("distinct_npis", "npi"),
        )
    }

    rows = counts["rows"]
    share = (lambda n: n / rows) if rows else (lambda n: 0.0)
    completeness = {c: round(1 - share(counts[f"null:{c}"]), SHARE_DIGITS) for c in ENRICHED_SCHEMA}
    pass_shares = {
        "completeness": sum(completeness.values()) / len(completeness),
        "required_fields": share(counts["required_ok"]),
        **{check: 1 - share(counts[f"failing:{check}"]) for check in rule_checks},
    }
    return {
        "completeness": completeness,
        "completeness_mean": round(pass_shares["completeness"], SHARE_DIGITS),
        # rates in dollars: to the cent (a mean of floats prints as 4024.8817500000005)
        **{k: None if v is None else round(v, RATE_DIGITS) for k, v in rates.items()},
        **distinct,
        "medicare_benchmark_coverage": round(share(counts["benchmark_rows"]), SHARE_DIGITS),
        "data_quality_score": round(100 * sum(pass_shares.values()) / len(pass_shares), 2) if rows else 0.0,
        "data_quality_components": {k: round(v, SHARE_DIGITS) for k, v in pass_shares.items()},
    }


def _streamed(query: pl.LazyFrame) -> dict:
    return query.collect(engine="streaming").row(0, named=True)


def _distinct(enriched: pl.LazyFrame, column: str) -> pl.LazyFrame:
    """Distinct real values: nulls and the contract's geocoding fills do not count."""
    values = enriched.select(column).drop_nulls()
    if column in GEOCODING_FILLS:
        values = values.filter(pl.col(column) != GEOCODING_FILLS[column])
    return values.unique()


def partition_metrics(files: pl.DataFrame) -> dict[str, object]:
    """Rows and bytes per file and rows per partition, from a manifest (key, rows, bytes)."""
    if files.is_empty():
        return {}
    per_partition = (
        files.group_by(key_partition_dir(pl.col("key")).alias("partition"))
        .agg(pl.col("rows").sum())["rows"]
    )
    out: dict[str, object] = {}
    for name, series in (
        ("rows_per_file", files["rows"]),
        ("bytes_per_file", files["bytes"]),
        ("rows_per_partition", per_partition),
    ):
        out[f"{name}_min"] = int(series.min())
        out[f"{name}_median"] = float(series.median())
        out[f"{name}_max"] = int(series.max())
    out["rows_per_partition_distribution"] = Markdown(histogram_markdown(per_partition))
    return out


def histogram_markdown(rows_per_partition: pl.Series) -> str:
    """A bar chart of partitions by size, as a markdown table (renders in the Dagster UI)."""
    lows = (1, *(b + 1 for b in ROWS_PER_PARTITION_BINS))
    highs = (*ROWS_PER_PARTITION_BINS, None)
    counts = [
        int(((rows_per_partition >= lo) & (rows_per_partition <= hi if hi else True)).sum())
        for lo, hi in zip(lows, highs)
    ]
    top = max(counts) or 1
    lines = ["| rows per partition | partitions | |", "|---:|---:|:---|"]
    for lo, hi, n in zip(lows, highs, counts):
        label = f"{lo}" if lo == hi else (f"{lo}–{hi}" if hi else f"> {lo - 1}")
        lines.append(f"| {label} | {n} | {'█' * max(1 if n else 0, round(BAR_WIDTH * n / top))} |")
    return "\n".join(lines)


def month_quality_metrics(enriched: pl.LazyFrame, files: pl.DataFrame) -> dict[str, object]:
    """Every quality metric of a written month: column metrics of the enriched rows and
    partition metrics of its files (key, rows, bytes)."""
    return {**column_metrics(enriched), **partition_metrics(files)}
