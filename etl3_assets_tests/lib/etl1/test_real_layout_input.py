"""Issue 19: ETL1's output as the real ETL1 writes it is read (CONTRACT §1), and the
previous contract's layout, or a malformed value of the new keys and formats, is refused
naming table, column and value."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl3_assets.devtools.sample_data import sample_etl1_frames, write_etl1_table
from etl3_assets.lib.contract import ETL1_BY_NAME, ETL1_TABLES
from etl3_assets.lib.etl1.source import Etl1Source, fact_months
from etl3_assets.lib.etl1.watch import month_digests, take_snapshot
from etl3_assets.lib.quality.validation import check_etl1_inputs
from etl3_assets.lib.storage import open_storage

MONTH = "2025-08"


@pytest.fixture(scope="module")
def frames() -> dict[str, pl.DataFrame]:
    return sample_etl1_frames(months=["2025-07", MONTH], rows_per_month=120, seed=19)


def _write(root: Path, frames: dict[str, pl.DataFrame]) -> Etl1Source:
    for name, df in frames.items():
        write_etl1_table(root, name, df)
    return Etl1Source(open_storage(str(root)))


def _path(root: Path, table: str) -> Path:
    return root / ETL1_BY_NAME[table].relative_path


def _messages(source: Etl1Source) -> list[str]:
    return [f.message for o in check_etl1_inputs(source, MONTH).values() for f in o.findings]


def test_fact_rows_without_a_month_are_counted_never_a_month(frames, tmp_path):
    source = _write(tmp_path, frames)
    facts = frames["fact_rate"]
    without = facts.filter(pl.col("year_month").is_null() | (pl.col("year_month") == "")).height
    assert without > 0 and facts.filter(pl.col("year_month") == "").height > 0
    outcomes = check_etl1_inputs(source, MONTH)
    assert all(o.passed for o in outcomes.values()), [o.summary() for o in outcomes.values()]
    assert outcomes["etl1_schema"].fact_rows_without_month == without
    assert set(fact_months(source)) == {"2025-07", MONTH}
    assert set(month_digests(source)) == {"2025-07", MONTH}, "the sensor never requests a month for ''"
    snapshot = take_snapshot(source, None, source.fingerprints)
    assert set(snapshot.months) == {"2025-07", MONTH}


def test_real_layout_extras_of_any_type_are_ignored_and_listed(frames, tmp_path):
    source = _write(tmp_path, frames)
    path = _path(tmp_path, "dim_code")
    table = pq.read_table(path)
    n = table.num_rows
    odd = {
        "checked_at": pa.array([dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)] * n, pa.timestamp("ns", tz="UTC")),
        "day": pa.array([dt.date(2025, 1, 2)] * n, pa.date32()),
        "at_time": pa.array([dt.time(1, 2)] * n, pa.time64("us")),
        "amount": pa.array([decimal.Decimal("1.25")] * n, pa.decimal128(9, 2)),
        "flags": pa.array([{"a": True, "b": "x"}] * n),
        "tags": pa.array([[("k", 1)]] * n, pa.map_(pa.string(), pa.int32())),
        "raw": pa.array([b"\x00\xff"] * n, pa.binary()),
        "active": pa.array([True] * n),
        "nothing": pa.nulls(n),
    }
    for name, array in odd.items():
        table = table.append_column(name, array)
    pq.write_table(table, path)
    outcomes = check_etl1_inputs(source, MONTH)
    assert all(o.passed for o in outcomes.values()), [o.summary() for o in outcomes.values()]
    assert set(odd) <= set(outcomes["etl1_schema"].ignored_columns["dim_code"])
    assert source.scan(ETL1_BY_NAME["dim_code"]).collect().columns == list(ETL1_BY_NAME["dim_code"].schema)


def test_nan_in_a_reference_table_reads_as_null(frames, tmp_path):
    source = _write(tmp_path, frames)
    stored = pl.read_parquet(_path(tmp_path, "bench_medicare_comprehensive"))
    assert stored["medicare_prof_stateavg"].is_nan().any(), "the sample writes missing numbers as NaN"
    read = source.scan(ETL1_BY_NAME["bench_medicare_comprehensive"]).collect()
    for column, dtype in read.schema.items():
        if dtype == pl.Float64:
            assert not read[column].is_nan().any(), column
    assert read["medicare_prof_stateavg"].null_count() == stored["medicare_prof_stateavg"].is_nan().sum() + stored[
        "medicare_prof_stateavg"
    ].null_count()


# name: (how the previous contract's layout is written, words of the expected finding)
PREVIOUS_LAYOUT = {
    "dim_code_cat with procedure_* columns": (
        lambda root, f: write_old(root, "dim_code_cat", f["dim_code_cat"].rename(
            {"proc_set": "procedure_set", "proc_class": "procedure_class", "proc_group": "procedure_group"}
        )),
        "ETL1 table dim_code_cat, column proc_set: column is missing (found columns: ",
    ),
    "bench_medicare_comprehensive of one benchmark per code": (
        lambda root, f: write_old(root, "bench_medicare_comprehensive", pl.DataFrame({
            "state": ["GA"], "code_type": ["CPT"], "code": ["99213"], "benchmark_type": ["PFS"],
            "medicare_national_rate": [90.0], "medicare_state_rate": [92.0],
        })),
        "ETL1 table bench_medicare_comprehensive, column year_month: column is missing (found columns: state,"
        " code_type, code, benchmark_type, medicare_national_rate, medicare_state_rate)",
    ),
    "no TIN xref (TINs in dim_provider_group)": (
        lambda root, f: _path(root, "xref_pg_member_tin").unlink(),
        "ETL1 table xref_pg_member_tin: table is missing: expected ",
    ),
}


def write_old(root: Path, table: str, df: pl.DataFrame) -> None:
    df.write_parquet(_path(root, table))


@pytest.mark.parametrize("case", sorted(PREVIOUS_LAYOUT))
def test_the_previous_layout_is_refused_naming_what_is_missing(case, frames, tmp_path):
    _write(tmp_path, frames)
    change, expected = PREVIOUS_LAYOUT[case]
    change(tmp_path, frames)
    messages = _messages(Etl1Source(open_storage(str(tmp_path))))
    assert any(expected in m for m in messages), messages


def _first_row(df: pl.DataFrame, **values) -> pl.DataFrame:
    first = pl.int_range(pl.len()) == 0
    return df.with_columns(pl.when(first).then(pl.lit(v)).otherwise(pl.col(c)).alias(c) for c, v in values.items())


# name: (table, change, words of the expected finding)
MALFORMED = {
    "npi neither 10 digits nor 0": (
        "xref_pg_member_npi", lambda df: _first_row(df, npi="00"),
        "ETL1 table xref_pg_member_npi, column npi: value '00' is not a 10-digit NPI or 0",
    ),
    "npi 0 outside the xref": (
        "dim_npi", lambda df: _first_row(df, npi="0"),
        "ETL1 table dim_npi, column npi: value '0' is not a 10-digit NPI",
    ),
    "benchmark year_month not YYYY-MM": (
        "bench_medicare_comprehensive", lambda df: _first_row(df, year_month="2025"),
        "ETL1 table bench_medicare_comprehensive, column year_month: value '2025' is not a YYYY-MM month",
    ),
    "benchmark type unknown": (
        "bench_medicare_comprehensive", lambda df: _first_row(df, benchmark_type="PFS"),
        "ETL1 table bench_medicare_comprehensive, column benchmark_type: value 'PFS' is not one of professional,"
        " opps, asc",
    ),
    "fact year_month malformed": (
        "fact_rate", lambda df: _first_row(df, year_month="08/2025"),
        "ETL1 table fact_rate, column year_month: value '08/2025' is not a YYYY-MM month (or empty: no month)",
    ),
    "benchmark key duplicated": (
        "bench_medicare_comprehensive", lambda df: pl.concat([df, df.head(1).with_columns(code_type=pl.lit("HCPCS"))]),
        "ETL1 table bench_medicare_comprehensive, column state, year_month, benchmark_type, code: duplicated key (",
    ),
    "TIN key duplicated": (
        "xref_pg_member_tin", lambda df: pl.concat([df, df.head(1).with_columns(tin_type=pl.lit("npi"))]),
        "ETL1 table xref_pg_member_tin, column pg_uid, tin_value: duplicated key (",
    ),
    "TIN key null": (
        "xref_pg_member_tin", lambda df: _first_row(df, tin_value=None),
        "ETL1 table xref_pg_member_tin, column tin_value: null in 1 of ",
    ),
    "dim_npi row without npi but with a name": (
        "dim_npi", lambda df: pl.concat([df, pl.DataFrame({"npi": [None], "last_name": ["Doe"]})], how="diagonal"),
        "ETL1 table dim_npi, column npi: null in 1 of ",
    ),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_key_or_value_fails_naming_table_column_and_value(case, frames, tmp_path):
    table, change, expected = MALFORMED[case]
    changed = dict(frames)
    changed[table] = change(frames[table])
    messages = _messages(_write(tmp_path, changed))
    assert any(expected in m for m in messages), messages


def test_the_sample_data_carries_what_real_output_contains(frames):
    """CONTRACT §1's list, and the issue's real-looking values, are all in the sample."""
    facts, bench = frames["fact_rate"], frames["bench_medicare_comprehensive"]
    assert (facts["year_month"] == "").any() and (facts["negotiated_rate"] == 0.0).any()
    assert {"9999-12-31", ""} <= set(facts["expiration_date"].drop_nulls())
    assert (frames["xref_pg_member_npi"]["npi"] == "0").any()
    assert frames["dim_npi"].filter(pl.all_horizontal(pl.all().is_null())).height >= 2
    members = frames["dim_pos_set"]["pos_members"].to_list()
    assert [] in members and ["l", "n", "u"] in members
    assert set(bench["benchmark_type"]) == {"professional", "opps", "asc"}
    assert bench.group_by("benchmark_type").agg(pl.col("code_type").unique())["code_type"].list.len().max() == 1
    assert bench["year_month"].n_unique() >= 2 and (bench["medicare_prof_stateavg"] == 0.0).any()
    assert frames["xref_pg_member_tin"].group_by("pg_uid").len()["len"].max() >= 2
    assert frames["xref_pg_member_npi"].filter(pl.col("npi") != "0").group_by("pg_uid").len()["len"].max() >= 2
    assert "Office/ outpatient services" in frames["dim_code_cat"]["proc_class"].to_list()
    geo = frames["dim_npi_address_geolocation"]["stat_area_name"].drop_nulls()
    assert geo.str.ends_with(" CSA").any()
    assert {t.name for t in ETL1_TABLES} == set(frames)
