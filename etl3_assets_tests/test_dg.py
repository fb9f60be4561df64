"""The `dg` command works on this project as on one made by `create-dagster`: the
`[tool.dg]` block of pyproject.toml points it at the code location."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from etl3_assets_tests.support import REPO

DG = str(Path(sys.executable).parent / "dg")


def _dg(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "VIRTUAL_ENV": str(Path(sys.executable).parents[1])}
    return subprocess.run([DG, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)


def test_dg_check_defs_and_list_defs():
    checked = _dg("check", "defs")
    assert checked.returncode == 0 and "All definitions loaded successfully" in checked.stdout + checked.stderr, checked
    listed = _dg("list", "defs", "--json")
    assert listed.returncode == 0, listed.stderr
    defs = json.loads(listed.stdout)
    assets = {a["asset_key"]: a for a in defs["assets"]}
    assert {"fact_rate_enriched", "fact_rate_enriched_iceberg", "xref_pg_member_npi"} <= set(assets)
    assert all(a["owners"] and a["kinds"] for a in assets.values())
    assert {s["name"] for s in defs["sensors"]} == {"etl1_sensor", "etl1_batch_sensor", "report_failed_month"}
