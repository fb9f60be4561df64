"""Processes the Iceberg tests run next to themselves: a month write (to be SIGKILLed at a
random moment) and a reader that loads the table in a loop while a month is replaced.

Kept free of Dagster and of the test fixtures, so a child starts as a bare interpreter
with polars and pyiceberg. ``TargetSpec`` names a table the same way in the test and in
the child: a local root (SQLite catalog), or an S3 root on a loopback endpoint with the
Glue catalog of a loopback moto server.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass

from etl3_assets.lib.iceberg import table as it
from etl3_assets.lib.storage import S3Connection, WarehouseStorage, open_storage


@dataclass(frozen=True)
class TargetSpec:
    root: str
    s3_endpoint: str | None = None
    glue_endpoint: str | None = None
    region: str = "us-east-1"
    access_key: str = ""
    secret_key: str = ""

    @property
    def is_s3(self) -> bool:
        return self.s3_endpoint is not None

    def connection(self) -> S3Connection | None:
        if not self.is_s3:
            return None
        return S3Connection(
            region_name=self.region,
            endpoint_url=self.s3_endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            use_ssl=False,
        )

    def storage(self) -> WarehouseStorage:
        return open_storage(self.root, self.connection())

    def catalog(self, sqlite_path=None):
        glue = self.connection().client("glue", endpoint_url=self.glue_endpoint) if self.glue_endpoint else None
        return it.open_catalog(self.storage(), glue_client=glue, sqlite_path=sqlite_path)

    def table(self):
        return it.ensure_table(self.catalog(), self.storage())

    def storage_options(self) -> dict | None:
        return self.storage().reader_options()

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> TargetSpec:
        return cls(**json.loads(text))


def write_main(argv: list[str]) -> None:
    """``python -m etl3_assets_tests.iceberg_child write <spec json> <staged> <month> <settings json>``:
    prints READY once the table is loaded, then writes the month and prints the result."""
    spec = TargetSpec.from_json(argv[0])
    staged, month = argv[1], argv[2]
    settings = it.IcebergWriteSettings(**json.loads(argv[3]))
    table = spec.table()
    print("READY", flush=True)
    started = time.perf_counter()
    result = it.write_month(table, staged, month, settings, storage_options=spec.storage_options())
    print(json.dumps({"seconds": time.perf_counter() - started, "snapshot_id": result.snapshot_id}), flush=True)


def read_loop(spec_json: str, month: str, stop, observations) -> None:
    """Load the table afresh (a new catalog each time, like a separate reader would) and
    put ``(snapshot_id, rows, hash_sum)`` of the month on ``observations`` until ``stop``."""
    spec = TargetSpec.from_json(spec_json)
    catalog = spec.catalog()
    while not stop.is_set():
        try:
            table = catalog.load_table(it.IDENTIFIER)
        except Exception as error:  # noqa: BLE001 - reported to the test, which fails on it
            observations.put(("error", repr(error), ""))
            return
        snapshot = table.current_snapshot()
        digest = it.month_digest(table, month, snapshot_id=snapshot.snapshot_id if snapshot else None)
        observations.put((snapshot.snapshot_id if snapshot else None, digest.rows, digest.hash_sum))
    observations.put(("done", 0, ""))


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write_main(sys.argv[2:])
    else:
        raise SystemExit(f"unknown command {sys.argv[1]!r}")
