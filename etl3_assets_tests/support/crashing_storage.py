"""A real local warehouse whose writer process group is SIGKILLed after a number of data
files, to test that a run killed mid-way is repaired by the next run; and a month's
rebuild run in a child, to be SIGKILLed at any moment. Its own module, so the writer's
spawned worker processes can unpickle it without importing the tests."""

import os
import signal

from etl3_assets.lib.contract import WAREHOUSE_DATA_PREFIX
from etl3_assets.lib.storage import LocalStorage


class KilledAfterFiles(LocalStorage):
    def __init__(self, root, files_before_kill: int):
        super().__init__(root)
        self.files_before_kill = files_before_kill
        self.data_files = 0

    def put_bytes(self, key: str, data: bytes) -> None:
        if key.startswith(WAREHOUSE_DATA_PREFIX):
            if self.data_files == self.files_before_kill:
                os.killpg(os.getpgrp(), signal.SIGKILL)
            self.data_files += 1
        super().put_bytes(key, data)


def killed_write(etl1_root: str, warehouse_root: str, year_month: str, files_before_kill: int) -> None:
    """Run the month writer in this process (meant for a child in its own session)."""
    import polars as pl

    from etl3_assets.lib.enrich import enriched_month
    from etl3_assets.lib.etl1.source import Etl1Source
    from etl3_assets.lib.hive.writer import WriterSettings, write_month
    from etl3_assets.lib.storage import open_storage

    enriched = enriched_month(Etl1Source(open_storage(etl1_root)), year_month)
    rows = enriched.select(pl.len()).collect().item()
    write_month(
        KilledAfterFiles(warehouse_root, files_before_kill),
        year_month,
        enriched,
        expected_rows=rows,
        settings=WriterSettings(memory_limit_mb=1, chunk_size=50, max_workers=2),
    )


def rebuild_month(etl1_root: str, warehouse_root: str, year_month: str) -> None:
    """Rebuild the month (incrementally) in many buckets and two worker processes."""
    import polars as pl

    from etl3_assets.lib.enrich import enriched_month
    from etl3_assets.lib.etl1.source import Etl1Source
    from etl3_assets.lib.hive.writer import WriterSettings, write_month
    from etl3_assets.lib.storage import open_storage

    import tempfile

    with tempfile.TemporaryDirectory(prefix="etl3-rebuild-") as scratch:
        # staged first, as production stages it: slices of the lazy join would not be
        # taken in one stable row order
        staged = f"{scratch}/staged.parquet"
        enriched_month(Etl1Source(open_storage(etl1_root)), year_month).sink_parquet(staged)
        enriched = pl.scan_parquet(staged)
        write_month(
            open_storage(warehouse_root), year_month, enriched,
            expected_rows=enriched.select(pl.len()).collect().item(),
            settings=WriterSettings(memory_limit_mb=1, chunk_size=50, max_workers=2),
            log=lambda line: print(line, flush=True),  # the test waits for "spilled"
        )
