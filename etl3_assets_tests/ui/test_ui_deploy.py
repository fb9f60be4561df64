"""The scale-out configuration in deploy/ is valid for this Dagster and names real classes,
and switching to Kubernetes is configuration: ETL3_EXECUTOR=k8s gives the same jobs the
dagster-k8s executor."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from dagster._core.instance.config import dagster_instance_config
from etl3_assets_tests.support import REPO



def _instance_config(path: Path, tmp_path: Path) -> dict:
    shutil.copy(path, tmp_path / "dagster.yaml")
    config, _ = dagster_instance_config(str(tmp_path))
    return config


def test_kubernetes_instance_config_is_valid_and_its_classes_exist(tmp_path):
    config = _instance_config(REPO / "deploy" / "dagster.yaml", tmp_path)
    for key in ("run_launcher", "compute_logs"):
        module = importlib.import_module(config[key]["module"])
        assert hasattr(module, config[key]["class"]), config[key]
    assert "postgres" in config["storage"]
    importlib.import_module("dagster_postgres")


def test_the_cluster_keeps_the_local_concurrency_rules(tmp_path):
    local = _instance_config(REPO / "dagster.yaml", tmp_path)["concurrency"]
    cluster = _instance_config(REPO / "deploy" / "dagster.yaml", tmp_path)["concurrency"]
    assert cluster["runs"]["tag_concurrency_limits"] == local["runs"]["tag_concurrency_limits"]
    assert local["runs"]["tag_concurrency_limits"] == [
        {"key": "dagster/partition", "value": {"applyLimitPerUniqueValue": True}, "limit": 1},
        {"key": "etl3/etl1_writer", "limit": 1},
    ]
    helm = yaml.safe_load((REPO / "deploy" / "values.yaml").read_text())
    queued = helm["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert queued["tagConcurrencyLimits"] == local["runs"]["tag_concurrency_limits"]
    env = {e["name"]: e["value"] for e in helm["dagster-user-deployments"]["deployments"][0]["env"]}
    assert env["ETL3_EXECUTOR"] == "k8s" and env["WAREHOUSE_ROOT"].startswith("s3://")


def test_executor_is_chosen_by_configuration():
    probe = (
        "from etl3_assets.definitions import defs;"
        "print(defs.resolve_job_def('warehouse_month_job').executor_def.name)"
    )
    names = {}
    for setting in ("multiprocess", "k8s"):
        out = subprocess.run(
            [sys.executable, "-W", "ignore", "-c", probe],
            env={**os.environ, "ETL3_EXECUTOR": setting},
            capture_output=True, text=True, cwd=REPO, check=True,
        )
        names[setting] = out.stdout.strip().splitlines()[-1]
    assert names == {"multiprocess": "multiprocess", "k8s": "k8s"}
