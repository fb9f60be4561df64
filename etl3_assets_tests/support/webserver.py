"""The Dagster webserver as users start it: the repo's workspace.yaml and dagster.yaml,
on loopback, with sample ETL1 data; and its GraphQL API."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from etl3_assets.devtools.sample_data import generate_sample_etl1
from etl3_assets_tests.support import REPO
from etl3_assets_tests.support.s3_servers import free_port

LOCATION = "etl3_assets"
ARTIFACTS = REPO / "test-artifacts"
STARTUP_SECONDS = 180  # loading the code location takes ~15 s on 2 idle cores, far more under load

REPOSITORY_QUERY = """
{
  repositoriesOrError {
    ... on RepositoryConnection {
      nodes {
        location { name }
        jobs { name }
        sensors { name sensorType }
        assetNodes {
          assetKey { path }
          groupName
          isObservable
          description
          partitionDefinition { type }
          partitionKeys
          metadataEntries { label }
          assetChecksOrError { ... on AssetChecks { checks { name blocking } } }
        }
      }
    }
    ... on PythonError { message }
  }
}
"""


class Webserver:
    def __init__(self, url: str, proc: subprocess.Popen, env: dict[str, str], folder: Path):
        self.url, self.proc, self.env, self.folder = url, proc, env, folder

    def graphql(self, query: str) -> dict:
        request = urllib.request.Request(
            f"{self.url}/graphql",
            data=json.dumps({"query": query}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.load(response)
        assert "errors" not in body, body["errors"]
        return body["data"]

    def repository(self) -> dict | None:
        nodes = self.graphql(REPOSITORY_QUERY)["repositoriesOrError"].get("nodes") or []
        return nodes[0] if nodes else None

    def location_error(self) -> str | None:
        """The code location's load error, if loading it failed."""
        entries = self.graphql(
            "{ workspaceOrError { ... on Workspace { locationEntries { locationOrLoadError "
            "{ __typename ... on PythonError { message } } } } } }"
        )["workspaceOrError"]["locationEntries"]
        errors = [e["locationOrLoadError"] for e in entries if e["locationOrLoadError"]]
        return next((e["message"] for e in errors if e["__typename"] == "PythonError"), None)


def stop_process_group(proc: subprocess.Popen) -> None:
    """Stops a Dagster process and the code server it started (its own process group)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.fixture(scope="module")
def webserver(tmp_path_factory):
    """``dagster-webserver -w workspace.yaml`` from the repo, with the repo's dagster.yaml."""
    tmp = tmp_path_factory.mktemp("ui")
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    generate_sample_etl1(tmp / "etl1", months=("2025-07", "2025-08"), rows_per_month=50)
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "ETL1_ROOT": str(tmp / "etl1"),
        "WAREHOUSE_ROOT": str(tmp / "warehouse"),
    }
    port = free_port()
    log = tmp / "webserver.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dagster_webserver", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Webserver(f"http://127.0.0.1:{port}", proc, env, tmp)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"dagster-webserver exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if server.repository():
                    break
                if error := server.location_error():
                    raise RuntimeError(f"the code location failed to load: {error}")
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the code location did not load in {STARTUP_SECONDS}s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield server
    finally:
        stop_process_group(proc)
