"""Issue 3: the monthly warehouse on the local default, checked against the oracle."""

import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from etl3_assets.lib.contract import FILE_COLUMNS, FILE_SCHEMA, HIVE_ESCAPED_CHARS, PARTITION_KEY_NAMES
from etl3_assets.devtools.sample_data import sample_etl1_frames, write_etl1_table

from etl3_assets_tests.support.deployment import SAMPLE_MONTHS, data_snapshot, materialize_month, snapshot
from etl3_assets_tests.support.oracle import HOSTILE_VALUES, READERS, as_read_from_hive, assert_same_rows, expected_enriched, month_files
from etl3_assets_tests.support import REPO



def _month_of(key: str) -> str:
    parts = dict(seg.split("=", 1) for seg in key.split("/")[1:-1])
    return f"{parts['year']}-{parts['month']}"


def test_every_month_equals_the_oracle_through_three_readers(etl1_root, warehouse_root, dagster_instance):
    for month in SAMPLE_MONTHS:
        materialize_month(etl1_root, warehouse_root, month, instance=dagster_instance)
    for month in SAMPLE_MONTHS:
        expected = as_read_from_hive(expected_enriched(str(etl1_root), month))
        assert expected.height > 300
        for name, read in READERS.items():
            assert_same_rows(read(warehouse_root, month), expected), name


def test_files_follow_the_contract_layout(etl1_root, warehouse_root):
    materialize_month(etl1_root, warehouse_root, "2025-08")
    files = month_files(warehouse_root, "2025-08")
    assert len(files) > 50
    escaped_seen = set()
    for path in files:
        rel = path.relative_to(warehouse_root / "partitioned-data")
        segments = rel.parts[:-1]
        assert [s.split("=", 1)[0] for s in segments] == list(PARTITION_KEY_NAMES)
        assert segments[-2:] == ("year=2025", "month=08")
        for seg in segments:
            raw = seg.split("=", 1)[1]
            # only the contract's characters are escaped, upper-case hex, nothing else
            assert not any(ch in raw for ch in HIVE_ESCAPED_CHARS - {"%"}), seg
            for i in [i for i, ch in enumerate(raw) if ch == "%"]:
                code = raw[i + 1 : i + 3]
                assert code == code.upper() and chr(int(code, 16)) in HIVE_ESCAPED_CHARS, seg
                escaped_seen.add(chr(int(code, 16)))
        assert rel.name == "fact_rate_enriched.parquet"
        meta = pq.ParquetFile(path).metadata
        schema = pq.read_schema(path)
        assert schema.names == list(FILE_COLUMNS)
        assert pl.read_parquet(path).schema == pl.Schema(FILE_SCHEMA)
        column = meta.row_group(0).column(0)
        assert column.compression == "ZSTD"
        assert column.statistics is not None and column.statistics.has_min_max
    # the sample data's hostile values really were escaped
    assert {"/", "=", "%", "#", '"', "'", ":", "*", "?", "[", "]", "{", "^", "\\", "\t", "\x7f"} <= escaped_seen


def test_rematerializing_a_month_replaces_exactly_that_month(etl1_root, warehouse_root):
    for month in SAMPLE_MONTHS:
        materialize_month(etl1_root, warehouse_root, month)
    before = data_snapshot(warehouse_root)

    # ETL1 rewrites 2025-08: a third of its rows go, and some rows move to a new state
    facts = pl.read_parquet(etl1_root / "gold" / "fact_rate.parquet")
    in_month = pl.col("year_month") == "2025-08"
    keep = facts.filter(~in_month | (pl.col("fact_uid").hash(1) % 3 != 0))
    keep = keep.with_columns(
        state=pl.when(in_month & (pl.col("fact_uid").hash(2) % 4 == 0)).then(pl.lit("Nuevo León, MX")).otherwise("state")
    )
    write_etl1_table(etl1_root, "fact_rate", keep)
    materialize_month(etl1_root, warehouse_root, "2025-08")
    after = data_snapshot(warehouse_root)

    for key in set(before) | set(after):
        if _month_of(key) != "2025-08":
            assert before.get(key) == after.get(key), f"{key} of another month changed"
    removed = {k for k in before if k not in after}
    assert removed, "a shrinking month must delete the partitions it no longer has"
    assert any("state=Nuevo León, MX" in k for k in after)
    expected = as_read_from_hive(expected_enriched(str(etl1_root), "2025-08"))
    assert expected.height < 400
    for name, read in READERS.items():
        assert_same_rows(read(warehouse_root, "2025-08"), expected)
    # no empty folders are left behind by removed partitions
    data = warehouse_root / "partitioned-data"
    assert not [d for d in data.rglob("*") if d.is_dir() and not any(d.iterdir())]


def test_materializing_twice_gives_the_same_warehouse(etl1_root, warehouse_root):
    materialize_month(etl1_root, warehouse_root, "2025-07")
    first = data_snapshot(warehouse_root)
    materialize_month(etl1_root, warehouse_root, "2025-07")
    assert data_snapshot(warehouse_root) == first


def test_large_partitions_are_split_into_numbered_files(etl1_root, warehouse_root):
    materialize_month(etl1_root, warehouse_root, "2025-09", max_rows_per_file=4)
    files = month_files(warehouse_root, "2025-09")
    by_dir: dict[Path, list[str]] = {}
    for f in files:
        by_dir.setdefault(f.parent, []).append(f.name)
    split = [names for names in by_dir.values() if len(names) > 1]
    assert split, "the sample month has partitions above 4 rows"
    for folder, names in by_dir.items():
        assert max(pq.ParquetFile(folder / n).metadata.num_rows for n in names) <= 4
        if len(names) == 1:
            assert names == ["fact_rate_enriched.parquet"]
        else:
            assert sorted(names) == [f"fact_rate_enriched-{i:05d}.parquet" for i in range(len(names))]
    expected = as_read_from_hive(expected_enriched(str(etl1_root), "2025-09"))
    assert_same_rows(READERS["duckdb"](warehouse_root, "2025-09"), expected)
    # going back to unsplit files removes the splits: never both kinds in one partition
    materialize_month(etl1_root, warehouse_root, "2025-09")
    for d in {f.parent for f in month_files(warehouse_root, "2025-09")}:
        assert [p.name for p in d.iterdir()] == ["fact_rate_enriched.parquet"]
    assert_same_rows(READERS["pyarrow"](warehouse_root, "2025-09"), expected)


def test_hostile_partition_values_round_trip(tmp_path):
    """Values the sample data does not have: empty string, dots, emoji, new lines…"""
    frames = sample_etl1_frames(months=["2025-08"], rows_per_month=150, seed=3)
    facts = frames["fact_rate"]
    cycle = HOSTILE_VALUES + [None]
    payer = [cycle[i % len(cycle)] for i in range(facts.height)]
    facts = facts.with_columns(
        payer_slug=pl.Series(payer, dtype=pl.String),
        billing_class=pl.Series(payer[::-1], dtype=pl.String),
    )
    frames["fact_rate"] = facts
    etl1 = tmp_path / "etl1"
    for name, df in frames.items():
        write_etl1_table(etl1, name, df)
    warehouse = tmp_path / "wh"
    materialize_month(etl1, warehouse, "2025-08")
    enriched = expected_enriched(str(etl1), "2025-08")
    assert set(enriched["payer_slug"].to_list()) >= set(HOSTILE_VALUES)
    expected = as_read_from_hive(enriched)
    assert "" not in expected["payer_slug"].to_list(), "an empty value reads back as null (CONTRACT §3)"
    for name, read in READERS.items():
        assert_same_rows(read(warehouse, "2025-08"), expected)


def _overwrite(root: Path, table: str, df: pl.DataFrame) -> None:
    folder = {"fact_rate": "gold", "xref_pg_member_npi": "xrefs"}.get(table, "dims")
    df.write_parquet(root / folder / f"{table}.parquet")


def read_etl1(root: Path, table: str) -> pl.DataFrame:
    folder = {"fact_rate": "gold", "xref_pg_member_npi": "xrefs"}.get(table, "dims")
    return pl.read_parquet(root / folder / f"{table}.parquet")


def _set_first_value(root: Path, table: str, column: str, value: str) -> None:
    df = read_etl1(root, table)
    first = pl.int_range(pl.len()) == 0
    _overwrite(root, table, df.with_columns(pl.when(first).then(pl.lit(value)).otherwise(column).alias(column)))


BAD_INPUTS = {
    "missing table": (
        lambda root: (root / "dims" / "dim_code_cat.parquet").unlink(),
        ["dim_code_cat", "missing"],
    ),
    "missing column": (
        lambda root: _overwrite(root, "dim_npi", read_etl1(root, "dim_npi").drop("primary_taxonomy_code")),
        ["dim_npi", "primary_taxonomy_code", "missing"],
    ),
    "wrong dtype": (
        lambda root: _overwrite(
            root, "fact_rate", read_etl1(root, "fact_rate").with_columns(pl.col("negotiated_rate").cast(pl.String))
        ),
        ["fact_rate", "negotiated_rate", "Float64", "String"],
    ),
    "duplicated dimension key": (
        lambda root: _overwrite(
            root, "dim_code", pl.concat([read_etl1(root, "dim_code"), read_etl1(root, "dim_code").head(1)])
        ),
        ["dim_code", "code_type, code", "duplicated"],
    ),
    "bad year_month": (
        lambda root: _set_first_value(root, "fact_rate", "year_month", "2025/8"),
        ["fact_rate", "year_month", "'2025/8'"],
    ),
    "npi not ten digits": (
        lambda root: _set_first_value(root, "xref_pg_member_npi", "npi", "12345"),
        ["xref_pg_member_npi", "npi", "'12345'"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_clearly_and_leaves_the_warehouse_as_it_was(case, etl1_root, warehouse_root):
    materialize_month(etl1_root, warehouse_root, "2025-08")
    before = snapshot(warehouse_root)
    breaks, expected_words = BAD_INPUTS[case]
    breaks(etl1_root)
    result = materialize_month(etl1_root, warehouse_root, "2025-08", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    message = failure.step_failure_data.error.to_string()
    for word in expected_words:
        assert word in message, f"{word!r} not in: {message}"
    assert snapshot(warehouse_root) == before


def test_a_month_without_fact_rows_is_an_error(etl1_root, warehouse_root):
    result = materialize_month(etl1_root, warehouse_root, "2024-03", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "no fact rows" in failure.step_failure_data.error.to_string()
    assert not (warehouse_root / "partitioned-data").exists()


def test_dagster_cli_materializes_one_month_and_nothing_else(etl1_root, tmp_path):
    warehouse = tmp_path / "wh-cli"
    home = tmp_path / "dagster-home"
    home.mkdir()
    env = {**os.environ, "ETL1_ROOT": str(etl1_root), "WAREHOUSE_ROOT": str(warehouse), "DAGSTER_HOME": str(home)}
    cmd = [
        str(Path(sys.executable).parent / "dagster"), "asset", "materialize",
        "-m", "etl3_assets.definitions", "--select", "*fact_rate_enriched", "--partition", "2025-08",
    ]
    snapshots = []
    for _ in range(2):
        done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        snapshots.append(data_snapshot(warehouse))
    assert snapshots[0] == snapshots[1]
    assert {_month_of(k) for k in snapshots[0]} == {"2025-08"}
    assert_same_rows(READERS["polars"](warehouse, "2025-08"), as_read_from_hive(expected_enriched(str(etl1_root), "2025-08")))


def test_etl3_writer_flags_override_one_setting_each(etl1_root, tmp_path):
    warehouse = tmp_path / "wh-flags"
    env = {**os.environ, "ETL1_ROOT": str(etl1_root), "WAREHOUSE_ROOT": str(warehouse), "DAGSTER_HOME": str(tmp_path)}
    cmd = [str(Path(sys.executable).parent / "etl3"), "materialize", "--partition", "2025-08", "--max-rows-per-file", "5"]
    done = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert not (tmp_path / "warehouse").exists(), "the flag must not reset WAREHOUSE_ROOT"
    files = month_files(warehouse, "2025-08")
    assert any(f.name == "fact_rate_enriched-00001.parquet" for f in files)
    assert max(pq.ParquetFile(f).metadata.num_rows for f in files) <= 5
    assert_same_rows(READERS["pyarrow"](warehouse, "2025-08"), as_read_from_hive(expected_enriched(str(etl1_root), "2025-08")))
