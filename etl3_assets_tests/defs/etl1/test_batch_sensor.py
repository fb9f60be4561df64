"""Raw batches landing in the folder of a real DagsterInstance: the batch sensor adds the
partitions and requests the batch runs, the runs apply them, and the month sensor then
rebuilds exactly the months the batches changed, the months equal to the ETL3 oracle."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq

from etl3_assets.defs.etl1.resources import Etl1Resource
from etl3_assets.devtools.raw_extracts import sample_raw_extracts
from etl3_assets.lib.contract import ETL1_EXTRACT_TABLES
from etl3_assets_tests.support.deployment import Warehouse

SEVEN = [dg.AssetKey(t.name) for t in ETL1_EXTRACT_TABLES]


class Landing:
    """A deployment whose ETL1 is built from raw batches landing in ``raw``."""

    def __init__(self, tmp_path: Path, instance: dg.DagsterInstance):
        self.raw, self.etl1 = tmp_path / "raw", tmp_path / "etl1"
        self.raw.mkdir()
        etl1 = Etl1Resource(root=str(self.etl1), raw_root=str(self.raw), lock_lease_seconds=5)
        self.months = Warehouse(self.etl1, tmp_path / "warehouse", instance, etl1=etl1)
        self.cursor: str | None = None

    def batch_tick(self) -> list[str]:
        """Evaluates the batch sensor, applies what the daemon would (partitions, runs in
        the order requested), returns the batches it ran."""
        d = self.months
        # with the instance's ref, as the daemon evaluates it: the run requests' partitions
        # are checked against the instance's partitions plus those the result adds
        with dg.build_sensor_context(
            instance=d.instance, instance_ref=d.instance.get_ref(), cursor=self.cursor, definitions=d.defs,
            resources=d.resources,
        ) as context:
            result = d.defs.resolve_sensor_def("etl1_batch_sensor").evaluate_tick(context)
        self.cursor = result.cursor or self.cursor
        for request in result.dynamic_partitions_requests:
            d.instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        job = d.defs.resolve_job_def("etl1_batch_job")
        for request in result.run_requests:
            run = job.execute_in_process(partition_key=request.partition_key, instance=d.instance, tags=request.tags)
            assert run.success
            recorded = run.asset_materializations_for_node("apply_etl1_batch")
            assert {m.asset_key for m in recorded} == set(SEVEN)
            assert {m.partition for m in recorded} == {request.partition_key}
        return [r.partition_key for r in result.run_requests]


def _land(source: Path, target: Path, stem: str) -> None:
    for suffix in ("rates", "providers"):
        shutil.copy(source / f"{stem}_{suffix}.parquet", target / f"{stem}_{suffix}.parquet")


def _as_new_payer(raw: Path, stem: str, new_stem: str, name: str) -> None:
    """Another payer's extract: the same rows under another reporting entity name."""
    for suffix in ("rates", "providers"):
        table = pq.read_table(raw / f"{stem}_{suffix}.parquet")
        column = table.column_names.index("reporting_entity_name")
        table = table.set_column(column, "reporting_entity_name", pa.array([name] * table.num_rows))
        pq.write_table(table, raw / f"{new_stem}_{suffix}.parquet")


def test_batches_landing_are_applied_and_exactly_the_changed_months_rebuilt(tmp_path):
    staging = tmp_path / "staging"
    with dg.instance_for_test() as instance:
        landing = Landing(tmp_path, instance)
        stems = sample_raw_extracts(staging, landing.etl1, months=("2025-07", "2025-08"), rows_per_month=120)
        for stem in stems[:3]:  # both payers' July, aetna's August
            _land(staging, landing.raw, stem)
        # only the rates file of cigna's August has landed: not ready
        shutil.copy(staging / f"{stems[3]}_rates.parquet", landing.raw / f"{stems[3]}_rates.parquet")

        assert landing.batch_tick() == stems[:3], "oldest month first, the incomplete batch waits"
        assert set(instance.get_dynamic_partitions("etl1_batches")) == set(stems[:3])
        assert landing.months.requested() == ["2025-07", "2025-08"]
        landing.months.assert_matches_oracle()
        assert landing.batch_tick() == [] and landing.months.requested() == []

        # cigna's August completes: it adds members to cigna's July groups, so both months change
        _land(staging, landing.raw, stems[3])
        assert landing.batch_tick() == [stems[3]]
        assert landing.months.requested() == ["2025-07", "2025-08"]
        landing.months.assert_matches_oracle()

        # a third payer's August: new groups, new facts: only August changes
        _as_new_payer(landing.raw, stems[3], "202508_uhc_pr", "UnitedHealthcare of Puerto Rico — Mayagüez")
        assert landing.batch_tick() == ["202508_uhc_pr"]
        assert landing.months.requested() == ["2025-08"]
        landing.months.assert_matches_oracle()

        # applied twice (its files touched, same content): nothing rewritten, no month
        path = landing.raw / "202508_uhc_pr_rates.parquet"
        path.write_bytes(path.read_bytes())
        assert landing.batch_tick() == ["202508_uhc_pr"]
        assert landing.months.requested() == []
