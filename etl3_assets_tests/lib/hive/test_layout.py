"""Hive escaping and paths (CONTRACT section 3), checked against independent decoders."""

import urllib.parse

import pytest

from etl3_assets.lib.contract import HIVE_NULL, PARTITION_KEY_NAMES
from etl3_assets.lib.hive.layout import (
    data_file_names,
    data_key,
    hive_escape,
    hive_unescape,
    month_suffix,
    parse_partition_dir,
)

CONTRACT_ESCAPED = set('"#%\'*/:=?\\^{[]') | {chr(0x7F)} | {chr(i) for i in range(0x20)}


@pytest.mark.parametrize("code", range(0x100))
def test_every_byte_value_escapes_as_the_contract_says_and_round_trips(code):
    ch = chr(code)
    escaped = hive_escape(f"a{ch}b")
    if ch in CONTRACT_ESCAPED:
        assert escaped == f"a%{code:02X}b", "escaped as %XX, upper-case hex"
    else:
        assert escaped == f"a{ch}b", "everything else is written as is"
    assert hive_unescape(escaped) == f"a{ch}b"
    assert urllib.parse.unquote(escaped) == f"a{ch}b", "a URL decoder reads the same value back"


def test_real_values_round_trip_and_never_contain_a_slash():
    values = [
        "Office/outpatient services", "Atlanta-Sandy Springs-Alpharetta, GA", "100% = \"all\"", "a/../b",
        "%%2F", "line\nbreak", "\x01", "São Paulo 🏥", ".", "..", "__HIVE_DEFAULT_PARTITION__x", "08",
        "Office/ outpatient services", "Atlanta--Athens-Clarke County--Sandy Springs, GA-AL CSA",
    ]
    for value in values:
        escaped = hive_escape(value)
        assert "/" not in escaped and "=" not in escaped
        assert hive_unescape(escaped) == value


def test_null_and_the_empty_string_are_the_hive_default_partition():
    """CONTRACT §3: Spark refuses a folder such as ``billing_class=``; Hive and Spark write
    null and "" both as the default partition, which reads back as null."""
    assert hive_escape(None) == HIVE_NULL
    assert hive_escape("") == HIVE_NULL
    assert hive_unescape(HIVE_NULL) is None


def test_partition_dir_parses_back_to_the_raw_values():
    raw = {k: f"{k} v/a=l%ue" for k in PARTITION_KEY_NAMES}
    raw.update(year="2025", month="08", taxonomy=None)
    folder = "/".join(f"{k}={hive_escape(v) if k not in ('year', 'month') else v}" for k, v in raw.items())
    assert folder.count("/") == len(PARTITION_KEY_NAMES) - 1
    assert parse_partition_dir(folder) == raw


def test_month_folders_files_and_keys():
    assert month_suffix("2025-08") == "year=2025/month=08"
    assert data_file_names(1) == ["fact_rate_enriched.parquet"]
    assert data_file_names(3) == [f"fact_rate_enriched-{i:05d}.parquet" for i in range(3)]
    assert data_key("payer_slug=a/month=08", "f.parquet") == "partitioned-data/payer_slug=a/month=08/f.parquet"


def test_rows_of_some_partitions_are_found_by_their_columns(etl1_root):
    """``in_partitions`` (a filter on the partition columns) picks exactly the rows whose
    folder is one of the given ones, hostile values and nulls included."""
    import polars as pl

    from etl3_assets.lib.enrich import enriched_month
    from etl3_assets.lib.etl1.source import Etl1Source
    from etl3_assets.lib.hive.layout import PARTITION_DIR_COLUMN, in_partitions, partition_dir_expr
    from etl3_assets.lib.storage import open_storage

    month = enriched_month(Etl1Source(open_storage(str(etl1_root))), "2025-08").collect()
    folders = month.select(partition_dir_expr())[PARTITION_DIR_COLUMN]
    chosen = folders.unique().sort().gather_every(3)
    assert any(HIVE_NULL in f for f in chosen) and any("%" in f for f in chosen)
    expected = month.filter(folders.is_in(chosen.implode())).sort("fact_uid")
    assert expected.height < month.height
    assert month.filter(in_partitions(chosen)).sort("fact_uid").equals(expected)
    assert month.filter(in_partitions([])).is_empty()
