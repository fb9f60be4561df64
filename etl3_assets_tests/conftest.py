from pathlib import Path

import dagster as dg
import pytest

from etl3_assets.devtools.sample_data import generate_sample_etl1
from etl3_assets_tests.support.deployment import SAMPLE_MONTHS, Warehouse

# The loopback S3 (SeaweedFS) and Glue (moto) fixtures, registered here once so that each
# xdist worker starts one server of each for the whole session (a module importing them
# itself would get servers of its own).
from etl3_assets_tests.support.s3_servers import glue_client, moto_bucket, moto_endpoint, s3_bucket, seaweedfs_endpoint  # noqa: F401


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


@pytest.fixture
def deployment(etl1_root, warehouse_root):
    """A deployment on the sample data with its own DagsterInstance (the sensor's tests)."""
    with dg.instance_for_test() as instance:
        yield Warehouse(etl1_root, warehouse_root, instance)
