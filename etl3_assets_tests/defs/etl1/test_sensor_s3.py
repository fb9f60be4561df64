"""The ETL1 sensor on an S3 prefix (SeaweedFS on loopback, the ``s3_bucket`` fixture of
conftest, through the production boto3 and polars paths): the ETag is the fingerprint,
the month digests are read over S3."""

from __future__ import annotations

import dagster as dg
import polars as pl

from etl3_assets.lib.contract import ETL1_BY_NAME
from etl3_assets.defs.etl1.resources import Etl1Resource

from etl3_assets_tests.support.deployment import SAMPLE_MONTHS
from etl3_assets_tests.support.deployment import Warehouse, read_etl1, rewrite_etl1


def test_sensor_on_s3_requests_the_changed_month(etl1_root, warehouse_root, s3_bucket):
    s3_bucket.upload_tree(etl1_root, "etl1")
    etl1 = Etl1Resource(root=s3_bucket.uri("etl1"), s3=s3_bucket.resource)
    with dg.instance_for_test() as instance:
        d = Warehouse(etl1_root, warehouse_root, instance, etl1=etl1)
        assert [r.partition_key for r in d.tick().run_requests] == list(SAMPLE_MONTHS)
        assert d.requested() == []

        s3_bucket.upload_tree(etl1_root, "etl1")  # same bytes: same ETags
        assert d.requested() == []

        facts = read_etl1(etl1_root, "fact_rate")
        doubled = pl.when(pl.col("year_month") == "2025-07").then(pl.col("negotiated_rate") * 2)
        rewrite_etl1(etl1_root, "fact_rate", facts.with_columns(negotiated_rate=doubled.otherwise("negotiated_rate")))
        key = f"etl1/{ETL1_BY_NAME['fact_rate'].relative_path}"
        s3_bucket.client().put_object(Bucket=s3_bucket.bucket, Key=key, Body=(etl1_root / ETL1_BY_NAME["fact_rate"].relative_path).read_bytes())
        assert d.requested() == ["2025-07"]
        d.assert_matches_oracle(["2025-07"])

        s3_bucket.client().delete_object(Bucket=s3_bucket.bucket, Key=f"etl1/{ETL1_BY_NAME['dim_npi'].relative_path}")
        result = d.tick()
        assert not result.run_requests and "dim_npi" in result.skip_message
