"""Roots that are either a local folder or an ``s3://bucket/prefix`` URI."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Root:
    uri: str

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith("s3://")

    @property
    def bucket(self) -> str:
        return self.uri[len("s3://") :].split("/", 1)[0]

    @property
    def prefix(self) -> str:
        """Key prefix inside the bucket, without leading or trailing slash."""
        rest = self.uri[len("s3://") :].split("/", 1)
        return rest[1].strip("/") if len(rest) > 1 else ""

    def join(self, relative: str) -> str:
        return f"{self.uri.rstrip('/')}/{relative.lstrip('/')}"

    def key(self, relative: str) -> str:
        """S3 object key of a path relative to this root."""
        return f"{self.prefix}/{relative}" if self.prefix else relative
