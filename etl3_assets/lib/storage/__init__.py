"""Storage: the one interface (``interface.WarehouseStorage``) and the one place that
tells a local folder from S3 (``open_storage``)."""

from __future__ import annotations

from etl3_assets.lib.storage.interface import ObjectStat, WarehouseStorage
from etl3_assets.lib.storage.local import LocalStorage
from etl3_assets.lib.storage.roots import Root, RootError
from etl3_assets.lib.storage.s3 import S3Connection, S3Storage


def open_storage(
    root: str | Root, connection: S3Connection | None = None, *, upload_threads: int = 8, setting: str = "root"
) -> WarehouseStorage:
    """The storage under ``root``: ``s3://bucket[/prefix]`` or a local folder; a root
    that is neither raises ``RootError`` naming ``setting``.

    On S3, ``upload_threads`` uploads run at once per process (uploads wait on the
    network, so they need more threads than encoding needs processes); ``connection``
    says how to reach S3 (default: boto3's own resolution).
    """
    root = root if isinstance(root, Root) else Root.parse(root, setting)
    if root.is_s3:
        return S3Storage(root, connection or S3Connection(), max_workers=upload_threads)
    return LocalStorage(root.uri)


def is_catalogued(storage: WarehouseStorage) -> bool:
    """Whether a catalog (Glue, Athena) can register this storage's objects."""
    return storage.catalog_uri("") is not None


__all__ = [
    "LocalStorage", "ObjectStat", "Root", "RootError", "S3Connection", "S3Storage", "WarehouseStorage",
    "is_catalogued", "open_storage",
]
