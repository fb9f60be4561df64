"""The one storage interface: every read and write of the project's own objects (the
warehouse, the staged months, ETL1's files) goes through it.

Keys are ``/``-separated paths relative to a root, e.g.
``partitioned-data/payer_slug=a/…/fact_rate_enriched.parquet``. Two implementations,
``LocalStorage`` (a folder) and ``S3Storage`` (``s3://bucket/prefix``); ``open_storage``
(this package's ``__init__``) is the only place that chooses between them, so no other
code knows which one it talks to.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa


@dataclass(frozen=True)
class ObjectStat:
    """What a storage knows of one object without reading it."""

    size: int
    fingerprint: str  # changes whenever the object is rewritten (local: size+mtime; S3: ETag)


class WarehouseStorage(Protocol):
    root_uri: str
    key_prefix: str  # what the store puts before every key (S3: the root's prefix); counts toward key limits
    requests: Counter[str]  # requests sent, by operation (a folder counts its operations under S3's names)
    retries: Counter[str]  # of which retries of a failed attempt, by operation (none for a folder)

    def stat(self, key: str) -> ObjectStat | None:
        """Size and fingerprint of an object; None when it does not exist."""

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write one object atomically: readers see the old or the new content, never a part.
        May return before the object is durable: see ``flush``."""

    def put_file(self, key: str, path: str) -> None:
        """Store a local file as one object (S3: multipart above the threshold) and take
        ownership of ``path`` (it is moved or deleted). Durable on return."""

    def flush(self) -> None:
        """Wait until every ``put_bytes`` so far is durable; raise if any failed.

        Callers flush before they commit a month's manifest.
        """

    def get_bytes(self, key: str) -> bytes | None:
        """The object's content, or None when it does not exist."""

    def open_input_file(self, key: str) -> pa.NativeFile:
        """A random-access reader of the object (for pyarrow's batch reader)."""

    def delete(self, keys: Iterable[str]) -> int:
        """Delete the objects that exist among ``keys``; returns how many were asked for."""

    def discard_partial(self, keys: Iterable[str]) -> int:
        """Remove what an interrupted write of ``keys`` may have left beside them (a
        folder's temporary files; nothing on S3, whose PUTs are atomic); returns how many."""

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        """(key, size) of every object under ``prefix``."""

    def uri(self, key: str) -> str:
        """A URI readers (polars, DuckDB, pyarrow) accept for this key."""

    def reader_options(self) -> dict[str, str] | None:
        """polars ``storage_options`` that reach ``uri(key)`` (None for a folder)."""

    def file_io_properties(self) -> dict[str, str]:
        """pyiceberg FileIO properties that reach ``uri(key)`` (empty for a folder)."""

    def table_uri(self, key: str) -> str:
        """The key's location with its scheme, as a table format (Iceberg) stores it:
        ``file:///…`` for a folder, since engines such as iceberg-rust need the scheme."""

    def catalog_uri(self, key: str) -> str | None:
        """The key's location as a catalog (Glue, Athena) registers it; None when no
        catalog can reach this storage (a local folder)."""

    def close(self) -> None:
        """Release threads and connections; flush first."""
