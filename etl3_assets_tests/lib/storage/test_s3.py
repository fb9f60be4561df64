"""S3Storage against a live S3 API (SeaweedFS on loopback): the WarehouseStorage protocol,
one PUT per small file, multipart above the threshold, encryption, pickling, failures."""

import pickle

import pytest

from etl3_assets.defs.s3 import s3_connection
from etl3_assets.lib.storage.s3 import S3Storage, S3UploadError
from etl3_assets.lib.storage.roots import Root
from etl3_assets_tests.support.s3_servers import FaultyProxy, test_resource


def storage_for(target, prefix="wh", **kwargs) -> S3Storage:
    return S3Storage(Root(target.uri(prefix)), s3_connection(target.resource), **kwargs)


def test_protocol_round_trip_with_one_put_per_file(s3_bucket):
    storage = storage_for(s3_bucket, max_workers=4)
    keys = [f"partitioned-data/payer_slug=a%2Fb/state=N Y/f{i}.parquet" for i in range(40)]
    for i, key in enumerate(keys):
        storage.put_bytes(key, f"payload {i}".encode())
    storage.flush()
    assert storage.requests["PutObject"] == len(keys)
    assert storage.get_bytes(keys[7]) == b"payload 7"
    assert storage.get_bytes("partitioned-data/missing.parquet") is None
    assert sorted(k for k, _ in storage.list("partitioned-data/")) == sorted(keys)
    assert s3_bucket.objects("wh/partitioned-data/").keys() == {f"wh/{k}" for k in keys}
    head = s3_bucket.client().head_object(Bucket=s3_bucket.bucket, Key=f"wh/{keys[0]}")
    assert head["ServerSideEncryption"] == "AES256"
    assert storage.uri(keys[0]) == f"s3://{s3_bucket.bucket}/wh/{keys[0]}"

    assert storage.delete(keys[:30] + ["partitioned-data/never-written"]) == 31
    assert storage.requests["DeleteObjects"] == 1
    assert sorted(k for k, _ in storage.list("partitioned-data/")) == sorted(keys[30:])


def test_large_object_goes_multipart_and_small_ones_do_not(s3_bucket):
    storage = storage_for(s3_bucket, multipart_threshold=5 * 1024 * 1024)
    big = bytes(range(256)) * (12 * 1024 * 1024 // 256)
    storage.put_bytes("big.bin", big)
    storage.put_bytes("small.bin", b"x")
    storage.flush()
    assert storage.get_bytes("big.bin") == big
    assert storage.requests["CreateMultipartUpload"] == 1
    assert storage.requests["UploadPart"] == 2  # 8 MiB parts (boto3 default)
    assert storage.requests["PutObject"] == 1
    head = s3_bucket.client().head_object(Bucket=s3_bucket.bucket, Key="wh/big.bin")
    assert head["ServerSideEncryption"] == "AES256"


def test_storage_pickles_into_a_working_copy(s3_bucket):
    storage = storage_for(s3_bucket)
    storage.put_bytes("a.bin", b"a")
    storage.flush()
    copy = pickle.loads(pickle.dumps(storage))
    copy.put_bytes("b.bin", b"b")
    copy.flush()
    assert storage.get_bytes("b.bin") == b"b"
    assert copy.get_bytes("a.bin") == b"a"


def test_failed_upload_is_raised_by_flush_naming_the_object(s3_bucket):
    with FaultyProxy(s3_bucket.endpoint, fail_rate=1.0, methods=("PUT",)) as proxy:
        resource = test_resource(proxy.endpoint, max_attempts=2)
        storage = S3Storage(Root(s3_bucket.uri("wh")), s3_connection(resource))
        storage.put_bytes("doomed.parquet", b"data")
        with pytest.raises(RuntimeError, match="doomed.parquet") as info:
            storage.flush()
        assert storage.get_bytes("doomed.parquet") is None
    assert isinstance(info.value.__cause__, S3UploadError)
    assert proxy.failed >= 2  # every attempt was refused before reaching the server
