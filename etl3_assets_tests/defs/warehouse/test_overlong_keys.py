"""Issue 14, item 3: partition values whose folder or object key cannot exist are refused
during the input checks, before anything is staged or written, locally and on S3."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl

from etl3_assets.defs.resources import build_resources
from etl3_assets.devtools.sample_data import write_etl1_table
from etl3_assets.lib.hive.layout import hive_escape

from etl3_assets_tests.support.deployment import materialize_month, snapshot, test_settings
from etl3_assets_tests.support.oracle import READERS, as_read_from_hive, assert_same_rows, expected_enriched, month_files
from etl3_assets_tests.support.s3_month import ASSETS, ETL1

MONTH = "2025-08"


def _read(root: Path, folder: str, table: str) -> pl.DataFrame:
    return pl.read_parquet(root / folder / f"{table}.parquet")


def _first_fact_of_month(root: Path, **values) -> None:
    """Give the month's first fact row these values (everything else unchanged)."""
    facts = _read(root, "gold", "fact_rate").with_row_index("_i")
    first = facts.filter(pl.col("year_month") == MONTH)["_i"][0]
    at_first = pl.col("_i") == first
    facts = facts.with_columns(pl.when(at_first).then(pl.lit(v)).otherwise(pl.col(c)).alias(c) for c, v in values.items())
    write_etl1_table(root, "fact_rate", facts.drop("_i"))


def _failure(result) -> str:
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    return failure.step_failure_data.error.to_string()


def test_a_value_too_long_for_a_folder_name_fails_before_anything_is_written(etl1_root, warehouse_root):
    materialize_month(etl1_root, warehouse_root, MONTH)
    before = snapshot(warehouse_root)
    # 100 slashes escape to 300 bytes: the folder `procedure_class=%2F%2F…` cannot exist
    long_class = "Radiology / " + "/" * 100
    assert len(("procedure_class=" + hive_escape(long_class)).encode()) > 255
    code_cat = _read(etl1_root, "dims", "dim_code_cat")
    code_cat = code_cat.with_columns(proc_class=pl.lit(long_class))
    write_etl1_table(etl1_root, "dim_code_cat", code_cat)

    result = materialize_month(etl1_root, warehouse_root, MONTH, raise_on_error=False)
    assert not result.success
    message = _failure(result)
    assert (
        "ETL1 table dim_code_cat, column proc_class: value 'Radiology / ////" in message
        and "…' makes the partition folder procedure_class=… 330 bytes long;"
        " a folder name may have at most 255 bytes" in message
    ), message
    assert snapshot(warehouse_root) == before


def test_an_object_key_longer_than_1024_bytes_fails_before_anything_is_written(etl1_root, warehouse_root):
    materialize_month(etl1_root, warehouse_root, MONTH)
    before = snapshot(warehouse_root)
    # every folder fits 255 bytes, the whole key does not: five folders of ~250 bytes
    code_cat = _read(etl1_root, "dims", "dim_code_cat")
    code = code_cat["proc_cd"][0]
    code_cat = code_cat.with_columns(
        proc_set=pl.when(pl.col("proc_cd") == code).then(pl.lit("s" * 235)).otherwise("proc_set"),
        proc_class=pl.when(pl.col("proc_cd") == code).then(pl.lit("c" * 235)).otherwise("proc_class"),
    )
    write_etl1_table(etl1_root, "dim_code_cat", code_cat)
    _first_fact_of_month(etl1_root, code=code, payer_slug="p" * 240, state="t" * 240, billing_class="b" * 240)

    result = materialize_month(etl1_root, warehouse_root, MONTH, raise_on_error=False)
    assert not result.success
    message = _failure(result)
    assert "ETL1 table fact_rate, column billing_class: value 'bbbbbbbb" in message, message
    assert "…' makes the object key partitioned-data/payer_slug=pppp" in message, message
    assert "/fact_rate_enriched-00000.parquet 1" in message, message
    assert "bytes long; S3 allows at most 1024 bytes per key" in message, message
    assert "folder name" not in message
    assert snapshot(warehouse_root) == before


def test_on_s3_the_warehouse_prefix_counts_toward_the_key_limit(etl1_root, tmp_path, s3_bucket, moto_endpoint):
    # long values that fit a local warehouse (relative keys below 1,024 bytes) ...
    _first_fact_of_month(etl1_root, payer_slug="p" * 200, state="t" * 200, billing_class="b" * 200)
    local = tmp_path / "local"
    materialize_month(etl1_root, local, MONTH)
    assert_same_rows(READERS["pyarrow"](local, MONTH), as_read_from_hive(expected_enriched(str(etl1_root), MONTH)))
    longest = max(len(p.relative_to(local).as_posix().encode()) for p in month_files(local, MONTH))
    with_split_name = longest + len("-00000")
    assert with_split_name < 1000

    # ... but not under a warehouse prefix that takes the key 4 bytes past S3's 1,024
    s3_bucket.upload_tree(etl1_root, ETL1)
    prefix = "warehouse/" + "w" * (1024 + 4 - with_split_name - 1 - len("warehouse/"))
    settings = test_settings(s3_bucket.uri(ETL1), s3_bucket.uri(prefix))
    resources = build_resources(settings, s3=s3_bucket.resource, glue_endpoint_url=moto_endpoint)
    before = s3_bucket.objects("")
    result = dg.materialize(ASSETS, partition_key=MONTH, raise_on_error=False, resources=resources)
    assert not result.success
    message = _failure(result)
    assert "ETL1 table fact_rate, column billing_class: value 'bbbbbbbb" in message, message
    assert f"makes the object key {prefix[:50]}" in message, message
    assert "1028 bytes long; S3 allows at most 1024 bytes per key" in message, message
    assert s3_bucket.objects("") == before
