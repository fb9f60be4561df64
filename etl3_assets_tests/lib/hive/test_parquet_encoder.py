"""Issue 13: the bucket encoder writes, file for file, what pyarrow writes with the
contract's settings (zstd, statistics, no dictionary): the same schema, values, encodings,
compression and statistics, read back the same by pyarrow, polars and DuckDB."""

import io
import math
import random

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl3_assets.lib.contract import FILE_SCHEMA
from etl3_assets.lib.hive.parquet_encoder import CREATED_BY, MAX_STATISTICS_BYTES, BucketEncoder, supports
from etl3_assets.lib.hive.writer import DICTIONARY_MIN_ROWS, encode_files

NASTY_STRINGS = [
    "", " ", "a, b", "x/y=z", "100%", 'quote"d', "it's", "Zürich", "東京", "emoji 🙂", "tab\tnew\nline",
    "__HIVE_DEFAULT_PARTITION__", "z" * (MAX_STATISTICS_BYTES + 1),
]


def _value(dtype: pl.DataType, rng: random.Random):
    if rng.random() < 0.2:
        return None
    if dtype == pl.String:
        return rng.choice(NASTY_STRINGS)
    if dtype == pl.Float64:
        return rng.choice([0.0, -0.0, 1.5, -2.25, 1e300, float("nan"), float("inf"), float("-inf"), rng.random()])
    if dtype == pl.Int64:
        return rng.choice([0, -1, 2**62, -(2**62), rng.randrange(-1000, 1000)])
    if dtype == pl.Boolean:
        return rng.random() < 0.5
    if dtype == pl.List(pl.String):
        return [rng.choice([*NASTY_STRINGS[:6], None]) for _ in range(rng.choice([0, 0, 1, 1, 1, 2, 5]))]
    raise AssertionError(dtype)


def contract_rows(n: int, seed: int = 13) -> pa.Table:
    """``n`` rows of the warehouse file schema with what real data holds: nulls (also whole
    columns of a file), NaN, signed zeros, non-ASCII, empty and long strings, null, empty
    and several-element lists with null elements."""
    rng = random.Random(seed)
    columns = {name: [_value(dtype, rng) for _ in range(n)] for name, dtype in FILE_SCHEMA.items()}
    columns["provider_type"] = [None] * n  # a column that is null in every file
    columns["latitude"] = [float("nan")] * n  # a float column with no comparable value
    columns["npi"] = [f"{i:010d}" for i in range(n)]  # one without nulls
    return pl.DataFrame(columns, schema=FILE_SCHEMA).to_arrow()


def pyarrow_file(rows: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(rows, sink, compression="zstd", write_statistics=True, store_schema=False, use_dictionary=False)
    return sink.getvalue()


def logical_metadata(data: bytes) -> dict:
    """The footer as readers see it, without what depends on page layout (offsets, sizes)
    and without the writer's name."""
    meta = pq.read_metadata(io.BytesIO(data)).to_dict()
    for key in ("created_by", "serialized_size"):
        meta.pop(key)
    for group in meta["row_groups"]:
        group.pop("total_byte_size")
        for column in group["columns"]:
            for key in ("file_offset", "data_page_offset", "total_compressed_size", "total_uncompressed_size"):
                column.pop(key)
    return meta


def as_comparable(table: pa.Table) -> list:
    """Rows with NaN made comparable (NaN != NaN) and -0.0 told from 0.0."""
    def fix(v):
        if isinstance(v, float):
            return ("nan",) if math.isnan(v) else (v, math.copysign(1, v))
        return v
    return [{k: fix(v) for k, v in row.items()} for row in table.to_pylist()]


LENGTHS = [1, 2, 3, 7, 1, 40, 1, 5, 100, 1, 2, 37, 1]


def test_every_file_is_what_pyarrow_writes_with_the_contract_settings():
    table = contract_rows(sum(LENGTHS))
    encoder = BucketEncoder.of_table(table, LENGTHS)
    offset = 0
    for i, length in enumerate(LENGTHS):
        rows = table.slice(offset, length)
        offset += length
        ours, theirs = encoder.encode(i), pyarrow_file(rows)
        assert logical_metadata(ours) == logical_metadata(theirs), f"file {i}"
        back = pq.read_table(io.BytesIO(ours))
        assert back.schema == pq.read_table(io.BytesIO(theirs)).schema
        assert as_comparable(back) == as_comparable(rows), f"file {i}"
        meta = pq.read_metadata(io.BytesIO(ours))
        assert meta.created_by == CREATED_BY.decode()
        for c in range(meta.num_columns):
            assert meta.row_group(0).column(c).compression == "ZSTD"
            assert meta.row_group(0).column(c).is_stats_set


def test_statistics_follow_pyarrows_rules():
    table = pa.table({
        "x": pa.array([0.0, 2.0, float("nan"), -0.0, -1.0, None, float("nan")], pa.float64()),
        "s": pa.array(["b", "a", "é", None, "z" * (MAX_STATISTICS_BYTES + 1), "m", None], pa.large_string()),
    })
    encoder = BucketEncoder.of_table(table, [2, 1, 1, 2, 1])
    stats = [pq.read_metadata(io.BytesIO(encoder.encode(i))).row_group(0) for i in range(5)]
    x = [s.column(0).statistics for s in stats]
    # a zero minimum is -0.0, a zero maximum +0.0; NaN is ignored; no value, no min/max
    assert math.copysign(1, x[0].min) == -1 and x[0].max == 2.0
    assert not x[1].has_min_max and x[1].null_count == 0
    assert x[2].min == 0.0 and math.copysign(1, x[2].max) == 1
    assert (x[3].min, x[3].max, x[3].null_count) == (-1.0, -1.0, 1)
    s = [st.column(1).statistics for st in stats]
    assert (s[0].min, s[0].max) == ("a", "b") and (s[1].min, s[2].null_count) == ("é", 1)
    assert not s[3].has_min_max  # over MAX_STATISTICS_BYTES
    assert not s[4].has_min_max and s[4].null_count == 1


def test_files_read_back_through_polars_and_duckdb(tmp_path):
    table = contract_rows(sum(LENGTHS), seed=7)
    encoder = BucketEncoder.of_table(table, LENGTHS)
    offset = 0
    for i, length in enumerate(LENGTHS):
        path = tmp_path / f"f{i}.parquet"
        path.write_bytes(encoder.encode(i))
        expected = pl.from_arrow(table.slice(offset, length))
        offset += length
        assert pl.read_parquet(path).equals(expected, null_equal=True)
        via_duckdb = duckdb.sql(f"SELECT * FROM read_parquet('{path}')").pl()
        assert via_duckdb.cast(expected.schema).equals(expected, null_equal=True)


def test_encoding_is_deterministic_and_independent_of_the_bucket_around_a_file():
    table = contract_rows(60)
    alone = BucketEncoder.of_table(table.slice(20, 10), [10]).encode(0)
    assert BucketEncoder.of_table(table, [20, 10, 30]).encode(1) == alone
    assert BucketEncoder.of_table(table, [20, 10, 30]).encode(1) == alone


def test_large_files_are_dictionary_encoded_by_pyarrow_and_small_ones_by_the_bucket_encoder():
    table = contract_rows(DICTIONARY_MIN_ROWS + 3)
    files = list(encode_files(table, [3, DICTIONARY_MIN_ROWS]))
    small, large = (pq.read_metadata(io.BytesIO(f)) for f in files)
    assert small.created_by == CREATED_BY.decode()
    assert large.created_by.startswith("parquet-cpp-arrow")
    assert "RLE_DICTIONARY" in large.row_group(0).column(0).encodings
    assert as_comparable(pq.read_table(io.BytesIO(files[1]))) == as_comparable(table.slice(3))


def test_tables_the_bucket_encoder_does_not_know_go_to_pyarrow():
    table = pa.table({"d": pa.array([1, 2, 3], pa.date32()), "s": ["a", "b", "c"]})
    assert not supports(table.schema)
    with pytest.raises(TypeError, match="column d"):
        BucketEncoder.of_table(table, [3])
    [only] = encode_files(table, [3])
    assert pq.read_table(io.BytesIO(only)).equals(table)


def test_files_are_taken_in_the_given_order_and_the_rows_are_consumed():
    table = contract_rows(50)
    shuffled = pl.from_arrow(table).with_row_index("i").sample(fraction=1.0, shuffle=True, seed=3)
    order = shuffled["i"].arg_sort()
    rows = shuffled.drop("i")
    lengths = [10, 1, 39]
    files = list(encode_files(rows, lengths, order))
    assert rows.width == 0  # every column was handed to the encoder and dropped
    expected = list(encode_files(table, lengths))
    assert files == expected


def test_lengths_must_cover_the_table():
    with pytest.raises(ValueError, match="sum to 2 rows but column s has 3"):
        BucketEncoder.of_table(pa.table({"s": ["a", "b", "c"]}), [1, 1])
