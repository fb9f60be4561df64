"""The quality metrics of a known sample month equal values computed independently:
column statistics by DuckDB over the oracle's enriched month, partition statistics from
the files on disk."""

import re

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from etl3_assets.lib.contract import ENRICHED_SCHEMA, US_STATE_CODES

from etl3_assets_tests.support.deployment import materialize_month
from etl3_assets_tests.support.oracle import expected_enriched, month_files

MONTH = "2025-08"


@pytest.fixture
def metadata(etl1_root, warehouse_root):
    result = materialize_month(etl1_root, warehouse_root, MONTH)
    (materialization,) = result.asset_materializations_for_node("fact_rate_enriched")
    return {k: v.value for k, v in materialization.metadata.items()}


def _sql_row(frame: pl.DataFrame, sql: str) -> dict:
    con = duckdb.connect()
    try:
        con.register("month", frame.to_arrow())
        cursor = con.execute(sql)
        return dict(zip([d[0] for d in cursor.description], cursor.fetchone()))
    finally:
        con.close()


def test_column_metrics_equal_an_independent_computation(metadata, etl1_root):
    month = expected_enriched(str(etl1_root), MONTH)
    states = ", ".join(f"'{s}'" for s in sorted(US_STATE_CODES))
    expected = _sql_row(
        month,
        f"""
        SELECT avg(negotiated_rate) AS rate_mean, median(negotiated_rate) AS rate_median,
               min(negotiated_rate) AS rate_min, max(negotiated_rate) AS rate_max,
               count(DISTINCT stat_area_name) FILTER (WHERE stat_area_name <> 'Unknown') AS distinct_market_areas,
               count(DISTINCT county_fips) FILTER (WHERE county_fips <> '00000') AS distinct_counties,
               count(DISTINCT npi) AS distinct_npis,
               avg(CASE WHEN medicare_state_rate IS NULL THEN 0 ELSE 1 END) AS medicare_benchmark_coverage,
               avg(CASE WHEN fact_uid IS NULL OR negotiated_rate IS NULL OR state IS NULL OR payer_slug IS NULL
                   THEN 0 ELSE 1 END) AS required_fields,
               avg(CASE WHEN negotiated_rate < 0.01 OR negotiated_rate > 1000000 THEN 0 ELSE 1 END) AS rate_range,
               avg(CASE WHEN state IS NOT NULL AND state NOT IN ({states}) THEN 0 ELSE 1 END) AS state_code,
               avg(CASE WHEN abs(latitude) > 90 OR abs(longitude) > 180 THEN 0 ELSE 1 END) AS coordinates
        FROM month
        """,
    )
    for key in ("rate_mean", "rate_median", "rate_min", "rate_max"):
        assert metadata[key] == round(metadata[key], 2), f"{key} is rounded to the cent"
        assert metadata[key] == pytest.approx(expected[key], abs=0.005 + 1e-9), key
    assert metadata["medicare_benchmark_coverage"] == pytest.approx(expected["medicare_benchmark_coverage"], abs=1e-6)
    for key in ("distinct_market_areas", "distinct_counties", "distinct_npis"):
        assert metadata[key] == expected[key], key

    completeness = {c: 1 - month[c].null_count() / month.height for c in ENRICHED_SCHEMA}
    assert metadata["completeness"] == pytest.approx(completeness, abs=1e-6)
    assert 0 < min(completeness.values()) < 1  # the sample month has gaps to measure

    components = {"completeness": sum(completeness.values()) / len(completeness)}
    components |= {k: expected[k] for k in ("required_fields", "rate_range", "state_code", "coordinates")}
    assert metadata["data_quality_components"] == pytest.approx(components, abs=1e-6)
    assert metadata["data_quality_score"] == pytest.approx(100 * sum(components.values()) / 5, abs=0.01)
    assert metadata["data_quality_score"] < 100  # hostile states and null payers cost points


def test_partition_metrics_equal_the_files_on_disk(metadata, warehouse_root):
    files = pl.DataFrame(
        [
            {"dir": str(p.parent), "rows": pq.ParquetFile(p).metadata.num_rows, "bytes": p.stat().st_size}
            for p in month_files(warehouse_root, MONTH)
        ]
    )
    per_partition = files.group_by("dir").agg(pl.col("rows").sum())["rows"]
    for name, values in (
        ("rows_per_file", files["rows"]),
        ("bytes_per_file", files["bytes"]),
        ("rows_per_partition", per_partition),
    ):
        assert metadata[f"{name}_min"] == values.min(), name
        assert metadata[f"{name}_median"] == values.median(), name
        assert metadata[f"{name}_max"] == values.max(), name

    histogram = {}
    for label, count in re.findall(r"^\| ([^|]+?) \| (\d+) \|", metadata["rows_per_partition_distribution"], re.M):
        numbers = [int(n) for n in re.findall(r"\d+", label)]
        low, high = (numbers[0] + 1, None) if label.startswith(">") else (numbers[0], numbers[-1])
        histogram[(low, high)] = int(count)
    for (low, high), count in histogram.items():
        assert count == int(((per_partition >= low) & (per_partition <= (high or per_partition.max()))).sum())
    assert sum(histogram.values()) == per_partition.len() == metadata["partitions"]


def _floats(value):
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _floats(v)


def test_no_metric_carries_float_noise(metadata):
    """Rates to the cent, shares to a millionth: no ``4024.8817500000005`` in the UI."""
    floats = [(k, f) for k, v in metadata.items() for f in _floats(v)]
    assert len(floats) > 50
    for key, value in floats:
        assert value == round(value, 6), (key, value)
        assert len(repr(value).split(".")[-1]) <= 6 or "e" in repr(value), (key, value)
