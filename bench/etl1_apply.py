"""Benchmark: a real-size raw extract through ``etl3 etl1 --batch``, the user's command.

    .venv/bin/python bench/etl1_apply.py --out bench/measured/<date>-etl1-apply.json

Generates, with DuckDB and once under ``--workdir`` (outside the repo), a payer's extract
of ``--rows`` rate rows (13.4M, the largest the seed reports) with ``--provider-rows``
provider rows (132k), and a base extract of ``--base-rows`` (6M) of another payer. Then,
each in a fresh ETL1 root:

* ``empty``: the big batch applied to an empty star schema;
* ``base``: the big batch applied to a star schema already holding the base extract's
  facts (made once by applying the base batch, cached).

Each is one ``etl3 etl1 --batch`` process whose tree is sampled every 0.1 s for RSS
(``materialize_run.run_command``). Writes JSON with the machine's load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent))

from materialize_run import run_command  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BIG, BASE = "202508_benchpayer_ga", "202507_basepayer_ga"
SERVICE_CODES = ["['11']", "['11', '22']", "['21', '22', '23']", "[]", "['02', '10']", "['19', '22', '99']"]


def generate_batch(raw: Path, stem: str, payer: str, rows: int, provider_rows: int, groups: int, month: str) -> None:
    """Rates with real cardinalities (groups, codes, a few service-code sets, 1 % repeated
    rows); providers as NPI x group rows with TINs. Written by DuckDB in seconds."""
    raw.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    services = "[" + ", ".join("'" + s.replace("'", "''") + "'" for s in SERVICE_CODES) + "]"
    con.execute(
        f"""
        COPY (
            WITH r AS (SELECT CASE WHEN i % 100 = 0 THEN i - 1 ELSE i END AS k FROM range({rows}) t(i))
            SELECT (hash(k * 7) % {groups})::BIGINT + 1 AS provider_reference_id,
                ((hash(k * 13) % 2000000) / 100.0)::DOUBLE AS negotiated_rate,
                ['negotiated', 'fee schedule', 'derived'][(hash(k * 3) % 3)::INT + 1] AS negotiated_type,
                ['professional', 'institutional'][(hash(k * 5) % 2)::INT + 1] AS billing_class,
                ['9999-12-31', '2026-12-31', ''][(hash(k * 17) % 3)::INT + 1] AS expiration_date,
                {services}[(hash(k * 19) % {len(SERVICE_CODES)})::INT + 1] AS service_codes,
                lpad(((hash(k * 11) % 9000) + 10000)::VARCHAR, 5, '0') AS billing_code,
                ['CPT', 'HCPCS', 'RC'][(hash(k * 23) % 3)::INT + 1] AS billing_code_type,
                'Description of procedure ' || ((hash(k * 11) % 9000) + 10000)::VARCHAR AS description,
                'Procedure ' || ((hash(k * 11) % 9000) + 10000)::VARCHAR AS name,
                'ffs' AS negotiation_arrangement,
                '{payer}' AS reporting_entity_name,
                'health insurance issuer' AS reporting_entity_type,
                '{month}-01' AS last_updated_on,
                '1.0.0' AS version
            FROM r
        ) TO '{raw / f"{stem}_rates.parquet"}' (FORMAT parquet, COMPRESSION zstd)
        """
    )
    con.execute(
        f"""
        COPY (
            SELECT (j % {groups})::BIGINT + 1 AS provider_group_id,
                CASE WHEN j % 50 = 0 THEN '0' ELSE (1000000000 + hash(j) % 899999999)::VARCHAR END AS npi,
                'ein' AS tin_type, lpad(((j % {groups}) * 7 % 999999999)::VARCHAR, 9, '0') AS tin_value,
                '{payer}' AS reporting_entity_name, 'health insurance issuer' AS reporting_entity_type,
                '{month}-01' AS last_updated_on, '1.0.0' AS version
            FROM range({provider_rows}) t(j)
        ) TO '{raw / f"{stem}_providers.parquet"}' (FORMAT parquet, COMPRESSION zstd)
        """
    )


def etl3_etl1(etl1: Path, raw: Path, stem: str, memory_limit_mb: int, log: Path) -> dict:
    env = {**os.environ, "ETL1_ROOT": str(etl1), "ETL1_RAW_ROOT": str(raw)}
    cmd = [str(REPO / ".venv/bin/etl3"), "etl1", "--batch", stem, "--memory-limit-mb", str(memory_limit_mb)]
    result = run_command(cmd, env, log)
    result["command"] = " ".join(["etl3", *cmd[1:]])
    return result


def table_rows(etl1: Path) -> dict[str, int]:
    con = duckdb.connect()
    return {
        p.stem: con.execute(f"SELECT count(*) FROM read_parquet('{p}')").fetchone()[0]
        for p in sorted(etl1.rglob("*.parquet"))
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=13_400_000)
    parser.add_argument("--provider-rows", type=int, default=132_000)
    parser.add_argument("--groups", type=int, default=25_000)
    parser.add_argument("--base-rows", type=int, default=6_000_000)
    parser.add_argument("--workdir", default="/tmp/etl3-etl1-bench")
    parser.add_argument("--memory-limit-mb", type=int, default=1024)
    parser.add_argument("--cases", default="empty,base")
    parser.add_argument("--out", default="bench/etl1_apply.json")
    args = parser.parse_args()

    work = Path(args.workdir)
    tag = f"{args.rows}-{args.provider_rows}-{args.groups}"
    raw_big, raw_base = work / f"raw-{tag}", work / f"raw-base-{args.base_rows}"
    report: dict = {"cores": os.cpu_count(), "rows": args.rows, "provider_rows": args.provider_rows,
                    "groups": args.groups, "base_rows": args.base_rows, "memory_limit_mb": args.memory_limit_mb,
                    "load_avg_start": list(os.getloadavg()), "cases": {}}
    started = time.perf_counter()
    if not (raw_big / f"{BIG}_providers.parquet").exists():
        generate_batch(raw_big, BIG, "Bench Payer, Inc.", args.rows, args.provider_rows, args.groups, "2025-08")
    if "base" in args.cases and not (raw_base / f"{BASE}_providers.parquet").exists():
        generate_batch(raw_base, BASE, "Base Payer Co.", args.base_rows, args.provider_rows, args.groups, "2025-07")
    report["generate_s"] = round(time.perf_counter() - started, 1)
    report["extract_bytes"] = sum(p.stat().st_size for p in raw_big.glob("*.parquet"))

    for case in args.cases.split(","):
        etl1 = work / f"etl1-{case}"
        shutil.rmtree(etl1, ignore_errors=True)
        if case == "base":
            cached = work / f"etl1-base-{args.base_rows}"
            if not (cached / "gold/fact_rate.parquet").exists():
                report["base_build"] = etl3_etl1(cached, raw_base, BASE, args.memory_limit_mb, work / "base-build.log")
            shutil.copytree(cached, etl1)
            report["cases"][case] = {"facts_before": table_rows(etl1).get("fact_rate", 0)}
        else:
            report["cases"][case] = {"facts_before": 0}
        report["cases"][case]["load_avg"] = list(os.getloadavg())
        result = etl3_etl1(etl1, raw_big, BIG, args.memory_limit_mb, work / f"{case}.log")
        result["rows_per_s"] = round(args.rows / result["wall_s"])
        result["tables_after"] = table_rows(etl1)
        result["log_tail"] = (work / f"{case}.log").read_text().splitlines()[-3:]
        report["cases"][case].update(result)
        print(json.dumps({case: {k: result[k] for k in ("returncode", "wall_s", "peak_rss_mib", "rows_per_s")}}))
    report["load_avg_end"] = list(os.getloadavg())
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
