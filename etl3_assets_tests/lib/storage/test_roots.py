"""Issue 14 item 5, first bullet: every root is parsed once; a mistyped root is refused
up front with one line naming the setting, and nothing is written anywhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from etl3_assets.lib.storage.roots import EXPECTED, Root, RootError
from etl3_assets_tests.support import REPO


MISTYPED = [
    "s3//bucket/wh",  # colon missing: a legal relative folder ./s3/bucket/wh
    "s3:/bucket/wh",  # one slash missing
    "s3:bucket/wh",
    "S3://bucket/wh",  # upper-case scheme
    "s3a://bucket/wh",  # Hadoop's schemes
    "s3n://bucket/wh",
    "gs://bucket/wh",
    "http://127.0.0.1:9000/bucket",
    "https://bucket.s3.amazonaws.com/wh",
    "file:///tmp/warehouse",  # refused: write the path itself
    "s3/bucket/wh",  # a scheme name as the first folder
    "warehouse/s3://bucket",
    "",
    " warehouse",
]
BAD_BUCKETS = [
    "s3://",
    "s3:///wh",
    "s3://ab/wh",  # too short
    "s3://Bucket/wh",  # upper case
    "s3://my_bucket/wh",  # underscore
    "s3://-bucket/wh",
    "s3://bucket-/wh",
    "s3://my..bucket/wh",
    "s3://192.168.1.10/wh",
    "s3://xn--bucket/wh",
    "s3://" + "b" * 64,
    "s3://bucket//wh",  # empty folder in the prefix
    "s3://bucket/a/../b",
]


@pytest.mark.parametrize("value", MISTYPED + BAD_BUCKETS)
def test_mistyped_roots_are_refused_naming_setting_and_form(value):
    with pytest.raises(RootError) as refused:
        Root.parse(value, "WAREHOUSE_ROOT")
    message = str(refused.value)
    assert message.startswith(f"WAREHOUSE_ROOT={value!r} is not a valid root: {EXPECTED}")
    assert "\n" not in message


@pytest.mark.parametrize(
    "value, uri, is_s3, bucket, prefix",
    [
        ("s3://bucket", "s3://bucket", True, "bucket", ""),
        ("s3://bucket/", "s3://bucket", True, "bucket", ""),
        ("s3://my-bucket.data/wh/2025/", "s3://my-bucket.data/wh/2025", True, "my-bucket.data", "wh/2025"),
        ("warehouse", "warehouse", False, None, None),
        ("./s3/bucket/wh", "./s3/bucket/wh", False, None, None),  # a folder really named s3
        ("/srv/etl3/warehouse", "/srv/etl3/warehouse", False, None, None),
        ("data/etl1", "data/etl1", False, None, None),
        ("s3", "s3", False, None, None),
        ("../shared/etl1 output", "../shared/etl1 output", False, None, None),
    ],
)
def test_valid_roots(value, uri, is_s3, bucket, prefix):
    root = Root.parse(value, "ETL1_ROOT")
    assert (root.uri, root.is_s3) == (uri, is_s3)
    if is_s3:
        assert (root.bucket, root.prefix) == (bucket, prefix)
        assert root.key("partitioned-data/x.parquet") == "/".join(p for p in (prefix, "partitioned-data/x.parquet") if p)


def _run(cmd: list[str], cwd: Path, **env) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in ("DAGSTER_HOME", "ETL1_ROOT", "WAREHOUSE_ROOT", "S3_BUCKET")}
    environment.update(PYTHONPATH=str(REPO), **env)
    return subprocess.run(cmd, cwd=cwd, env=environment, capture_output=True, text=True, timeout=300)


def _files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


ETL3 = [sys.executable, "-m", "etl3_assets.cli"]


@pytest.mark.parametrize("command", ["materialize", "dry-run", "validate"])
@pytest.mark.parametrize("variable, value", [("WAREHOUSE_ROOT", "s3//bucket/wh"), ("WAREHOUSE_ROOT", "S3://bucket/wh"), ("ETL1_ROOT", "s3:/bucket/etl1")])
def test_etl3_refuses_a_mistyped_root_in_one_line_and_writes_nothing(command, variable, value, tmp_path, etl1_root):
    cwd = tmp_path / "fresh-clone"
    cwd.mkdir()
    env = {"ETL1_ROOT": str(etl1_root), variable: value}
    done = _run([*ETL3, command, "--partition", "2025-08"], cwd, **env)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr == f"{variable}={value!r} is not a valid root: {EXPECTED}\n"
    assert _files_under(cwd) == [], "a refused root must not create anything (no ./s3, no .dagster_home)"


def test_setup_bucket_refuses_a_mistyped_root_flag_or_variable(tmp_path):
    done = _run([*ETL3, "setup-bucket", "--root", "s3//bucket/wh"], tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"--root='s3//bucket/wh' is not a valid root: {EXPECTED}\n"
    done = _run([*ETL3, "setup-bucket"], tmp_path, WAREHOUSE_ROOT="s3a://bucket/wh")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"WAREHOUSE_ROOT='s3a://bucket/wh' is not a valid root: {EXPECTED}\n"
    assert _files_under(tmp_path) == []


def test_dagster_refuses_a_mistyped_root_before_any_run(tmp_path, etl1_root):
    cwd = tmp_path / "fresh-clone"
    cwd.mkdir()
    home = tmp_path / "dagster_home"
    home.mkdir()
    done = _run(
        [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "etl3_assets.definitions",
         "--select", "*fact_rate_enriched", "--partition", "2025-08"],
        cwd, DAGSTER_HOME=str(home), ETL1_ROOT=str(etl1_root), WAREHOUSE_ROOT="s3//bucket/wh",
    )
    assert done.returncode != 0
    last = (done.stdout + done.stderr).strip().splitlines()[-1]
    assert last.endswith(f"WAREHOUSE_ROOT='s3//bucket/wh' is not a valid root: {EXPECTED}"), last
    assert _files_under(cwd) == []
    assert "RUN_START" not in done.stdout + done.stderr


def test_etl3_materialize_says_where_it_wrote(tmp_path, etl1_root):
    warehouse = tmp_path / "warehouse"
    done = _run(
        [*ETL3, "materialize", "--partition", "2025-08"], tmp_path,
        ETL1_ROOT=str(etl1_root), WAREHOUSE_ROOT=str(warehouse), DAGSTER_HOME=str(tmp_path / "home"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    files = len(list((warehouse / "partitioned-data").rglob("*.parquet")))
    assert f"wrote 2025-08 to {warehouse / 'partitioned-data'} ({files} files)\n" in done.stdout
    staged = list((warehouse / "_etl3" / "staging").rglob("*.parquet"))
    assert len(staged) == 1 and staged[0].parent.name == "2025-08", "one staged file, the run's own"
