"""The storage interface on a local folder (the embedded default).

Writes go to a temporary name in the target folder and are renamed, so a reader (or a
crash) never sees half a file.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

import pyarrow as pa

from etl3_assets.lib.storage.interface import ObjectStat


class LocalStorage:
    """A warehouse in a local folder. Writes go to a temporary name and are renamed."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).absolute()
        self.root_uri = str(self.root)
        self.key_prefix = ""
        self.requests: Counter[str] = Counter()
        self._made_dirs: set[Path] = set()

    def _path(self, key: str) -> Path:
        return self.root / key

    def _parent_made(self, path: Path) -> Path:
        parent = path.parent
        if parent not in self._made_dirs:
            parent.mkdir(parents=True, exist_ok=True)
            self._made_dirs.add(parent)
        return parent

    def stat(self, key: str) -> ObjectStat | None:
        try:
            st = self._path(key).stat()
        except FileNotFoundError:
            return None
        return ObjectStat(size=st.st_size, fingerprint=f"{st.st_size}-{st.st_mtime_ns}")

    def put_bytes(self, key: str, data: bytes) -> None:
        path = self._path(key)
        tmp = self._parent_made(path) / f".{path.name}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)

    def put_file(self, key: str, path: str) -> None:
        target = self._path(key)
        tmp = self._parent_made(target) / f".{target.name}.{uuid.uuid4().hex}.tmp"
        shutil.move(path, tmp)  # a rename when both are on one filesystem
        os.replace(tmp, target)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def open_input_file(self, key: str) -> pa.NativeFile:
        return pa.OSFile(str(self._path(key)), "rb")

    def reader_options(self) -> dict[str, str] | None:
        return None

    def file_io_properties(self) -> dict[str, str]:
        return {}

    def catalog_uri(self, key: str) -> str | None:
        return None

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
