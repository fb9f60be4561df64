"""What the Glue catalog is told, computed from manifest keys (no Glue call)."""

from etl3_assets.lib.catalog.glue import month_partitions, partition_keys, table_columns
from etl3_assets.lib.contract import FILE_COLUMNS, HIVE_NULL, PARTITION_KEY_NAMES
from etl3_assets.lib.hive.layout import hive_escape
from etl3_assets.lib.storage import LocalStorage, Root, S3Storage, is_catalogued


def _key(values: dict[str, str | None], name="fact_rate_enriched.parquet") -> str:
    folder = "/".join(f"{k}={hive_escape(v) if k not in ('year', 'month') else v}" for k, v in values.items())
    return f"partitioned-data/{folder}/{name}"


def test_partitions_carry_raw_values_and_escaped_locations():
    storage = S3Storage(Root("s3://bucket/wh"))
    a = dict.fromkeys(PARTITION_KEY_NAMES, "x")
    a.update(payer_slug="a/b c", stat_area_name=None, year="2025", month="08")
    b = {**a, "payer_slug": "plain"}
    keys = [_key(a, "fact_rate_enriched-00000.parquet"), _key(a, "fact_rate_enriched-00001.parquet"), _key(b)]
    partitions = month_partitions(keys, storage)
    assert len(partitions) == 2, "split files of one partition are one Glue partition"
    values = next(v for v in partitions if v[0] == "a/b c")
    assert values[PARTITION_KEY_NAMES.index("stat_area_name")] == HIVE_NULL
    assert partitions[values] == "s3://bucket/wh/" + keys[0].rsplit("/", 1)[0] + "/"
    assert "a%2Fb c" in partitions[values]


def test_columns_and_partition_keys_in_athena_types():
    columns = {c["Name"]: c["Type"] for c in table_columns()}
    assert list(columns) == list(FILE_COLUMNS)
    assert columns["pos_members"] == "array<string>" and columns["negotiated_rate"] == "double"
    keys = {k["Name"]: k["Type"] for k in partition_keys()}
    assert list(keys) == list(PARTITION_KEY_NAMES)
    assert keys["year"] == keys["month"] == "int" and keys["taxonomy"] == "string"


def test_only_object_storage_is_catalogued(tmp_path):
    assert is_catalogued(S3Storage(Root("s3://bucket/wh")))
    assert not is_catalogued(LocalStorage(tmp_path))
