"""The record of which objects make up a warehouse month, for exact replacement and for
rewriting only what changed.

A month's files are spread over every partition folder (``…/year=2025/month=08/``), so
they cannot be found by a prefix listing. Instead each month keeps a committed manifest
(``_etl3/manifests/<YYYY-MM>.parquet``: key, rows, bytes and the content ``digest`` of
every file), and a run journals the keys it is about to write before writing them
(``_etl3/manifests/<YYYY-MM>.pending/<run>-<part>.parquet``).

The protocol of one run (it holds the month's lease throughout, so runs never overlap;
crashed runs leave their journals behind):

1. ``begin``: read the committed manifest and list the journals. A *write journal* of
   another run (any journal but a ``-previous`` one) names keys that a crashed run may
   have overwritten: they are *dirty*, and their committed digest is not trusted. The
   rest of the committed manifest is *trusted*: its objects hold exactly the rows its
   digests describe, because nothing but a journaled write ever changes a month's object.
   Temporary files a crashed run left beside dirty keys are discarded
   (``storage.discard_partial``). Then the committed keys are journaled as this run's
   ``-previous`` journal, so they stay known if a crash comes between step 3's manifest
   write and its deletes.
2. Write: each file whose key and digest equal a trusted entry is *kept* (not written,
   not journaled: its object is never touched); every other file is journaled (a write
   journal with its digest), then written. A full rewrite trusts nothing.
3. ``commit`` (after every write is durable): the new manifest (written and kept files)
   replaces the old one in one atomic PUT; then every key the month has known (the old
   manifest and every journal, this run's ``-previous`` one included) that the new
   manifest lacks is deleted, then the journals.

Why the month stays exact after a crash at any moment, and a rerun:

* before the manifest PUT, the committed manifest still names the old month; whatever
  this run wrote is in its write journals, so the next run treats those keys as dirty
  (rewrites them if they are still the month's, deletes them as stale otherwise). Kept
  keys were never written, so their trusted digests stay true.
* after the manifest PUT, the new manifest is the month; the old keys it lacks are in
  this run's ``-previous`` journal and are deleted by the next commit.
* a kept key is in the new manifest, and stale keys are by definition those the new
  manifest lacks, so a kept file is never deleted as stale.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable

import polars as pl

from etl3_assets.lib.storage import WarehouseStorage

MANIFEST_PREFIX = "_etl3/manifests"
PREVIOUS_JOURNAL = "previous"
_SCHEMA = {"key": pl.String, "rows": pl.Int64, "bytes": pl.Int64, "digest": pl.String}


def _encode(keys: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame = keys if "digest" in keys.columns else keys.with_columns(digest=pl.lit(None, pl.String))
    frame.select([pl.col(c).cast(t) for c, t in _SCHEMA.items()]).write_parquet(buf, compression="zstd")
    return buf.getvalue()


def _decode(data: bytes | None) -> pl.DataFrame:
    if data is None:
        return pl.DataFrame(schema=_SCHEMA)
    frame = pl.read_parquet(io.BytesIO(data))
    if "digest" not in frame.columns:  # a manifest written before digests: nothing trusted
        frame = frame.with_columns(digest=pl.lit(None, pl.String))
    return frame.select([pl.col(c).cast(t) for c, t in _SCHEMA.items()])


class MonthManifest:
    def __init__(self, storage: WarehouseStorage, year_month: str):
        self.storage = storage
        self.year_month = year_month
        self.committed_key = f"{MANIFEST_PREFIX}/{year_month}.parquet"
        self.journal_prefix = f"{MANIFEST_PREFIX}/{year_month}.pending/"
        self.run_token = uuid.uuid4().hex[:12]
        self._committed: pl.DataFrame | None = None

    def committed(self) -> pl.DataFrame:
        """Key, rows, bytes and digest of every file of the committed month."""
        return _decode(self.storage.get_bytes(self.committed_key))

    def journal_keys(self) -> list[str]:
        return [key for key, _ in self.storage.list(self.journal_prefix)]

    def _is_write_journal(self, journal: str) -> bool:
        return not journal.endswith(f"-{PREVIOUS_JOURNAL}.parquet")

    def begin(self) -> pl.DataFrame:
        """Step 1: returns the trusted part of the committed manifest (key, rows, bytes,
        digest), whose files may be kept; journals the committed keys as ``-previous``."""
        committed = self.committed()
        self._committed = committed.select("key")  # all that commit needs of it
        own = f"{self.journal_prefix}{self.run_token}-"
        dirty = [
            _decode(self.storage.get_bytes(j)).select("key")
            for j in self.journal_keys()
            if self._is_write_journal(j) and not j.startswith(own)
        ]
        trusted = committed.filter(pl.col("digest").is_not_null())
        if dirty:
            dirty_keys = pl.concat(dirty).unique()
            self.storage.discard_partial(dirty_keys["key"].to_list())
            trusted = trusted.join(dirty_keys, on="key", how="anti")
        if committed.height:
            self.journal(PREVIOUS_JOURNAL, committed.select("key"))
        return trusted

    def journal(self, part: str, files: pl.DataFrame | Iterable[str]) -> None:
        """Record keys (with their digests, when given) before they are written, so a
        crash cannot orphan them nor leave a changed object trusted."""
        frame = files if isinstance(files, pl.DataFrame) else pl.DataFrame({"key": list(files)}, schema={"key": pl.String})
        frame = frame.with_columns(
            [pl.lit(None, t).alias(c) for c, t in _SCHEMA.items() if c not in frame.columns]
        )
        self.storage.put_bytes(f"{self.journal_prefix}{self.run_token}-{part}.parquet", _encode(frame))
        self.storage.flush()

    def commit(self, month: pl.DataFrame) -> int:
        """Step 3: make ``month`` (every file, written or kept) the month; delete every
        other key the month ever had. Returns how many stale keys were deleted.

        The keys are compared as polars columns (an anti-join), not Python sets: a real
        month has hundreds of thousands of keys. This run's own journals are not read
        back: its write journals name only keys in ``month``, its ``-previous`` journal
        repeats the committed manifest.
        """
        journals = self.journal_keys()
        own = f"{self.journal_prefix}{self.run_token}-"
        committed = self._committed if self._committed is not None else self.committed()
        known = pl.concat(
            [committed.select("key")]
            + [
                _decode(self.storage.get_bytes(j)).select("key")
                for j in journals
                if not j.startswith(own)  # this run's -previous journal is ``committed``
            ]
        )
        stale = known.unique().join(month.select("key"), on="key", how="anti").sort("key")["key"]
        del known
        self.storage.put_bytes(self.committed_key, _encode(month))
        self.storage.flush()
        self._committed = None
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
