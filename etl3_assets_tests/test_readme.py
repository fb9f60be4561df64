"""The README's demo command and its DuckDB analyses work as written."""

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl

from etl3_assets_tests.support.oracle import READERS, as_read_from_hive, assert_same_query_rows, assert_same_rows, expected_enriched
from etl3_assets_tests.support import REPO



def _readme_sql_blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    section = text.split("## Example analyses (DuckDB)", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, flags=re.S)


def test_demo_builds_every_sample_month_and_the_readme_queries_run(tmp_path, monkeypatch):
    env = {k: v for k, v in os.environ.items() if k not in ("ETL1_ROOT", "WAREHOUSE_ROOT", "DAGSTER_HOME")}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "etl3"), "demo"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    months = ["2025-07", "2025-08", "2025-09"]
    for month in months:
        assert re.search(rf"^\s*{month}\s+400\s+\d+", done.stdout, flags=re.M), done.stdout
        assert_same_rows(READERS["duckdb"](tmp_path / "warehouse", month), as_read_from_hive(expected_enriched(str(tmp_path / "data/etl1"), month)))
    blocks = _readme_sql_blocks()
    assert len(blocks) == 4
    monkeypatch.chdir(tmp_path)
    con = duckdb.connect()
    oracle = pl.concat([as_read_from_hive(expected_enriched(str(tmp_path / "data/etl1"), m)) for m in months])
    con.register("oracle", oracle.with_columns(taxonomy=pl.when(pl.col("primary_taxonomy_code") != "").then("primary_taxonomy_code")))
    for sql in blocks:
        whole = re.sub(r"\s+LIMIT \d+", "", sql)  # ties at a LIMIT may cut either row
        from_warehouse = con.sql(whole).fetchall()
        from_oracle = con.sql(re.sub(r"read_parquet\([^)]*\)", "oracle", whole)).fetchall()
        assert from_warehouse, sql
        assert_same_query_rows(from_warehouse, from_oracle, sql)


def test_the_iceberg_section_runs_against_the_demo_table(tmp_path, monkeypatch, capsys):
    """The README's Iceberg snippet, run as written after `etl3 demo`; the demo also built
    every month into the Iceberg table, equal to the oracle."""
    env = {k: v for k, v in os.environ.items() if k not in ("ETL1_ROOT", "WAREHOUSE_ROOT", "DAGSTER_HOME")}
    done = subprocess.run(
        [str(Path(sys.executable).parent / "etl3"), "demo"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = (REPO / "README.md").read_text()
    section = text.split("## The Iceberg table", 1)[1].split("\n## ", 1)[0]
    (snippet,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet, "README.md", "exec"), {})
    assert "payer_slug" in capsys.readouterr().out

    from etl3_assets.lib.iceberg import table as it
    from etl3_assets.lib.storage import open_storage

    table = it.open_catalog(open_storage(str(tmp_path / "warehouse"))).load_table(it.IDENTIFIER)
    for month in ("2025-07", "2025-08", "2025-09"):
        assert_same_rows(it.scan_month(table, month), expected_enriched(str(tmp_path / "data/etl1"), month))
