"""Benchmark: the README's analyses over the Hive layout against the Iceberg table, and the
Iceberg month write itself, on a month generated with the month benchmark's cardinalities.

    .venv/bin/python bench/iceberg_queries.py --rows 2000000                 # queries (+ both writes)
    .venv/bin/python bench/iceberg_queries.py --mode write --rows 20000000   # the Iceberg write only

``queries`` mode, one run, one machine:

1. generate the ETL1 month and stage the enriched month (``month_benchmark.prepare_month``,
   cached in ``--workdir``);
2. write it as the Hive layout with the project's writer (``month_benchmark.py --run
   project``, a child process) and into the Iceberg table with
   ``iceberg_table.write_month`` (a child process, sampled like the write mode);
3. run each analysis of the README's "Example analyses (DuckDB)" section, ``--runs``
   times each, on a fresh DuckDB connection per run:

   * Hive: the README's SQL as written (``read_parquet('…/partitioned-data/**/*.parquet',
     hive_partitioning = true)``), DuckDB pruning folders on the partition filters;
   * Iceberg: pyiceberg plans the scan (metadata, manifest list, manifests; the query's
     filter as an Iceberg row filter prunes files on their statistics), then DuckDB runs
     the same SQL over ``read_parquet([planned files])``, with ``primary_taxonomy_code``
     exposed as ``taxonomy`` (the Hive partition column's name). Planning is timed.

   Files opened and bytes read come from DuckDB's JSON profile (``Total Files Read``,
   ``io.total_bytes_read``); the Iceberg side adds the metadata files pyiceberg read and
   their sizes.

The README's first query filters ``procedure_class = 'Office/outpatient services'``, a
value of the sample data that the generator does not produce; it is run with the month's
most frequent procedure class in that place (recorded in the JSON), so it selects rows.

``write`` mode: the Iceberg write of the staged month in a child process whose process
tree's RSS is sampled every 0.1 s (besides the writer's own ``MemoryWatch``): wall time,
seconds per phase, peak RSS against the budget, files, bytes, row groups.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from month_benchmark import YEAR_MONTH, count_output, prepare_month  # noqa: E402

from etl3_assets.lib.progress import MIB, tree_rss_bytes  # noqa: E402

BENCH = Path(__file__).resolve()

# The README's "Example analyses (DuckDB)", verbatim but for the source ({source}) and the
# first query's procedure class ({procedure_class}).
QUERIES = {
    "rates_for_a_procedure_class": {
        "sql": """
SELECT payer_slug, state, code, code_description,
       count(*) AS rates, round(median(negotiated_rate), 2) AS median_rate,
       min(negotiated_rate) AS min_rate, max(negotiated_rate) AS max_rate
FROM {source}
WHERE year = 2025 AND month = 8 AND procedure_class = {procedure_class}
GROUP BY ALL ORDER BY rates DESC LIMIT 20;
""",
        "iceberg_filter": "year = 2025 AND month = 8 AND procedure_class = {procedure_class}",
    },
    "geographic": {
        "sql": """
SELECT stat_area_name, county_name, count(*) AS rates,
       count(DISTINCT npi) AS providers, round(avg(negotiated_rate), 2) AS avg_rate
FROM {source}
WHERE stat_area_name <> 'Unknown'
GROUP BY ALL ORDER BY rates DESC LIMIT 20;
""",
        "iceberg_filter": "stat_area_name != 'Unknown'",
    },
    "medicare_benchmark": {
        "sql": """
SELECT payer_slug, code_type, code, count(*) AS rates,
       round(median(rate_to_medicare_ratio), 3) AS median_ratio_to_medicare,
       round(avg(CASE WHEN is_above_medicare THEN 1 ELSE 0 END), 3) AS share_above_medicare
FROM {source}
WHERE rate_to_medicare_ratio IS NOT NULL
GROUP BY ALL ORDER BY rates DESC LIMIT 20;
""",
        "iceberg_filter": "rate_to_medicare_ratio IS NOT NULL",
    },
    "provider_network": {
        "sql": """
SELECT payer_slug, count(DISTINCT npi) AS providers,
       count(DISTINCT CASE WHEN provider_type = 'Individual' THEN npi END) AS individuals,
       count(DISTINCT CASE WHEN provider_type = 'Organization' THEN npi END) AS organizations,
       count(DISTINCT pg_uid) AS provider_groups, count(DISTINCT taxonomy) AS taxonomies
FROM {source}
GROUP BY ALL ORDER BY providers DESC;
""",
        "iceberg_filter": None,
    },
}


def sql_string(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


# --- writes (child processes) -------------------------------------------------------------


def run_child(cmd: list[str], log: Path) -> dict:
    """Run a child, sampling its process tree's RSS every 0.1 s; its last stdout line is JSON."""
    started = time.perf_counter()
    with open(log, "w") as stderr:
        child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, text=True)
        proc, peak = psutil.Process(child.pid), 0
        while child.poll() is None:
            try:
                peak = max(peak, tree_rss_bytes(proc))
            except psutil.Error:
                pass
            time.sleep(0.1)
        stdout = child.stdout.read()
    wall = time.perf_counter() - started
    if child.returncode != 0:
        raise RuntimeError(f"{cmd[:4]} failed ({child.returncode}): {log.read_text()[-3000:]}")
    return {"wall_s": round(wall, 2), "sampled_peak_rss_mib": round(peak / MIB, 1), **json.loads(stdout.strip().splitlines()[-1])}


def iceberg_write_child(staged: str, root: str, memory_limit_mb: int, target_file_mb: int, row_group_rows: int, scratch: str) -> dict:
    from etl3_assets.lib.iceberg import table as it
    from etl3_assets.lib.storage import open_storage

    storage = open_storage(root)
    table = it.ensure_table(it.open_catalog(storage), storage)
    settings = it.IcebergWriteSettings(
        memory_limit_mb=memory_limit_mb,
        target_file_bytes=target_file_mb * MIB,
        row_group_rows=row_group_rows,
        scratch_dir=scratch,
    )
    result = it.write_month(table, staged, YEAR_MONTH, settings, log=lambda m: print(m, file=sys.stderr, flush=True))
    return {
        "rows": result.rows,
        "files": result.files,
        "bytes": result.bytes,
        "row_groups": result.row_groups,
        "sort_runs": result.sort_runs,
        "phase_seconds": {k: round(v, 2) for k, v in result.seconds.items()},
        "writer_s": round(sum(result.seconds.values()), 2),
        "writer_peak_rss_mib": round(result.peak_rss_bytes / MIB, 1),
        "budget_mib": round(result.budget_bytes / MIB),
        "over_budget": result.over_budget,
        "snapshot_id": str(result.snapshot_id),
    }


def write_iceberg(staged: Path, root: Path, args) -> dict:
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    cmd = [
        sys.executable, str(BENCH), "--run-iceberg-write", "--staged", str(staged), "--output", str(root),
        "--memory-limit-mb", str(args.memory_limit_mb), "--target-file-mb", str(args.target_file_mb),
        "--row-group-rows", str(args.row_group_rows),
    ]
    result = run_child(cmd, root.parent / f"{root.name}.log")
    result["rows_per_s"] = round(result["rows"] / result["wall_s"])
    return result


def write_hive(staged: Path, out: Path, args) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    cmd = [
        sys.executable, str(BENCH.parent / "month_benchmark.py"), "--run", "project", "--staged", str(staged),
        "--output", str(out), "--memory-limit-mb", str(args.memory_limit_mb), "--workers", str(args.workers),
    ]
    result = run_child(cmd, out.parent / f"{out.name}.log")
    files, size = count_output(out)
    return {**result, "files": files, "bytes": size}


# --- queries ------------------------------------------------------------------------------


def duckdb_run(sql: str) -> dict:
    """One query on a fresh connection, profiled: wall time, files read, bytes read, rows."""
    import duckdb

    with tempfile.NamedTemporaryFile(suffix=".json") as profile:
        con = duckdb.connect()
        con.execute("PRAGMA enable_profiling = 'json'")
        con.execute(f"PRAGMA profiling_output = {sql_string(profile.name)}")
        started = time.perf_counter()
        rows = con.sql(sql).fetchall()
        wall = time.perf_counter() - started
        con.close()
        report = json.loads(Path(profile.name).read_text() or "{}")
    files = row_groups = 0

    def walk(node: dict) -> None:
        nonlocal files, row_groups
        info = node.get("extra_info") or {}
        if "Total Files Read" in info:
            files += int(info["Total Files Read"])
        row_groups += int(node.get("row_groups_scanned") or 0)
        for child in node.get("children", []):
            walk(child)

    for node in report.get("operator", []) or report.get("children", []):
        walk(node)
    return {
        "wall_s": wall,
        "files_read": files,
        "bytes_read": int((report.get("io") or {}).get("total_bytes_read") or 0),
        "row_groups_scanned": row_groups,
        "result_rows": len(rows),
        "result_head": [list(map(str, r)) for r in rows[:3]],
        "_result_sorted": sorted(repr(r) for r in rows),
    }


def iceberg_plan(root: str, row_filter: str | None) -> tuple[list[str], dict]:
    """The data files pyiceberg plans for the filter, and what planning read."""
    from etl3_assets.lib.iceberg import table as it
    from etl3_assets.lib.storage import open_storage

    started = time.perf_counter()
    table = it.open_catalog(open_storage(root)).load_table(it.IDENTIFIER)
    scan = table.scan(row_filter=row_filter) if row_filter else table.scan()
    tasks = list(scan.plan_files())
    snapshot = table.current_snapshot()
    manifests = snapshot.manifests(table.io)
    metadata_files = [table.metadata_location, snapshot.manifest_list, *(m.manifest_path for m in manifests)]
    plan_s = time.perf_counter() - started
    metadata_bytes = sum(os.path.getsize(p) for p in metadata_files)
    return [t.file.file_path for t in tasks], {
        "plan_s": plan_s,
        "metadata_files": len(metadata_files),
        "metadata_bytes": metadata_bytes,
        "planned_files": len(tasks),
        "planned_bytes": sum(t.file.file_size_in_bytes for t in tasks),
    }


def run_queries(hive: Path, iceberg_root: Path, procedure_class: str, runs: int) -> dict:
    hive_source = f"read_parquet({sql_string(str(hive / 'partitioned-data' / '**' / '*.parquet'))}, hive_partitioning = true)"
    results = {}
    for name, query in QUERIES.items():
        literal = sql_string(procedure_class)
        sql = query["sql"].replace("{procedure_class}", literal)
        row_filter = query["iceberg_filter"].replace("{procedure_class}", literal) if query["iceberg_filter"] else None
        entry: dict = {"sql": sql.replace("{source}", "<source>").strip(), "iceberg_row_filter": row_filter}
        for layout in ("hive", "iceberg"):
            samples = []
            for _ in range(runs):
                if layout == "hive":
                    sample = duckdb_run(sql.replace("{source}", hive_source))
                else:
                    files, plan = iceberg_plan(str(iceberg_root), row_filter)
                    source = (
                        f"(SELECT *, primary_taxonomy_code AS taxonomy FROM read_parquet([{', '.join(map(sql_string, files))}]))"
                        if files
                        else "(SELECT NULL LIMIT 0)"
                    )
                    sample = duckdb_run(sql.replace("{source}", source))
                    sample["duckdb_s"] = sample["wall_s"]
                    sample["wall_s"] += plan["plan_s"]
                    sample.update(plan)
                    sample["files_opened"] = sample["files_read"] + plan["metadata_files"]
                    sample["bytes_read_total"] = sample["bytes_read"] + plan["metadata_bytes"]
                if layout == "hive":
                    sample["files_opened"] = sample["files_read"]
                    sample["bytes_read_total"] = sample["bytes_read"]
                samples.append(sample)
                print(f"  {name} {layout}: {sample['wall_s']:.3f} s, {sample['files_opened']} files", file=sys.stderr, flush=True)
            best = min(samples, key=lambda s: s["wall_s"])
            entry[layout] = {
                **{k: v for k, v in best.items() if k != "wall_s"},
                "wall_s_best": round(best["wall_s"], 4),
                "wall_s_runs": [round(s["wall_s"], 4) for s in samples],
            }
        hive_r, ice_r = entry["hive"], entry["iceberg"]
        # same answer from both layouts (as sorted rows: ties under ORDER BY … LIMIT aside)
        entry["same_result"] = hive_r.pop("_result_sorted") == ice_r.pop("_result_sorted")
        entry["hive_over_iceberg_wall"] = round(hive_r["wall_s_best"] / max(ice_r["wall_s_best"], 1e-9), 1)
        entry["hive_over_iceberg_files"] = round(hive_r["files_opened"] / max(ice_r["files_opened"], 1), 1)
        entry["hive_over_iceberg_bytes"] = round(hive_r["bytes_read_total"] / max(ice_r["bytes_read_total"], 1), 1)
        results[name] = entry
    return results


def most_frequent_procedure_class(staged: Path) -> str:
    import polars as pl

    top = (
        pl.scan_parquet(staged).filter(pl.col("procedure_class").is_not_null())
        .group_by("procedure_class").len().sort("len", descending=True).head(1).collect()
    )
    return top["procedure_class"][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("queries", "write"), default="queries")
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=3, help="runs of each query on each layout (best is reported)")
    parser.add_argument("--memory-limit-mb", type=int, default=1024)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="Hive writer processes")
    parser.add_argument("--target-file-mb", type=int, default=256)
    parser.add_argument("--row-group-rows", type=int, default=128 * 1024)
    parser.add_argument("--workdir", default="/tmp/etl3-iceberg-bench")
    parser.add_argument("--reuse-hive", action="store_true", help="keep a Hive warehouse already built in --workdir")
    parser.add_argument("--out", default="bench/iceberg_queries.json")
    parser.add_argument("--run-iceberg-write", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--staged", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.run_iceberg_write:
        out = Path(args.output)
        print(json.dumps(iceberg_write_child(args.staged, str(out), args.memory_limit_mb, args.target_file_mb, args.row_group_rows, str(out.parent))))
        return

    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    report: dict = {
        "mode": args.mode,
        "cores": os.cpu_count(),
        "memory_limit_mb": args.memory_limit_mb,
        "target_file_mb": args.target_file_mb,
        "row_group_rows": args.row_group_rows,
        "load_avg_start": [round(x, 2) for x in os.getloadavg()],
    }
    staged, info = prepare_month(workdir, args.rows)
    report["month"] = info
    print(f"[{time.strftime('%X')}] {args.rows:,} rows staged: {info}", file=sys.stderr, flush=True)
    iceberg_root = workdir / f"iceberg-{args.rows}"
    report["iceberg_write"] = write_iceberg(staged, iceberg_root, args)
    print(f"[{time.strftime('%X')}] iceberg write: {report['iceberg_write']}", file=sys.stderr, flush=True)
    if args.mode == "queries":
        hive = workdir / f"hive-{args.rows}"
        if not (args.reuse_hive and (hive / "partitioned-data").is_dir()):
            report["hive_write"] = write_hive(staged, hive, args)
            print(f"[{time.strftime('%X')}] hive write: {report['hive_write']}", file=sys.stderr, flush=True)
        procedure_class = most_frequent_procedure_class(staged)
        report["procedure_class_in_query_1"] = procedure_class
        report["queries"] = run_queries(hive, iceberg_root, procedure_class, args.runs)
        shutil.rmtree(iceberg_root, ignore_errors=True)
    report["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "queries"}, indent=1))
    for name, q in report.get("queries", {}).items():
        h, i = q["hive"], q["iceberg"]
        print(
            f"{name:30s} hive {h['wall_s_best']:8.3f} s {h['files_opened']:7d} files {h['bytes_read_total'] / MIB:9.1f} MiB"
            f" | iceberg {i['wall_s_best']:7.3f} s {i['files_opened']:4d} files {i['bytes_read_total'] / MIB:8.1f} MiB"
            f" | x{q['hive_over_iceberg_wall']} time, x{q['hive_over_iceberg_files']} files"
            + ("" if q["same_result"] else "  RESULTS DIFFER")
        )


if __name__ == "__main__":
    main()
