"""Roots that are either a local folder or an ``s3://bucket/prefix`` URI, parsed once.

Every root the project is given (``ETL1_ROOT``, ``WAREHOUSE_ROOT``, ``etl3 setup-bucket
--root``, each resource's root) goes through ``Root.parse``. A root is either

* ``s3://bucket[/prefix]``, with a bucket name S3 accepts, or
* a local folder path that cannot be mistaken for a URL.

Anything that looks like a URL but is not that form is refused, naming the setting and
the form expected: a mistyped ``s3//bucket/wh`` or ``s3:/bucket`` would otherwise be a
perfectly legal relative folder, and the run would write the warehouse under ``./s3/``
while the user believes it went to S3. Refused too:

* other schemes (``S3://``, ``s3a://``, ``s3n://``, ``gs://``, ``http://``…): the project
  reads and writes only S3 and local folders;
* ``file://…``: a path written as a URL would need its own decoding rules (percent
  escapes, hosts); the path itself is the one way to name a local folder;
* a relative path whose first folder is a scheme name (``s3/bucket``, ``gs//b``): almost
  always a URL missing its colon; a folder really named so is written ``./s3/bucket``;
* an empty root, an S3 prefix with empty or ``.``/``..`` segments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

S3_SCHEME = "s3://"
EXPECTED = "expected s3://bucket[/prefix] or a local folder path"
URL_SCHEMES = frozenset(
    {"s3", "s3a", "s3n", "gs", "gcs", "http", "https", "file", "hdfs", "abfs", "abfss", "az", "wasb", "wasbs", "ftp", "sftp"}
)
_SCHEME_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_BUCKET_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_BUCKET_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


class RootError(ValueError):
    """A root that is neither ``s3://bucket[/prefix]`` nor a local folder path; the
    message is one line naming the setting, the value and the expected form."""


def _bucket_problem(bucket: str) -> str | None:
    """Why S3 would refuse this bucket name (general purpose bucket naming rules), or None."""
    if not _BUCKET.match(bucket):
        return "3-63 lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit"
    if ".." in bucket or ".-" in bucket or "-." in bucket:
        return "no two adjacent dots, nor a dot beside a hyphen"
    if _IP_ADDRESS.match(bucket):
        return "not formatted as an IP address"
    if bucket.startswith(_BUCKET_RESERVED_PREFIXES) or bucket.endswith(_BUCKET_RESERVED_SUFFIXES):
        return "not a prefix or suffix S3 reserves"
    return None


@dataclass(frozen=True)
class Root:
    uri: str

    @classmethod
    def parse(cls, value: object, name: str) -> Root:
        """The root ``value`` given as setting ``name`` (``WAREHOUSE_ROOT``, ``--root``…),
        or ``RootError``. S3 roots lose trailing slashes; local paths are kept as given."""

        def refuse(why: str = "") -> RootError:
            return RootError(f"{name}={value!r} is not a valid root: {EXPECTED}{why}")

        if not isinstance(value, str) or not value.strip():
            raise refuse()
        if value != value.strip():
            raise refuse(" (it has leading or trailing spaces)")
        if value.startswith(S3_SCHEME):
            bucket, _, prefix = value[len(S3_SCHEME) :].partition("/")
            problem = _bucket_problem(bucket)
            if problem:
                raise refuse(f" (bucket name {bucket!r}: {problem})")
            prefix = prefix.rstrip("/")
            if prefix and any(seg in ("", ".", "..") for seg in prefix.split("/")):
                raise refuse(f" (prefix {prefix!r} has an empty, '.' or '..' folder)")
            return cls(f"{S3_SCHEME}{bucket}/{prefix}" if prefix else f"{S3_SCHEME}{bucket}")
        first = re.split(r"[/\\]", value, maxsplit=1)[0]
        if _SCHEME_LIKE.match(value) or "://" in value or (first.lower() in URL_SCHEMES and first != value):
            raise refuse()
        return cls(value)

    @property
    def is_s3(self) -> bool:
        return self.uri.startswith(S3_SCHEME)

    @property
    def bucket(self) -> str:
        return self.uri[len(S3_SCHEME) :].split("/", 1)[0]

    @property
    def prefix(self) -> str:
        """Key prefix inside the bucket, without leading or trailing slash."""
        rest = self.uri[len(S3_SCHEME) :].split("/", 1)
        return rest[1].strip("/") if len(rest) > 1 else ""

    def join(self, relative: str) -> str:
        return f"{self.uri.rstrip('/')}/{relative.lstrip('/')}"

    def key(self, relative: str) -> str:
        """S3 object key of a path relative to this root."""
        return f"{self.prefix}/{relative}" if self.prefix else relative
