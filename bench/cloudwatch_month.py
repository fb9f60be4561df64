"""Benchmark: what publishing to CloudWatch adds to a month's run, and which series one
month publishes.

    .venv/bin/python bench/cloudwatch_month.py --rows 200000 --out bench/measured/<date>-cloudwatch.json

Generates a month (bench/generate_month.py), then materializes it (Hive layout and Iceberg
table, through Dagster's ``materialize`` and the production resources) four times into
fresh warehouses: CloudWatch off; on, against CloudWatch on a loopback moto server; on,
against a closed port (an outage); on, against a port that accepts and never answers
(a hung endpoint: the deadline). Reports each run's wall time, each output's
``cloudwatch_seconds`` (time spent publishing, in the step), the PutMetricData calls and
datums, the series read back by ListMetrics, and the load averages.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import dagster as dg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.generate_month import generate_month  # noqa: E402
from etl3_assets.defs.etl1.assets import etl1_tables  # noqa: E402
from etl3_assets.defs.iceberg.assets import fact_rate_enriched_iceberg  # noqa: E402
from etl3_assets.defs.resources import build_resources  # noqa: E402
from etl3_assets.defs.warehouse.assets import fact_rate_enriched, staged_enriched_month  # noqa: E402
from etl3_assets.lib.contract import ICEBERG_ASSET, WAREHOUSE_ASSET  # noqa: E402
from etl3_assets.lib.settings import Settings  # noqa: E402
from etl3_assets_tests.support.s3_servers import _stop, free_port, start_moto, test_resource  # noqa: E402

NAMESPACE = "HealthcareDataLake/ETL3"
MONTH = "2025-08"
ASSETS = [*etl1_tables, staged_enriched_month, fact_rate_enriched, fact_rate_enriched_iceberg]


def run(etl1: Path, warehouse: Path, endpoint: str | None, environment: str) -> dict:
    settings = Settings(
        etl1_root=str(etl1), warehouse_root=str(warehouse), max_workers=2, step_retries=0,
        cloudwatch_namespace=NAMESPACE if endpoint else None, environment=environment,
    )
    resources = build_resources(settings, s3=test_resource(endpoint or "http://127.0.0.1:9"), monitoring_endpoint_url=endpoint)
    started = time.perf_counter()
    result = dg.materialize(ASSETS, partition_key=MONTH, resources=resources)
    wall = time.perf_counter() - started
    outputs = {}
    for asset in (WAREHOUSE_ASSET, ICEBERG_ASSET):
        (m,) = result.asset_materializations_for_node(asset)
        meta = {k: v.value for k, v in m.metadata.items()}
        outputs[asset] = {
            "rows": meta["ChunkOutputRows"],
            "cloudwatch_seconds": meta.get("cloudwatch_seconds"),
            "cloudwatch_datums": meta.get("cloudwatch_metrics"),
            "cloudwatch_warning": meta.get("cloudwatch_warning"),
            "MemoryPeakRSS_mb": meta["MemoryPeakRSS"],
            "seconds_total": meta["seconds_total"],
        }
    return {"wall_seconds": round(wall, 2), "outputs": outputs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--out", type=Path, default=Path("bench/cloudwatch_month.json"))
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="etl3-cw-bench-") as work:
        work = Path(work)
        etl1 = generate_month(work / "etl1", args.rows, MONTH)
        moto, endpoint = start_moto(work / "moto")
        try:
            runs = {}
            runs["off"] = run(etl1, work / "wh-off", None, "bench")
            runs["moto"] = run(etl1, work / "wh-moto", endpoint, "bench")
            runs["closed_port"] = run(etl1, work / "wh-closed", f"http://127.0.0.1:{free_port()}", "bench")
            with socket.socket() as silent:
                silent.bind(("127.0.0.1", 0))
                silent.listen(16)
                runs["hung_endpoint"] = run(etl1, work / "wh-hung", f"http://127.0.0.1:{silent.getsockname()[1]}", "bench")
            client = test_resource(endpoint).connection().client("cloudwatch", endpoint_url=endpoint)
            series = sorted(
                f"{m['MetricName']}{{{','.join(d['Name'] + '=' + d['Value'] for d in m['Dimensions'])}}}"
                for page in client.get_paginator("list_metrics").paginate(Namespace=NAMESPACE)
                for m in page["Metrics"]
            )
        finally:
            _stop(moto)
        # written before the scratch folder (four months of files) is deleted
        write_report(args, runs, series, load_before)


def write_report(args: argparse.Namespace, runs: dict, series: list[str], load_before: tuple) -> None:
    report = {
        "what": "one month (Hive + Iceberg) materialized with CloudWatch off, on (moto on loopback), "
        "against a closed port, against a hung endpoint (deadline 10 s)",
        "rows": args.rows,
        "month": MONTH,
        "runs": runs,
        "series_published_for_one_month": series,
        "series_count": len(series),
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
