"""Benchmark: a month rebuilt after one payer's rows were added to ETL1 (issue 23).

    .venv/bin/python bench/incremental_rebuild.py --target local --rows 2000000 \\
        --out bench/measured/<date>-incremental-local-2m.json
    .venv/bin/python bench/incremental_rebuild.py --target s3 --rows 200000 \\
        --out bench/measured/<date>-incremental-s3-200k.json

Generates a month of ``--payers`` payers (``generate_month``), takes the last payer's rows
out of fact_rate, and runs the user's command,
``dagster asset materialize --select '*fact_rate_enriched' --partition 2025-08``, twice
in one DAGSTER_HOME: the *full build* of the month without that payer into an empty
warehouse, then, with the payer's rows back in fact_rate (an ETL1 upsert), the *rebuild*.
The warehouse is a local folder, or a bucket on a loopback SeaweedFS (``--target s3``,
reached through ``AWS_ENDPOINT_URL_S3`` as a user would). For each run: wall time, the
process tree's peak RSS and CPU (``materialize_run.run_command``), and from the run's
materialization metadata the files written, kept and deleted, bytes written, storage
requests by operation and retries. The issue's targets are checked and reported: rebuild
PUTs <= 1.05 x the changed files + a fixed handful, rebuild wall <= 20 % (S3) / 50 %
(local) of the full build, every run within the budget.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the loopback servers of the tests

from generate_month import generate_month, payer_slugs  # noqa: E402
from materialize_run import REPO, YEAR_MONTH, run_command, run_log  # noqa: E402

from etl3_assets.lib.contract import FACT_RATE, WAREHOUSE_ASSET  # noqa: E402
from etl3_assets.lib.hive.writer import FIXED_OVERHEAD_MB  # noqa: E402

FIXED_HANDFUL = 100  # bucket journals (one per bucket with a changed file), the -previous journal, the manifest
METADATA_KEYS = (
    "rows", "files", "files_written", "files_kept", "files_deleted", "bytes", "bytes_written", "buckets",
    "storage_requests", "requests_total", "retries", "peak_rss_mb", "seconds_spill", "seconds_write", "seconds_commit",
)


def warehouse_metadata(dagster_home: Path) -> dict:
    """The newest run's status, steps' wall times and warehouse materialization metadata."""
    _, status, steps, _, metadata = run_log(dagster_home)
    return {"status": status, "step_wall_s": steps, "writer": {k: metadata[k] for k in METADATA_KEYS if k in metadata}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", choices=("local", "s3"), default="local")
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--payers", type=int, default=12)
    parser.add_argument("--workdir", default="/tmp/etl3-incremental-bench")
    parser.add_argument("--memory-limit-mb", type=int, default=1024)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    workdir = Path(args.workdir)
    generated = workdir / f"etl1-{args.rows}-{args.payers}p"
    report: dict = {
        "target": args.target, "rows": args.rows, "payers": args.payers, "cores": os.cpu_count(),
        "memory_limit_mb": args.memory_limit_mb, "budget_mib": args.memory_limit_mb + FIXED_OVERHEAD_MB,
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
    }
    if not (generated / FACT_RATE.relative_path).exists():
        generate_month(generated, args.rows, YEAR_MONTH, payers=args.payers)
    added = payer_slugs(args.payers)[-1]
    etl1 = workdir / "etl1"
    shutil.rmtree(etl1, ignore_errors=True)
    shutil.copytree(generated, etl1)
    facts = pl.read_parquet(generated / FACT_RATE.relative_path)
    facts.filter(pl.col("payer_slug") != added).write_parquet(etl1 / FACT_RATE.relative_path)
    report["added_payer"], report["added_rows"] = added, int((facts["payer_slug"] == added).sum())

    dagster_home = workdir / "dagster_home"
    shutil.rmtree(dagster_home, ignore_errors=True)
    dagster_home.mkdir(parents=True)
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {
        **os.environ, "ETL1_ROOT": str(etl1), "DAGSTER_HOME": str(dagster_home), "ETL3_SENSOR": "stopped",
        "MEMORY_LIMIT_MB": str(args.memory_limit_mb), "TMPDIR": str(workdir),
    }
    server = None
    if args.target == "s3":
        from etl3_assets_tests.support.s3_servers import ACCESS_KEY, REGION, SECRET_KEY, _stop, new_bucket, start_seaweedfs

        shutil.rmtree(workdir / "seaweedfs", ignore_errors=True)
        server, endpoint = start_seaweedfs(workdir / "seaweedfs")
        bucket = new_bucket(endpoint)
        env.update(
            WAREHOUSE_ROOT=bucket.uri("warehouse"), AWS_ENDPOINT_URL_S3=endpoint, AWS_ACCESS_KEY_ID=ACCESS_KEY,
            AWS_SECRET_ACCESS_KEY=SECRET_KEY, S3_REGION=REGION, AWS_REGION=REGION,
        )
    else:
        warehouse = workdir / "warehouse"
        shutil.rmtree(warehouse, ignore_errors=True)
        env["WAREHOUSE_ROOT"] = str(warehouse)
    cmd = [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "etl3_assets.definitions",
           "--select", f"*{WAREHOUSE_ASSET}", "--partition", YEAR_MONTH]
    report["command"] = " ".join(cmd[1:])
    try:
        for name in ("full_build", "rebuild"):
            if name == "rebuild":  # ETL1 upserts the payer: its rows land in the same file
                shutil.copy(generated / FACT_RATE.relative_path, etl1 / FACT_RATE.relative_path)
            print(f"[{time.strftime('%X')}] {name}", file=sys.stderr, flush=True)
            run = run_command(cmd, env, workdir / f"{name}.log")
            run.update(warehouse_metadata(dagster_home))
            report[name] = run
    finally:
        if server is not None:
            _stop(server)
    report["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]

    full, rebuild = report["full_build"], report["rebuild"]
    written = rebuild["writer"].get("files_written", 0)
    puts = rebuild["writer"].get("storage_requests", {}).get("PutObject", 0)
    ratio_target = 0.20 if args.target == "s3" else 0.50
    report["targets"] = {
        "rebuild_puts": puts,
        "rebuild_puts_limit": round(1.05 * written + FIXED_HANDFUL),
        "rebuild_puts_ok": puts <= 1.05 * written + FIXED_HANDFUL,
        "rebuild_wall_share_of_full": round(rebuild["wall_s"] / full["wall_s"], 3),
        "rebuild_wall_share_limit": ratio_target,
        "rebuild_wall_ok": rebuild["wall_s"] <= ratio_target * full["wall_s"],
        "within_budget": max(full["peak_rss_mib"], rebuild["peak_rss_mib"]) <= report["budget_mib"],
    }
    Path(args.out).write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
