"""Time and peak RSS of the quality checks on one large month (issue 6's closing note).

    .venv/bin/python bench/bench_checks.py --rows 5000000 [--work /tmp/bench-checks]

Generates the month with ``bench/generate_month.py`` (issue 4's realistic cardinalities)
unless ``--etl1`` points at existing ETL1 data, then runs each phase in its own process
so that each peak RSS is that phase's own:

* ``inputs``: the blocking ETL1 input checks of the month (etl1_schema, etl1_keys_unique);
* ``stage``: staging the enriched month (what ``staged_enriched_month`` writes), for reference;
* ``month-checks``: the checks of the enriched month (schema, required fields, value rules,
  fact_uid uniqueness), chunk by chunk over the staged month;
* ``metrics``: the quality metrics' column statistics over the staged month;
* ``dry-run``: the month's plan (partitions, files, estimated bytes).

The checks of a month *in the warehouse* read the same rows from its many small files;
that read is the writer's per-file cost again and is not part of this benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

PHASES = ("inputs", "stage", "month-checks", "metrics", "dry-run")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_phase(phase: str, etl1: str, staged: str, month: str, chunk_rows: int, memory_limit_mb: int) -> dict:
    import polars as pl

    from etl3_assets.lib.enrich import STAGING_BATCH_ROWS, EnrichedMonth
    from etl3_assets.lib.etl1.source import Etl1Source
    from etl3_assets.lib.quality.validation import QualitySettings, check_enriched_month, check_etl1_inputs
    from etl3_assets.lib.storage import open_storage

    source = Etl1Source(open_storage(etl1))
    settings = QualitySettings(chunk_rows=chunk_rows, memory_limit_mb=memory_limit_mb)
    baseline = _peak_rss_mb()
    started = time.perf_counter()
    if phase == "inputs":
        outcomes = check_etl1_inputs(source, month, settings)
        summary = {name: o.summary() for name, o in outcomes.items()}
        rows = outcomes["etl1_schema"].rows
    elif phase == "stage":
        EnrichedMonth(source, month).write_parquet(str(staged), STAGING_BATCH_ROWS)
        rows = pl.scan_parquet(staged).select(pl.len()).collect().item()
        summary = {"staged_bytes": os.path.getsize(staged)}
    elif phase == "month-checks":
        outcomes = check_enriched_month(pl.scan_parquet(staged), month, settings)
        summary = {name: o.summary() for name, o in outcomes.items()}
        rows = outcomes["month_schema"].rows
    elif phase == "metrics":
        from etl3_assets.lib.quality.metrics import column_metrics

        metrics = column_metrics(pl.scan_parquet(staged))
        summary = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
        rows = pl.scan_parquet(staged).select(pl.len()).collect().item()
    elif phase == "dry-run":
        import tempfile

        from etl3_assets.lib.hive.plan import plan_month
        from etl3_assets.lib.storage import open_storage

        with tempfile.TemporaryDirectory() as empty:
            plan = plan_month(EnrichedMonth(source, month).lazy(), open_storage(str(empty)), month, max_rows_per_file=1_000_000)
        summary = plan.as_metadata()
        rows = plan.rows
    else:
        raise ValueError(phase)
    seconds = time.perf_counter() - started
    return {
        "phase": phase,
        "rows": rows,
        "seconds": round(seconds, 2),
        "rows_per_second": round(rows / seconds) if seconds else None,
        "peak_rss_mb": round(_peak_rss_mb()),
        "rss_after_imports_mb": round(baseline),
        "summary": summary,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--month", default="2025-08")
    parser.add_argument("--work", default="/tmp/etl3-bench-checks")
    parser.add_argument("--etl1", help="existing ETL1 root (default: generate one under --work)")
    parser.add_argument("--chunk-rows", type=int, default=250_000)
    parser.add_argument("--memory-limit-mb", type=int, default=1024)
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--staged", help=argparse.SUPPRESS)
    args = parser.parse_args()

    work = Path(args.work)
    etl1 = args.etl1 or str(work / f"etl1-{args.rows}")
    staged = args.staged or str(work / f"enriched-{args.month}.parquet")
    if args.phase:
        print(json.dumps(run_phase(args.phase, etl1, staged, args.month, args.chunk_rows, args.memory_limit_mb)))
        return

    work.mkdir(parents=True, exist_ok=True)
    if not args.etl1 and not Path(etl1, "gold", "fact_rate.parquet").exists():
        generator = Path(__file__).with_name("generate_month.py")
        subprocess.run([sys.executable, str(generator), etl1, "--rows", str(args.rows), "--month", args.month], check=True)
    print(f"cores={os.cpu_count()} load={os.getloadavg()} chunk_rows={args.chunk_rows} memory_limit_mb={args.memory_limit_mb}")
    print(f"{'phase':<14}{'rows':>12}{'seconds':>10}{'rows/s':>12}{'peak RSS MB':>14}{'after imports':>15}")
    for phase in PHASES:
        out = subprocess.run(
            [sys.executable, __file__, "--phase", phase, "--etl1", etl1, "--staged", staged, "--month", args.month,
             "--chunk-rows", str(args.chunk_rows), "--memory-limit-mb", str(args.memory_limit_mb)],
            check=True, capture_output=True, text=True,
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{phase:<14}{r['rows']:>12}{r['seconds']:>10}{r['rows_per_second']:>12}{r['peak_rss_mb']:>14}{r['rss_after_imports_mb']:>15}")
        for key, value in r["summary"].items():
            print(f"    {key}: {value}")


if __name__ == "__main__":
    main()
