"""Issue 14, item 1: ETL1 tables are read by meaning (CONTRACT §1, "How a column may be stored").

Every table of the sample data, as the real ETL1 writes it (its extra columns of any
type, NaN for missing reference numbers), is written in the lossless forms three real
writers produce (polars, pyarrow, DuckDB ``COPY``); each month built from them equals the
oracle's month of the same values written the plain way, and the sensor's digests do
not change. Each lossy form fails naming table, column, stored dtype and a value, with
the warehouse unchanged.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from etl3_assets.lib.contract import ETL1_BY_NAME, ETL1_TABLES
from etl3_assets.lib.etl1.source import Etl1InputError, Etl1Source, contract_reading
from etl3_assets.lib.etl1.watch import month_digests, table_digest
from etl3_assets.lib.quality.validation import check_etl1_inputs
from etl3_assets.lib.storage import open_storage
from etl3_assets.devtools.sample_data import as_etl1_writes, sample_etl1_frames, write_etl1_table

from etl3_assets_tests.support.deployment import materialize_month, snapshot
from etl3_assets_tests.support.oracle import READERS, as_read_from_hive, assert_same_rows, expected_enriched

MONTH = "2025-08"
# Columns made entirely null, so that the writers store them in their all-null forms.
ALL_NULL = {
    "fact_rate": ["expiration_date"],
    "dim_npi": ["credential"],
    "dim_npi_address": ["address_2"],
    "bench_medicare_comprehensive": ["opps_si", "practice_expense_rvu"],
}


def canonical_frames() -> dict[str, pl.DataFrame]:
    """The sample tables with values every variant can store unchanged: floats that a
    float32 holds exactly, ids that an int16 holds, and a few all-null columns."""
    frames = sample_etl1_frames(months=["2025-07", MONTH], rows_per_month=200, seed=3)
    out = {}
    for name, df in frames.items():
        df = df.with_columns(
            pl.col(c).cast(pl.Float32).cast(pl.Float64) for c, t in df.schema.items() if t == pl.Float64
        ).with_columns(pl.lit(None, dtype=df.schema[c]).alias(c) for c in ALL_NULL.get(name, []))
        if name == "dim_provider_group":
            df = df.with_columns(pl.col("provider_group_id_raw") % 30_000)
        out[name] = df
    return out


def _folder(root: Path, name: str) -> Path:
    path = root / ETL1_BY_NAME[name].relative_path
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _all_null(s: pl.Series) -> bool:
    return s.null_count() == s.len()


def write_polars(root: Path, name: str, df: pl.DataFrame) -> None:
    """polars' own forms: Null for an all-null column, Categorical and Enum strings, the
    narrowest integer, Float32, lists of categoricals."""
    columns = []
    for i, s in enumerate(df.iter_columns()):
        if _all_null(s):
            s = pl.Series(s.name, [None] * s.len(), dtype=pl.Null)
        elif s.dtype == pl.String:
            s = s.cast(pl.Categorical) if i % 2 else s.cast(pl.Enum(s.drop_nulls().unique().sort().to_list()))
        elif s.dtype == pl.Int64:
            s = s.shrink_dtype()
            assert s.dtype in (pl.Int8, pl.Int16, pl.Int32), s.dtype
        elif s.dtype == pl.Float64:
            s = s.cast(pl.Float32)
        elif s.dtype == pl.List(pl.String):
            s = s.cast(pl.List(pl.Categorical))
        columns.append(s)
    pl.DataFrame(columns).write_parquet(_folder(root, name))


def write_pyarrow(root: Path, name: str, df: pl.DataFrame) -> None:
    """pyarrow's forms: large strings, string views and dictionaries in turn, int32 or
    uint64, float32, the null type, columns in reverse order and two extra columns."""
    table = df.to_arrow()
    string_forms = [pa.large_string(), pa.string_view(), "dictionary"]
    arrays, names = [], []
    for i, field in enumerate(table.schema):
        array = table.column(field.name)
        if array.null_count == len(array):
            array = pa.nulls(len(array), pa.null())
        elif pa.types.is_string(field.type) or pa.types.is_large_string(field.type) or pa.types.is_string_view(field.type):
            form = string_forms[i % 3]
            array = pc.dictionary_encode(array.cast(pa.string())) if form == "dictionary" else array.cast(form)
        elif pa.types.is_int64(field.type):
            array = array.cast(pa.uint64() if pc.min(array).as_py() >= 0 else pa.int32())
        elif pa.types.is_float64(field.type):
            array = array.cast(pa.float32())
        elif pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            array = array.cast(pa.list_(pa.large_string()))
        arrays.append(array)
        names.append(field.name)
    arrays += [pa.array(range(len(table)), pa.int64()), pa.array(["etl1 run 42"] * len(table), pa.string())]
    names += ["etl1_row_number", "etl1_run"]
    out = pa.table(list(reversed(arrays)), names=list(reversed(names)))
    pq.write_table(out, _folder(root, name))


def _sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def write_duckdb(root: Path, name: str, df: pl.DataFrame) -> None:
    """DuckDB's forms through ``COPY ... TO``: ENUM (few values) or VARCHAR strings, an
    untyped NULL column, INTEGER, FLOAT, VARCHAR[]."""
    con = duckdb.connect()
    try:
        con.register("source", df.to_arrow())
        select = []
        for column, dtype in df.schema.items():
            s, quoted = df[column], f'"{column}"'
            if _all_null(s):
                select.append(f"NULL AS {quoted}")
            elif dtype == pl.String and s.drop_nulls().n_unique() <= 20:
                values = ", ".join(_sql_string(v) for v in s.drop_nulls().unique().sort().to_list())
                con.sql(f"CREATE TYPE enum_{column} AS ENUM ({values})")
                select.append(f"{quoted}::enum_{column} AS {quoted}")
            elif dtype == pl.String:
                select.append(f"{quoted}::VARCHAR AS {quoted}")
            elif dtype == pl.Int64:
                select.append(f"{quoted}::INTEGER AS {quoted}")
            elif dtype == pl.Float64:
                select.append(f"{quoted}::FLOAT AS {quoted}")
            elif dtype == pl.Boolean:
                select.append(f"{quoted}::BOOLEAN AS {quoted}")
            elif isinstance(dtype, pl.Datetime):
                select.append(f"{quoted}::TIMESTAMPTZ AS {quoted}")
            else:
                select.append(f"{quoted}::VARCHAR[] AS {quoted}")
        target = _folder(root, name)
        con.sql(f"COPY (SELECT {', '.join(select)} FROM source) TO {_sql_string(str(target))} (FORMAT parquet)")
    finally:
        con.close()


WRITERS = {"polars": write_polars, "pyarrow": write_pyarrow, "duckdb": write_duckdb}
# The stored dtypes each writer must really have produced (as polars reads them), so the
# test cannot pass by writing the plain form.
EXPECTED_FORMS = {
    "polars": {pl.Null, pl.Categorical, pl.Float32, pl.Int16},
    "pyarrow": {pl.Null, pl.Categorical, pl.Float32, pl.UInt64},
    "duckdb": {pl.Int32, pl.Float32},
}


def _stored_dtypes(root: Path) -> set:
    """The dtype classes of every stored column, as polars reads the files."""
    return {
        dtype.base_type()
        for table in ETL1_TABLES
        for dtype in pl.read_parquet_schema(root / table.relative_path).values()
    }


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_every_lossless_storage_form_gives_the_oracle_month(writer, tmp_path):
    frames = canonical_frames()
    plain, variant = tmp_path / "plain", tmp_path / writer
    for name, df in frames.items():
        write_etl1_table(plain, name, df)
        WRITERS[writer](variant, name, as_etl1_writes(ETL1_BY_NAME[name], df))
    stored = _stored_dtypes(variant)
    assert EXPECTED_FORMS[writer] <= stored, stored
    if writer == "pyarrow":
        arrow_types = {str(t) for table in ETL1_TABLES for t in pq.read_schema(variant / table.relative_path).types}
        assert {"large_string", "string_view", "null", "float", "uint64"} <= arrow_types, arrow_types
        assert any(t.startswith("dictionary<") for t in arrow_types), arrow_types

    source = Etl1Source(open_storage(str(variant)))
    outcomes = check_etl1_inputs(source, MONTH)
    assert all(o.passed for o in outcomes.values()), [o.summary() for o in outcomes.values()]
    ignored = {t: set(columns) for t, columns in outcomes["etl1_schema"].ignored_columns.items()}
    etl1_extras = {
        t.name: {c for c in as_etl1_writes(t, frames[t.name]).columns if c not in t.schema} for t in ETL1_TABLES
    }
    assert all("created_date" in columns and "modifier" in columns for columns in etl1_extras.values())
    pyarrow_extras = {"etl1_run", "etl1_row_number"} if writer == "pyarrow" else set()
    assert ignored == {name: columns | pyarrow_extras for name, columns in etl1_extras.items()}

    # the sensor's digests: same values, same digests, whichever form stores them
    plain_source = Etl1Source(open_storage(str(plain)))
    assert month_digests(source) == month_digests(plain_source)
    for table in ETL1_TABLES:
        assert table_digest(source, table) == table_digest(plain_source, table), table.name
        assert source.scan(table).collect().equals(plain_source.scan(table).collect()), table.name

    warehouse = tmp_path / "warehouse"
    materialize_month(variant, warehouse, MONTH)
    expected = as_read_from_hive(expected_enriched(str(plain), MONTH))
    assert expected.height == 200
    for name, read in READERS.items():
        assert_same_rows(read(warehouse, MONTH), expected), name


def _message(result) -> str:
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    return failure.step_failure_data.error.to_string()


def _frame_with(frames, name, **columns) -> pl.DataFrame:
    return frames[name].with_columns(**columns)


def _write_arrow(root: Path, name: str, table: pa.Table) -> None:
    pq.write_table(table, root / ETL1_BY_NAME[name].relative_path)


# name: (how to store the bad table, the words of the expected message)
LOSSY = {
    "numbers in a String column": (
        lambda root, frames: _frame_with(
            frames, "dim_code", code=pl.col("code").cast(pl.Int64, strict=False)
        ).write_parquet(root / "dims" / "dim_code.parquet"),
        "ETL1 table dim_code, column code: expected String, found Int64 (e.g. value 99213)",
    ),
    "strings in a Float64 column": (
        lambda root, frames: _frame_with(
            frames, "fact_rate", negotiated_rate=pl.lit("about 120 dollars")
        ).write_parquet(root / "gold" / "fact_rate.parquet"),
        "ETL1 table fact_rate, column negotiated_rate: expected Float64, found String"
        " (e.g. value 'about 120 dollars')",
    ),
    "floats in an Int64 column": (
        lambda root, frames: _frame_with(
            frames, "dim_provider_group", provider_group_id_raw=pl.col("provider_group_id_raw").cast(pl.Float64) + 0.5
        ).sort("provider_group_id_raw", nulls_last=True).write_parquet(root / "dims" / "dim_provider_group.parquet"),
        "ETL1 table dim_provider_group, column provider_group_id_raw: expected Int64, found Float64 (e.g. value ",
    ),
    "UInt64 values above Int64's maximum": (
        lambda root, frames: _write_arrow(
            root,
            "dim_provider_group",
            frames["dim_provider_group"].to_arrow().set_column(
                frames["dim_provider_group"].columns.index("provider_group_id_raw"),
                "provider_group_id_raw",
                pa.array([2**63 + 7] + [1] * (frames["dim_provider_group"].height - 1), pa.uint64()),
            ),
        ),
        "ETL1 table dim_provider_group, column provider_group_id_raw: expected Int64, found UInt64"
        " (e.g. value 9223372036854775815 (outside Int64's range))",
    ),
    "numbers in a List[String] column": (
        lambda root, frames: _frame_with(
            frames, "dim_pos_set", pos_members=pl.col("pos_members").list.eval(pl.element().str.len_bytes())
        ).write_parquet(root / "dims" / "dim_pos_set.parquet"),
        "ETL1 table dim_pos_set, column pos_members: expected List(String), found List(UInt32) (e.g. value [",
    ),
}


@pytest.mark.parametrize("case", sorted(LOSSY))
def test_a_lossy_storage_form_fails_naming_table_column_dtype_and_value(case, tmp_path):
    frames = canonical_frames()
    etl1, warehouse = tmp_path / "etl1", tmp_path / "warehouse"
    for name, df in frames.items():
        write_etl1_table(etl1, name, df)
    materialize_month(etl1, warehouse, MONTH)
    before = snapshot(warehouse)
    assert before

    store, expected = LOSSY[case]
    store(etl1, frames)
    result = materialize_month(etl1, warehouse, MONTH, raise_on_error=False)
    assert not result.success
    message = _message(result)
    assert expected in message, message
    assert snapshot(warehouse) == before
    with pytest.raises(Etl1InputError) as raised:
        Etl1Source(open_storage(str(etl1))).scan(ETL1_BY_NAME[expected.split(",")[0].removeprefix("ETL1 table ")])
    assert expected in str(raised.value)


def test_contract_reading_decides_from_dtypes_and_values():
    table = ETL1_BY_NAME["xref_pg_member_tin"]
    schema = pa.schema(
        [
            ("tin_value", pa.dictionary(pa.int8(), pa.string())),
            ("tin_type", pa.int32()),  # DuckDB's untyped NULL column is int32
            ("created_date", pa.timestamp("us", tz="UTC")),
            ("loaded_by", pa.string()),
        ]
    )
    reading = contract_reading(table, schema)
    assert [p.column for p in reading.problems] == ["pg_uid"]
    assert "column is missing" in reading.problems[0].problem
    assert reading.ignored == ("created_date", "loaded_by")
    assert dict(reading.to_check) == {"tin_type": "lossy"}

    group = contract_reading(
        ETL1_BY_NAME["dim_provider_group"],
        pa.schema([("pg_uid", pa.string_view()), ("payer_slug", pa.string()), ("provider_group_id_raw", pa.uint64())]),
    )
    assert not group.problems and dict(group.to_check) == {"provider_group_id_raw": "range"}
