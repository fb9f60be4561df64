"""Benchmark: one month through the user's command, ``dagster asset materialize``, whole.

    .venv/bin/python bench/materialize_run.py --rows 2000000 --out bench/measured/<date>-materialize-2m.json

Generates an ETL1 month (``generate_month``: the issue's cardinalities) once under
``--workdir``, then runs, in a fresh ``DAGSTER_HOME`` (the project's ``dagster.yaml``) and a
fresh local warehouse::

    dagster asset materialize -m etl3_assets.definitions --select '*fact_rate_enriched' --partition 2025-08

which is the README's command: the ETL1 input checks, the staged month, the Hive write and
the month's checks. The process tree (the CLI, its step processes and the writer's
workers) is sampled every 0.1 s for RSS; its CPU is the user+sys of every waited-for
descendant. From the run's event log it reports each step's and check's wall time, and the
writer's own phases and CPU per file from the materialization metadata. Writes JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate_month import generate_month  # noqa: E402

from etl3_assets.lib.contract import WAREHOUSE_ASSET  # noqa: E402
from etl3_assets.lib.progress import MIB  # noqa: E402

YEAR_MONTH = "2025-08"
REPO = Path(__file__).resolve().parents[1]


def run_command(cmd: list[str], env: dict[str, str], log_path: Path) -> dict:
    with open(log_path, "w") as log:
        started = time.perf_counter()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        child = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        proc = psutil.Process(child.pid)
        peak, peak_at, peak_processes = 0, 0.0, []
        while child.poll() is None:
            processes = _tree_processes(proc)
            rss = sum(r for _, r in processes)
            if rss > peak:
                peak, peak_at, peak_processes = rss, time.perf_counter() - started, processes
            time.sleep(0.1)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "returncode": child.returncode,
        "wall_s": round(wall, 2),
        "tree_cpu_s": round(cpu, 2),
        "peak_rss_mib": round(peak / MIB, 1),
        "peak_at_s": round(peak_at, 1),
        "peak_processes_mib": [[name, round(r / MIB, 1)] for name, r in peak_processes],
    }


def _tree_processes(root: psutil.Process) -> list[tuple[str, int]]:
    """(what the process is, RSS) of the process and its descendants."""
    out = []
    for p in [root, *root.children(recursive=True)]:
        try:
            cmd = p.cmdline()
            out.append((" ".join(c.rsplit("/", 1)[-1] for c in cmd[:4])[:80], p.memory_info().rss))
        except psutil.Error:
            pass
    return out


def run_events(dagster_home: Path) -> dict:
    """Steps' wall times and the warehouse materialization's metadata, from the run's log."""
    run_id, status, steps, checks, metadata = run_log(dagster_home)
    return {"run_id": run_id, "status": status, "step_wall_s": steps, "checks_passed": checks,
            "writer": {k: metadata[k] for k in sorted(metadata) if k.startswith(("seconds_", "files", "rows",
                       "partitions", "peak_rss", "write_cpu", "write_sys", "buckets", "memory_budget"))}}


def run_log(dagster_home: Path) -> tuple[str, str, dict, dict, dict]:
    """The newest run's id, status, steps' wall times, checks' results and the warehouse
    materialization's whole metadata."""
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        run = instance.get_runs(limit=1)[0]
        starts: dict[str, float] = {}
        steps: dict[str, float] = {}
        checks: dict[str, bool] = {}
        metadata: dict = {}
        for record in instance.all_logs(run.run_id):
            event = record.dagster_event
            if event is None:
                continue
            if event.event_type_value == "STEP_START":
                starts[event.step_key] = record.timestamp
            elif event.event_type_value in ("STEP_SUCCESS", "STEP_FAILURE"):
                steps[event.step_key] = round(record.timestamp - starts.get(event.step_key, record.timestamp), 2)
            elif event.event_type_value == "ASSET_CHECK_EVALUATION":
                data = event.event_specific_data
                checks[data.check_name] = data.passed
            elif event.event_type_value == "ASSET_MATERIALIZATION":
                materialization = event.event_specific_data.materialization
                if materialization.asset_key.path[-1] == WAREHOUSE_ASSET:
                    metadata = {k: v.value for k, v in materialization.metadata.items()}
        return run.run_id, str(run.status), steps, checks, metadata


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--workdir", default="/tmp/etl3-materialize-bench")
    parser.add_argument("--select", default=f"*{WAREHOUSE_ASSET}")
    parser.add_argument("--memory-limit-mb", type=int, default=1024)
    parser.add_argument("--out", default="bench/materialize_run.json")
    parser.add_argument("--keep-warehouse", action="store_true")
    args = parser.parse_args()

    workdir = Path(args.workdir)
    etl1 = workdir / f"etl1-{args.rows}"
    report: dict = {"cores": os.cpu_count(), "rows": args.rows, "select": args.select,
                    "memory_limit_mb": args.memory_limit_mb, "load_avg_start": [round(x, 2) for x in os.getloadavg()]}
    if not (etl1 / "fact_rate").exists():
        t = time.perf_counter()
        generate_month(etl1, args.rows, YEAR_MONTH)
        report["generate_s"] = round(time.perf_counter() - t, 2)
    warehouse, dagster_home = workdir / "warehouse", workdir / "dagster_home"
    shutil.rmtree(warehouse, ignore_errors=True)
    shutil.rmtree(dagster_home, ignore_errors=True)
    dagster_home.mkdir(parents=True)
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {
        **os.environ,
        "ETL1_ROOT": str(etl1),
        "WAREHOUSE_ROOT": str(warehouse),
        "DAGSTER_HOME": str(dagster_home),
        "MEMORY_LIMIT_MB": str(args.memory_limit_mb),
        "ETL3_SENSOR": "stopped",
        "TMPDIR": str(workdir),
    }
    cmd = [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "etl3_assets.definitions",
           "--select", args.select, "--partition", YEAR_MONTH]
    print(f"[{time.strftime('%X')}] {' '.join(cmd)}", file=sys.stderr, flush=True)
    report["command"] = " ".join(cmd[1:])
    report.update(run_command(cmd, env, workdir / "materialize.log"))
    report["rows_per_s"] = round(args.rows / report["wall_s"])
    report["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    report.update(run_events(dagster_home))
    if not args.keep_warehouse:
        shutil.rmtree(warehouse, ignore_errors=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
