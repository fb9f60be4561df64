"""Create or verify the warehouse bucket, idempotently (``etl3 setup-bucket``).

Each setting is read first and written only when it differs, so running it again
changes nothing:

* the bucket itself (in the client's region);
* default encryption SSE-S3 (AES256);
* the public access block, all four switches on;
* versioning enabled (a bad run can be undone object by object);
* lifecycle rules, merged with rules of other IDs already there:
  current objects under ``<prefix>/partitioned-data/`` move to S3 Intelligent-Tiering
  (no archive tiers: Athena cannot read archived objects), the versions that exact month
  replacement overwrites or deletes expire after ``noncurrent_days``, delete markers left
  without versions are removed, and incomplete multipart uploads are aborted after 7 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from etl3_assets.lib.contract import WAREHOUSE_DATA_PREFIX
from etl3_assets.lib.storage.roots import Root

RULE_PREFIX = "etl3-"
ENCRYPTION = {
    "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}]
}
PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
UNSUPPORTED_CODES = {"NotImplemented", "MethodNotAllowed", "501"}


@dataclass(frozen=True)
class SettingStatus:
    setting: str
    status: str  # "ok" (already so), "applied", "differs" (check only), "unsupported"
    detail: str = ""


def lifecycle_rules(root: Root, noncurrent_days: int = 30) -> list[dict[str, Any]]:
    data_prefix = root.key(f"{WAREHOUSE_DATA_PREFIX}/")
    return [
        {
            "ID": f"{RULE_PREFIX}partitioned-data-intelligent-tiering",
            "Status": "Enabled",
            "Filter": {"Prefix": data_prefix},
            "Transitions": [{"Days": 0, "StorageClass": "INTELLIGENT_TIERING"}],
            "NoncurrentVersionExpiration": {"NoncurrentDays": noncurrent_days},
        },
        {
            "ID": f"{RULE_PREFIX}partitioned-data-delete-markers",
            "Status": "Enabled",
            "Filter": {"Prefix": data_prefix},
            "Expiration": {"ExpiredObjectDeleteMarker": True},
        },
        {
            "ID": f"{RULE_PREFIX}abort-incomplete-multipart",
            "Status": "Enabled",
            "Filter": {"Prefix": root.key("")},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        },
    ]


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class BucketSetup:
    def __init__(self, client: Any, root: Root, *, check_only: bool = False, noncurrent_days: int = 30):
        self.client = client
        self.root = root
        self.bucket = root.bucket
        self.check_only = check_only
        self.noncurrent_days = noncurrent_days

    def run(self) -> list[SettingStatus]:
        results = [self.bucket_exists()]
        if results[0].status in ("differs",):
            return results
        for step in (self.encryption, self.public_access_block, self.versioning, self.lifecycle):
            results.append(self._guard(step))
        return results

    def _guard(self, step) -> SettingStatus:
        name = step.__name__.replace("_", " ")
        try:
            return step()
        except ClientError as error:
            if _code(error) in UNSUPPORTED_CODES:
                return SettingStatus(name, "unsupported", f"the endpoint answers {_code(error)}")
            raise

    def _apply(self, setting: str, current_ok: bool, write, detail: str = "") -> SettingStatus:
        if current_ok:
            return SettingStatus(setting, "ok", detail)
        if self.check_only:
            return SettingStatus(setting, "differs", detail)
        write()
        return SettingStatus(setting, "applied", detail)

    def bucket_exists(self) -> SettingStatus:
        try:
            self.client.head_bucket(Bucket=self.bucket)
            return SettingStatus("bucket", "ok", self.bucket)
        except ClientError as error:
            if _code(error) not in ("404", "NoSuchBucket", "NotFound"):
                raise

        def create():
            region = self.client.meta.region_name
            kwargs = {}
            if region and region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
            self.client.create_bucket(Bucket=self.bucket, **kwargs)

        return self._apply("bucket", False, create, self.bucket)

    def encryption(self) -> SettingStatus:
        try:
            rules = self.client.get_bucket_encryption(Bucket=self.bucket)[
                "ServerSideEncryptionConfiguration"
            ]["Rules"]
            current = {r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in rules}
        except ClientError as error:
            if _code(error) != "ServerSideEncryptionConfigurationNotFoundError":
                raise
            current = set()
        return self._apply(
            "encryption",
            current == {"AES256"},
            lambda: self.client.put_bucket_encryption(
                Bucket=self.bucket, ServerSideEncryptionConfiguration=ENCRYPTION
            ),
            "SSE-S3 (AES256) by default",
        )

    def public_access_block(self) -> SettingStatus:
        try:
            current = self.client.get_public_access_block(Bucket=self.bucket)[
                "PublicAccessBlockConfiguration"
            ]
        except ClientError as error:
            if _code(error) != "NoSuchPublicAccessBlockConfiguration":
                raise
            current = {}
        return self._apply(
            "public access block",
            all(current.get(k) for k in PUBLIC_ACCESS_BLOCK),
            lambda: self.client.put_public_access_block(
                Bucket=self.bucket, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK
            ),
            "all public access blocked",
        )

    def versioning(self) -> SettingStatus:
        status = self.client.get_bucket_versioning(Bucket=self.bucket).get("Status")
        return self._apply(
            "versioning",
            status == "Enabled",
            lambda: self.client.put_bucket_versioning(
                Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"}
            ),
            "enabled",
        )

    def lifecycle(self) -> SettingStatus:
        try:
            current = self.client.get_bucket_lifecycle_configuration(Bucket=self.bucket)["Rules"]
        except ClientError as error:
            if _code(error) != "NoSuchLifecycleConfiguration":
                raise
            current = []
        wanted = lifecycle_rules(self.root, self.noncurrent_days)
        ours = {r["ID"]: r for r in current if r.get("ID", "").startswith(RULE_PREFIX)}
        same = ours.keys() == {r["ID"] for r in wanted} and all(
            _rule_matches(ours[r["ID"]], r) for r in wanted
        )
        others = [r for r in current if not r.get("ID", "").startswith(RULE_PREFIX)]
        return self._apply(
            "lifecycle",
            same,
            lambda: self.client.put_bucket_lifecycle_configuration(
                Bucket=self.bucket, LifecycleConfiguration={"Rules": others + wanted}
            ),
            f"{len(wanted)} rules for {self.root.key(WAREHOUSE_DATA_PREFIX + '/')}",
        )


def _rule_matches(current: dict, wanted: dict) -> bool:
    """Compare the fields we set (servers add defaults, e.g. an empty Filter.And)."""
    return all(current.get(k) == v for k, v in wanted.items())


def setup_bucket(client: Any, root: Root, *, check_only: bool = False) -> list[SettingStatus]:
    if not root.is_s3:
        raise ValueError(f"setup-bucket needs an s3://bucket/prefix root, got {root.uri!r}")
    return BucketSetup(client, root, check_only=check_only).run()
