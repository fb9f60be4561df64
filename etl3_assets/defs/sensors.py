"""Sensors: ETL1 output -> month runs, and failed runs -> a report in the run's log."""

from __future__ import annotations

import os

import dagster as dg

from etl3_assets.defs.warehouse.assets import monthly_partitions
from etl3_assets.lib.etl1.watch import Etl1NotReady, Etl1Snapshot, compare, months_to_build, take_snapshot
from etl3_assets.defs.warehouse.jobs import warehouse_month_job
from etl3_assets.defs.resources import Etl1Resource
from etl3_assets.lib.settings import etl1_sensor_running

WAREHOUSE_ASSET = dg.AssetKey("fact_rate_enriched")
PARTITION_TAG = "dagster/partition"


@dg.sensor(
    job=warehouse_month_job,
    minimum_interval_seconds=int(os.getenv("ETL3_SENSOR_INTERVAL_SECONDS", "60")),
    default_status=dg.DefaultSensorStatus.RUNNING if etl1_sensor_running() else dg.DefaultSensorStatus.STOPPED,
    description=(
        "Requests one warehouse_month_job run per ETL1 month that is new or whose fact rows "
        "changed, and per materialized month when a dimension's content changed. Files being "
        "rewritten are left alone until they are complete and stable."
    ),
)
def etl1_sensor(context: dg.SensorEvaluationContext, etl1: Etl1Resource):
    previous = Etl1Snapshot.from_json(context.cursor)
    try:
        current = take_snapshot(etl1.source(), previous, fingerprints=etl1.fingerprints)
    except Etl1NotReady as not_ready:
        return dg.SkipReason(str(not_ready))
    change = compare(previous, current)
    if previous is not None and change.is_empty:
        context.update_cursor(current.to_json())
        if current.files == previous.files:
            return dg.SkipReason("no ETL1 file changed since the last evaluation")
        rewritten = sorted(n for n in current.files if current.files[n] != previous.files.get(n))
        return dg.SkipReason(
            f"ETL1 files were rewritten ({', '.join(rewritten)}) but no month's content changed"
        )

    known = set(monthly_partitions.get_partition_keys())
    materialized = context.instance.get_materialized_partitions(WAREHOUSE_ASSET)
    wanted = months_to_build(change, current, materialized)
    outside = [m for m in wanted if m not in known]
    if outside:
        context.log.warning(
            f"ETL1 has months outside the partitions (ETL3_FIRST_MONTH={monthly_partitions.start:%Y-%m}): "
            f"{', '.join(outside)}; they are not built"
        )
    if change.removed_months:
        context.log.warning(
            f"ETL1 no longer has months {', '.join(change.removed_months)}; their warehouse files are kept"
        )
    months = [m for m in wanted if m in known]
    context.log.info(
        f"new months {list(change.new_months)}, changed months {list(change.changed_months)}, "
        f"changed tables {list(change.changed_tables)} -> requesting {months}"
    )
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=f"{month}@{current.version}",
                partition_key=month,
                tags={"etl3/trigger": "etl1_sensor"},
            )
            for month in months
        ],
        skip_reason=None if months else dg.SkipReason("no month to build"),
        cursor=current.to_json(),
    )


def failure_report(
    instance: dg.DagsterInstance,
    run: dg.DagsterRun,
    step_failures: list[dg.DagsterEvent],
    run_failure: dg.DagsterEvent,
    asset_keys: set[dg.AssetKey] = frozenset(),
) -> str:
    """What failed, in words: the month, then per failed step its asset and reason, and
    per failed blocking check its asset, check and finding."""
    month = run.tags.get(PARTITION_TAG) or "..".join(
        filter(None, (run.tags.get(f"dagster/asset_partition_range_{end}") for end in ("start", "end")))
    )
    lines = [f"run {run.run_id} of {run.job_name} failed: month {month or '(none)'}"]
    for event in step_failures:
        step = event.step_key or "(unknown step)"
        what = f"asset {step}" if dg.AssetKey(step) in asset_keys else f"step {step}"
        lines.append(f"  {what}: {_reason(event)}")
    for check in failed_blocking_checks(instance, run.run_id):
        lines.append(
            f"  asset {check.asset_key.to_user_string()}, check {check.check_name} failed: "
            f"{check.description or 'see the check metadata'}"
        )
    if len(lines) == 1:
        lines.append(f"  {run_failure.message}")
    return "\n".join(lines)


def failed_blocking_checks(instance: dg.DagsterInstance, run_id: str) -> list:
    records = instance.get_records_for_run(
        run_id=run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION, limit=10_000
    ).records
    evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    return [
        e for e in evaluations
        if not e.passed and (e.blocking or e.severity == dg.AssetCheckSeverity.ERROR)
    ]


def _reason(event: dg.DagsterEvent) -> str:
    """The user's exception message, below Dagster's wrappers."""
    error = getattr(event.event_specific_data, "error", None)
    while error is not None and error.cause is not None and error.cls_name.startswith("Dagster"):
        error = error.cause
    if error is None:
        return event.message or "unknown"
    message = error.message.strip()
    qualified, _, rest = message.partition(": ")
    return rest if qualified.split(".")[-1] == error.cls_name else message


@dg.run_failure_sensor(
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Writes the month, asset and reason of every failed run into that run's log (and the "
        "sensor's); send alerts from here (README: Notifications)."
    ),
)
def report_failed_month(context: dg.RunFailureSensorContext) -> None:
    repository = context.repository_def
    report = failure_report(
        context.instance,
        context.dagster_run,
        context.get_step_failure_events(),
        context.failure_event,
        set(repository.asset_graph.get_all_asset_keys()) if repository else set(),
    )
    context.instance.report_engine_event(report, dagster_run=context.dagster_run)
    context.log.error(report)
