"""Benchmark: one month into a warehouse on a loopback S3 (SeaweedFS) plus its Glue
partitions (moto server), through Dagster's ``materialize`` and the production resources.

    .venv/bin/python bench/generate_month.py /tmp/etl3bench/etl1 --rows 1000000
    .venv/bin/python bench/s3_month.py /tmp/etl3bench/etl1 --max-workers 8

Prints objects/s and MB/s of the write phase, S3 requests per data file, the Glue
registration time, and the peak RSS of this process (the run) and of the S3 server.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import dagster as dg
import psutil

from etl3_assets.defs.catalog.assets import fact_rate_enriched_glue_partitions
from etl3_assets.defs.etl1.assets import etl1_tables
from etl3_assets.defs.resources import build_resources
from etl3_assets.defs.warehouse.assets import fact_rate_enriched, staged_enriched_month
from etl3_assets.lib.settings import Settings
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the loopback servers of the tests
from etl3_assets_tests.support.s3_servers import (  # noqa: E402
    _stop,
    free_port,
    new_bucket,
    start_moto,
    start_seaweedfs,
    test_resource,
)


class PeakRss:
    """Peak resident set size of a process, sampled every 50 ms."""

    def __init__(self, pid: int):
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def server_requests(metrics_port: int, bucket: str) -> dict[str, int]:
    """Requests per type that SeaweedFS counted for ``bucket`` (its Prometheus metrics):
    the truth whatever process or retry sent them."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics").read().decode()
    pattern = re.compile(r'^SeaweedFS_s3_request_seconds_count\{bucket="([^"]*)",type="([^"]+)"\} (\S+)$')
    counts: dict[str, int] = {}
    for line in text.splitlines():
        match = pattern.match(line)
        if match and match.group(1) == bucket:
            counts[match.group(2)] = counts.get(match.group(2), 0) + int(float(match.group(3)))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("etl1_root")
    parser.add_argument("--month", default="2025-08")
    parser.add_argument("--max-workers", type=int, default=8)
    parser.add_argument("--memory-limit-mb", type=int, default=1024)
    parser.add_argument("--glue", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="etl3-s3-bench-"))
    metrics_port = free_port()
    weed, s3_endpoint = start_seaweedfs(
        work / "seaweedfs", extra=[f"-metricsPort={metrics_port}", "-metricsIp=127.0.0.1"]
    )
    moto, glue_endpoint = start_moto(work / "moto")
    try:
        target = new_bucket(s3_endpoint)
        s3 = test_resource(s3_endpoint)
        settings = Settings(
            etl1_root=args.etl1_root, warehouse_root=target.uri("warehouse"),
            max_workers=args.max_workers, memory_limit_mb=args.memory_limit_mb,
        )
        resources = build_resources(settings, s3=s3, glue_endpoint_url=glue_endpoint)
        assets = [*etl1_tables, staged_enriched_month, fact_rate_enriched]
        if args.glue:
            assets.append(fact_rate_enriched_glue_partitions)
        t0 = time.perf_counter()
        with PeakRss(weed.pid) as server_rss:
            result = dg.materialize(assets, partition_key=args.month, resources=resources)
        wall = time.perf_counter() - t0
        [mat] = result.asset_materializations_for_node("fact_rate_enriched")
        meta = {k: v.value for k, v in mat.metadata.items()}
        write_s = meta["seconds_write"]
        requests = server_requests(metrics_port, target.bucket)
        report = {
            "month": args.month,
            "rows": meta["rows"],
            "files": meta["files"],
            "partitions": meta["partitions"],
            "bytes": meta["bytes"],
            "max_workers": args.max_workers,
            "seconds": {k.removeprefix("seconds_"): v for k, v in meta.items() if k.startswith("seconds_")},
            "objects_per_s_write_phase": round(meta["files"] / write_s, 1),
            "mb_per_s_write_phase": round(meta["bytes"] / write_s / 1e6, 2),
            "s3_requests_seen_by_server": requests,
            "put_requests_per_file": round(requests.get("PUT", 0) / meta["files"], 4),
            "s3_requests_per_file": round(sum(requests.values()) / meta["files"], 4),
            "run_wall_seconds": round(wall, 1),
            "peak_rss_mb_run_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "peak_rss_mb_seaweedfs": round(server_rss.peak / 2**20, 1),
        }
        if args.glue:
            [cat] = result.asset_materializations_for_node("fact_rate_enriched_glue_partitions")
            glue = {k: v.value for k, v in cat.metadata.items()}
            report["glue"] = glue
            report["glue_partitions_per_s"] = round(
                glue["partitions"] / max(1e-9, glue["seconds_write"]), 1
            )
        print(json.dumps(report, indent=2))
    finally:
        _stop(weed)
        _stop(moto)


if __name__ == "__main__":
    main()
