"""Applying raw batches (lib/etl1/writer.py) against the independent Python route from §5
(support/etl1_oracle.py): the seven tables row for row after several batches, nothing
rewritten by a second apply, bad input refused with nothing written, and SIGKILL at
any write (and at random moments) then a rerun equal to an uninterrupted run."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl3_assets.lib.etl1.journal import PENDING_KEY, applied_records
from etl3_assets.lib.etl1.raw import RawInputError
from etl3_assets.lib.etl1.writer import Etl1Writer
from etl3_assets.lib.storage import open_storage
from etl3_assets_tests.support import REPO
from etl3_assets_tests.support.etl1_oracle import OracleStarSchema, assert_tables_equal_oracle
from etl3_assets_tests.support.raw_extracts import hostile_batches


def writer(etl1: Path, raw: Path, **kwargs) -> Etl1Writer:
    return Etl1Writer(open_storage(str(etl1)), open_storage(str(raw)), log=lambda _m: None, **kwargs)


def files(root: Path) -> dict[str, tuple[str, int]]:
    """Every file under ``root``: sha256 and mtime (a rewrite with equal bytes shows too)."""
    return {
        p.relative_to(root).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*")) if p.is_file() and "_etl3/locks" not in p.as_posix()
    }


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> tuple[Path, list[str]]:
    root = tmp_path_factory.mktemp("raw")
    return root, hostile_batches(root)


@pytest.fixture(scope="module")
def applied(raw, tmp_path_factory) -> tuple[Path, OracleStarSchema, list]:
    raw_root, stems = raw
    etl1 = tmp_path_factory.mktemp("etl1")
    oracle, results = OracleStarSchema(), []
    w = writer(etl1, raw_root)
    assert [b.stem for b in w.batches_to_apply()] == sorted(stems)
    for stem in stems:
        gained = oracle.apply(raw_root, stem)
        (result,) = w.apply([w.batch(stem)])
        assert result.gained == gained, stem
        results.append(result)
    return etl1, oracle, results


def test_seven_tables_equal_the_oracle_after_several_batches(applied):
    etl1, oracle, results = applied
    assert_tables_equal_oracle(etl1, oracle)
    # the later month of the first payer re-describes 99213: the first writer's text stays
    codes = pl.read_parquet(etl1 / "dims/dim_code.parquet").filter(code="99213")
    assert codes["code_description"].to_list() == ["Office visit, est."]
    # ... and gives old provider groups new members: the first month changes too
    assert results[2].months == ["2025-07", "2025-08"]
    assert not (etl1 / PENDING_KEY).exists()
    assert set(applied_records(open_storage(str(etl1)))) == {r.batch for r in results}


def test_applying_a_batch_again_writes_nothing(applied, raw):
    etl1, oracle, _ = applied
    before = files(etl1)
    w = writer(etl1, raw[0])
    assert w.batches_to_apply() == []
    results = w.apply([w.batch(s) for s in raw[1]])
    assert all(not any(r.gained.values()) and not r.written for r in results)
    assert files(etl1) == before
    dry = w.apply([w.batch(raw[1][0])], dry_run=True)
    assert not any(dry[0].gained.values()) and files(etl1) == before
    assert_tables_equal_oracle(etl1, oracle)


def test_dry_run_reports_the_gains_and_writes_nothing(raw, tmp_path):
    raw_root, stems = raw
    etl1 = tmp_path / "etl1"
    (result,) = writer(etl1, raw_root).apply([writer(etl1, raw_root).batch(stems[0])], dry_run=True)
    assert result.gained == OracleStarSchema().apply(raw_root, stems[0])
    assert not etl1.exists() or files(etl1) == {}


def _copy_batch(raw_root: Path, stem: str, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for suffix in ("rates", "providers"):
        shutil.copy(raw_root / f"{stem}_{suffix}.parquet", target / f"{stem}_{suffix}.parquet")


def _rewrite(path: Path, change) -> None:
    pq.write_table(change(pq.read_table(path)), path)


@pytest.mark.parametrize(
    "breakage, expected",
    [
        (lambda r: (r / "202507_aetna_ga_providers.parquet").unlink(), "202507_aetna_ga_providers.parquet is missing"),
        (
            lambda r: _rewrite(r / "202507_aetna_ga_rates.parquet", lambda t: t.drop_columns(["billing_code"])),
            "202507_aetna_ga_rates.parquet, column billing_code: column is missing",
        ),
        (
            lambda r: _rewrite(
                r / "202507_aetna_ga_rates.parquet",
                lambda t: t.set_column(t.column_names.index("negotiated_rate"), "negotiated_rate",
                                       pa.array(["12.50"] * t.num_rows)),
            ),
            "202507_aetna_ga_rates.parquet, column negotiated_rate: expected Float64, found String (e.g. value '12.50')",
        ),
        (
            lambda r: _rewrite(
                r / "202507_aetna_ga_rates.parquet",
                lambda t: t.set_column(t.column_names.index("billing_code"), "billing_code",
                                       pa.array(range(t.num_rows), pa.int64())),
            ),
            "column billing_code: expected String, found Int64 (e.g. value 0)",
        ),
        (
            lambda r: _rewrite(
                r / "202507_aetna_ga_providers.parquet",
                lambda t: t.set_column(t.column_names.index("npi"), "npi", pa.array(["12345"] * t.num_rows)),
            ),
            "202507_aetna_ga_providers.parquet, column npi: value '12345' is neither a 10-digit NPI",
        ),
    ],
    ids=["missing-file", "missing-column", "text-rate", "numeric-code", "bad-npi"],
)
def test_bad_raw_input_names_file_column_value_and_writes_nothing(applied, raw, tmp_path, breakage, expected):
    raw_root, stems = raw
    etl1 = tmp_path / "etl1"
    shutil.copytree(applied[0], etl1)
    bad_raw = tmp_path / "raw"
    _copy_batch(raw_root, stems[0], bad_raw)
    breakage(bad_raw)
    before = files(etl1)
    w = writer(etl1, bad_raw)
    # the batch is applied already: a rerun after the breakage must fail before writing
    with pytest.raises(RawInputError) as error:
        w.apply([w.batch(stems[0])])
    assert expected in str(error.value)
    assert files(etl1) == before


def _child(etl1: Path, raw_root: Path, stem: str, writes: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "etl3_assets_tests.support.etl1_killer", str(etl1), str(raw_root), stem, str(writes)],
        cwd=REPO, start_new_session=True, stderr=subprocess.PIPE,
    )


def _before_last_batch(raw_root: Path, stems: list[str], tmp_path: Path) -> Path:
    """A star schema holding every batch but the last."""
    base = tmp_path / "base"
    w = writer(base, raw_root)
    w.apply([w.batch(s) for s in stems[:-1]])
    return base


def test_killed_at_every_write_then_rerun_equals_an_uninterrupted_run(applied, raw, tmp_path):
    raw_root, stems = raw
    _, oracle, _ = applied
    base = _before_last_batch(raw_root, stems, tmp_path)
    # journal, six dimension/xref tables, the fact, the record, clearing the journal
    for writes in range(0, 10):
        etl1 = tmp_path / f"killed-{writes}"
        shutil.copytree(base, etl1)
        child = _child(etl1, raw_root, stems[2], writes)
        child.wait(timeout=120)
        killed = child.returncode == -signal.SIGKILL
        rerun = writer(etl1, raw_root, lease_seconds=2, wait_seconds=30)
        rerun.apply([rerun.batch(stems[2])])
        assert_tables_equal_oracle(etl1, oracle)
        assert not (etl1 / PENDING_KEY).exists()
        if not killed:
            break
    assert not killed, "the last trial ran to completion"


def test_sigkill_at_random_moments_then_rerun_equals_an_uninterrupted_run(applied, raw, tmp_path):
    raw_root, stems = raw
    _, oracle, _ = applied
    base = _before_last_batch(raw_root, stems, tmp_path)
    started = time.perf_counter()
    timing = tmp_path / "timing"
    shutil.copytree(base, timing)
    _child(timing, raw_root, stems[2], -1).wait(timeout=120)
    duration = time.perf_counter() - started
    rng = random.Random(int(os.environ.get("ETL1_KILL_SEED", "17")))
    for trial in range(4):
        etl1 = tmp_path / f"trial-{trial}"
        shutil.copytree(base, etl1)
        child = _child(etl1, raw_root, stems[2], -1)
        time.sleep(rng.uniform(0.3, 1.0) * duration)
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        rerun = writer(etl1, raw_root, lease_seconds=2, wait_seconds=30)
        rerun.apply(rerun.batches_to_apply())
        assert_tables_equal_oracle(etl1, oracle)


def test_a_batch_written_by_duckdb_with_int32_ids_and_float32_rates_equals_the_oracle(raw, tmp_path):
    raw_root, stems = raw
    duck_raw = tmp_path / "raw"
    duck_raw.mkdir()
    con = duckdb.connect()
    for suffix, casts in (
        ("rates", "CAST(provider_reference_id AS INTEGER) AS provider_reference_id,"
                  " CAST(CASE WHEN abs(negotiated_rate) < 1e30 THEN negotiated_rate END AS FLOAT) AS negotiated_rate"),
        ("providers", "CAST(provider_group_id AS INTEGER) AS provider_group_id"),
    ):
        source = raw_root / f"{stems[1]}_{suffix}.parquet"
        target = duck_raw / f"{stems[1]}_{suffix}.parquet"
        con.execute(f"COPY (SELECT * REPLACE ({casts}) FROM read_parquet('{source}')) TO '{target}' (FORMAT parquet)")
    assert pq.read_schema(duck_raw / f"{stems[1]}_rates.parquet").field("negotiated_rate").type == pa.float32()
    oracle = OracleStarSchema()
    oracle.apply(duck_raw, stems[1])
    w = writer(tmp_path / "etl1", duck_raw)
    w.apply([w.batch(stems[1])])
    assert_tables_equal_oracle(tmp_path / "etl1", oracle)
