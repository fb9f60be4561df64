"""etl3: sample data, a one-command demo, and building, checking or planning months of the
warehouse from a shell. Settings come from the environment (ETL1_ROOT, WAREHOUSE_ROOT, ...;
see the README); flags override them for one run. A failure ends with its cause on the
last line; --verbose shows Dagster's full log and the Python traceback."""

from __future__ import annotations

import argparse
import logging
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from etl3_assets.lib.contract import ICEBERG_ASSET, STAGED_ASSET, WAREHOUSE_ASSET
from etl3_assets.lib.settings import Settings
from etl3_assets.lib.storage.roots import Root, RootError

DEFAULTS = Settings()


def _dagster_instance():
    import dagster as dg

    home = Path(os.environ.setdefault("DAGSTER_HOME", str(Path(".dagster_home").absolute())))
    if not home.exists():
        # a home made here gets Dagster's defaults, said explicitly, so Dagster does not
        # print its "no dagster.yaml found" notice before every command
        home.mkdir(parents=True)
        (home / "dagster.yaml").write_text(
            "# made by etl3: Dagster's default storage in this folder; telemetry off, as in the repo's dagster.yaml\n"
            "telemetry:\n  enabled: false\n"
        )
    return dg.DagsterInstance.get()


class CommandFailed(Exception):
    """A month failed: the message is its cause, printed as the command's last line."""


class MonthInterrupted(Exception):
    """A month's run was interrupted (Ctrl-C): printed as the command's one last line."""


def interrupted_message(month: str | None) -> str:
    which = f"month {month}" if month else "the month being built"
    return (
        f"interrupted: {which} was not committed; the warehouse keeps it as its last complete run wrote it,"
        " and the next run of the month repairs what this one began"
    )


VERBOSE = False  # set by --verbose: Dagster's own console log, and tracebacks


def _quiet_console_logger():
    """Dagster's console log, one line per event: a failure shows its first line only (the
    run's cause is printed last by the command), not the stack Dagster appends to it."""
    import dagster as dg

    @dg.logger(
        config_schema={"log_level": dg.Field(str, is_required=False, default_value="INFO")},
        description="etl3's console: one line per event, no stack traces.",
    )
    def console(init_context):
        log = logging.Logger("etl3", level=init_context.logger_config["log_level"].upper())
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_OneLineFormatter("%(asctime)s %(levelname)s %(message)s", "%H:%M:%S"))
        handler.addFilter(_SkipRepeatedCause())
        log.addHandler(handler)
        return log

    return console


def _event_text(record: logging.LogRecord) -> str:
    """One line for a Dagster log record: an error's cause, else the message's first line."""
    meta = getattr(record, "dagster_meta", None) or {}
    lines = (meta.get("orig_message") or record.getMessage()).splitlines() or [""]
    error = getattr(getattr(meta.get("dagster_event"), "event_specific_data", None), "error", None)
    return _cause(error) if error is not None else lines[0]


class _OneLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        meta = getattr(record, "dagster_meta", None) or {}
        text = _event_text(record)
        step = meta.get("step_key")
        line = f"{step}: {text}" if step else text
        return super().format(logging.makeLogRecord({**record.__dict__, "msg": line, "args": None}))


class _SkipRepeatedCause(logging.Filter):
    """Drops an error that repeats the previous one's text (the run's failure repeating
    its step's cause, e.g. an interrupt): one line per cause."""

    def __init__(self):
        super().__init__()
        self.last_error = ""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.ERROR:
            return True
        text = _event_text(record)
        repeated = bool(text) and text == self.last_error
        self.last_error = text
        return not repeated


def _job(job):
    """The job with etl3's quiet console logger, unless --verbose asks for Dagster's own."""
    return job if VERBOSE else job.with_logger_defs({"console": _quiet_console_logger()})


def _cause(error) -> str:
    """The user's exception message below Dagster's wrappers, without its class name."""
    while error.cause is not None and (error.cls_name or "").startswith("Dagster"):
        error = error.cause
    message = error.message.strip()
    qualified, _, rest = message.partition(": ")
    return rest.strip() if error.cls_name and qualified.split(".")[-1] == error.cls_name else message


def _was_interrupted(result) -> bool:
    """Whether a step of the run failed because the run was interrupted."""
    return any(
        event.event_type_value == "STEP_FAILURE"
        and event.step_failure_data.error is not None
        and event.step_failure_data.error.cls_name in ("KeyboardInterrupt", "DagsterExecutionInterruptedError")
        for event in result.all_events
    )


def _failures(result) -> list[str]:
    """``step: cause`` of every failed step of a run, blocking check failures described."""
    import dagster as dg

    causes = []
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            error = event.step_failure_data.error
            if error is not None and error.cls_name == "DagsterAssetCheckFailedError":
                failed = [
                    e.description for e in result.get_asset_check_evaluations()
                    if not e.passed and e.severity == dg.AssetCheckSeverity.ERROR
                    and e.asset_key.to_user_string() in event.step_key
                ]
                causes.append(f"{event.step_key}: a blocking check failed: {failed[0] if failed else _cause(error)}")
            else:
                causes.append(f"{event.step_key}: {_cause(error) if error else 'failed'}")
    return causes


def _materialize_months(months: list[str], full_rewrite: bool = False) -> list[dict]:
    import dagster as dg

    from etl3_assets.definitions import defs
    from etl3_assets.defs.warehouse.jobs import full_rewrite_run_config

    instance = _dagster_instance()
    job = _job(defs.resolve_implicit_global_asset_job_def())
    summaries = []
    for i, month in enumerate(months):
        result = job.execute_in_process(
            partition_key=month,
            instance=instance,
            run_config={
                "loggers": {"console": {"config": {"log_level": "INFO"}}},
                **(full_rewrite_run_config() if full_rewrite else {}),
            },
            asset_selection=[dg.AssetKey(STAGED_ASSET), dg.AssetKey(WAREHOUSE_ASSET), dg.AssetKey(ICEBERG_ASSET)],
            raise_on_error=VERBOSE,
        )
        if not result.success:
            if summaries:
                _print_summaries(summaries)
            if _was_interrupted(result):
                raise MonthInterrupted(interrupted_message(month))
            skipped = f" (not attempted: {', '.join(months[i + 1:])})" if months[i + 1:] else ""
            raise CommandFailed(f"month {month} failed{skipped}: " + "; ".join(_failures(result)))
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
    cols = ["month", "rows", "partitions", "files", "files_written", "files_kept", "files_deleted", "bytes_written"]
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
    from etl3_assets.lib.storage import open_storage

    print(f"wrote sample ETL1 data to {open_storage(root).root_uri}")


def cmd_demo(args: argparse.Namespace) -> None:
    from etl3_assets.devtools.raw_extracts import sample_raw_extracts
    from etl3_assets.lib.contract import FACT_RATE
    from etl3_assets.lib.etl1.raw import list_batches
    from etl3_assets.lib.etl1.source import Etl1Source, fact_months
    from etl3_assets.lib.storage import open_storage

    settings = _check_roots()
    etl1_root, raw_root, warehouse = settings.etl1_root, settings.etl1_raw_root, settings.warehouse_root
    source = Etl1Source(open_storage(etl1_root, setting="ETL1_ROOT"))
    writer = etl1_writer(settings)
    if not source.exists(FACT_RATE) and not list_batches(writer.raw).ready:
        print(f"generating sample raw extracts in {raw_root}/ (two payers, two months) and reference tables in {etl1_root}/")
        sample_raw_extracts(raw_root, etl1_root)
    batches = writer.batches_to_apply()
    if batches:
        print(f"applying {len(batches)} raw batch(es) through ETL1 into {etl1_root}/")
        _print_batch_results(writer.apply(batches))
    months = sorted(fact_months(source))
    print(f"materializing {', '.join(months)} into {warehouse}/partitioned-data/")
    _print_summaries(_materialize_months(months))
    glob = f"{warehouse}/partitioned-data/**/*.parquet"
    print(
        "\nquery it (see README, Example analyses):\n"
        f"  .venv/bin/python -c \"import duckdb; duckdb.sql(\\\"select year, month, count(*) from "
        f"read_parquet('{glob}', hive_partitioning = true) group by all order by all\\\").show()\""
    )


def _stamped(level: str):
    """Progress lines as the other commands print them: time, level, message (stderr)."""
    import time

    def emit(message: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {level} {message}", file=sys.stderr, flush=True)

    return emit


def etl1_writer(settings: Settings):
    """The ETL1 writer of these settings (the star schema at ETL1_ROOT, batches from
    ETL1_RAW_ROOT), wired as the Dagster resource is."""
    from etl3_assets.defs.resources import build_resources

    return build_resources(settings)["etl1"].writer(log=_stamped("INFO"), warn=_stamped("WARNING"))


def _print_batch_results(results) -> None:
    from etl3_assets.lib.contract import ETL1_EXTRACT_TABLES

    names = [t.name for t in ETL1_EXTRACT_TABLES]
    print("  ".join([f"{'batch':<28}", f"{'rate rows':>10}", *(f"{n:>18}" for n in names), "  months changed"]))
    for r in results:
        gains = (f"{'+' + format(r.gained.get(n, 0), ','):>18}" for n in names)
        print("  ".join([f"{r.batch:<28}", f"{r.input_rows:>10,}", *gains, "  " + (", ".join(r.months) or "-")]))


def cmd_etl1(args: argparse.Namespace) -> None:
    """Apply raw batches to the star schema (or, with --dry-run, say what each table would gain)."""
    from etl3_assets.lib.etl1.raw import RawInputError

    settings = _check_roots()
    writer = etl1_writer(settings)
    try:
        batches = [writer.batch(stem) for stem in args.batch] if args.batch else writer.batches_to_apply()
        if not batches:
            print(f"no batch to apply in {writer.raw.root_uri} (every ready batch is applied)")
            return
        results = writer.apply(batches, dry_run=args.dry_run)
    except RawInputError as error:
        raise CommandFailed(str(error)) from error
    _print_batch_results(results)
    verb = "would gain, each against the tables as they are (dry run, nothing written):" if args.dry_run else "applied to"
    print(f"{len(results)} batch(es) {verb} {writer.etl1.root_uri}")


def cmd_materialize(args: argparse.Namespace) -> None:
    _check_roots()
    _print_summaries(_materialize_months(args.partition, full_rewrite=args.full_rewrite))


def cmd_setup_bucket(args: argparse.Namespace) -> None:
    from etl3_assets.lib.storage.bucket_setup import setup_bucket
    from etl3_assets.lib.storage.s3 import S3Connection
    settings = _check_roots()
    root = _flag_root(args, settings.warehouse_root)
    client = S3Connection(region_name=args.region or settings.s3_region).client("s3")
    try:
        results = setup_bucket(client, root, check_only=args.check)
    except ValueError as error:
        raise UsageError(str(error)) from None
    for r in results:
        print(f"{r.setting:22} {r.status:12} {r.detail}")
    print(f"{'checked' if args.check else 'set up'} bucket {root.bucket} for {root.uri}")
    bad = {"differs"} | (set() if args.allow_unsupported else {"unsupported"})
    if any(r.status in bad for r in results):
        raise SystemExit(1)


def cmd_setup_monitoring(args: argparse.Namespace) -> None:
    from etl3_assets.lib.monitoring.alarms import MonitoringSetup
    from etl3_assets.lib.storage.s3 import S3Connection

    settings = _check_roots()
    namespace = args.namespace or settings.cloudwatch_namespace
    if not namespace:
        raise UsageError("no CloudWatch namespace: set CLOUDWATCH_NAMESPACE (e.g. HealthcareDataLake/ETL3) or --namespace")
    environment = args.environment or settings.environment
    connection = S3Connection(region_name=args.region or settings.s3_region)
    cloudwatch = connection.client("cloudwatch")
    setup = MonitoringSetup(
        cloudwatch,
        connection.client("sns") if args.sns_topic else None,
        namespace=namespace,
        environment=environment,
        region=cloudwatch.meta.region_name,
        error_assets=_monitored_assets(),
        topic_name=args.sns_topic,
        topic_arn=None if args.sns_topic else settings.alert_sns_topic_arn,
        check_only=args.check,
    )
    results = setup.run()
    for r in results:
        print(f"{r.setting:40} {r.status:8} {r.detail}")
    print(f"{'checked' if args.check else 'set up'} monitoring of namespace {namespace}, environment {environment}")
    if any(r.status == "differs" for r in results):
        raise SystemExit(1)


def _monitored_assets() -> list[str]:
    """The assets whose failures the error alarm counts: every asset a run can fail on."""
    from etl3_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    return sorted(k.to_user_string() for k in graph.materializable_asset_keys)


def _run_month_job(job_name: str, month: str):
    """Run one of ``month_modes``' jobs for ``month`` in-process; the result, never raising.

    The checks' chunk size and memory budget are the writer's (CHUNK_SIZE, MEMORY_LIMIT_MB).
    """
    from etl3_assets.definitions import defs
    from etl3_assets.defs.warehouse.jobs import mode_run_config

    run_config = {**mode_run_config(job_name), "loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    return _job(defs.resolve_job_def(job_name)).execute_in_process(
        partition_key=month, instance=_dagster_instance(), run_config=run_config, raise_on_error=False
    )


def _print_run(month: str, result) -> list[str]:
    """Print a month's check results; the causes of its failures (empty when it passed;
    a warning is not a failure)."""
    import dagster as dg

    # the input checks first: they decide whether the rest means anything
    evaluations = sorted(result.get_asset_check_evaluations(), key=lambda e: e.asset_key.to_user_string() != STAGED_ASSET)
    from etl3_assets.lib.quality.validation import FACT_ROWS_WITHOUT_MONTH

    notes = []
    for e in evaluations:
        status = "passed" if e.passed else ("WARNING" if e.severity == dg.AssetCheckSeverity.WARN else "FAILED")
        print(f"{month}  {e.asset_key.to_user_string()}.{e.check_name:<18} {status:<8} {e.description or ''}")
        without_month = e.metadata.get(FACT_ROWS_WITHOUT_MONTH)
        if without_month is not None and without_month.value:
            notes.append(
                f"{month}  ETL1 table fact_rate: {without_month.value} rows have an empty year_month"
                " (no month: counted, never written)"
            )
    for note in notes:
        print(note)
    return [] if result.success else [f"{month}: {cause}" for cause in _failures(result)]


def _finish(failures: list[str], what: str) -> None:
    """Exit 1 with the causes as the last lines (stderr), after the table (stdout). An
    input check's failure is what to fix first, so it comes last, where the eye lands."""
    failures = sorted(failures, key=lambda f: f": {STAGED_ASSET}: " in f)
    if failures:
        sys.stdout.flush()
        raise CommandFailed("a blocking check failed:\n" + "\n".join(failures))


def cmd_validate(args: argparse.Namespace) -> None:
    """The input checks and the checks of the month in the warehouse; exit 1 on an error."""
    failures = []
    for month in args.partition:
        failures += _print_run(month, _run_month_job("validate_month", month))
    _finish(failures, "validate")


def cmd_dry_run(args: argparse.Namespace) -> None:
    """The input checks, then what materializing the month would write."""
    failures = []
    for month in args.partition:
        result = _run_month_job("dry_run_month", month)
        failures += _print_run(month, result)
        for event in result.all_events:
            if event.event_type_value == "ASSET_OBSERVATION":
                for key, value in event.asset_observation_data.asset_observation.metadata.items():
                    print(f"{month}  {key.removeprefix('plan_'):<26} {value.value}")
    _finish(failures, "dry-run")


YEAR_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def check_partitions(months: list[str]) -> None:
    """Refuse, before anything runs, a month that is not a partition of the warehouse."""
    from etl3_assets.defs.partitions import monthly_partitions

    keys = monthly_partitions.get_partition_keys()
    first, last = keys[0], keys[-1]
    for month in months:
        if not YEAR_MONTH.match(month):
            loose = re.match(r"^(\d{4})-(\d{1,2})$", month)
            hint = (
                f" (did you mean {loose[1]}-{int(loose[2]):02d}?)" if loose and 1 <= int(loose[2]) <= 12 else ""
            )
            raise UsageError(f"--partition {month!r} is not a month: expected YYYY-MM{hint}, from {first} to {last}")
        if month not in keys:
            raise UsageError(
                f"--partition {month} is outside the warehouse's months: expected YYYY-MM from {first} to {last}"
                " (ETL3_FIRST_MONTH sets the first; the last is next month)"
            )


class UsageError(Exception):
    """A flag's value is wrong: one line, exit 2 (argparse's convention)."""


def _add_writer_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--chunk-size", type=int, dest="chunk_size", metavar="ROWS", default=argparse.SUPPRESS,
        help=f"rows read per slice while writing (overrides CHUNK_SIZE; default {DEFAULTS.chunk_size})",
    )
    p.add_argument(
        "--memory-limit-mb", type=int, dest="memory_limit_mb", metavar="MB", default=argparse.SUPPRESS,
        help=f"memory budget of the writer (overrides MEMORY_LIMIT_MB; default {DEFAULTS.memory_limit_mb})",
    )
    p.add_argument(
        "--max-rows-per-file", type=int, dest="max_rows_per_file", metavar="ROWS", default=argparse.SUPPRESS,
        help="rows per parquet file; a larger partition is split into numbered files"
        f" (overrides MAX_ROWS_PER_FILE; default {DEFAULTS.max_rows_per_file})",
    )
    p.add_argument(
        "--max-workers", type=int, dest="max_workers", metavar="N", default=argparse.SUPPRESS,
        help=f"processes writing partitions (overrides MAX_WORKERS; default {DEFAULTS.max_workers}, the CPU count)",
    )


def _add_partition_flag(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--partition", action="append", required=True, metavar="YYYY-MM", default=argparse.SUPPRESS,
        help=f"month to {what}; repeat the flag for several months",
    )


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Every flag's default shown after its description."""


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--verbose", "-v", action="store_true", default=argparse.SUPPRESS,
        help="show Dagster's full log and the Python traceback of a failure (default: off)",
    )
    parser = argparse.ArgumentParser(prog="etl3", description=__doc__, formatter_class=_HelpFormatter, parents=[common])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str, description: str | None = None) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=help, description=description or help, formatter_class=_HelpFormatter, parents=[common]
        )

    p = command("sample-data", "write contract-conformant sample ETL1 data")
    p.add_argument("--root", default=None, help="ETL1 root to write: a folder or s3://bucket/prefix (default: ETL1_ROOT, else data/etl1)")
    p.add_argument("--months", default="2025-07,2025-08,2025-09", help="comma-separated months (YYYY-MM)")
    p.add_argument("--rows-per-month", type=int, default=400, help="fact rows per month")
    p.add_argument("--seed", type=int, default=7, help="random seed: the same seed gives the same data")
    p.set_defaults(func=cmd_sample_data)

    p = command(
        "demo", "sample raw extracts (if absent) through ETL1, then every month into the warehouse",
        "Write sample raw extracts (two payers, two months) to ETL1_RAW_ROOT and reference tables to ETL1_ROOT"
        " if there are none, apply every batch not yet applied through ETL1, then materialize every month"
        " ETL1 holds into WAREHOUSE_ROOT.",
    )
    _add_writer_flags(p)
    p.set_defaults(func=cmd_demo)

    p = command(
        "materialize", "build months of the warehouse from ETL1",
        "Check each month's ETL1 input, then write the month into WAREHOUSE_ROOT (replacing exactly that month).",
    )
    _add_partition_flag(p, "build")
    _add_writer_flags(p)
    p.add_argument(
        "--full-rewrite", action="store_true",
        help="write every file of the month; by default files whose content has not changed are kept as they are",
    )
    p.set_defaults(func=cmd_materialize, months_flag=True)

    p = command(
        "etl1", "apply payers' raw extracts to ETL1's star schema",
        "Apply raw batches (<YYYYMM>_<payer>_<state>_rates/_providers.parquet under ETL1_RAW_ROOT) to the"
        " seven ETL1 tables under ETL1_ROOT: first writer wins, a batch applied again writes nothing."
        " Without --batch: every ready batch not yet applied (or whose files changed), oldest month first.",
    )
    p.add_argument(
        "--batch", action="append", default=[], metavar="STEM",
        help="batch to apply, e.g. 202508_aetna_GA; repeat the flag for several, applied in the order given",
    )
    p.add_argument("--dry-run", action="store_true", help="print what each table would gain; write nothing")
    p.add_argument(
        "--memory-limit-mb", type=int, dest="memory_limit_mb", metavar="MB", default=argparse.SUPPRESS,
        help=f"memory budget of the apply (overrides MEMORY_LIMIT_MB; default {DEFAULTS.memory_limit_mb})",
    )
    p.set_defaults(func=cmd_etl1)

    p = command(
        "validate", "check months' ETL1 input and the months in the warehouse; write nothing",
        "Run the blocking input checks of each month and the checks of the month already in the"
        " warehouse; write nothing. Exit 1 when a blocking check fails.",
    )
    _add_partition_flag(p, "check")
    p.set_defaults(func=cmd_validate, months_flag=True)

    p = command(
        "dry-run", "check months' ETL1 input and plan what they would write; write nothing",
        "Run the blocking input checks of each month, then plan it: rows, partitions, files,"
        " estimated bytes, target. Write nothing. Exit 1 when a blocking check fails.",
    )
    _add_partition_flag(p, "plan")
    p.set_defaults(func=cmd_dry_run, months_flag=True)

    p = command(
        "setup-bucket", "create or verify the warehouse bucket",
        "Create or verify the warehouse bucket: encryption, public access block, versioning, lifecycle.",
    )
    p.add_argument(
        "--root", default=None, help="the warehouse, s3://bucket/prefix (default: WAREHOUSE_ROOT)",
    )
    p.add_argument("--region", default=None, help="AWS region (default: S3_REGION, else boto3's resolution)")
    p.add_argument("--check", action="store_true", help="only verify; exit 1 if anything differs")
    p.add_argument(
        "--allow-unsupported", action="store_true", help="do not fail on settings the endpoint does not implement"
    )
    p.set_defaults(func=cmd_setup_bucket)

    p = command(
        "setup-monitoring", "create or verify the CloudWatch alarms, dashboard and SNS topic",
        "Create or verify the three alarms (errors, processing rate, memory) and the dashboard on the"
        " series the runs publish, and optionally an SNS topic the alarms notify. Idempotent.",
    )
    p.add_argument("--namespace", default=None, help="CloudWatch namespace (default: CLOUDWATCH_NAMESPACE)")
    p.add_argument("--environment", default=None, help="the Environment dimension (default: ETL3_ENVIRONMENT, else dev)")
    p.add_argument("--region", default=None, help="AWS region (default: S3_REGION, else boto3's resolution)")
    p.add_argument(
        "--sns-topic", default=None,
        help="create (or find) this SNS topic and make it the alarms' action (default: ALERT_SNS_TOPIC_ARN if set)",
    )
    p.add_argument("--check", action="store_true", help="only verify; exit 1 if anything differs")
    p.set_defaults(func=cmd_setup_monitoring)
    return parser


RUN_HERE = "--run-here"
"""Hidden flag: run the command in this process (the child of ``run_behind_front``)."""
FRONTED_COMMANDS = ("materialize", "demo")
STOP_SECONDS = 1.5
"""How long an interrupted run gets to stop by itself before its processes are killed."""
PR_SET_PDEATHSIG = 1


def _die_with_front():
    """A function for the child to call right after fork: SIGINT when the front dies
    (Linux), so the run never outlives it. Resolved before the fork, so the child makes
    one plain system call and takes no lock another thread of the front might hold."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return lambda: prctl(PR_SET_PDEATHSIG, signal.SIGINT)


def run_behind_front(argv: list[str]) -> int:
    """Run a month command in a child process group and stand in front of it.

    The terminal sends Ctrl-C to its whole foreground process group; in one group with
    the run, Dagster's helper processes (its log mirrors) would each print a traceback
    and the writer processes would each see the interrupt on their own. Here only this
    front sees it, and passes one SIGINT to the run's main process, which stops its
    steps, its writer processes and its helpers in order and says so in one line. If the
    run has not stopped within ``STOP_SECONDS`` (or a second Ctrl-C comes), its whole
    group is killed; what it began is repaired by the month's next run either way.
    """
    def interrupt(signum, _frame):
        raise KeyboardInterrupt

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, interrupt)
    # a process group of its own: the terminal's Ctrl-C reaches only this front
    child = subprocess.Popen(
        [sys.executable, "-m", "etl3_assets.cli", RUN_HERE, *argv], process_group=0, preexec_fn=_die_with_front()
    )
    try:
        return _wait(child)
    except KeyboardInterrupt:
        pass
    try:
        child.send_signal(signal.SIGINT)
        code = _wait(child, STOP_SECONDS)
        _kill_group(child.pid)  # any helper left behind
        return code
    except (KeyboardInterrupt, subprocess.TimeoutExpired):
        _kill_group(child.pid)
        child.wait()
        print(f"etl3 {argv_command(argv)}: {interrupted_message(None)}", file=sys.stderr)
        return 130


def _wait(child: subprocess.Popen, timeout: float | None = None) -> int:
    """``child.wait``, in short slices: a signal taken by another thread of this process
    (polars starts some) runs its handler only when the main thread next runs Python."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        try:
            return child.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            if deadline is not None and time.monotonic() > deadline:
                raise


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def argv_command(argv: list[str]) -> str:
    """The month command ``argv`` names (its first word that is not a flag), else ''."""
    command = next((a for a in argv if not a.startswith("-")), "")
    return command if command in FRONTED_COMMANDS else ""


def main(argv: list[str] | None = None) -> int:
    """Run a command. Without --verbose, a failure prints its cause as the last line
    (stderr) and exits 1, a wrong flag value one line and exits 2: no traceback. The
    month commands run behind a front process (``run_behind_front``)."""
    global VERBOSE
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == [RUN_HERE]:
        argv = argv[1:]
    elif argv_command(argv) and not {"-h", "--help"} & set(argv):
        return run_behind_front(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    VERBOSE = getattr(args, "verbose", False)
    name = f"etl3 {args.command}"
    try:
        # before anything reads the settings (they are read once per process)
        _apply_writer_flags(args)
        _check_roots()
        if getattr(args, "months_flag", False):
            check_partitions(args.partition)
        args.func(args)
    except UsageError as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        return 2
    except RootError as error:  # the message names the setting and the expected form
        print(error, file=sys.stderr)
        return 2
    except CommandFailed as error:
        if VERBOSE and error.__cause__ is not None:
            raise
        sys.stdout.flush()
        print(f"{name}: {error}", file=sys.stderr)
        return 1
    except MonthInterrupted as error:
        sys.stdout.flush()
        print(f"{name}: {error}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(f"{name}: {interrupted_message(None)}", file=sys.stderr)
        return 130
    except Exception as error:  # noqa: BLE001 - the cause, not a stack, unless --verbose
        if VERBOSE:
            raise
        sys.stdout.flush()
        message = str(error).strip() or type(error).__name__
        print(f"{name} failed ({type(error).__name__}; --verbose shows the traceback):", file=sys.stderr)
        print(message, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
