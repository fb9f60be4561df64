"""Failed month runs -> a report, in words, in the run's log (where alerts hook in)."""

from __future__ import annotations

import dagster as dg

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
