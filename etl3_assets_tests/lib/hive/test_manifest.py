"""Exact month replacement: which keys a commit deletes (change detection), on a folder."""

import polars as pl

from etl3_assets.lib.hive.manifest import MonthManifest
from etl3_assets.lib.storage import LocalStorage


def _written(*keys: str) -> pl.DataFrame:
    return pl.DataFrame({"key": list(keys), "rows": [1] * len(keys), "bytes": [10] * len(keys)})


def _put(storage, *keys):
    for key in keys:
        storage.put_bytes(key, b"x")


def test_commit_deletes_what_the_month_had_and_no_longer_has(tmp_path):
    storage = LocalStorage(tmp_path)
    first = MonthManifest(storage, "2025-08")
    first.begin()
    _put(storage, "d/a", "d/b", "d/c")
    assert first.commit(_written("d/a", "d/b", "d/c")) == 0

    second = MonthManifest(storage, "2025-08")
    second.begin()
    _put(storage, "d/b", "d/d")
    assert second.commit(_written("d/b", "d/d")) == 2
    assert sorted(k for k, _ in storage.list("d")) == ["d/b", "d/d"]
    assert second.committed()["key"].to_list() == ["d/b", "d/d"]
    assert second.journal_keys() == [], "the journals are gone once committed"


def test_keys_of_a_crashed_run_are_deleted_by_the_next_commit(tmp_path):
    storage = LocalStorage(tmp_path)
    crashed = MonthManifest(storage, "2025-08")
    crashed.begin()
    crashed.journal("bucket-1", ["d/orphan", "d/kept"])
    _put(storage, "d/orphan", "d/kept")  # then the run dies before its commit

    rerun = MonthManifest(storage, "2025-08")
    rerun.begin()
    _put(storage, "d/kept")
    assert rerun.commit(_written("d/kept")) == 1
    assert [k for k, _ in storage.list("d")] == ["d/kept"]


def test_other_months_are_not_touched(tmp_path):
    storage = LocalStorage(tmp_path)
    for month, key in (("2025-07", "d/july"), ("2025-08", "d/august")):
        manifest = MonthManifest(storage, month)
        manifest.begin()
        _put(storage, key)
        manifest.commit(_written(key))
    again = MonthManifest(storage, "2025-08")
    again.begin()
    _put(storage, "d/august2")
    again.commit(_written("d/august2"))
    assert sorted(k for k, _ in storage.list("d")) == ["d/august2", "d/july"]
