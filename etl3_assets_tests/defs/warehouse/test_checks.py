"""Each quality rule broken alone: the check's outcome, severity, counts and example rows.

The ETL1 data starts clean (every rule holds), one rule is broken, and the expected
counts come from the breakage itself or from the independent DuckDB oracle.
"""

from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from etl3_assets.defs.etl1.assets import etl1_tables
from etl3_assets.defs.warehouse.assets import fact_rate_enriched, staged_enriched_month
from etl3_assets.lib.contract import US_STATE_CODES
from etl3_assets.lib.enrich import enriched_month
from etl3_assets.lib.etl1.source import Etl1Source
from etl3_assets.defs.warehouse.checks import month_check_severity, warehouse_month_checks
from etl3_assets.lib.quality.validation import (
    MONTH_CHECKS,
    QualitySettings,
    check_enriched_month,
    check_etl1_inputs,
)
from etl3_assets.devtools.sample_data import sample_etl1_frames, write_etl1_table
from etl3_assets.lib.storage import open_storage

from etl3_assets_tests.support.deployment import etl3_resources, snapshot
from etl3_assets_tests.support.oracle import expected_enriched

MONTH, OTHER_MONTH = "2025-08", "2025-09"
ROWS = 300
# Small chunks and several key passes, so the streaming paths are the ones tested.
STREAMING = QualitySettings(chunk_rows=64, keys_per_pass=40, max_examples=3)
month_checks = warehouse_month_checks(fact_rate_enriched)


@pytest.fixture
def clean_root(tmp_path) -> Path:
    """Sample ETL1 data with the hostile fact values made valid, so that every rule holds
    (a real rate of 0.0 would warn: rate_range starts at $0.01)."""
    frames = sample_etl1_frames(months=[MONTH, OTHER_MONTH], rows_per_month=ROWS, seed=5)
    frames["fact_rate"] = frames["fact_rate"].with_columns(
        state=pl.when(pl.col("state").is_in(sorted(US_STATE_CODES))).then("state").otherwise(pl.lit("GA")),
        payer_slug=pl.col("payer_slug").fill_null("aetna"),
        negotiated_rate=pl.col("negotiated_rate").clip(lower_bound=0.01),
    )
    root = tmp_path / "etl1"
    for name, frame in frames.items():
        write_etl1_table(root, name, frame)
    return root


def source(root: Path) -> Etl1Source:
    return Etl1Source(open_storage(str(root)))


def rewrite(root: Path, table: str, change) -> None:
    folder = {"fact_rate": "gold", "xref_pg_member_npi": "xrefs"}.get(table, "dims")
    path = root / folder / f"{table}.parquet"
    change(pl.read_parquet(path)).write_parquet(path)


def at_rows(rows: list[int], column: str, value) -> pl.Expr:
    return pl.when(pl.int_range(pl.len()).is_in(rows)).then(pl.lit(value)).otherwise(pl.col(column))


def month_row_numbers(root: Path, n: int) -> list[int]:
    """Positions in fact_rate of the month's first ``n`` rows."""
    facts = pl.read_parquet(root / "gold" / "fact_rate.parquet").with_row_index()
    return facts.filter(pl.col("year_month") == MONTH)["index"].head(n).to_list()


def test_clean_data_passes_every_check(clean_root):
    for outcome in check_etl1_inputs(source(clean_root), MONTH, STREAMING).values():
        assert outcome.passed, outcome.summary()
    month = enriched_month(source(clean_root), MONTH)
    for outcome in check_enriched_month(month, MONTH, STREAMING).values():
        assert outcome.passed, outcome.summary()
        assert outcome.rows == ROWS


# name: (table, change, failing check, failing rows, example column, example values)
INPUT_BREAKS = {
    "npi not ten digits": (
        "xref_pg_member_npi",
        lambda df: df.with_columns(npi=at_rows([0], "npi", "12345")).with_columns(
            npi=at_rows([1], "npi", "12345678901")
        ),
        "etl1_schema", 2, "npi", {"12345", "12345678901"},
    ),
    "bad year_month": (
        "fact_rate",
        lambda df: df.with_columns(year_month=at_rows([5, 450], "year_month", "2025/8")),
        "etl1_schema", 2, "year_month", {"2025/8"},
    ),
    "duplicated dimension key": (
        "dim_payer",
        lambda df: pl.concat([df, df.head(1), df.head(1)]),
        "etl1_keys_unique", 3, "payer_slug", {"aetna"},
    ),
    "null dimension key": (
        "dim_code_cat",
        lambda df: df.with_columns(proc_cd=at_rows([2], "proc_cd", None)),
        "etl1_keys_unique", 1, "proc_cd", {None},
    ),
}


@pytest.mark.parametrize("case", sorted(INPUT_BREAKS))
def test_a_broken_input_rule_fails_its_blocking_check(case, clean_root):
    table, change, check, failing_rows, column, values = INPUT_BREAKS[case]
    rewrite(clean_root, table, change)
    outcomes = check_etl1_inputs(source(clean_root), MONTH, STREAMING)
    assert not outcomes[check].passed
    assert outcomes[check].failing_rows == failing_rows
    assert {e[column] for e in outcomes[check].examples} == values
    assert table in outcomes[check].summary() and column in outcomes[check].summary()
    others = [o for name, o in outcomes.items() if name != check]
    assert all(o.passed for o in others), [o.summary() for o in others]


def test_fact_uid_must_be_unique_within_the_month_only(clean_root):
    facts = pl.read_parquet(clean_root / "gold" / "fact_rate.parquet")
    first_uid = facts.filter(pl.col("year_month") == MONTH)["fact_uid"][0]
    other = facts.with_row_index().filter(pl.col("year_month") == OTHER_MONTH)["index"][0]
    rewrite(clean_root, "fact_rate", lambda df: df.with_columns(fact_uid=at_rows([other], "fact_uid", first_uid)))
    assert check_etl1_inputs(source(clean_root), MONTH, STREAMING)["etl1_keys_unique"].passed

    twice = month_row_numbers(clean_root, 2)[1:]
    rewrite(clean_root, "fact_rate", lambda df: df.with_columns(fact_uid=at_rows(twice, "fact_uid", first_uid)))
    outcome = check_etl1_inputs(source(clean_root), MONTH, STREAMING)["etl1_keys_unique"]
    assert not outcome.passed
    assert outcome.failing_rows == 2 and outcome.examples == [{"fact_uid": first_uid, "occurrences": 2}]


def test_a_missing_table_and_a_wrong_dtype_fail_the_schema_check(clean_root):
    (clean_root / "dims" / "dim_pos_set.parquet").unlink()
    rewrite(clean_root, "dim_npi_address_geolocation", lambda df: df.with_columns(pl.col("latitude").cast(pl.String)))
    outcome = check_etl1_inputs(source(clean_root), MONTH, STREAMING)["etl1_schema"]
    messages = [f.message for f in outcome.findings]
    assert any("dim_pos_set" in m and "missing" in m for m in messages), messages
    assert any(
        "dim_npi_address_geolocation, column latitude" in m and "Float64" in m and "String" in m for m in messages
    ), messages


def _oracle_count(root: Path, condition: pl.Expr) -> int:
    return expected_enriched(str(root), MONTH).filter(condition).height


# name: (table, change, failing check, failing rows (from the oracle), example column)
MONTH_BREAKS = {
    "rate out of range": (
        "fact_rate", lambda df: df.with_columns(negotiated_rate=at_rows([0], "negotiated_rate", 0.0)).with_columns(
            negotiated_rate=at_rows([1], "negotiated_rate", 2_000_000.0)),
        "rate_range", ~pl.col("negotiated_rate").is_between(0.01, 1_000_000), "negotiated_rate",
    ),
    "required field null": (
        "fact_rate", lambda df: df.with_columns(payer_slug=at_rows([0, 1, 2], "payer_slug", None)),
        "required_fields", pl.col("payer_slug").is_null(), "payer_slug",
    ),
    "state not a US code": (
        "fact_rate", lambda df: df.with_columns(state=at_rows([0, 1], "state", "ZZ")),
        "state_code", ~pl.col("state").is_in(sorted(US_STATE_CODES)), "state",
    ),
    "coordinates out of range": (  # both on the same rows: each row counts once
        "dim_npi_address_geolocation",
        lambda df: df.with_columns(latitude=pl.lit(95.0), longitude=pl.lit(-200.0)),
        "coordinates", (pl.col("latitude") > 90) | (pl.col("longitude") < -180), "latitude",
    ),
}


@pytest.mark.parametrize("case", sorted(MONTH_BREAKS))
def test_a_broken_value_rule_warns(case, clean_root):
    table, change, check, failing, column = MONTH_BREAKS[case]
    rewrite(clean_root, table, change)
    expected_failing = _oracle_count(clean_root, failing)
    assert expected_failing > 0
    outcomes = check_enriched_month(enriched_month(source(clean_root), MONTH), MONTH, STREAMING)
    outcome = outcomes[check]
    assert not outcome.passed and month_check_severity(check) == dg.AssetCheckSeverity.WARN
    assert outcome.failing_rows == expected_failing
    assert outcome.failing_share == pytest.approx(expected_failing / ROWS)
    examples = pl.DataFrame(outcome.examples)
    assert examples.height == min(3, expected_failing)
    broken = expected_enriched(str(clean_root), MONTH).filter(failing)["fact_uid"].to_list()
    assert set(examples["fact_uid"]) <= set(broken)
    assert column in examples.columns
    assert all(o.passed for name, o in outcomes.items() if name != check)


def test_month_schema_and_fact_uid_uniqueness_are_errors(clean_root):
    month = enriched_month(source(clean_root), MONTH).collect()
    doubled = pl.concat([month, month.head(2)]).lazy()
    outcomes = check_enriched_month(doubled, MONTH, STREAMING)
    assert not outcomes["fact_uid_unique"].passed and outcomes["fact_uid_unique"].failing_rows == 4
    assert month_check_severity("fact_uid_unique") == dg.AssetCheckSeverity.ERROR

    retyped = month.lazy().with_columns(pl.col("year").cast(pl.String)).drop("code_name")
    outcomes = check_enriched_month(retyped, MONTH, STREAMING)
    problems = " ".join(f.message for f in outcomes["month_schema"].findings)
    assert "code_name" in problems and "year" in problems and "Int32" in problems
    assert not any(o.passed for o in outcomes.values())


def _materialize(etl1_root: Path, warehouse: Path, instance, **kwargs):
    return dg.materialize(
        [*etl1_tables, staged_enriched_month, fact_rate_enriched, month_checks],
        partition_key=MONTH,
        instance=instance,
        resources=etl3_resources(etl1_root, warehouse, chunk_size=100),
        **kwargs,
    )


def _logged(instance, run_id: str, text: str) -> bool:
    return any(text in (e.user_message or "") for e in instance.all_logs(run_id))


def _evaluations(result) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_a_warning_reaches_dagster_and_the_month_is_still_written(clean_root, tmp_path, dagster_instance):
    table, change, check, failing, _ = MONTH_BREAKS["rate out of range"]
    rewrite(clean_root, table, change)
    result = _materialize(clean_root, tmp_path / "warehouse", dagster_instance)
    assert result.success
    evaluations = _evaluations(result)
    assert set(evaluations) == {"etl1_schema", "etl1_keys_unique", *MONTH_CHECKS}
    rate = evaluations[check]
    assert not rate.passed and rate.severity == dg.AssetCheckSeverity.WARN
    assert rate.metadata["failing_rows"].value == 2
    assert rate.metadata["failing_share"].value == pytest.approx(2 / ROWS, abs=1e-6)
    assert {e["negotiated_rate"] for e in rate.metadata["examples"].value} == {0.0, 2_000_000.0}
    assert all(e.passed for name, e in evaluations.items() if name != check)
    # the run that wrote the month checks the rows it wrote, not every file read back
    assert _logged(dagster_instance, result.run_id, "checking 2025-08 as written by this run")
    stored = dagster_instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [rate.asset_check_key]
    )[rate.asset_check_key]
    assert stored.partition == MONTH


def test_a_blocking_failure_stops_the_month_before_anything_is_written(clean_root, tmp_path, dagster_instance):
    warehouse = tmp_path / "warehouse"
    assert _materialize(clean_root, warehouse, dagster_instance).success
    before = snapshot(warehouse)
    table, change, check, failing_rows, column, _ = INPUT_BREAKS["duplicated dimension key"]
    rewrite(clean_root, table, change)
    result = _materialize(clean_root, warehouse, dagster_instance, raise_on_error=False)
    assert not result.success
    evaluation = _evaluations(result)[check]
    assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["failing_rows"].value == failing_rows
    assert "dim_payer" in evaluation.metadata["findings"].value
    assert [e.step_key for e in result.all_events if e.event_type_value == "STEP_FAILURE"] == ["staged_enriched_month"]
    assert not result.asset_materializations_for_node("fact_rate_enriched")
    assert snapshot(warehouse) == before
