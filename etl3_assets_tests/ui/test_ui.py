"""The Dagster UI as users get it: the repo's workspace.yaml and dagster.yaml, a real
webserver on loopback, its GraphQL API, and the asset graph page in headless Chromium.

The screenshot is kept as ``test-artifacts/asset-graph.png`` (git-ignored).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from etl3_assets.defs.partitions import monthly_partitions
from etl3_assets.lib.contract import ETL1_TABLES

from etl3_assets_tests.support.webserver import ARTIFACTS, LOCATION  # noqa: F401

def test_graphql_shows_assets_partitions_checks_sensors_and_jobs(webserver):
    from etl3_assets.definitions import defs

    repo = webserver.repository()
    assert repo["location"]["name"] == LOCATION
    assets = {tuple(a["assetKey"]["path"]): a for a in repo["assetNodes"]}
    graph = defs.resolve_asset_graph()
    assert set(assets) == {tuple(k.path) for k in graph.get_all_asset_keys()}

    etl1_tables = [a for a in assets.values() if a["groupName"] == "etl1" and a["assetKey"]["path"] != ["etl1_raw_batch"]]
    assert len(etl1_tables) == len(ETL1_TABLES)
    assert all("relative_path" in {m["label"] for m in a["metadataEntries"]} for a in etl1_tables)
    # the five reference tables are observed; the seven extract tables are recorded per raw batch
    observed = {a["assetKey"]["path"][0] for a in etl1_tables if a["isObservable"]}
    assert observed == {"dim_code_cat", "dim_npi", "dim_npi_address", "dim_npi_address_geolocation",
                        "bench_medicare_comprehensive"}
    for name in ("fact_rate", "etl1_raw_batch"):
        assert assets[(name,)]["partitionDefinition"]["type"] == "DYNAMIC"

    for name in ("staged_enriched_month", "fact_rate_enriched"):
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
    assert sensors == {"etl1_sensor": "STANDARD", "etl1_batch_sensor": "STANDARD", "report_failed_month": "RUN_STATUS"}
    assert {"warehouse_month_job", "etl1_batch_job"} <= {j["name"] for j in repo["jobs"]}


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
    for expected in ("staged_enriched_month", "fact_rate_enriched", "fact_rate", "dim_payer", "partitions"):
        assert expected in text, f"{expected!r} not on the page; it shows: {text[:1500]}"

    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "asset-graph.png"
    screenshot.unlink(missing_ok=True)
    shot = _headless(url, tmp_path / "profile-shot", f"--screenshot={screenshot}")
    assert screenshot.is_file(), shot.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000, "the screenshot looks blank"


def test_asset_page_shows_the_columns_with_their_descriptions(webserver, tmp_path):
    """The Overview of fact_rate_enriched lists its columns (dagster/column_schema) with
    their dtypes and one-line descriptions from lib/column_docs.py."""
    from etl3_assets.lib.column_docs import describe

    webserver.graphql("mutation { setNuxSeen }")
    url = f"{webserver.url}/assets/fact_rate_enriched"
    text = _visible_text(_headless(url, tmp_path / "profile-columns", "--dump-dom").stdout)
    assert "Columns" in text, text[:1500]
    for column in ("negotiated_rate", "rate_to_medicare_ratio", "stat_area_name", "taxonomy"):
        assert column in text, f"{column!r} not on the asset page: {text[:1500]}"
    assert describe("rate_to_medicare_ratio") in text
    assert "negotiated_rate Float64" in text and "pos_members List(String)" in text
    assert "Owners data-platform" in text and "healthcare_data_lake.fact_rate_enriched" in text
