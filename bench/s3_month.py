"""Benchmark: one month into a warehouse on a loopback S3 (SeaweedFS) plus its Glue
partitions (moto server), through Dagster's ``materialize`` and the production resources.

    .venv/bin/python bench/generate_month.py /tmp/etl3bench/etl1 --rows 1000000
    .venv/bin/python bench/s3_month.py /tmp/etl3bench/etl1 --max-workers 2

Prints objects/s and MB/s of the write phase, S3 requests per data file (as the server
counted them), the Glue registration time, the CPU seconds of the client (this process and
its children) and of SeaweedFS per file, the load averages around the run, and the peak
RSS of the client process tree (against its budget, ``--memory-limit-mb`` plus the writer's
fixed overhead) apart from that of the servers.
"""

from __future__ import annotations

import argparse
import json
import os
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
from etl3_assets.lib.hive.writer import FIXED_OVERHEAD_MB
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
    """Peak resident set size of process trees, sampled every 50 ms.

    ``client``: this process and all its descendants (the Dagster run, the spill process,
    the writer's workers) less the ``servers``; ``servers``: each server process with its
    descendants. A peak is the largest sum over one sample, so it is what the machine had
    to hold at once, not a sum of per-process peaks.
    """

    def __init__(self, servers: dict[str, int]):
        self.me = psutil.Process()
        self.servers = {name: psutil.Process(pid) for name, pid in servers.items()}
        self.peak_client = 0
        self.at_peak: list[str] = []
        self.peak_at = 0.0
        self.per_second: dict[int, int] = {}  # second into the run -> client tree peak
        self.t0 = time.perf_counter()
        self.peak_servers = {name: 0 for name in servers}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _tree(process: psutil.Process) -> list[psutil.Process]:
        try:
            return [process, *process.children(recursive=True)]
        except psutil.Error:
            return []

    @staticmethod
    def _rss(processes) -> int:
        total = 0
        for p in processes:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def sample(self) -> None:
        server_pids = set()
        for name, proc in self.servers.items():
            tree = self._tree(proc)
            server_pids.update(p.pid for p in tree)
            self.peak_servers[name] = max(self.peak_servers[name], self._rss(tree))
        client = [p for p in self._tree(self.me) if p.pid not in server_pids]
        rss = self._rss(client)
        second = int(time.perf_counter() - self.t0)
        self.per_second[second] = max(self.per_second.get(second, 0), rss)
        if rss > self.peak_client:
            self.peak_client = rss
            self.peak_at = time.perf_counter() - self.t0
            self.at_peak = [self._describe(p) for p in client]

    @staticmethod
    def _describe(process: psutil.Process) -> str:
        """``pid role rss`` of one process of the client tree, for the peak's breakdown."""
        try:
            cmd = " ".join(process.cmdline())
            rss = process.memory_info().rss / 2**20
        except psutil.Error:
            return f"{process.pid} gone"
        role = "run" if process.pid == os.getpid() else (
            "spawned worker" if "multiprocessing" in cmd else cmd[:60]
        )
        return f"{process.pid} {role}: {rss:.0f} MiB"

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            time.sleep(0.05)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


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
    parser.add_argument("--max-workers", type=int, default=2)
    parser.add_argument("--memory-limit-mb", type=int, default=1024)
    parser.add_argument("--glue", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--out", help="also write the report (JSON) to this file")
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
        load_before = os.getloadavg()
        weed_cpu0 = cpu_seconds(psutil.Process(weed.pid))
        t0 = time.perf_counter()
        with PeakRss({"seaweedfs": weed.pid, "moto": moto.pid}) as rss:
            result = dg.materialize(assets, partition_key=args.month, resources=resources)
            rss.sample()
        wall = time.perf_counter() - t0
        load_after = os.getloadavg()
        weed_cpu = cpu_seconds(psutil.Process(weed.pid)) - weed_cpu0
        # this process and every child it has reaped (the spill process and the writer's
        # workers); the servers are still running, so they are not in it
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        client_cpu = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
        [mat] = result.asset_materializations_for_node("fact_rate_enriched")
        meta = {k: v.value for k, v in mat.metadata.items()}
        write_s = meta["seconds_write"]
        requests = server_requests(metrics_port, target.bucket)
        report = {
            "cores": os.cpu_count(),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in load_after],
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
            "client_cpu_seconds_run": round(client_cpu, 1),
            "seaweedfs_cpu_seconds_run": round(weed_cpu, 1),
            "client_cpu_ms_per_file_run": round(1000 * client_cpu / meta["files"], 3),
            "seaweedfs_cpu_ms_per_file_run": round(1000 * weed_cpu / meta["files"], 3),
            "peak_rss_mb_client_tree": round(rss.peak_client / 2**20, 1),
            "budget_mb_client_tree": args.memory_limit_mb + FIXED_OVERHEAD_MB,
            "client_tree_at_peak": rss.at_peak,
            "client_peak_seconds_into_run": round(rss.peak_at, 1),
            # the client tree's peak in each 10 s of the run (MiB), to tell the phases apart
            "client_tree_mb_per_10s": [
                round(max(v for k, v in rss.per_second.items() if k // 10 == w) / 2**20)
                for w in range(max(rss.per_second) // 10 + 1)
                if any(k // 10 == w for k in rss.per_second)
            ],
            "peak_rss_mb_run_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "peak_rss_mb_seaweedfs": round(rss.peak_servers["seaweedfs"] / 2**20, 1),
            "peak_rss_mb_moto": round(rss.peak_servers["moto"] / 2**20, 1),
        }
        if args.glue:
            [cat] = result.asset_materializations_for_node("fact_rate_enriched_glue_partitions")
            glue = {k: v.value for k, v in cat.metadata.items()}
            report["glue"] = glue
            report["glue_partitions_per_s"] = round(
                glue["partitions"] / max(1e-9, glue["seconds_write"]), 1
            )
        text = json.dumps(report, indent=2)
        print(text)
        if args.out:
            Path(args.out).write_text(text + "\n")
    finally:
        _stop(weed)
        _stop(moto)


if __name__ == "__main__":
    main()
