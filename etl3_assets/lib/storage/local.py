"""Where the warehouse's objects live: one small interface, a local-folder implementation.

Keys are ``/``-separated paths relative to the warehouse root, e.g.
``partitioned-data/payer_slug=a/…/fact_rate_enriched.parquet``. The S3 implementation
(``s3_storage``) offers the same methods, so the writer never knows which it talks to.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Protocol


class WarehouseStorage(Protocol):
    root_uri: str

    def put_bytes(self, key: str, data: bytes) -> None:
        """Write one object atomically: readers see the old or the new content, never a part."""

    def flush(self) -> None:
        """Wait until every ``put_bytes`` so far is durable; raise if any failed.

        Implementations may upload in the background (S3); callers flush before they
        commit a month's manifest.
        """

    def get_bytes(self, key: str) -> bytes | None:
        """The object's content, or None when it does not exist."""

    def delete(self, keys: Iterable[str]) -> int:
        """Delete the objects that exist among ``keys``; returns how many were asked for."""

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        """(key, size) of every object under ``prefix``."""

    def uri(self, key: str) -> str:
        """A URI readers (polars, DuckDB, pyarrow) accept for this key."""


class LocalStorage:
    """A warehouse in a local folder. Writes go to a temporary name and are renamed."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).absolute()
        self.root_uri = str(self.root)
        self._made_dirs: set[Path] = set()

    def _path(self, key: str) -> Path:
        return self.root / key

    def put_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        parent = path.parent
        if parent not in self._made_dirs:
            parent.mkdir(parents=True, exist_ok=True)
            self._made_dirs.add(parent)
        tmp = parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)

    def flush(self) -> None:
        pass

    def get_bytes(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None

    def delete(self, keys: Iterable[str]) -> int:
        count = 0
        parents: set[Path] = set()
        for key in keys:
            path = self._path(key)
            count += 1
            try:
                path.unlink()
                parents.add(path.parent)
            except FileNotFoundError:
                pass
        self._made_dirs.difference_update(parents)
        for parent in sorted(parents, key=lambda p: len(p.parts), reverse=True):
            _remove_empty_dirs(parent, stop=self.root)
        return count

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        base = self._path(prefix)
        if not base.exists():
            return
        for dirpath, _, files in os.walk(base):
            for name in files:
                full = Path(dirpath) / name
                yield full.relative_to(self.root).as_posix(), full.stat().st_size

    def uri(self, key: str) -> str:
        return str(self._path(key))


def _remove_empty_dirs(start: Path, stop: Path) -> None:
    """Remove ``start`` and its parents up to ``stop`` while they are empty."""
    current = start
    while current != stop and stop in current.parents:
        try:
            current.rmdir()
        except OSError:
            return
        current = current.parent
