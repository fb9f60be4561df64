"""Settings precedence: documented defaults, then environment variables."""

import os

import pytest

from etl3_assets.lib.settings import VARIABLES, Settings


def test_defaults_without_any_variable():
    settings = Settings.from_env({})
    assert settings.etl1_root == "data/etl1" and settings.warehouse_root == "warehouse"
    assert settings.max_workers == (os.cpu_count() or 2)
    assert settings == Settings()


def test_a_set_variable_wins_and_an_empty_one_is_ignored():
    settings = Settings.from_env({"CHUNK_SIZE": "100", "WAREHOUSE_ROOT": "", "MAX_WORKERS": "3"})
    assert settings.chunk_size == 100 and settings.max_workers == 3
    assert settings.warehouse_root == "warehouse"


def test_s3_bucket_places_the_warehouse_unless_warehouse_root_is_set():
    assert Settings.from_env({"S3_BUCKET": "rates-lake"}).warehouse_root == "s3://rates-lake"
    both = {"S3_BUCKET": "rates-lake", "WAREHOUSE_ROOT": "s3://other-lake/wh"}
    assert Settings.from_env(both).warehouse_root == "s3://other-lake/wh"


def test_a_mistyped_root_is_refused_naming_its_variable():
    with pytest.raises(ValueError, match="WAREHOUSE_ROOT='s3//bucket/wh' is not a valid root"):
        Settings.from_env({"WAREHOUSE_ROOT": "s3//bucket/wh"})
    with pytest.raises(ValueError, match="ETL1_ROOT='S3://bucket/etl1' is not a valid root"):
        Settings.from_env({"ETL1_ROOT": "S3://bucket/etl1"})


def test_a_bad_number_names_the_variable():
    with pytest.raises(ValueError, match="MEMORY_LIMIT_MB='lots'"):
        Settings.from_env({"MEMORY_LIMIT_MB": "lots"})
    with pytest.raises(ValueError, match="MAX_WORKERS='0'"):
        Settings.from_env({"MAX_WORKERS": "0"})


def test_every_variable_sets_a_field_and_with_values_overrides_only_what_is_given():
    assert {v.field for v in VARIABLES} <= set(Settings.field_names())
    base = Settings(chunk_size=5)
    assert base.with_values(chunk_size=None, max_workers=7) == Settings(chunk_size=5, max_workers=7)
