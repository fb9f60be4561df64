"""``etl3``: sample data, a one-command demo, and materializing months from a shell."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from etl3_assets.lib.contract import STAGED_ASSET, WAREHOUSE_ASSET
from etl3_assets.lib.settings import Settings
from etl3_assets.lib.storage.roots import Root, RootError


def _dagster_instance():
    import dagster as dg

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(".dagster_home").absolute())))
    home.mkdir(parents=True, exist_ok=True)
    return dg.DagsterInstance.get()


def _materialize_months(months: list[str]) -> list[dict]:
    import dagster as dg

    from etl3_assets.definitions import defs

    instance = _dagster_instance()
    job = defs.resolve_implicit_global_asset_job_def()
    summaries = []
    for month in months:
        result = job.execute_in_process(
            partition_key=month,
            instance=instance,
            run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
            asset_selection=[dg.AssetKey(STAGED_ASSET), dg.AssetKey(WAREHOUSE_ASSET)],
        )
        for mat in result.asset_materializations_for_node(WAREHOUSE_ASSET):
            summaries.append({"month": month, **{k: v.value for k, v in mat.metadata.items()}})
    return summaries


WRITER_FLAGS = {
    "chunk_size": "CHUNK_SIZE",
    "memory_limit_mb": "MEMORY_LIMIT_MB",
    "max_rows_per_file": "MAX_ROWS_PER_FILE",
    "max_workers": "MAX_WORKERS",
}


def _apply_writer_flags(args: argparse.Namespace) -> None:
    """Flags become the environment variables the Definitions read, so they override
    exactly one setting each and everything else (WAREHOUSE_ROOT, S3) still applies."""
    for flag, variable in WRITER_FLAGS.items():
        if getattr(args, flag, None) is not None:
            os.environ[variable] = str(getattr(args, flag))


def _print_summaries(summaries: list[dict]) -> None:
    cols = ["month", "rows", "partitions", "files", "bytes", "stale_files_deleted"]
    print("  ".join(f"{c:>12}" for c in cols))
    for s in summaries:
        print("  ".join(f"{s.get(c, ''):>12}" for c in cols))
    for s in summaries:
        print(f"wrote {s['month']} to {s.get('written_to', '?')} ({s.get('files', '?')} files)")


def _check_roots() -> Settings:
    """The environment's settings, refusing a mistyped ETL1_ROOT or WAREHOUSE_ROOT
    before anything (Dagster's instance folder included) is created."""
    return Settings.from_env()


def _flag_root(args: argparse.Namespace, default: str) -> Root:
    """``--root`` when given, else the setting's root."""
    return Root.parse(default, "root") if args.root is None else Root.parse(args.root, "--root")


def cmd_sample_data(args: argparse.Namespace) -> None:
    from etl3_assets.devtools.sample_data import generate_sample_etl1

    root = _flag_root(args, _check_roots().etl1_root)
    counts = generate_sample_etl1(
        root.uri, months=args.months.split(","), rows_per_month=args.rows_per_month, seed=args.seed
    )
    for table, n in counts.items():
        print(f"{table:32} {n:>8} rows")
    print(f"wrote sample ETL1 data to {root.uri if root.is_s3 else Path(root.uri).absolute()}")


def cmd_demo(args: argparse.Namespace) -> None:
    from etl3_assets.lib.etl1.source import Etl1Source, fact_months
    from etl3_assets.devtools.sample_data import generate_sample_etl1
    from etl3_assets.lib.storage import open_storage

    from etl3_assets.lib.contract import FACT_RATE

    settings = _check_roots()
    etl1_root, warehouse = settings.etl1_root, settings.warehouse_root
    source = Etl1Source(open_storage(etl1_root))
    if not source.exists(FACT_RATE):
        print(f"generating sample ETL1 data in {etl1_root}/")
        generate_sample_etl1(etl1_root)
    months = sorted(fact_months(source))
    print(f"materializing {', '.join(months)} into {warehouse}/partitioned-data/")
    _apply_writer_flags(args)
    _print_summaries(_materialize_months(months))
    glob = f"{warehouse}/partitioned-data/**/*.parquet"
    print(
        "\nquery it (see README, Example analyses):\n"
        f"  .venv/bin/python -c \"import duckdb; duckdb.sql(\\\"select year, month, count(*) from "
        f"read_parquet('{glob}', hive_partitioning = true) group by all order by all\\\").show()\""
    )


def cmd_materialize(args: argparse.Namespace) -> None:
    _check_roots()
    _apply_writer_flags(args)
    _print_summaries(_materialize_months(args.partition))


def cmd_setup_bucket(args: argparse.Namespace) -> None:
    from etl3_assets.lib.storage.bucket_setup import setup_bucket
    from etl3_assets.lib.storage.s3 import S3Connection
    root = _flag_root(args, _check_roots().warehouse_root)
    client = S3Connection(region_name=args.region or _check_roots().s3_region).client("s3")
    try:
        results = setup_bucket(client, root, check_only=args.check)
    except ValueError as error:
        raise SystemExit(str(error)) from None
    for r in results:
        print(f"{r.setting:22} {r.status:12} {r.detail}")
    print(f"{'checked' if args.check else 'set up'} bucket {root.bucket} for {root.uri}")
    bad = {"differs"} | (set() if args.allow_unsupported else {"unsupported"})
    if any(r.status in bad for r in results):
        raise SystemExit(1)


def _run_month_job(job_name: str, month: str):
    """Run one of ``month_modes``' jobs for ``month`` in-process; the result, never raising.

    The checks' chunk size and memory budget are the writer's (CHUNK_SIZE, MEMORY_LIMIT_MB).
    """
    from etl3_assets.definitions import defs
    from etl3_assets.defs.warehouse.jobs import mode_run_config

    run_config = {**mode_run_config(job_name), "loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    return defs.resolve_job_def(job_name).execute_in_process(
        partition_key=month, instance=_dagster_instance(), run_config=run_config, raise_on_error=False
    )


def _print_run(month: str, result) -> bool:
    """Print a month's check results and run failure; True when nothing blocking failed."""
    import dagster as dg

    ok = result.success
    for e in result.get_asset_check_evaluations():
        status = "passed" if e.passed else ("WARNING" if e.severity == dg.AssetCheckSeverity.WARN else "FAILED")
        ok = ok and (e.passed or e.severity == dg.AssetCheckSeverity.WARN)
        print(f"{month}  {e.asset_key.to_user_string()}.{e.check_name:<18} {status:<8} {e.description or ''}")
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            print(f"{month}  {event.step_key} failed: {event.step_failure_data.error.message.strip()}")
    return ok


def cmd_validate(args: argparse.Namespace) -> None:
    """The input checks and the checks of the month in the warehouse; exit 1 on an error."""
    _check_roots()
    ok = [_print_run(month, _run_month_job("validate_month", month)) for month in args.partition]
    if not all(ok):
        raise SystemExit(1)


def cmd_dry_run(args: argparse.Namespace) -> None:
    """The input checks, then what materializing the month would write."""
    _check_roots()
    ok = True
    for month in args.partition:
        result = _run_month_job("dry_run_month", month)
        ok = _print_run(month, result) and ok
        for event in result.all_events:
            if event.event_type_value == "ASSET_OBSERVATION":
                for key, value in event.asset_observation_data.asset_observation.metadata.items():
                    print(f"{month}  {key.removeprefix('plan_'):<26} {value.value}")
    if not ok:
        raise SystemExit(1)


def _add_writer_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--chunk-size", type=int, dest="chunk_size")
    p.add_argument("--memory-limit-mb", type=int, dest="memory_limit_mb")
    p.add_argument("--max-rows-per-file", type=int, dest="max_rows_per_file")
    p.add_argument("--max-workers", type=int, dest="max_workers")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="etl3", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("sample-data", help="write contract-conformant sample ETL1 data")
    p.add_argument("--root", default=None, help="local folder or s3://bucket/prefix (default: ETL1_ROOT, else data/etl1)")
    p.add_argument("--months", default="2025-07,2025-08,2025-09")
    p.add_argument("--rows-per-month", type=int, default=400)
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=cmd_sample_data)

    p = sub.add_parser("demo", help="sample data (if absent) -> every month into the warehouse")
    _add_writer_flags(p)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("materialize", help="materialize months (YYYY-MM) of the warehouse")
    p.add_argument("--partition", action="append", required=True, metavar="YYYY-MM")
    _add_writer_flags(p)
    p.set_defaults(func=cmd_materialize)

    p = sub.add_parser("validate", help="validate-only: check months' input and warehouse month, write nothing")
    p.add_argument("--partition", action="append", required=True, metavar="YYYY-MM")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("dry-run", help="plan months: rows, partitions, files, estimated bytes; write nothing")
    p.add_argument("--partition", action="append", required=True, metavar="YYYY-MM")
    p.set_defaults(func=cmd_dry_run)

    p = sub.add_parser(
        "setup-bucket",
        help="create or verify the warehouse bucket: encryption, public access block, versioning, lifecycle",
    )
    p.add_argument("--root", default=None, help="s3://bucket/prefix (default: WAREHOUSE_ROOT)")
    p.add_argument("--region", default=None, help="AWS region (default: S3_REGION, else boto3's resolution)")
    p.add_argument("--check", action="store_true", help="only verify; exit 1 if anything differs")
    p.add_argument(
        "--allow-unsupported", action="store_true", help="do not fail on settings the endpoint does not implement"
    )
    p.set_defaults(func=cmd_setup_bucket)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except RootError as error:  # the message says all: no traceback
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
