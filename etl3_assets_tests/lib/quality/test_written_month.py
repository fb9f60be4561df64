"""The checks of a month just written: rules over the rows the write consumed, the manifest
against them, and a sample of whole partitions checked against the manifest and read back
through the Hive reader. Each breakage of the warehouse (a file's value, a lost or resized
file, a manifest miscount, a file with a wrong dtype) must fail ``month_schema``, naming it;
the untouched month must pass."""

from pathlib import Path

import polars as pl
import pytest

from etl3_assets.lib.enrich import enriched_month
from etl3_assets.lib.etl1.source import Etl1Source
from etl3_assets.lib.hive.manifest import MonthManifest
from etl3_assets.lib.hive.writer import WriterSettings, write_month
from etl3_assets.lib.quality.validation import check_written_month
from etl3_assets.lib.storage import open_storage

MONTH = "2025-08"


@pytest.fixture
def written(etl1_root, warehouse_root):
    """The sample month (hostile partition values included) written to a local warehouse."""
    month = enriched_month(Etl1Source(open_storage(str(etl1_root))), MONTH).collect()
    storage = open_storage(str(warehouse_root))
    write_month(storage, MONTH, month.lazy(), expected_rows=month.height, settings=WriterSettings(max_workers=1))
    return month, storage, MonthManifest(storage, MONTH).committed()


def _month_schema(month: pl.DataFrame, storage, manifest: pl.DataFrame, sample_partitions=10_000):
    return check_written_month(month.lazy(), manifest, storage, MONTH, sample_partitions=sample_partitions)


def _file_with_rows(manifest: pl.DataFrame, at_least: int) -> str:
    return manifest.filter(pl.col("rows") >= at_least).sort("key")["key"][0]


def _rewrite(storage, manifest: pl.DataFrame, key: str, change) -> pl.DataFrame:
    """Rewrite one file and return the manifest with its new size (so only the content differs)."""
    path = Path(storage.uri(key))
    change(pl.read_parquet(path)).write_parquet(path, compression="zstd")
    return manifest.with_columns(
        bytes=pl.when(pl.col("key") == key).then(path.stat().st_size).otherwise("bytes")
    )


def test_the_month_as_written_passes(written):
    month, storage, manifest = written
    outcomes = _month_schema(month, storage, manifest)
    # the sample month's hostile values break warning rules, not the month as written
    assert outcomes["month_schema"].passed, outcomes["month_schema"].summary()
    assert outcomes["fact_uid_unique"].passed and outcomes["month_schema"].rows == month.height
    # a sample of one partition still checks that partition whole
    assert _month_schema(month, storage, manifest, sample_partitions=1)["month_schema"].passed


def test_a_changed_value_in_a_file_fails_naming_column_and_row(written):
    month, storage, manifest = written
    key = _file_with_rows(manifest, 2)
    uid = pl.read_parquet(storage.uri(key))["fact_uid"][0]
    manifest = _rewrite(storage, manifest, key, lambda f: f.with_columns(
        negotiated_rate=pl.when(pl.int_range(pl.len()) == 0).then(pl.col("negotiated_rate").fill_null(0) + 1)
        .otherwise("negotiated_rate")
    ))
    outcome = _month_schema(month, storage, manifest)["month_schema"]
    assert not outcome.passed
    assert "column negotiated_rate: values differ" in outcome.summary() and repr(uid) in outcome.summary()


def test_a_lost_row_a_lost_file_and_a_miscount_fail(written):
    month, storage, manifest = written
    key = _file_with_rows(manifest, 2)
    lost = pl.read_parquet(storage.uri(key))["fact_uid"][-1]
    short = _rewrite(storage, manifest, key, lambda f: f.head(-1))
    outcome = _month_schema(month, storage, short)["month_schema"]
    assert not outcome.passed and "1 written rows not read back" in outcome.summary()
    assert repr(lost) in outcome.summary()

    Path(storage.uri(key)).unlink()
    outcome = _month_schema(month, storage, short)["month_schema"]
    assert not outcome.passed and f"file {key!r} is missing" in outcome.summary(), outcome.summary()

    miscounted = manifest.with_columns(rows=pl.when(pl.col("key") == key).then(pl.col("rows") + 1).otherwise("rows"))
    outcome = _month_schema(month, storage, miscounted)["month_schema"]
    assert not outcome.passed
    assert f"the manifest lists {month.height + 1} rows" in outcome.summary(), outcome.summary()


def test_a_resized_file_and_a_wrong_dtype_fail(written):
    month, storage, manifest = written
    key = _file_with_rows(manifest, 1)
    retyped = _rewrite(storage, manifest, key, lambda f: f.with_columns(pl.col("negotiated_rate").cast(pl.String)))
    outcome = _month_schema(month, storage, manifest)["month_schema"]
    assert not outcome.passed and "bytes, the manifest says" in outcome.summary(), outcome.summary()
    outcome = _month_schema(month, storage, retyped)["month_schema"]
    assert not outcome.passed and "negotiated_rate" in outcome.summary() and "String" in outcome.summary()
