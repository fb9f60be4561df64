"""Issue 14, items 4 and 5: the command line as a new user meets it, off the happy path.

Every test runs the command in a subprocess, as a user would, and asserts the exit code
and the first and last lines the user reads.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from etl3_assets_tests.support.deployment import materialize_month, snapshot
from etl3_assets_tests.support import REPO

MONTH = "2025-08"


def _env(tmp_path: Path, etl1_root: Path | str, **extra) -> dict[str, str]:
    """A user's environment; their Dagster home has been used before (Dagster's one-time
    telemetry notice is behind them)."""
    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "ETL1_ROOT": str(etl1_root),
        "WAREHOUSE_ROOT": str(tmp_path / "warehouse"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
        **extra,
    }


def etl3(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "etl3_assets.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=300
    )


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.mark.parametrize(
    "args, last_line",
    [
        (
            ["materialize", "--partition", "2031-01"],
            "etl3 materialize: error: --partition 2031-01 is outside the warehouse's months: expected YYYY-MM"
            " from 2024-01 to ",
        ),
        (
            ["validate", "--partition", "2025-8"],
            "etl3 validate: error: --partition '2025-8' is not a month: expected YYYY-MM (did you mean 2025-08?),"
            " from 2024-01 to ",
        ),
        (
            ["dry-run", "--partition", MONTH, "--partition", "2025-13"],
            "etl3 dry-run: error: --partition '2025-13' is not a month: expected YYYY-MM, from 2024-01 to ",
        ),
    ],
)
def test_a_month_that_does_not_exist_is_one_line_and_exit_2(args, last_line, etl1_root, tmp_path):
    done = etl3(*args, env=_env(tmp_path, etl1_root), cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    err = lines(done.stderr)
    assert len(err) == 1 and err[0].startswith(last_line), done.stderr
    assert re.search(r"to \d{4}-\d{2} \(ETL3_FIRST_MONTH sets the first", err[0]) or "is not a month" in err[0]
    assert done.stdout == ""
    assert not (tmp_path / "warehouse").exists()


def test_a_failing_month_ends_with_the_projects_message_not_a_traceback(etl1_root, tmp_path):
    env = _env(tmp_path, etl1_root)
    done = etl3("materialize", "--partition", "2025-01", env=env, cwd=tmp_path)
    assert done.returncode == 1
    err = lines(done.stderr)
    assert "Traceback" not in done.stderr and "Stack Trace" not in done.stderr, done.stderr
    assert err[0].endswith(
        "ERROR staged_enriched_month: ETL1 table fact_rate, column year_month: no fact rows for month '2025-01'"
    ), err
    assert err[-1] == (
        "etl3 materialize: month 2025-01 failed: staged_enriched_month:"
        " ETL1 table fact_rate, column year_month: no fact rows for month '2025-01'"
    ), err
    assert len(err) <= 6, err
    assert not (tmp_path / "warehouse" / "partitioned-data").exists()

    verbose = etl3("materialize", "--partition", "2025-01", "--verbose", env=env, cwd=tmp_path)
    assert verbose.returncode == 1
    assert "Traceback (most recent call last)" in verbose.stderr
    assert "no fact rows for month '2025-01'" in lines(verbose.stderr)[-1]


@pytest.mark.parametrize("command", ["validate", "dry-run"])
def test_validate_and_dry_run_print_their_table_and_the_cause_last(command, etl1_root, tmp_path):
    materialize_month(etl1_root, tmp_path / "warehouse", MONTH)
    before = snapshot(tmp_path / "warehouse")
    xref = etl1_root / "xrefs" / "xref_pg_member_npi.parquet"
    pl.read_parquet(xref).with_columns(npi=pl.lit("12345")).write_parquet(xref)
    env = _env(tmp_path, etl1_root)
    done = etl3(command, "--partition", MONTH, env=env, cwd=tmp_path)
    assert done.returncode == 1
    out, err = lines(done.stdout), lines(done.stderr)
    assert re.match(
        rf"{MONTH}  staged_enriched_month\.etl1_schema +FAILED +ETL1 table xref_pg_member_npi, column npi:"
        r" value '12345' is not a 10-digit NPI",
        out[0],
    ), out
    assert "Traceback" not in done.stderr and "Stack Trace" not in done.stderr, done.stderr
    assert err[-1].startswith(
        f"{MONTH}: staged_enriched_month: ETL1 table xref_pg_member_npi, column npi: value '12345' is not a 10-digit NPI"
    ), err
    assert err[-2] == f"etl3 {command}: a blocking check failed:", err
    assert snapshot(tmp_path / "warehouse") == before

    verbose = etl3(command, "--partition", MONTH, "--verbose", env=env, cwd=tmp_path)
    assert verbose.returncode == 1
    assert "Stack Trace:" in verbose.stderr
    assert lines(verbose.stderr)[-1] == err[-1]


def test_validate_without_etl1_fails_naming_the_root(tmp_path):
    missing = tmp_path / "no-etl1-here"
    done = etl3("validate", "--partition", MONTH, env=_env(tmp_path, missing), cwd=tmp_path)
    assert done.returncode == 1
    out, err = lines(done.stdout), lines(done.stderr)
    expected = (
        f"ETL1 root {missing}: none of the 12 ETL1 tables is there (expected e.g."
        f" {missing}/gold/fact_rate.parquet): is the ETL1 root (ETL1_ROOT) right?"
    )
    assert re.match(rf"{MONTH}  staged_enriched_month\.etl1_schema +FAILED +{re.escape(expected)}", out[0]), out
    assert re.match(rf"{MONTH}  staged_enriched_month\.etl1_keys_unique +FAILED +{re.escape(expected)}", out[1]), out
    assert not any("passed" in line for line in out if "etl1_" in line), out
    assert err[-1].startswith(f"{MONTH}: staged_enriched_month: {expected}"), err
    assert "Traceback" not in done.stderr


def test_a_new_dagster_home_gets_no_configuration_notice(etl1_root, tmp_path):
    env = {**_env(tmp_path, etl1_root), "DAGSTER_HOME": str(tmp_path / "fresh_home")}
    done = etl3("dry-run", "--partition", MONTH, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "No dagster instance configuration file" not in done.stderr
    assert (tmp_path / "fresh_home" / "dagster.yaml").exists()
    assert lines(done.stdout)[0].startswith(f"{MONTH}  staged_enriched_month.etl1_schema        passed")
    # the sample's fact rows with an empty year_month: counted, reported, never a month
    without_month = pl.read_parquet(etl1_root / "gold" / "fact_rate.parquet").filter(
        pl.col("year_month").is_null() | (pl.col("year_month") == "")
    ).height
    assert without_month > 0
    assert (
        f"{MONTH}  ETL1 table fact_rate: {without_month} rows have an empty year_month (no month: counted, never written)"
        in lines(done.stdout)
    ), done.stdout


def _warning_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.search(r"\w+Warning: ", line)]


def test_commands_start_without_warnings(etl1_root, tmp_path):
    env = _env(tmp_path, etl1_root, PYTHONWARNINGS="default")
    help_ = etl3("--help", env=env, cwd=tmp_path)
    assert help_.returncode == 0 and _warning_lines(help_.stderr) == []
    done = etl3("validate", "--partition", MONTH, env=env, cwd=tmp_path)
    assert done.returncode == 1  # the month is not in the warehouse yet
    # -W default also shows DeprecationWarnings, which users do not see: only those of
    # Dagster itself, from code the project cannot change, may remain
    ours = f"{REPO}/etl3_assets/"  # the project's code, not the virtualenv inside the repo
    foreign = [w for w in _warning_lines(done.stderr) if "BetaWarning" in w or "PreviewWarning" in w or ours in w]
    assert foreign == [], foreign
    plain = etl3("validate", "--partition", MONTH, env=_env(tmp_path, etl1_root), cwd=tmp_path)
    assert _warning_lines(plain.stderr) == [], plain.stderr


def test_dagster_cli_failure_carries_the_projects_message(etl1_root, tmp_path):
    """``dagster asset materialize`` is Dagster's command: its last line is its own
    ("Error: Materialization failed."), but the step's failure is the project's message,
    and the only warning left is Dagster's notice about the command itself."""
    env = _env(tmp_path, etl1_root)
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "etl3_assets.definitions",
         "--select", "*fact_rate_enriched", "--partition", "2025-01"],
        env=env, cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 1
    output = done.stdout + done.stderr
    assert "dagster._core.definitions.events.Failure: ETL1 table fact_rate, column year_month:" \
        " no fact rows for month '2025-01'" in output
    assert "DagsterExecutionStepExecutionError" not in output
    assert lines(done.stderr)[-1] == "Error: Materialization failed."
    warnings = _warning_lines(output)
    assert len(warnings) == 1 and "SupersessionWarning: Function `asset_materialize_command`" in warnings[0], warnings


SUBCOMMANDS = ["sample-data", "demo", "materialize", "validate", "dry-run", "setup-bucket"]


def test_help_describes_every_command_and_flag_with_its_default(tmp_path):
    env = _env(tmp_path, "data/etl1")
    top = etl3("--help", env=env, cwd=tmp_path)
    assert top.returncode == 0
    out = lines(top.stdout)
    assert out[0] == "usage: etl3 [-h] [--verbose] COMMAND ..."
    assert "``" not in top.stdout and "->" not in top.stdout
    for name in SUBCOMMANDS:
        assert re.search(rf"^    {name}\s+\S", top.stdout, re.M) or re.search(rf"^    {name}\n\s+\S", top.stdout, re.M), name
    for name in SUBCOMMANDS:
        done = etl3(name, "--help", env=env, cwd=tmp_path)
        assert done.returncode == 0
        assert "``" not in done.stdout
        options = done.stdout.split("options:")[1]
        flags = re.findall(r"^  (-[-\w, ]+?)(?:\s{2,}(.*))?$", options, re.M)
        assert len(flags) >= 2, done.stdout
        # every flag has a description: on its line or the next one
        entries = re.split(r"\n  (?=-)", options.strip())
        for entry in entries:
            flag, *described = entry.split(None, 1)
            assert described and len(described[0].split()) >= 2, (name, entry)
            if not any(f in entry for f in ("--help", "--verbose", "--partition")):
                assert "default" in entry, (name, entry)
    materialize = etl3("materialize", "--help", env=env, cwd=tmp_path).stdout
    assert "default 250000" in materialize and "(overrides MAX_ROWS_PER_FILE" in materialize
    sample = " ".join(etl3("sample-data", "--help", env=env, cwd=tmp_path).stdout.split())
    assert "(default: 2025-07,2025-08,2025-09)" in sample and "(default: 400)" in sample


@pytest.mark.parametrize("setting, status", [(None, "RUNNING"), ("stopped", "STOPPED"), ("running", "RUNNING")])
def test_the_sensors_default_is_a_setting(setting, status, tmp_path):
    env = {k: v for k, v in _env(tmp_path, "data/etl1").items() if k != "ETL3_SENSOR"}
    if setting:
        env["ETL3_SENSOR"] = setting
    code = "from etl3_assets.definitions import defs; print(defs.resolve_sensor_def('etl1_sensor').default_status.name)"
    done = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert lines(done.stdout) == [status]
