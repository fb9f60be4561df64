"""How the writer sizes its work from the memory budget (pure arithmetic, no I/O)."""

from etl3_assets.lib.hive.writer import (
    BUCKET_BYTES_PER_ROW,
    SPILL_BYTES_PER_ROW_IN_MEMORY,
    SPILL_SHARE_OF_BUDGET,
    MIN_ROWS_FOR_BALANCE,
    MIN_ROWS_PER_CHUNK,
    WriterSettings,
)
from etl3_assets.lib.progress import MIB


def test_a_small_month_is_one_bucket():
    # a budget that holds the month in one bucket: the pool is not worth starting
    assert WriterSettings(max_workers=2, memory_limit_mb=4096).bucket_count(MIN_ROWS_FOR_BALANCE - 1) == 1


def test_a_month_worth_a_pool_gets_four_buckets_per_worker():
    assert WriterSettings(max_workers=3, memory_limit_mb=100_000).bucket_count(MIN_ROWS_FOR_BALANCE) == 12


def test_buckets_follow_the_budget_per_worker():
    settings = WriterSettings(max_workers=2, memory_limit_mb=1024)
    rows_per_bucket = int(1024 * MIB * 0.5 / 2 // BUCKET_BYTES_PER_ROW)
    rows = 100 * rows_per_bucket + 1
    assert settings.bucket_count(rows) == 101
    halved = WriterSettings(max_workers=2, memory_limit_mb=512)
    assert halved.bucket_count(rows) > settings.bucket_count(rows)


def test_a_tiny_budget_still_makes_progress():
    settings = WriterSettings(max_workers=2, memory_limit_mb=1, chunk_size=10)
    assert settings.spill_chunk_rows() == MIN_ROWS_PER_CHUNK, "never a slice below the floor"
    assert settings.bucket_count(10 * MIN_ROWS_PER_CHUNK) == 10, "buckets of the floor's size when the budget holds less"


def test_spill_slices_are_the_chunk_size_capped_by_half_the_budget():
    assert WriterSettings(chunk_size=1_000, memory_limit_mb=1024).spill_chunk_rows() == 1_000
    capped = WriterSettings(chunk_size=10_000_000, memory_limit_mb=1024).spill_chunk_rows()
    assert capped == int(1024 * MIB * SPILL_SHARE_OF_BUDGET // SPILL_BYTES_PER_ROW_IN_MEMORY)


def test_the_budget_includes_the_fixed_overhead():
    from etl3_assets.lib.hive.writer import FIXED_OVERHEAD_MB

    assert WriterSettings(memory_limit_mb=1024).budget_bytes() == (1024 + FIXED_OVERHEAD_MB) * MIB
