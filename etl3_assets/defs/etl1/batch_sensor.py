"""The raw-batch sensor: a batch landing (or replaced) under ETL1_RAW_ROOT -> a partition
of ``etl1_batches`` and one run applying it. The month sensor (``sensors.py``) then sees
the tables change and rebuilds exactly the months the batch changed."""

from __future__ import annotations

import json

import dagster as dg

from etl3_assets.defs.etl1.assets import ETL1_WRITER_TAG, RAW_BATCH_ASSET, etl1_batch_job, etl1_batch_partitions
from etl3_assets.defs.etl1.resources import Etl1Resource
from etl3_assets.lib.etl1.journal import applied_records, pending
from etl3_assets.lib.etl1.raw import batch_fingerprint, list_batches
from etl3_assets.lib.settings import current_settings


@dg.sensor(
    job_name=etl1_batch_job.name,
    minimum_interval_seconds=current_settings().sensor_interval_seconds,
    default_status=(
        dg.DefaultSensorStatus.RUNNING if current_settings().etl1_sensor == "running" else dg.DefaultSensorStatus.STOPPED
    ),
    description=(
        "Adds an etl1_batches partition per raw batch under ETL1_RAW_ROOT and requests a run applying each ready"
        " batch not yet applied (or whose files changed), oldest month first; completes a batch a killed run left"
        " half-applied."
    ),
)
def etl1_batch_sensor(context: dg.SensorEvaluationContext, etl1: Etl1Resource):
    writer = etl1.writer(log=context.log.info, warn=context.log.warning)
    listing = list_batches(writer.raw)
    for stem, missing in listing.incomplete:
        context.log.info(f"batch {stem} is not ready yet: {writer.raw.uri(missing)} is missing")
    records = applied_records(writer.etl1)
    known = set(context.instance.get_dynamic_partitions(etl1_batch_partitions.name))
    seen = json.loads(context.cursor) if context.cursor else {}
    prints = {b.stem: batch_fingerprint(writer.raw, b) for b in listing.ready}
    todo = [b.stem for b in listing.ready if b.stem not in records or records[b.stem].fingerprint != prints[b.stem]]
    keys = [(stem, f"{stem}@{prints[stem]}") for stem in todo]
    interrupted = pending(writer.etl1)
    if interrupted is not None and interrupted.batch not in todo and interrupted.batch in prints:
        keys.insert(0, (interrupted.batch, f"{interrupted.batch}@{prints[interrupted.batch]}@completion-{interrupted.state_before}"))
    observations = [
        dg.AssetObservation(RAW_BATCH_ASSET, partition=stem, metadata={"fingerprint": fp})
        for stem, fp in prints.items() if seen.get(stem) != fp
    ]
    new_partitions = sorted(set(prints) - known)
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(
                run_key=run_key, partition_key=stem, tags={"etl3/trigger": "etl1_batch_sensor", ETL1_WRITER_TAG: "true"}
            )
            for stem, run_key in keys
        ],
        dynamic_partitions_requests=[etl1_batch_partitions.build_add_request(new_partitions)] if new_partitions else [],
        asset_events=observations,
        cursor=json.dumps(prints, sort_keys=True),
        skip_reason=None if keys else dg.SkipReason("every ready batch is applied"),
    )
