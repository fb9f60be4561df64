"""The quality rules as Dagster asset checks.

* On ``staged_enriched_month``, the *input* checks ``etl1_schema`` and ``etl1_keys_unique``
  are ``check_specs`` evaluated inside the asset, before it yields anything: a failing
  input stops the month before anything is staged or written, and the run fails with a
  message naming table, column and value.
* On ``fact_rate_enriched``, the checks of the month as written: ``month_schema`` and
  ``fact_uid_unique`` (errors; blocking, so nothing downstream consumes a broken month)
  and the seed's value rules ``required_fields``, ``rate_range``, ``state_code``,
  ``coordinates``, which warn. In the run that wrote the month they judge the rows the
  write consumed, and ``month_schema`` compares the committed manifest with them and reads
  a sample of whole partitions back: reading every file back costs about 0.4 ms a file
  locally and a GET each on S3, for hundreds of thousands of files. Run on their own
  (``validate_month``, or from the UI) they read the whole month back.

Every check is partitioned by month, so a run checks its own month only.
"""

from collections.abc import Iterator

import dagster as dg

from etl3_assets.defs.warehouse.resources import WarehouseResource
from etl3_assets.defs.dagster_features import PARTITIONED_CHECK_SPEC, relying_on
from etl3_assets.lib.contract import STAGED_ASSET
from etl3_assets.lib.etl1.source import Etl1Source
from etl3_assets.lib.quality.schemas import (
    COORDINATES_CHECK,
    ETL1_KEYS_CHECK,
    ETL1_SCHEMA_CHECK,
    FACT_UID_UNIQUE_CHECK,
    RATE_RANGE_CHECK,
    REQUIRED_FIELDS_CHECK,
    STATE_CODE_CHECK,
    WAREHOUSE_SCHEMA_CHECK,
    WARNING_CHECKS,
)
from etl3_assets.lib.quality.validation import (
    FACT_ROWS_WITHOUT_MONTH,
    MONTH_CHECKS,
    CheckOutcome,
    QualitySettings,
    check_enriched_month,
    check_etl1_inputs,
    check_written_month,
)

CHECK_DESCRIPTIONS = {
    ETL1_SCHEMA_CHECK: "Every ETL1 table exists with the contract's columns, stored in a lossless"
    " form of their dtypes; year_month is YYYY-MM (whole fact table; empty ones are counted in"
    " fact_rows_without_month, never written) and so is the benchmarks'; benchmark_type is"
    " professional, opps or asc; every npi has ten digits (`0` allowed in xref_pg_member_npi);"
    " every partition folder of the month fits 255 bytes and every object key 1,024.",
    ETL1_KEYS_CHECK: "Every dimension key is non-null and unique (dim_npi's placeholder rows aside);"
    " fact_uid is unique within the month.",
    WAREHOUSE_SCHEMA_CHECK: "The month has rows with the enriched fact's columns and dtypes; after a"
    " write, its manifest counts exactly the rows written and a sample of whole partitions reads"
    " back as exactly those rows.",
    REQUIRED_FIELDS_CHECK: "fact_uid, negotiated_rate, state and payer_slug are non-null.",
    RATE_RANGE_CHECK: "negotiated_rate is between $0.01 and $1,000,000.",
    STATE_CODE_CHECK: "state is a US state code (50 states, DC, territories).",
    COORDINATES_CHECK: "latitude is in [-90, 90] and longitude in [-180, 180] (null: not geocoded).",
    FACT_UID_UNIQUE_CHECK: "fact_uid is unique within the month.",
}
MAX_FINDINGS_SHOWN = 20


def etl1_input_check_specs(
    asset: str, partitions_def: dg.PartitionsDefinition
) -> list[dg.AssetCheckSpec]:
    with relying_on(PARTITIONED_CHECK_SPEC):
        return [
            dg.AssetCheckSpec(
                name, asset=asset, blocking=True, partitions_def=partitions_def,
                description=CHECK_DESCRIPTIONS[name],
            )
            for name in (ETL1_SCHEMA_CHECK, ETL1_KEYS_CHECK)
        ]


def check_result(
    outcome: CheckOutcome, asset_key: dg.AssetKey, severity: dg.AssetCheckSeverity
) -> dg.AssetCheckResult:
    """Failing rows, their share and a few example rows, as the check's metadata."""
    metadata = {
        "rows_checked": outcome.rows,
        "failing_rows": outcome.failing_rows,
        "failing_share": round(outcome.failing_share, 6),
    }
    if outcome.ignored_columns:
        metadata["ignored_columns"] = dg.MetadataValue.json(outcome.ignored_columns)
    if outcome.fact_rows_without_month is not None:
        metadata[FACT_ROWS_WITHOUT_MONTH] = outcome.fact_rows_without_month
    if outcome.findings:
        lines = ["| where | problem | failing rows |", "|---|---|---|"]
        lines += [
            f"| {_md(f.subject)}{', ' + _md(f.column) if f.column else ''} | {_md(f.problem)} | {f.failing_rows} |"
            for f in outcome.findings[:MAX_FINDINGS_SHOWN]
        ]
        metadata["findings"] = dg.MetadataValue.md("\n".join(lines))
        metadata["examples"] = dg.MetadataValue.json(_jsonable(outcome.examples))
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=outcome.check,
        passed=outcome.passed,
        severity=severity,
        metadata=metadata,
        description=outcome.summary(),
    )


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _jsonable(rows: list[dict]) -> list[dict]:
    return [{k: v if isinstance(v, (int, float, bool, type(None))) else str(v) for k, v in r.items()} for r in rows]


def guard_etl1_inputs(
    context: dg.AssetExecutionContext, source: Etl1Source, settings: QualitySettings, key_prefix: str = ""
) -> Iterator[dg.AssetCheckResult]:
    """Yield the input checks' results; raise if one fails, so nothing is staged or written.

    ``key_prefix``: the warehouse's own prefix of every object key (part of S3's limit).
    """
    outcomes = check_etl1_inputs(source, context.partition_key, settings, key_prefix)
    for outcome in outcomes.values():
        yield check_result(outcome, context.asset_key, dg.AssetCheckSeverity.ERROR)
    # a check that was only "not evaluated" because of another's failure adds nothing
    failed = [
        o.summary() for o in outcomes.values() if not o.passed and not all(f.not_evaluated for f in o.findings)
    ]
    if failed:
        # a Failure, not an exception: Dagster then shows the project's message as the
        # step's failure (UI, `dagster asset materialize`), not "Error occurred while executing op"
        raise dg.Failure(description="; ".join(failed), metadata={"year_month": context.partition_key})


def month_check_severity(check: str) -> dg.AssetCheckSeverity:
    return dg.AssetCheckSeverity.WARN if check in WARNING_CHECKS else dg.AssetCheckSeverity.ERROR


def warehouse_month_checks(asset: dg.AssetsDefinition) -> dg.AssetChecksDefinition:
    """The checks of a warehouse month: one op reads the month back and checks it chunk by chunk."""
    with relying_on(PARTITIONED_CHECK_SPEC):
        specs = [
            dg.AssetCheckSpec(
                name,
                asset=asset.key,
                partitions_def=asset.partitions_def,
                blocking=month_check_severity(name) == dg.AssetCheckSeverity.ERROR,
                description=CHECK_DESCRIPTIONS[name],
            )
            for name in MONTH_CHECKS
        ]

    @dg.multi_asset_check(
        specs=specs,
        name=f"{asset.key.path[-1]}_quality",
        description=(
            "The month as written. In the run that wrote it: the rules over the rows the write"
            " consumed (the staged month), the manifest against them and a sample of whole"
            " partitions read back. Otherwise (validate-only, checks run alone): the whole month"
            " read back from the warehouse, chunk by chunk."
        ),
    )
    def _checks(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> Iterator[dg.AssetCheckResult]:
        year_month = context.partition_key
        staged = warehouse.staged_month(STAGED_ASSET, year_month, _run_lineage(context.run)) if (
            _written_in_this_run(context, asset.key, year_month)
        ) else None
        if staged is not None:
            context.log.info(f"checking {year_month} as written by this run: staged rows, manifest, sampled read-back")
            outcomes = check_written_month(
                staged, warehouse.committed_files(year_month), warehouse.storage(), year_month,
                warehouse.quality_settings(),
            )
        else:
            context.log.info(f"checking {year_month} read back from the warehouse")
            outcomes = check_enriched_month(warehouse.scan_month(year_month), year_month, warehouse.quality_settings())
        for name, outcome in outcomes.items():
            yield check_result(outcome, asset.key, month_check_severity(name))

    return _checks


def _written_in_this_run(context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey, year_month: str) -> bool:
    latest = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[year_month]), limit=1
    ).records
    return bool(latest) and latest[0].run_id == context.run.run_id


def _run_lineage(run: dg.DagsterRun) -> list[str]:
    """This run, then the runs it re-executes: whose staged month its steps loaded."""
    return [r for r in (run.run_id, run.parent_run_id, run.root_run_id) if r]
