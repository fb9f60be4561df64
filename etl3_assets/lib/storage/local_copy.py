"""A local file path for an object, for engines that read files (DuckDB): the object's own
path in a folder storage, else a streamed copy of it in a work folder."""

from __future__ import annotations

import os
import shutil
import uuid

from etl3_assets.lib.storage.interface import WarehouseStorage
from etl3_assets.lib.storage.local import LocalStorage

COPY_CHUNK_BYTES = 8 * 1024 * 1024


def local_path(storage: WarehouseStorage, key: str, work_dir: str) -> str:
    """A path DuckDB can read ``key`` from. A folder's objects are read in place; an S3
    object is copied chunk by chunk into ``work_dir`` (never held in memory)."""
    if isinstance(storage, LocalStorage):
        return storage.uri(key)
    target = os.path.join(work_dir, f"{uuid.uuid4().hex}-{os.path.basename(key)}")
    with storage.open_input_file(key) as source, open(target, "wb") as out:
        shutil.copyfileobj(source, out, COPY_CHUNK_BYTES)
    return target
