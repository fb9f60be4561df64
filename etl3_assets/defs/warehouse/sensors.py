"""Failed month runs -> a report, in words, in the run's log; ``ErrorCount`` in
CloudWatch; and an alert by SNS or email (each when configured)."""

from __future__ import annotations

import dagster as dg

from etl3_assets.defs.monitoring.resources import MonitoringResource
from etl3_assets.lib.monitoring.alarms import RUN_ASSET

PARTITION_TAG = "dagster/partition"


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


def failed_assets(
    instance: dg.DagsterInstance, run_id: str, step_failures: list[dg.DagsterEvent], asset_keys: set[dg.AssetKey]
) -> list[str]:
    """The assets whose step or blocking check failed; ``RUN_ASSET`` when none did (the
    run failed before or between steps)."""
    names = {e.step_key for e in step_failures if e.step_key and dg.AssetKey(e.step_key) in asset_keys}
    names |= {c.asset_key.to_user_string() for c in failed_blocking_checks(instance, run_id)}
    return sorted(names) or [RUN_ASSET]


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
        "sensor's), publishes ErrorCount per failed asset to CloudWatch and sends the report "
        "by SNS or email, when configured (README: Operations)."
    ),
)
def report_failed_month(context: dg.RunFailureSensorContext, monitoring: MonitoringResource) -> None:
    repository = context.repository_def
    run = context.dagster_run
    asset_keys = set(repository.asset_graph.get_all_asset_keys()) if repository else set()
    step_failures = context.get_step_failure_events()
    report = failure_report(context.instance, run, step_failures, context.failure_event, asset_keys)
    context.instance.report_engine_event(report, dagster_run=run)
    context.log.error(report)
    assets = failed_assets(context.instance, run.run_id, step_failures, asset_keys)
    for asset in assets:
        monitoring.publish(asset, {"ErrorCount": 1}, warn=context.log.warning)
    month = run.tags.get(PARTITION_TAG) or "(no month)"
    subject = f"ETL3 {monitoring.environment}: {run.job_name} failed, month {month}, {', '.join(assets)}"
    for outcome in monitoring.alert(subject, report):
        (context.log.warning if outcome.startswith("failed") else context.log.info)(f"alert {outcome}")
