"""The ETL1 sensor against a real DagsterInstance and real ETL1 files.

Each step changes ETL1's files the way ETL1 does (rewriting them in place), evaluates the
sensor through Dagster's tick API with the cursor of the previous tick, checks the
requested months, runs the requests through the real month job, and compares the
warehouse with the oracle (DuckDB SQL from the contract, read back through a Hive reader)
and, byte for byte, with a fresh build of the same ETL1 output.
"""

from __future__ import annotations

import os
import threading
import time

import dagster as dg
import polars as pl

from etl3_assets.devtools.sample_data import generate_sample_etl1
from etl3_assets.lib.contract import ETL1_BY_NAME
from etl3_assets_tests.support.deployment import SAMPLE_MONTHS, Warehouse, read_etl1, rewrite_etl1


def test_sensor_requests_exactly_the_months_etl1_changed(tmp_path):
    etl1_root = tmp_path / "etl1"
    first_months, added_month = ("2025-07", "2025-08"), "2025-09"
    generate_sample_etl1(etl1_root, months=first_months, rows_per_month=200, seed=11)
    with dg.instance_for_test() as instance:
        d = Warehouse(etl1_root, tmp_path / "warehouse", instance)
        assert d.requested() == list(first_months), "first tick: every ETL1 month is new"
        d.assert_matches_oracle()

        second = d.tick()
        assert not second.run_requests, "evaluated twice with no change: nothing"
        assert second.skip_message == "no ETL1 file changed since the last evaluation"

        for table in ("fact_rate", "dim_payer", "dim_npi"):  # ETL1 rewrites its files with the same rows
            rewrite_etl1(etl1_root, table, read_etl1(etl1_root, table).sample(fraction=1.0, shuffle=True, seed=3))
        rewritten = d.tick()
        assert not rewritten.run_requests
        assert rewritten.skip_message == (
            "ETL1 files were rewritten (dim_npi, dim_payer, fact_rate) but no month's content changed"
        )

        # another tool rewrites dim_npi with the same values: half its string columns as
        # categoricals, rows reversed. The content digests are equal: nothing to rebuild.
        npi = read_etl1(etl1_root, "dim_npi")
        path = etl1_root / ETL1_BY_NAME["dim_npi"].relative_path
        npi.with_columns(pl.col(c).cast(pl.Categorical) for c in npi.columns[::2]).reverse().write_parquet(path)
        assert d.requested() == []

        # ETL1 adds a month: the same seed gives the old months the same rows.
        generate_sample_etl1(etl1_root, months=(*first_months, added_month), rows_per_month=200, seed=11)
        assert d.requested() == [added_month]

        # ETL1 rewrites one month (a corrected rate) and keeps the others.
        facts = read_etl1(etl1_root, "fact_rate")
        corrected = pl.when(pl.col("fact_uid") == "fr-2025-08-00000123").then(pl.lit(4242.5))
        rewrite_etl1(etl1_root, "fact_rate", facts.with_columns(negotiated_rate=corrected.otherwise("negotiated_rate")))
        assert d.requested() == ["2025-08"]
        d.assert_matches_oracle()

        # A dimension changes: every materialized month is rebuilt.
        payers = read_etl1(etl1_root, "dim_payer")
        renamed = pl.col("reporting_entity_name") + " (renamed)"
        rewrite_etl1(etl1_root, "dim_payer", payers.with_columns(reporting_entity_name=renamed))
        assert d.requested() == [*first_months, added_month]
        d.assert_equals_fresh_build(tmp_path)
        assert d.requested() == []


def test_dimension_change_skips_months_never_materialized(deployment):
    d = deployment
    first = d.tick()
    assert sorted(r.partition_key for r in first.run_requests) == list(SAMPLE_MONTHS)
    job = d.defs.resolve_job_def("warehouse_month_job")
    assert job.execute_in_process(partition_key="2025-08", instance=d.instance).success

    codes = read_etl1(d.etl1_root, "dim_code")
    rewrite_etl1(d.etl1_root, "dim_code", codes.with_columns(code_name=pl.col("code_name").str.to_uppercase()))
    assert [r.partition_key for r in d.tick().run_requests] == ["2025-08"]


def test_half_written_file_is_not_acted_on_until_complete(deployment, tmp_path):
    d = deployment
    assert [r.partition_key for r in d.tick().run_requests] == list(SAMPLE_MONTHS)

    facts = read_etl1(d.etl1_root, "fact_rate")
    changed = facts.with_columns(
        negotiated_rate=pl.when(pl.col("year_month") == "2025-09").then(pl.col("negotiated_rate") * 2).otherwise("negotiated_rate")
    )
    complete = tmp_path / "complete.parquet"
    changed.write_parquet(complete)
    fact_path = d.etl1_root / ETL1_BY_NAME["fact_rate"].relative_path
    cursor = d.cursor

    # ETL1 is halfway through writing the file: no footer yet.
    data = complete.read_bytes()
    fact_path.write_bytes(data[: len(data) // 2])
    result = d.tick()
    assert not result.run_requests
    assert "fact_rate" in result.skip_message and "not readable" in result.skip_message
    assert d.cursor == cursor

    # The file is complete but still being touched while the sensor reads it.
    fact_path.write_bytes(data)
    stop = threading.Event()

    def keep_writing():
        n = 0
        while not stop.is_set():
            n += 1
            os.utime(fact_path, ns=(n, n))
            time.sleep(0.001)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        result = d.tick()
    finally:
        stop.set()
        writer.join()
    assert not result.run_requests
    assert "changed while being read" in result.skip_message
    assert d.cursor == cursor

    os.utime(fact_path)
    assert d.requested() == ["2025-09"]
    d.assert_matches_oracle(["2025-09"])


def test_missing_table_is_reported_and_nothing_requested(deployment):
    d = deployment
    (d.etl1_root / ETL1_BY_NAME["dim_pos_set"].relative_path).unlink()
    result = d.tick()
    assert not result.run_requests
    assert "dim_pos_set" in result.skip_message
    assert d.cursor is None
