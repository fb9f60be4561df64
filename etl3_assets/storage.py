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
    """A warehouse in a local folder. Writes go to a temporary name and are renamed.

    A month writes hundreds of thousands of small files, so ``put_bytes`` keeps to the
    system calls the atomic write needs: the folders it created or found are remembered
    (each missing folder is made with one ``mkdir``, from the deepest known one down),
    the temporary name is a per-instance token and a counter (no random bytes per file),
    and the file is written with ``os.open``/``os.write`` rather than a buffered file
    object.
    """

    # folders remembered at most; past it the memory is dropped and rebuilt as it goes
    MAX_KNOWN_DIRS = 200_000
    FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).absolute()
        self.root_uri = str(self.root)
        self._known_dirs: set[str] = set()
        self._tmp_prefix = ""
        self._tmp_count = 0

    def __getstate__(self) -> dict:
        # a copy in another process keeps nothing of this one's folders or temp names
        return {**self.__dict__, "_known_dirs": set(), "_tmp_prefix": "", "_tmp_count": 0}

    def _path(self, key: str) -> Path:
        return self.root / key

    def _make_dirs(self, folder: str) -> None:
        """Make ``folder`` and its missing parents, one ``mkdir`` each, from the deepest
        folder known to exist down; a folder made meanwhile by another process is fine."""
        known = self._known_dirs
        missing = []
        while folder not in known:
            missing.append(folder)
            parent = os.path.dirname(folder)
            if parent == folder:
                break
            folder = parent
        for folder in reversed(missing):
            try:
                os.mkdir(folder)
            except FileNotFoundError:
                # a folder known to exist was removed meanwhile: forget what we knew
                known.clear()
                os.makedirs(folder, exist_ok=True)
            except OSError:
                if not os.path.isdir(folder):  # it exists (another process made it), or fail
                    raise
        if len(known) + len(missing) > self.MAX_KNOWN_DIRS:
            known.clear()
        known.update(missing)

    def put_bytes(self, key: str, data: bytes) -> None:
        path = f"{self.root_uri}/{key}"
        folder, _, name = path.rpartition("/")
        if folder not in self._known_dirs:
            self._make_dirs(folder)
        if not self._tmp_prefix:
            self._tmp_prefix = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._tmp_count += 1
        tmp = f"{folder}/.{name}.{self._tmp_prefix}-{self._tmp_count}.tmp"
        fd = os.open(tmp, self.FILE_FLAGS, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
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
        self._known_dirs.clear()  # folders emptied below are removed
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
