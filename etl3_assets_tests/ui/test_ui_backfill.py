"""Multi-month backfills from the command line and from the UI, run by a real daemon
under the repo's dagster.yaml: one run per month, never two runs of a month at once."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from etl3_assets_tests.support.oracle import as_read_from_hive, assert_same_rows, expected_enriched, read_month_duckdb
from etl3_assets_tests.support.webserver import LOCATION, REPO, stop_process_group

RUNS_QUERY = """
{ runsOrError { ... on Runs { results { runId status startTime endTime tags { key value } } } } }
"""
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
DAEMON_SECONDS = 300  # ~40 s on 2 idle cores; runs start slowly under load


def _stop_etl1_sensor(server) -> None:
    """What the sensor's toggle in the UI does (the sensor is on by default)."""
    selector = f'repositoryLocationName: "{LOCATION}", repositoryName: "__repository__", sensorName: "etl1_sensor"'
    state = server.graphql(f"{{ sensorOrError(sensorSelector: {{{selector}}}) {{ ... on Sensor {{ sensorState {{ id }} }} }} }}")
    state_id = state["sensorOrError"]["sensorState"]["id"]
    stopped = server.graphql(
        f'mutation {{ stopSensor(id: "{state_id}") {{ ... on StopSensorMutationResult {{ instigationState {{ status }} }} }} }}'
    )
    assert stopped["stopSensor"]["instigationState"]["status"] == "STOPPED"


def _runs(server) -> list[dict]:
    runs = server.graphql(RUNS_QUERY)["runsOrError"]["results"]
    for run in runs:
        run["tags"] = {t["key"]: t["value"] for t in run["tags"]}
    return runs


def test_backfills_from_cli_and_ui_run_each_month_once_at_a_time(webserver):
    server = webserver
    _stop_etl1_sensor(server)

    subprocess.run(
        [sys.executable, "-m", "dagster", "job", "backfill", "-w", "workspace.yaml",
         "-j", "warehouse_month_job", "--partitions", "2025-07,2025-08", "--noprompt"],
        cwd=REPO, env=server.env, check=True, capture_output=True, timeout=120,
    )
    launched = server.graphql(
        'mutation { launchPartitionBackfill(backfillParams: {partitionNames: ["2025-08"], '
        'assetSelection: [{path: ["staged_enriched_month"]}, {path: ["fact_rate_enriched"]}]}) '
        "{ __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched

    log = server.folder / "daemon.log"
    with log.open("w") as out:
        daemon = subprocess.Popen(
            [str(Path(sys.executable).parent / "dagster-daemon"), "run", "-w", "workspace.yaml"],
            cwd=REPO, env={**server.env, "ETL3_EXECUTOR": "in_process"},
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + DAEMON_SECONDS
        while True:
            runs = _runs(server)
            if len(runs) == 3 and all(r["status"] in FINISHED for r in runs):
                break
            assert daemon.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, f"runs after {DAEMON_SECONDS}s: {runs}\n{log.read_text()[-3000:]}"
            time.sleep(1)
    finally:
        stop_process_group(daemon)

    assert all(r["status"] == "SUCCESS" for r in runs), runs
    assert sorted(r["tags"]["dagster/partition"] for r in runs) == ["2025-07", "2025-08", "2025-08"]
    assert all("dagster/backfill" in r["tags"] for r in runs)
    assert {r["tags"]["dagster/backfill"] for r in runs if r["tags"]["dagster/partition"] == "2025-08"} >= {launched["backfillId"]}
    first, second = sorted((r for r in runs if r["tags"]["dagster/partition"] == "2025-08"), key=lambda r: r["startTime"])
    assert first["endTime"] <= second["startTime"], "two runs wrote 2025-08 at the same time"

    etl1, warehouse = server.env["ETL1_ROOT"], server.env["WAREHOUSE_ROOT"]
    for month in ("2025-07", "2025-08"):
        assert_same_rows(read_month_duckdb(warehouse, month), as_read_from_hive(expected_enriched(etl1, month)))
