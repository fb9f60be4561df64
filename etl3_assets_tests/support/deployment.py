"""One test deployment of the project, wired exactly as production wires it
(``build_resources`` from a ``Settings``), pointed at test folders; and what tests ask of
it: materialize a month, take the warehouse's sha256 snapshot, drive the ETL1 sensor."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import dagster as dg
import polars as pl

from etl3_assets.definitions import defs
from etl3_assets.defs.etl1.assets import etl1_tables
from etl3_assets.defs.etl1.resources import Etl1Resource
from etl3_assets.defs.resources import build_resources
from etl3_assets.defs.warehouse.assets import fact_rate_enriched, staged_enriched_month
from etl3_assets.devtools.sample_data import write_etl1_table
from etl3_assets.lib.contract import ETL1_BY_NAME
from etl3_assets.lib.etl1.source import Etl1Source, fact_months
from etl3_assets.lib.settings import Settings
from etl3_assets.lib.storage import open_storage
from etl3_assets_tests.support.oracle import as_read_from_hive, assert_same_rows, expected_enriched, read_month_duckdb

SAMPLE_MONTHS = ("2025-07", "2025-08", "2025-09")
MONTH_ASSETS = [*etl1_tables, staged_enriched_month, fact_rate_enriched]


def test_settings(etl1_root, warehouse_root, **overrides) -> Settings:
    """The production settings' defaults, pointed at test folders, two writer processes,
    and no step retries (a test that fails a step on purpose sees it fail at once; the
    retries have their own tests)."""
    return Settings(
        etl1_root=str(etl1_root), warehouse_root=str(warehouse_root), max_workers=2, step_retries=0
    ).with_values(**overrides)


test_settings.__test__ = False  # a helper, not a test


def etl3_resources(etl1_root, warehouse_root, **overrides) -> dict:
    """The production resources, pointed at test folders."""
    return build_resources(test_settings(etl1_root, warehouse_root, **overrides))


def materialize_month(
    etl1_root, warehouse_root, month, instance=None, raise_on_error=True, run_config=None, **overrides
):
    """Materialize one month through Dagster's real ``materialize`` API."""
    return dg.materialize(
        MONTH_ASSETS,
        partition_key=month,
        instance=instance,
        raise_on_error=raise_on_error,
        run_config=run_config,
        resources=etl3_resources(etl1_root, warehouse_root, **overrides),
    )


def snapshot(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root`` (the warehouse's exact state)."""
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def data_snapshot(root: Path) -> dict[str, str]:
    return {k: v for k, v in snapshot(root).items() if k.startswith("partitioned-data/")}


def read_etl1(root: Path, table: str) -> pl.DataFrame:
    return pl.read_parquet(root / ETL1_BY_NAME[table].relative_path)


def rewrite_etl1(root: Path, table: str, df: pl.DataFrame) -> None:
    """Rewrite the file in place, as ETL1 does; the new mtime must differ from the old one."""
    path = root / ETL1_BY_NAME[table].relative_path
    before = path.stat().st_mtime_ns
    write_etl1_table(root, table, df)
    if path.stat().st_mtime_ns == before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


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
        return sorted(fact_months(Etl1Source(open_storage(str(self.etl1_root)))))

    def assert_matches_oracle(self, months: list[str] | None = None) -> None:
        """Each month (default: every ETL1 month) in the warehouse holds exactly its enriched rows."""
        for month in months or self.months():
            assert_same_rows(read_month_duckdb(self.warehouse_root, month), as_read_from_hive(expected_enriched(str(self.etl1_root), month)))

    def assert_equals_fresh_build(self, tmp_path: Path) -> None:
        """Byte for byte the warehouse that building every month from scratch gives."""
        self.assert_matches_oracle()
        fresh = tmp_path / "fresh"
        for month in self.months():
            materialize_month(self.etl1_root, fresh, month)
        assert data_snapshot(self.warehouse_root) == data_snapshot(fresh)
