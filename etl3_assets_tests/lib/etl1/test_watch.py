"""What counts as a change of ETL1's output, and which months it rebuilds."""

import pytest

from etl3_assets.lib.etl1.watch import Etl1NotReady, Etl1Snapshot, compare, months_to_build, take_snapshot


def snap(months: dict[str, str], tables: dict[str, str] | None = None) -> Etl1Snapshot:
    return Etl1Snapshot(files={"fact_rate": "f"}, tables=tables or {"dim_payer": "p1"}, months=months)


def test_first_look_makes_every_month_new():
    change = compare(None, snap({"2025-07": "a", "2025-08": "b"}))
    assert change.new_months == ("2025-07", "2025-08") and not change.changed_months


def test_only_months_whose_digest_moved_are_changed():
    before = snap({"2025-07": "a", "2025-08": "b", "2025-09": "c"})
    after = snap({"2025-07": "a", "2025-08": "B", "2025-10": "d"})
    change = compare(before, after)
    assert change.new_months == ("2025-10",)
    assert change.changed_months == ("2025-08",)
    assert change.removed_months == ("2025-09",)
    assert months_to_build(change, after, materialized=["2025-07"]) == ["2025-08", "2025-10"]


def test_a_dimension_change_rebuilds_the_materialized_months_etl1_still_has():
    before = snap({"2025-07": "a", "2025-08": "b"}, {"dim_payer": "p1"})
    after = snap({"2025-07": "a", "2025-08": "b"}, {"dim_payer": "p2"})
    change = compare(before, after)
    assert change.changed_tables == ("dim_payer",) and not change.is_empty
    assert months_to_build(change, after, materialized=["2025-07", "2024-01"]) == ["2025-07"]


def test_same_content_is_no_change_and_the_cursor_round_trips():
    current = snap({"2025-07": "a"})
    assert compare(Etl1Snapshot.from_json(current.to_json()), current).is_empty
    assert Etl1Snapshot.from_json('{"scheme": "old"}') is None, "another digest scheme starts over"


def test_a_missing_table_is_not_ready():
    with pytest.raises(Etl1NotReady, match="missing: dim_code"):
        take_snapshot(source=None, previous=None, fingerprints=lambda: {"fact_rate": "1", "dim_code": None})
