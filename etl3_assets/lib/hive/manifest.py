"""The record of which objects make up a warehouse month, for exact replacement.

A month's files are spread over every partition folder (``…/year=2025/month=08/``), so
they cannot be found by a prefix listing. Instead each month keeps a committed manifest,
and a run journals the keys it is about to write before writing them. Whatever a crashed
run wrote is therefore named in a journal, and the next successful run deletes every key
of the old manifest or any journal that it did not write itself.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable

import polars as pl

from etl3_assets.lib.storage import WarehouseStorage

MANIFEST_PREFIX = "_etl3/manifests"
_SCHEMA = {"key": pl.String, "rows": pl.Int64, "bytes": pl.Int64}


def _encode(keys: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    keys.select([pl.col(c).cast(t) for c, t in _SCHEMA.items()]).write_parquet(
        buf, compression="zstd"
    )
    return buf.getvalue()


def _decode(data: bytes | None) -> pl.DataFrame:
    if data is None:
        return pl.DataFrame(schema=_SCHEMA)
    return pl.read_parquet(io.BytesIO(data))


class MonthManifest:
    def __init__(self, storage: WarehouseStorage, year_month: str):
        self.storage = storage
        self.year_month = year_month
        self.committed_key = f"{MANIFEST_PREFIX}/{year_month}.parquet"
        self.journal_prefix = f"{MANIFEST_PREFIX}/{year_month}.pending/"
        self.run_token = uuid.uuid4().hex[:12]

    def committed(self) -> pl.DataFrame:
        return _decode(self.storage.get_bytes(self.committed_key))

    def journal_keys(self) -> list[str]:
        return [key for key, _ in self.storage.list(self.journal_prefix)]

    def begin(self) -> None:
        """Carry the committed keys into a journal, so that they stay known even if a
        crash comes between committing the new manifest and deleting the stale keys."""
        previous = self.committed()["key"]
        if previous.len():
            self.journal("previous", previous)

    def journal(self, part: str, keys: Iterable[str]) -> None:
        """Record keys before they are written, so a crash cannot orphan them."""
        frame = pl.DataFrame({"key": list(keys)}).with_columns(
            rows=pl.lit(None, pl.Int64), bytes=pl.lit(None, pl.Int64)
        )
        self.storage.put_bytes(f"{self.journal_prefix}{self.run_token}-{part}.parquet", _encode(frame))
        self.storage.flush()

    def commit(self, written: pl.DataFrame) -> int:
        """Make ``written`` the month, delete every other key the month ever had.

        Returns how many stale keys were deleted. The keys are compared as polars
        columns (an anti-join), not Python sets: a real month has over a million keys.
        This run's own bucket journals name exactly the keys in ``written`` and are not
        read back; its ``previous`` journal repeats the committed manifest.
        """
        journals = self.journal_keys()
        own = f"{self.journal_prefix}{self.run_token}-"
        known = pl.concat(
            [self.committed().select("key")]
            + [_decode(self.storage.get_bytes(j)).select("key") for j in journals if not j.startswith(own)]
        )
        stale = known.unique().join(written.select("key"), on="key", how="anti").sort("key")["key"]
        del known
        self.storage.put_bytes(self.committed_key, _encode(written))
        self.storage.flush()
        self.storage.delete(stale)
        self.storage.delete(journals)
        return stale.len()


def committed_rows(storage: WarehouseStorage) -> int:
    """Rows of every committed month of the warehouse (the table's row count), from the
    manifests' ``rows`` column only: a month's keys are not read."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    total = 0
    for key, _size in storage.list(f"{MANIFEST_PREFIX}/"):
        name = key.rsplit("/", 1)[-1]
        if "/" in key.removeprefix(f"{MANIFEST_PREFIX}/") or not name.endswith(".parquet"):
            continue  # a journal (``YYYY-MM.pending/…``), not a committed manifest
        with storage.open_input_file(key) as handle:
            rows = pq.read_table(handle, columns=["rows"])["rows"]
        total += int(pc.sum(rows).as_py() or 0)
    return total
