"""The oracle itself, on tiny hand-made ETL1 tables whose enriched values can be read off
CONTRACT §2 by eye: so that a product-vs-oracle failure can be trusted to be the product's."""

from __future__ import annotations

import math
from datetime import datetime

import polars as pl
import pyarrow as pa
import pytest

from etl3_assets_tests.support.oracle import as_read_from_hive, assert_same_rows, expected_enriched
from etl3_assets_tests.support.real_etl1 import write_rows

NPI_A, NPI_B, NPI_C = "1000000001", "1000000002", "1000000003"


def fact(uid, **values) -> dict:
    base = {"fact_uid": uid, "state": "GA", "year_month": "2025-08", "payer_slug": "p",
            "billing_class": "professional", "code_type": "CPT", "code": "99213", "pg_uid": "g",
            "negotiated_rate": 100.0}
    return {**base, **values}


def bench(btype, year_month, state="GA", code="99213", **values) -> dict:
    label = {"professional": "CPT", "opps": "HCPCS", "asc": "CPT"}[btype]
    return {"state": state, "year_month": year_month, "code_type": label, "code": code,
            "benchmark_type": btype, **values}


def enrich(tmp_path, month="2025-08", types=None, **rows) -> dict[str, dict]:
    """fact_uid -> enriched row."""
    root = write_rows(tmp_path / "etl1", rows, types or {})
    return {r["fact_uid"]: r for r in expected_enriched(str(root), month).iter_rows(named=True)}


def test_the_benchmark_in_effect_is_the_latest_not_after_the_fact_month(tmp_path):
    rows = dict(
        fact_rate=[fact("jul", year_month="2025-07"), fact("aug"), fact("jan", year_month="2025-01")],
        bench_medicare_comprehensive=[
            bench("professional", "2024-01", medicare_prof_stateavg=5.0),
            bench("professional", "2025-01", medicare_prof_stateavg=10.0, medicare_prof_national=9.0),
            bench("professional", "2025-08", medicare_prof_stateavg=20.0, medicare_prof_national=19.0),
            bench("professional", "2026-01", medicare_prof_stateavg=30.0),
            bench("opps", "2025-08", medicare_opps_stateavg=99.0),
        ],
    )
    jul = enrich(tmp_path / "a", "2025-07", **rows)["jul"]
    assert (jul["benchmark_type"], jul["benchmark_year_month"], jul["medicare_state_rate"]) == ("professional", "2025-01", 10.0)
    assert jul["medicare_national_rate"] == 9.0 and jul["rate_to_medicare_ratio"] == 10.0 and jul["is_above_medicare"]
    aug = enrich(tmp_path / "b", "2025-08", **rows)["aug"]
    assert (aug["benchmark_year_month"], aug["medicare_state_rate"], aug["medicare_national_rate"]) == ("2025-08", 20.0, 19.0)
    jan = enrich(tmp_path / "c", "2025-01", **rows)["jan"]
    assert jan["benchmark_year_month"] == "2025-01" and jan["medicare_state_rate"] == 10.0


def test_benchmark_type_follows_billing_class_and_ignores_code_type_labels(tmp_path):
    got = enrich(
        tmp_path,
        fact_rate=[
            fact("prof", code_type="HCPCS"),  # fact says HCPCS, the professional row says CPT
            fact("inst", billing_class="institutional"),  # the opps row says HCPCS
            fact("rc", code_type="RC", billing_class="institutional"),
            fact("other", billing_class="ambulatory"),
            fact("empty", billing_class=""),
            fact("tx", state="TX"),
            fact("other_code", code="99214"),
        ],
        bench_medicare_comprehensive=[
            bench("professional", "2025-01", medicare_prof_national=1.0, medicare_prof_stateavg=2.0,
                  work_rvu=0.5, conversion_factor=32.0, opps_weight=math.nan),
            bench("opps", "2025-01", medicare_opps_national=3.0, medicare_opps_stateavg=4.0,
                  opps_weight=1.5, opps_si="J1", work_rvu=math.nan),
            bench("asc", "2025-01", medicare_asc_national=5.0, medicare_asc_stateavg=6.0, asc_pi="A2"),
        ],
    )
    prof, inst = got["prof"], got["inst"]
    assert (prof["benchmark_type"], prof["medicare_national_rate"], prof["medicare_state_rate"]) == ("professional", 1.0, 2.0)
    assert (prof["work_rvu"], prof["conversion_factor"], prof["opps_weight"], prof["opps_si"]) == (0.5, 32.0, None, None)
    assert (inst["benchmark_type"], inst["medicare_national_rate"], inst["medicare_state_rate"]) == ("opps", 3.0, 4.0)
    assert (inst["opps_weight"], inst["opps_si"], inst["work_rvu"]) == (1.5, "J1", None)
    # the ASC alternative: institutional facts only
    assert (inst["medicare_asc_national_rate"], inst["medicare_asc_state_rate"], inst["asc_pi"]) == (5.0, 6.0, "A2")
    assert (prof["medicare_asc_national_rate"], prof["medicare_asc_state_rate"], prof["asc_pi"]) == (None, None, None)
    for uid in ("rc", "other", "empty", "tx", "other_code"):
        row = got[uid]
        assert row["benchmark_type"] is None and row["medicare_state_rate"] is None, uid
        assert row["medicare_asc_state_rate"] is None and row["asc_pi"] is None, uid
        assert row["rate_to_medicare_ratio"] is None and row["is_above_medicare"] is None, uid


def test_asc_alternative_without_an_opps_row_and_zero_benchmarks(tmp_path):
    got = enrich(
        tmp_path,
        fact_rate=[fact("inst", billing_class="institutional"), fact("prof", negotiated_rate=0.0),
                   fact("prof_null", code="X", negotiated_rate=None)],
        bench_medicare_comprehensive=[
            bench("asc", "2025-01", medicare_asc_national=0.0, medicare_asc_stateavg=0.0, asc_pi="G2"),
            bench("professional", "2025-01", medicare_prof_national=0.0, medicare_prof_stateavg=0.0, total_rvu=0.0),
            bench("professional", "2025-01", code="X", medicare_prof_stateavg=math.nan),
        ],
    )
    inst, prof, prof_null = got["inst"], got["prof"], got["prof_null"]
    assert inst["benchmark_type"] is None and inst["medicare_state_rate"] is None
    assert (inst["medicare_asc_state_rate"], inst["asc_pi"]) == (0.0, "G2")
    assert (prof["medicare_state_rate"], prof["total_rvu"], prof["rate_to_medicare_ratio"]) == (0.0, 0.0, None)
    assert prof["is_above_medicare"] is False  # 0.0 > 0.0
    # a NaN state average is a missing number: no rate, no ratio, no comparison
    assert prof_null["benchmark_type"] == "professional" and prof_null["medicare_state_rate"] is None
    assert prof_null["is_above_medicare"] is None


def test_primary_npi_skips_zero_and_primary_tin_is_the_smallest_value(tmp_path):
    got = enrich(
        tmp_path,
        fact_rate=[fact("tin_level", pg_uid="g0"), fact("mixed", pg_uid="g1"), fact("none", pg_uid="g2"),
                   fact("null_pg", pg_uid=None)],
        xref_pg_member_npi=[
            {"pg_uid": "g0", "npi": "0"},
            {"pg_uid": "g1", "npi": "0"}, {"pg_uid": "g1", "npi": NPI_C}, {"pg_uid": "g1", "npi": NPI_B},
        ],
        xref_pg_member_tin=[
            {"pg_uid": "g0", "tin_type": "ein", "tin_value": "555"},
            # tin_value is a String: "1000000001" < "123456789" < "987654321"
            {"pg_uid": "g1", "tin_type": "ein", "tin_value": "987654321"},
            {"pg_uid": "g1", "tin_type": "ein", "tin_value": "123456789"},
            {"pg_uid": "g1", "tin_type": "npi", "tin_value": "1000000001"},
        ],
    )
    t, m, n, null_pg = got["tin_level"], got["mixed"], got["none"], got["null_pg"]
    assert (t["npi"], t["provider_group_npi_count"], t["tin_type"], t["tin_value"], t["provider_group_tin_count"]) == (None, 0, "ein", "555", 1)
    assert (m["npi"], m["provider_group_npi_count"], m["tin_type"], m["tin_value"], m["provider_group_tin_count"]) == (NPI_B, 2, "npi", "1000000001", 3)
    for row in (n, null_pg):
        assert (row["npi"], row["provider_group_npi_count"], row["tin_value"], row["provider_group_tin_count"]) == (None, 0, None, 0)


def test_provider_address_and_geolocation_choice(tmp_path):
    got = enrich(
        tmp_path,
        fact_rate=[fact("a", pg_uid="ga"), fact("b", pg_uid="gb"), fact("c", pg_uid="gc")],
        xref_pg_member_npi=[{"pg_uid": "ga", "npi": NPI_A}, {"pg_uid": "gb", "npi": NPI_B}, {"pg_uid": "gc", "npi": NPI_C}],
        dim_npi=[
            {"npi": NPI_A, "enumeration_type": "NPI-1", "sole_proprietor": "YES", "primary_taxonomy_code": "207Q"},
            {"npi": NPI_B, "enumeration_type": "NPI-2", "sole_proprietor": "NO"},
            {"npi": NPI_C},  # placeholder
        ],
        dim_npi_address=[
            {"npi": NPI_A, "address_purpose": "MAILING", "address_hash": "0", "state": "AL"},
            {"npi": NPI_A, "address_purpose": "LOCATION", "address_hash": "b", "state": "TN"},
            {"npi": NPI_A, "address_purpose": "LOCATION", "address_hash": "a", "state": "GA", "city": "Decatur"},
            {"npi": NPI_B, "address_purpose": "MAILING", "address_hash": "m2", "state": "TX"},
            {"npi": NPI_B, "address_purpose": "MAILING", "address_hash": "m1", "state": "OK"},
        ],
        dim_npi_address_geolocation=[
            {"npi": NPI_A, "address_hash": "b", "stat_area_name": "wrong", "latitude": 1.0, "longitude": 1.0},
            {"npi": NPI_A, "address_hash": "a", "stat_area_name": "Atlanta CSA", "county_name": None,
             "latitude": 33.5, "longitude": math.nan},
            {"npi": NPI_B, "address_hash": "m2", "stat_area_name": "wrong too"},
        ],
    )
    a, b, c = got["a"], got["b"], got["c"]
    assert (a["address_purpose"], a["address_hash"], a["address_state"], a["city"]) == ("LOCATION", "a", "GA", "Decatur")
    assert (a["stat_area_name"], a["county_name"], a["county_fips"], a["matched_address"]) == ("Atlanta CSA", "Unknown", "00000", "Not Geocoded")
    assert (a["latitude"], a["longitude"]) == (33.5, None)  # NaN in a dimension is a missing number
    assert (a["is_individual_provider"], a["is_sole_proprietor"], a["provider_type"], a["primary_taxonomy_code"]) == (True, True, "Individual", "207Q")
    assert (b["address_purpose"], b["address_hash"], b["address_state"]) == ("MAILING", "m1", "OK")
    assert (b["stat_area_name"], b["stat_area_code"], b["latitude"]) == ("Unknown", "00000", None)
    assert (b["is_individual_provider"], b["is_sole_proprietor"], b["provider_type"]) == (False, False, "Organization")
    assert (c["npi"], c["enumeration_type"], c["is_individual_provider"], c["provider_type"], c["address_hash"]) == (NPI_C, None, None, None, None)


def test_every_fact_row_of_the_month_once_dangling_keys_kept_empty_month_left_out(tmp_path):
    got = enrich(
        tmp_path,
        types={"dim_code_cat": {"proc_set": pa.large_string()},
               "dim_provider_group": {"provider_group_id_raw": pa.int32()}},
        fact_rate=[fact("x", payer_slug="gone", code="nowhere", pos_set_id="none"), fact("y", pos_set_id="empty"),
                   fact("z", pos_set_id="junk", code_type=None), fact("nomonth", year_month="")],
        dim_payer=[{"payer_slug": "p", "reporting_entity_name": "Payer, Inc.", "reporting_entity_type": "x"}],
        dim_code=[{"code_type": "CPT", "code": "99213", "code_description": "visit"}],
        dim_code_cat=[{"proc_cd": "99213", "proc_set": "E&M", "proc_class": "Office/ outpatient services", "proc_group": "G"}],
        dim_provider_group=[{"pg_uid": "g", "payer_slug": "p", "provider_group_id_raw": 7}],
        dim_pos_set=[{"pos_set_id": "empty", "pos_members": []}, {"pos_set_id": "junk", "pos_members": ["l", "n", "u"]}],
    )
    assert sorted(got) == ["x", "y", "z"]
    x, y, z = got["x"], got["y"], got["z"]
    assert (x["reporting_entity_name"], x["code_description"], x["procedure_set"], x["pos_members"]) == (None, None, None, None)
    assert (x["provider_group_id_raw"], x["year"], x["month"]) == (7, 2025, 8)
    assert (y["reporting_entity_name"], y["code_description"], y["pos_members"]) == ("Payer, Inc.", "visit", [])
    assert (y["procedure_set"], y["procedure_class"], y["procedure_group"]) == ("E&M", "Office/ outpatient services", "G")
    # dim_code joins on (code_type, code); dim_code_cat on the code alone
    assert (z["code_description"], z["procedure_set"], z["pos_members"]) == (None, "E&M", ["l", "n", "u"])


def test_the_columns_and_dtypes_are_the_contracts(tmp_path):
    root = write_rows(tmp_path / "etl1", {"fact_rate": [fact("x")]})
    df = expected_enriched(str(root), "2025-08")
    schema = df.schema
    for c in ("provider_group_tin_count", "provider_group_npi_count", "provider_group_id_raw"):
        assert schema[c] == pl.Int64, c
    assert schema["year"] == schema["month"] == pl.Int32
    assert schema["pos_members"] == pl.List(pl.String)
    for c in ("medicare_asc_national_rate", "medicare_asc_state_rate", "medicare_state_rate", "latitude"):
        assert schema[c] == pl.Float64, c
    for c in ("benchmark_year_month", "tin_type", "tin_value", "asc_pi", "opps_si", "address_state"):
        assert schema[c] == pl.String, c
    assert not {"proc_set", "proc_cd", "medicare_prof_stateavg", "year_month_benchmark"} & set(df.columns)


def test_as_read_from_hive_turns_empty_partition_values_into_nulls():
    df = pl.DataFrame({"payer_slug": ["", "a", None], "stat_area_name": ["", "b", "c"],
                       "primary_taxonomy_code": ["", "t", None], "code": ["", "x", "y"]})
    out = as_read_from_hive(df)
    assert out["payer_slug"].to_list() == [None, "a", None]
    assert out["stat_area_name"].to_list() == [None, "b", "c"]
    assert out["primary_taxonomy_code"].to_list() == ["", "t", None]  # stored in the files
    assert out["code"].to_list() == ["", "x", "y"]


@pytest.mark.parametrize("month", ["2025-8", "", "2025-13"])
def test_a_malformed_month_is_refused(tmp_path, month):
    root = write_rows(tmp_path / "etl1", {"fact_rate": [fact("x")]})
    with pytest.raises(ValueError):
        expected_enriched(str(root), month)


def test_every_lossless_storage_reads_the_same(tmp_path):
    """Dictionary, large and view strings, Int32, Float32 (NaN included), the Null type
    and extra columns of any type: the same enriched rows as plain storage."""
    rows = dict(
        fact_rate=[fact("a", pg_uid="g"), fact("b", billing_class="institutional", state="TX")],
        dim_provider_group=[{"pg_uid": "g", "payer_slug": "p", "provider_group_id_raw": 5}],
        xref_pg_member_npi=[{"pg_uid": "g", "npi": NPI_A}],
        dim_npi=[{"npi": NPI_A, "enumeration_type": "NPI-1", "credential": None}],
        dim_npi_address=[{"npi": NPI_A, "address_purpose": "LOCATION", "address_hash": "h"}],
        dim_npi_address_geolocation=[{"npi": NPI_A, "address_hash": "h", "latitude": math.nan, "longitude": 2.5}],
        bench_medicare_comprehensive=[
            bench("professional", "2025-01", medicare_prof_stateavg=50.0, conversion_factor=math.nan),
            bench("opps", "2025-01", state="TX", medicare_opps_stateavg=0.5, work_rvu=math.nan),
        ],
    )
    plain = expected_enriched(str(write_rows(tmp_path / "plain", rows)), "2025-08")
    extra = {"created": datetime(2025, 1, 1), "flag": True, "nothing": None}
    varied_rows = {**rows, "fact_rate": [{**r, **extra} for r in rows["fact_rate"]]}
    dictionary = pa.dictionary(pa.int32(), pa.string())
    types = {
        "fact_rate": {"state": dictionary, "fact_uid": pa.large_string(), "code": pa.string_view(),
                      "created": pa.timestamp("us", tz="UTC"), "nothing": pa.null()},
        "dim_provider_group": {"provider_group_id_raw": pa.int32()},
        "dim_npi": {"credential": pa.null()},
        "dim_npi_address_geolocation": {"latitude": pa.float32(), "longitude": pa.float32()},
        "bench_medicare_comprehensive": {"conversion_factor": pa.float32(), "work_rvu": pa.float32()},
    }
    varied = expected_enriched(str(write_rows(tmp_path / "varied", varied_rows, types)), "2025-08")
    assert_same_rows(varied, plain)
    a = plain.filter(pl.col("fact_uid") == "a").row(0, named=True)
    assert (a["latitude"], a["longitude"], a["conversion_factor"], a["provider_group_id_raw"]) == (None, 2.5, None, 5)
