"""The storage interface on a local folder (the embedded default).

Writes go to a temporary name in the target folder and are renamed, so a reader (or a
crash) never sees half a file. A write interrupted by an exception removes its temporary
file; one ended by a signal is cleaned by ``remove_in_flight_temporaries`` (the writer
processes' SIGTERM handler), and one ended by SIGKILL by the next run of the month
(``discard_partial`` of the keys the killed run had journaled).
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

DELETE_BATCH = 1000  # keys counted as one request, as S3's DeleteObjects takes them
_in_flight: set[str] = set()  # temporary files of this process's writes under way


def remove_in_flight_temporaries() -> None:
    """Remove the temporary files of this process's writes under way: called by a
    signal handler, between two bytecodes of whatever write was running."""
    for tmp in list(_in_flight):
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def _is_temporary_of(entry: str, names: set[str]) -> bool:
    """Whether ``entry`` is the temporary file of a write of one of ``names``
    (``.<name>.<token>.tmp``)."""
    return entry.startswith(".") and entry.endswith(".tmp") and entry[1:].rsplit(".", 2)[0] in names


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
        self.key_prefix = ""
        self.requests: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self._known_dirs: set[str] = set()
        self._tmp_prefix = ""
        self._tmp_count = 0

    def __getstate__(self) -> dict:
        # a copy in another process keeps nothing of this one's folders or temp names
        # (and counts its own requests from zero)
        return {
            **self.__dict__, "_known_dirs": set(), "_tmp_prefix": "", "_tmp_count": 0,
            "requests": Counter(), "retries": Counter(),
        }

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
        self.requests["PutObject"] += 1
        tmp = f"{folder}/.{name}.{self._tmp_prefix}-{self._tmp_count}.tmp"
        _in_flight.add(tmp)  # before the file exists: an interrupt at any point finds it
        try:
            fd = os.open(tmp, self.FILE_FLAGS, 0o666)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise
        finally:
            _in_flight.discard(tmp)

    def put_file(self, key: str, path: str) -> None:
        target = f"{self.root_uri}/{key}"
        folder, _, name = target.rpartition("/")
        if folder not in self._known_dirs:
            self._make_dirs(folder)
        tmp = f"{folder}/.{name}.{uuid.uuid4().hex}.tmp"
        self.requests["PutObject"] += 1
        shutil.move(path, tmp)  # a rename when both are on one filesystem
        os.replace(tmp, target)

    def stat(self, key: str) -> ObjectStat | None:
        self.requests["HeadObject"] += 1
        try:
            st = self._path(key).stat()
        except FileNotFoundError:
            return None
        return ObjectStat(size=st.st_size, fingerprint=f"{st.st_size}-{st.st_mtime_ns}")

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

    def table_uri(self, key: str) -> str:
        # not Path.as_uri(): pyiceberg takes the path of a file URI as written, undecoded
        return f"file://{self._path(key).absolute().as_posix()}"

    def catalog_uri(self, key: str) -> str | None:
        return None

    def get_bytes(self, key: str) -> bytes | None:
        self.requests["GetObject"] += 1
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
            parents.add(path.parent)  # emptied by this delete, or by a discarded partial write
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        self.requests["DeleteObjects"] += -(-count // DELETE_BATCH)
        self._remove_empty(parents)
        return count

    def _remove_empty(self, folders: set[Path]) -> None:
        self._known_dirs.clear()  # folders emptied below are removed
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            _remove_empty_dirs(folder, stop=self.root)

    def discard_partial(self, keys: Iterable[str]) -> int:
        """Remove the temporary files that interrupted writes of ``keys`` left (one
        folder listing per folder of the keys), and the folders that leaves empty."""
        names_by_folder: dict[Path, set[str]] = {}
        for key in keys:
            path = self._path(key)
            names_by_folder.setdefault(path.parent, set()).add(path.name)
        removed = 0
        for folder, names in names_by_folder.items():
            try:
                entries = os.listdir(folder)
            except FileNotFoundError:
                continue
            for entry in entries:
                if _is_temporary_of(entry, names):
                    try:
                        os.unlink(folder / entry)
                        removed += 1
                    except FileNotFoundError:
                        pass
        self._remove_empty(set(names_by_folder))
        return removed

    def list(self, prefix: str) -> Iterator[tuple[str, int]]:
        base = self._path(prefix)
        self.requests["ListObjectsV2"] += 1
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
