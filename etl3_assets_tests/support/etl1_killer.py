"""An ETL1 apply whose process group is SIGKILLed at a chosen write (a table replaced, the
journal written), or whenever the parent kills it: run as a child in its own session,
``python -m etl3_assets_tests.support.etl1_killer <etl1> <raw> <stem> <writes|-1>``."""

import os
import signal
import sys

from etl3_assets.lib.storage import LocalStorage


class KilledAtWrite(LocalStorage):
    def __init__(self, root, writes_before_kill: int):
        super().__init__(root)
        self.writes_before_kill = writes_before_kill
        self.writes = 0

    def _count(self) -> None:
        if self.writes == self.writes_before_kill:
            os.killpg(os.getpgrp(), signal.SIGKILL)
        self.writes += 1

    def put_bytes(self, key: str, data: bytes) -> None:
        if not key.startswith("_etl3/locks"):
            self._count()
        super().put_bytes(key, data)

    def put_file(self, key: str, path: str) -> None:
        self._count()
        super().put_file(key, path)


def apply_batch(etl1_root: str, raw_root: str, stem: str, writes_before_kill: int) -> None:
    from etl3_assets.lib.etl1.writer import Etl1Writer

    writer = Etl1Writer(
        KilledAtWrite(etl1_root, writes_before_kill), LocalStorage(raw_root), lease_seconds=2, log=lambda _m: None,
        work_dir=os.path.dirname(os.path.abspath(etl1_root)),  # a killed apply's work folder stays in the test's
    )
    writer.apply([writer.batch(stem)])


if __name__ == "__main__":
    apply_batch(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
