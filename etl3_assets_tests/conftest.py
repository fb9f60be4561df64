import hashlib
import os
from pathlib import Path

import dagster as dg
import pytest

from etl3_assets.defs.warehouse.assets import enriched_fact_rate, etl1_tables, fact_rate_enriched
from etl3_assets.defs.warehouse.io_managers import EnrichedStagingIOManager, PartitionedWarehouseIOManager
from etl3_assets.defs.resources import Etl1Resource
from etl3_assets.devtools.sample_data import generate_sample_etl1

# The loopback S3 (SeaweedFS) and Glue (moto) fixtures, registered here once so that each
# xdist worker starts one server of each for the whole session (a module importing them
# itself would get servers of its own).
from .s3_servers import glue_client, moto_bucket, moto_endpoint, s3_bucket, seaweedfs_endpoint  # noqa: F401

SAMPLE_MONTHS = ("2025-07", "2025-08", "2025-09")


@pytest.fixture(scope="session")
def dagster_instance(tmp_path_factory):
    home = tmp_path_factory.mktemp("dagster_home")
    with dg.instance_for_test(temp_dir=str(home)) as instance:
        yield instance


@pytest.fixture
def etl1_root(tmp_path) -> Path:
    root = tmp_path / "etl1"
    generate_sample_etl1(root, months=SAMPLE_MONTHS, rows_per_month=400, seed=11)
    return root


@pytest.fixture
def warehouse_root(tmp_path) -> Path:
    return tmp_path / "warehouse"


def etl3_resources(etl1_root, warehouse_root, **writer_config) -> dict:
    """The production resources, pointed at test folders."""
    return {
        "etl1": Etl1Resource(root=str(etl1_root)),
        "staging_io_manager": EnrichedStagingIOManager(warehouse_root=str(warehouse_root)),
        "warehouse_io_manager": PartitionedWarehouseIOManager(
            warehouse_root=str(warehouse_root), **writer_config
        ),
    }


def materialize_month(
    etl1_root, warehouse_root, month, instance=None, raise_on_error=True, **writer_config
):
    """Materialize one month through Dagster's real ``materialize`` API."""
    return dg.materialize(
        [*etl1_tables, enriched_fact_rate, fact_rate_enriched],
        partition_key=month,
        instance=instance,
        raise_on_error=raise_on_error,
        resources=etl3_resources(etl1_root, warehouse_root, **writer_config),
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
