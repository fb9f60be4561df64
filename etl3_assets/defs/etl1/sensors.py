"""The ETL1 sensor: new or changed ETL1 output -> one run of the month job per month."""

from __future__ import annotations

import dagster as dg

from etl3_assets.defs.etl1.resources import Etl1Resource
from etl3_assets.defs.partitions import monthly_partitions
from etl3_assets.defs.warehouse.jobs import warehouse_month_job
from etl3_assets.lib.etl1.watch import Etl1NotReady, Etl1Snapshot, compare, months_to_build, take_snapshot
from etl3_assets.lib.contract import ETL1_EXTRACT_TABLES, WAREHOUSE_ASSET
from etl3_assets.lib.etl1.journal import applied_records, explained_months, pending
from etl3_assets.lib.settings import current_settings




@dg.sensor(
    job=warehouse_month_job,
    minimum_interval_seconds=current_settings().sensor_interval_seconds,
    # Running by default, deliberately: ETL1 rewrites its files in place and the sensor keeps
    # the warehouse equal to them; its first evaluation (no cursor yet) requests every ETL1
    # month, so opening the UI over the demo data rebuilds the demo months once.
    # ETL3_SENSOR=stopped leaves it to be started in the UI; a choice made there wins.
    default_status=(
        dg.DefaultSensorStatus.RUNNING
        if current_settings().etl1_sensor == "running"
        else dg.DefaultSensorStatus.STOPPED
    ),
    description=(
        "Requests one warehouse_month_job run per ETL1 month that is new or whose fact rows "
        "changed, and per materialized month when a dimension's content changed. Files being "
        "rewritten are left alone until they are complete and stable."
    ),
)
def etl1_sensor(context: dg.SensorEvaluationContext, etl1: Etl1Resource):
    previous = Etl1Snapshot.from_json(context.cursor)
    source = etl1.source()
    interrupted = pending(source.storage)
    if interrupted is not None:
        return dg.SkipReason(
            f"ETL1 batch {interrupted.batch} is being applied (or was interrupted and will be completed):"
            " its tables are not consistent yet"
        )
    try:
        current = take_snapshot(source, previous, fingerprints=source.fingerprints)
    except Etl1NotReady as not_ready:
        return dg.SkipReason(str(not_ready))
    if pending(source.storage) is not None:  # a batch started replacing tables meanwhile
        return dg.SkipReason("an ETL1 batch started being applied while the tables were read")
    change = compare(previous, current)
    if previous is not None and change.is_empty:
        context.update_cursor(current.to_json())
        if current.files == previous.files:
            return dg.SkipReason("no ETL1 file changed since the last evaluation")
        rewritten = sorted(n for n in current.files if current.files[n] != previous.files.get(n))
        return dg.SkipReason(f"ETL1 files were rewritten ({', '.join(rewritten)}) but no month's content changed")

    known = set(monthly_partitions.get_partition_keys())
    materialized = context.instance.get_materialized_partitions(dg.AssetKey(WAREHOUSE_ASSET))
    wanted = months_to_build(change, current, materialized)
    extract_tables = {t.name for t in ETL1_EXTRACT_TABLES}
    if previous is not None and change.changed_tables and set(change.changed_tables) <= extract_tables:
        # the dimensions changed by batches this project applied: their records name the
        # months whose enriched rows changed, so only those are rebuilt
        explained = explained_months(applied_records(source.storage).values(), previous.files, current.files)
        if explained is not None:
            wanted = sorted(set(change.new_months) | set(change.changed_months) | (explained & set(materialized)))
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
