"""The partition-value scan of the input checks runs in passes by a hash of pg_uid when a
month is large for the budget, and finds what one pass finds."""

import polars as pl

from etl3_assets.devtools.sample_data import write_etl1_table
from etl3_assets.lib.etl1.source import Etl1Source
from etl3_assets.lib.quality.validation import QualitySettings, partition_key_findings
from etl3_assets.lib.storage import open_storage

MONTH = "2025-08"


def test_passes_find_what_one_pass_finds(etl1_root):
    # one NPI's taxonomy (reached through pg_uid, the passes' hash) too long for a folder
    npi = pl.read_parquet(etl1_root / "dims" / "dim_npi.parquet")
    first = npi["npi"][0]
    npi = npi.with_columns(
        primary_taxonomy_code=pl.when(pl.col("npi") == first).then(pl.lit("x" * 300)).otherwise("primary_taxonomy_code")
    )
    write_etl1_table(etl1_root, "dim_npi", npi)
    source = Etl1Source(open_storage(str(etl1_root)))
    # a 20M-row month at the default budget takes 12 passes; force several on the sample
    assert QualitySettings().partition_scan_passes(20_000_000) == 12
    assert QualitySettings().partition_scan_passes(400) == 1
    tiny = QualitySettings(partition_scan_passes_override=5)

    one_pass = partition_key_findings(source, MONTH)
    in_passes = partition_key_findings(source, MONTH, settings=tiny)
    assert [f.column for f in one_pass] == ["primary_taxonomy_code"]
    assert [(f.subject, f.column, f.problem) for f in in_passes] == [(f.subject, f.column, f.problem) for f in one_pass]
