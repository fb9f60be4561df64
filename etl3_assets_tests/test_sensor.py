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
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from etl3_assets.lib.contract import ETL1_BY_NAME
from etl3_assets.definitions import defs
from etl3_assets.lib.etl1.source import Etl1Source, fact_months
from etl3_assets.defs.resources import Etl1Resource, GlueCatalogResource
from etl3_assets.devtools.sample_data import generate_sample_etl1, write_etl1_table
from etl3_assets.lib.storage.roots import Root

from .conftest import SAMPLE_MONTHS, data_snapshot, etl3_resources, materialize_month
from .oracle import assert_same_rows, expected_enriched, read_month_duckdb


class Warehouse:
    """One deployment: ETL1 folder, warehouse folder, instance, and the sensor's cursor."""

    def __init__(
        self,
        etl1_root: Path,
        warehouse_root: Path,
        instance: dg.DagsterInstance,
        etl1: Etl1Resource | None = None,
    ):
        """``etl1_root`` is the local ETL1 folder the oracle reads; ``etl1`` the resource the
        sensor and the runs read (by default that folder; or its mirror on S3)."""
        self.etl1_root, self.warehouse_root, self.instance = etl1_root, warehouse_root, instance
        self.resources = {
            **defs.resources,
            "glue": GlueCatalogResource(warehouse_root=str(warehouse_root)),
            **etl3_resources(etl1_root, warehouse_root),
            **({"etl1": etl1} if etl1 else {}),
        }
        self.defs = dg.Definitions(
            assets=defs.assets,
            asset_checks=defs.asset_checks,
            jobs=defs.jobs,
            sensors=defs.sensors,
            resources=self.resources,
        )
        self.cursor: str | None = None

    def tick(self):
        with dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, definitions=self.defs, resources=self.resources
        ) as context:
            result = self.defs.resolve_sensor_def("etl1_sensor").evaluate_tick(context)
        if result.cursor is not None:
            self.cursor = result.cursor
        return result

    def requested(self) -> list[str]:
        """Evaluates the sensor, runs what it requests, returns the requested months."""
        result = self.tick()
        job = self.defs.resolve_job_def("warehouse_month_job")
        for request in result.run_requests:
            assert job.execute_in_process(
                partition_key=request.partition_key, instance=self.instance, tags=request.tags
            ).success
        return sorted(r.partition_key for r in result.run_requests)

    def months(self) -> list[str]:
        return sorted(fact_months(Etl1Source(Root(str(self.etl1_root)))))

    def assert_matches_oracle(self, months: list[str] | None = None) -> None:
        """Each month (default: every ETL1 month) in the warehouse holds exactly its enriched rows."""
        for month in months or self.months():
            assert_same_rows(read_month_duckdb(self.warehouse_root, month), expected_enriched(str(self.etl1_root), month))

    def assert_equals_fresh_build(self, tmp_path: Path) -> None:
        """Byte for byte the warehouse that building every month from scratch gives."""
        self.assert_matches_oracle()
        fresh = tmp_path / "fresh"
        for month in self.months():
            materialize_month(self.etl1_root, fresh, month)
        assert data_snapshot(self.warehouse_root) == data_snapshot(fresh)


def _read(root: Path, table: str) -> pl.DataFrame:
    return pl.read_parquet(root / ETL1_BY_NAME[table].relative_path)


def _rewrite(root: Path, table: str, df: pl.DataFrame) -> None:
    """Rewrite the file in place, as ETL1 does; the new mtime must differ from the old one."""
    path = root / ETL1_BY_NAME[table].relative_path
    before = path.stat().st_mtime_ns
    write_etl1_table(root, table, df)
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


@pytest.fixture
def deployment(etl1_root, warehouse_root):
    with dg.instance_for_test() as instance:
        yield Warehouse(etl1_root, warehouse_root, instance)


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
            _rewrite(etl1_root, table, _read(etl1_root, table).sample(fraction=1.0, shuffle=True, seed=3))
        rewritten = d.tick()
        assert not rewritten.run_requests
        assert rewritten.skip_message == (
            "ETL1 files were rewritten (dim_npi, dim_payer, fact_rate) but no month's content changed"
        )

        # another tool rewrites dim_npi with the same values: half its string columns as
        # categoricals, rows reversed. The content digests are equal: nothing to rebuild.
        npi = _read(etl1_root, "dim_npi")
        path = etl1_root / ETL1_BY_NAME["dim_npi"].relative_path
        npi.with_columns(pl.col(c).cast(pl.Categorical) for c in npi.columns[::2]).reverse().write_parquet(path)
        assert d.requested() == []

        # ETL1 adds a month: the same seed gives the old months the same rows.
        generate_sample_etl1(etl1_root, months=(*first_months, added_month), rows_per_month=200, seed=11)
        assert d.requested() == [added_month]

        # ETL1 rewrites one month (a corrected rate) and keeps the others.
        facts = _read(etl1_root, "fact_rate")
        corrected = pl.when(pl.col("fact_uid") == "fr-2025-08-00000123").then(pl.lit(4242.5))
        _rewrite(etl1_root, "fact_rate", facts.with_columns(negotiated_rate=corrected.otherwise("negotiated_rate")))
        assert d.requested() == ["2025-08"]
        d.assert_matches_oracle()

        # A dimension changes: every materialized month is rebuilt.
        payers = _read(etl1_root, "dim_payer")
        renamed = pl.col("reporting_entity_name") + " (renamed)"
        _rewrite(etl1_root, "dim_payer", payers.with_columns(reporting_entity_name=renamed))
        assert d.requested() == [*first_months, added_month]
        d.assert_equals_fresh_build(tmp_path)
        assert d.requested() == []


def test_dimension_change_skips_months_never_materialized(deployment):
    d = deployment
    first = d.tick()
    assert sorted(r.partition_key for r in first.run_requests) == list(SAMPLE_MONTHS)
    job = d.defs.resolve_job_def("warehouse_month_job")
    assert job.execute_in_process(partition_key="2025-08", instance=d.instance).success

    codes = _read(d.etl1_root, "dim_code")
    _rewrite(d.etl1_root, "dim_code", codes.with_columns(code_name=pl.col("code_name").str.to_uppercase()))
    assert [r.partition_key for r in d.tick().run_requests] == ["2025-08"]


def test_half_written_file_is_not_acted_on_until_complete(deployment, tmp_path):
    d = deployment
    assert [r.partition_key for r in d.tick().run_requests] == list(SAMPLE_MONTHS)

    facts = _read(d.etl1_root, "fact_rate")
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
