"""The Dagster UI as users get it: the repo's workspace.yaml and dagster.yaml, a real
webserver on loopback, its GraphQL API, and the asset graph page in headless Chromium.

The screenshot is kept as ``test-artifacts/asset-graph.png`` (git-ignored).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from etl3_assets.defs.warehouse.assets import monthly_partitions
from etl3_assets.devtools.sample_data import generate_sample_etl1

from .s3_servers import free_port

REPO = Path(__file__).resolve().parents[1]
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


def test_graphql_shows_assets_partitions_checks_sensors_and_jobs(webserver):
    from etl3_assets.definitions import defs

    repo = webserver.repository()
    assert repo["location"]["name"] == LOCATION
    assets = {tuple(a["assetKey"]["path"]): a for a in repo["assetNodes"]}
    graph = defs.resolve_asset_graph()
    assert set(assets) == {tuple(k.path) for k in graph.get_all_asset_keys()}

    etl1_tables = [a for a in assets.values() if a["groupName"] == "etl1"]
    assert len(etl1_tables) == 11 and all(a["isObservable"] for a in etl1_tables)
    assert all("relative_path" in {m["label"] for m in a["metadataEntries"]} for a in etl1_tables)

    for name in ("enriched_fact_rate", "fact_rate_enriched"):
        asset = assets[(name,)]
        assert asset["groupName"] == "warehouse" and asset["description"]
        assert asset["partitionDefinition"]["type"] == "TIME_WINDOW"
        assert asset["partitionKeys"] == monthly_partitions.get_partition_keys()
        assert "2025-08" in asset["partitionKeys"]

    checks = {
        (tuple(a["assetKey"]["path"]), c["name"])
        for a in assets.values()
        for c in a["assetChecksOrError"]["checks"]
    }
    assert checks == {(tuple(k.asset_key.path), k.name) for k in graph.asset_check_keys}

    sensors = {s["name"]: s["sensorType"] for s in repo["sensors"]}
    assert sensors == {"etl1_sensor": "STANDARD", "report_failed_month": "RUN_STATUS"}
    assert "warehouse_month_job" in {j["name"] for j in repo["jobs"]}


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    raise AssertionError("Debian's chromium is not installed: run scripts/test.sh (it installs it) or apt-get install chromium")


def _headless(url: str, profile: Path, *action: str) -> subprocess.CompletedProcess:
    """One headless Chromium page load; virtual time runs until the React app has rendered."""
    return subprocess.run(
        [
            _chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--window-size=1600,1000", "--virtual-time-budget=20000",
            *action, url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )


def _visible_text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_asset_graph_page_shows_the_assets_in_chromium(webserver, tmp_path):
    webserver.graphql("mutation { setNuxSeen }")  # what "Skip" on the first-visit dialog does
    url = f"{webserver.url}/locations/{LOCATION}/asset-groups/warehouse/lineage"
    page = _headless(url, tmp_path / "profile-dom", "--dump-dom")
    text = _visible_text(page.stdout)
    for expected in ("enriched_fact_rate", "fact_rate_enriched", "fact_rate", "dim_payer", "partitions"):
        assert expected in text, f"{expected!r} not on the page; it shows: {text[:1500]}"

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "asset-graph.png"
    screenshot.unlink(missing_ok=True)
    shot = _headless(url, tmp_path / "profile-shot", f"--screenshot={screenshot}")
    assert screenshot.is_file(), shot.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000, "the screenshot looks blank"
