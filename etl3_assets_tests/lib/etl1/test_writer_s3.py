"""Raw batches on an S3 prefix applied to a star schema on S3 (SeaweedFS on loopback,
through the production boto3 paths): the same seven tables as the independent route,
and a second apply sends no write."""

from __future__ import annotations

from etl3_assets.defs.etl1.resources import Etl1Resource
from etl3_assets_tests.support.etl1_oracle import OracleStarSchema, assert_tables_equal_oracle
from etl3_assets_tests.support.raw_extracts import hostile_batches


def test_batches_from_s3_to_s3_equal_the_oracle_and_reapply_writes_nothing(tmp_path, s3_bucket):
    raw = tmp_path / "raw"
    stems = hostile_batches(raw, rows=120)
    s3_bucket.upload_tree(raw, "raw")
    etl1 = Etl1Resource(root=s3_bucket.uri("etl1"), raw_root=s3_bucket.uri("raw"), s3=s3_bucket.resource)
    writer = etl1.writer(log=lambda _m: None)
    assert [b.stem for b in writer.batches_to_apply()] == sorted(stems)
    oracle = OracleStarSchema()
    for stem in stems:
        oracle.apply(raw, stem)
        writer.apply([writer.batch(stem)])

    local = tmp_path / "etl1"
    for key, _size in writer.etl1.list(""):
        if key.endswith(".parquet"):
            (local / key).parent.mkdir(parents=True, exist_ok=True)
            (local / key).write_bytes(writer.etl1.get_bytes(key))
    assert_tables_equal_oracle(local, oracle)

    before = {key: writer.etl1.stat(key).fingerprint for key, _ in writer.etl1.list("") if "_etl3/locks" not in key}
    again = etl1.writer(log=lambda _m: None)
    results = again.apply([again.batch(s) for s in stems])
    assert all(not any(r.gained.values()) for r in results)
    after = {key: again.etl1.stat(key).fingerprint for key, _ in again.etl1.list("") if "_etl3/locks" not in key}
    assert after == before
    writes = {"PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "DeleteObject", "DeleteObjects"}
    assert not writes & {kind for kind, n in again.etl1.requests.items() if n}, again.etl1.requests
