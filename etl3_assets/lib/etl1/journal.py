"""The ETL1 writer's journal, kept in the ETL1 root beside the tables it describes.

* ``_etl3/etl1/pending.json``: written just before a batch starts replacing tables,
  removed once every table and the batch's record are in place. While it exists the
  tables may be half-way through a batch: the next apply first completes that batch
  (applying it again is idempotent: tables that already hold its rows gain nothing), and
  the month sensor waits. So the seven tables are consistent after any crash and rerun.
* ``_etl3/etl1/applied/<batch>.json``: one record per applied batch: the raw files'
  fingerprint (a replaced file makes the batch "changed"), what each table gained, the
  months whose enriched content the batch changed, and the state of the seven tables
  before and after (a digest of their fingerprints). The month sensor follows these
  records from the state it last saw to the current one, and rebuilds exactly their
  months instead of every month (see ``explained_months``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

from etl3_assets.lib.contract import ETL1_EXTRACT_TABLES
from etl3_assets.lib.storage import WarehouseStorage

JOURNAL_PREFIX = "_etl3/etl1"
PENDING_KEY = f"{JOURNAL_PREFIX}/pending.json"
APPLIED_PREFIX = f"{JOURNAL_PREFIX}/applied"


def state_digest(fingerprints: Mapping[str, str | None]) -> str:
    """One name for the state of the seven extract tables (their files' fingerprints)."""
    text = json.dumps({t.name: fingerprints.get(t.name) for t in ETL1_EXTRACT_TABLES}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def table_fingerprints(storage: WarehouseStorage) -> dict[str, str | None]:
    stats = {t.name: storage.stat(t.relative_path) for t in ETL1_EXTRACT_TABLES}
    return {n: None if s is None else s.fingerprint for n, s in stats.items()}


@dataclass(frozen=True)
class BatchRecord:
    batch: str
    fingerprint: str
    gained: dict[str, int] = field(default_factory=dict)
    months: tuple[str, ...] = ()
    state_before: str = ""
    state_after: str = ""

    def to_bytes(self) -> bytes:
        return json.dumps({**asdict(self), "months": list(self.months)}, indent=1, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> BatchRecord:
        body = json.loads(data)
        return cls(**{**body, "months": tuple(body.get("months", ()))})


def applied_key(batch: str) -> str:
    return f"{APPLIED_PREFIX}/{batch}.json"


def read_record(storage: WarehouseStorage, key: str) -> BatchRecord | None:
    data = storage.get_bytes(key)
    return None if data is None else BatchRecord.from_bytes(data)


def applied_records(storage: WarehouseStorage) -> dict[str, BatchRecord]:
    """Batch stem -> its record, for every batch applied to this ETL1 root."""
    records = {}
    for key, _size in storage.list(APPLIED_PREFIX):
        if key.endswith(".json"):
            record = read_record(storage, key)
            if record is not None:
                records[record.batch] = record
    return records


def write_record(storage: WarehouseStorage, key: str, record: BatchRecord) -> None:
    storage.put_bytes(key, record.to_bytes())
    storage.flush()


def pending(storage: WarehouseStorage) -> BatchRecord | None:
    """The batch whose tables were being replaced when its writer stopped, if any."""
    return read_record(storage, PENDING_KEY)


def explained_months(
    records: Iterable[BatchRecord], before: Mapping[str, str | None], after: Mapping[str, str | None]
) -> set[str] | None:
    """The months changed by the applied batches that lead from the tables' state
    ``before`` to ``after`` (fingerprints); None when these records do not explain the
    change (another tool wrote the tables, or a batch was interrupted), in which case
    the caller falls back to its broad rule."""
    by_state = {r.state_before: r for r in records if r.state_before != r.state_after}
    state, target = state_digest(before), state_digest(after)
    months: set[str] = set()
    seen = set()
    while state != target:
        record = by_state.get(state)
        if record is None or state in seen:
            return None
        seen.add(state)
        months |= set(record.months)
        state = record.state_after
    return months
