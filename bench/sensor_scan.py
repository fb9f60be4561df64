"""What one ETL1-sensor evaluation costs on a large fact table: wall time and peak RSS of
the first look (every table digested: the per-month streaming group-by over fact_rate)
and of a look with nothing changed (file fingerprints only).

    python bench/sensor_scan.py /tmp/etl1-big --rows 20000000

Generates the ETL1 output with ``bench/generate_month.py`` when it is absent. Each look
runs in a fresh process so that its peak RSS is its own.
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

BENCH = Path(__file__).resolve().parent


def look(root: str, cursor: str | None) -> dict:
    from etl3_assets.lib.etl1.watch import Etl1Snapshot, take_snapshot
    from etl3_assets.lib.etl1.source import Etl1Source
    from etl3_assets.lib.storage import open_storage

    source = Etl1Source(open_storage(root))
    started = time.perf_counter()
    snapshot = take_snapshot(source, Etl1Snapshot.from_json(cursor), fingerprints=source.fingerprints)
    return {
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "months": len(snapshot.months),
        "cursor": snapshot.to_json(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root")
    parser.add_argument("--rows", type=int, default=20_000_000)
    parser.add_argument("--look", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cursor", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.look:
        print(json.dumps(look(args.root, args.cursor)))
        return
    fact = Path(args.root, "gold", "fact_rate.parquet")
    if not fact.exists():
        sys.path.insert(0, str(BENCH))
        from generate_month import generate_month

        generate_month(args.root, args.rows)
    size_mb = fact.stat().st_size / 2**20

    def child(cursor: str | None) -> dict:
        cmd = [sys.executable, __file__, args.root, "--look"] + (["--cursor", cursor] if cursor else [])
        return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)

    first = child(None)
    again = child(first.pop("cursor"))
    again.pop("cursor")
    import polars as pl

    rows = pl.scan_parquet(str(fact)).select(pl.len()).collect().item()
    print(json.dumps({"fact_rows": rows, "fact_file_mb": round(size_mb), "cpus": os.cpu_count(),
                      "first_look": first, "unchanged_look": again,
                      "rows_per_second_first_look": round(rows / first["seconds"])}, indent=1))


if __name__ == "__main__":
    main()
