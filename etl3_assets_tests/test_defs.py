"""A snapshot of the code location: what the UI, the sensor and the CLI rely on by name.
A change here is a change users see (the README's asset table says the same)."""

import dagster as dg

from etl3_assets.definitions import defs

ETL1_TABLES = [
    "bench_medicare_comprehensive", "dim_code", "dim_code_cat", "dim_npi", "dim_npi_address",
    "dim_npi_address_geolocation", "dim_payer", "dim_pos_set", "dim_provider_group", "fact_rate",
    "xref_pg_member_npi", "xref_pg_member_tin",
]


def test_assets_and_their_groups():
    graph = defs.resolve_asset_graph()
    groups = {k.to_user_string(): graph.get(k).group_name for k in graph.get_all_asset_keys()}
    assert groups == {
        **dict.fromkeys(ETL1_TABLES, "etl1"),
        "staged_enriched_month": "warehouse",
        "fact_rate_enriched": "warehouse",
        "fact_rate_enriched_iceberg": "warehouse",
        "fact_rate_enriched_glue_partitions": "catalog",
    }
    monthly = {k.to_user_string() for k in graph.get_all_asset_keys() if graph.get(k).partitions_def}
    assert monthly == {
        "staged_enriched_month", "fact_rate_enriched", "fact_rate_enriched_iceberg", "fact_rate_enriched_glue_partitions",
    }
    for output in ("fact_rate_enriched", "fact_rate_enriched_iceberg"):
        assert graph.get(dg.AssetKey(output)).parent_keys == {dg.AssetKey("staged_enriched_month")}


def test_checks_and_which_block():
    graph = defs.resolve_asset_graph()
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert checks == {
        ("staged_enriched_month", "etl1_schema"),
        ("staged_enriched_month", "etl1_keys_unique"),
        *(("fact_rate_enriched", name) for name in (
            "month_schema", "fact_uid_unique", "required_fields", "rate_range", "state_code", "coordinates",
        )),
        ("fact_rate_enriched_iceberg", "month_equals_staged"),
    }


def test_jobs_sensors_and_resources():
    assert {j.name for j in defs.resolve_all_job_defs()} == {
        "__ASSET_JOB", "warehouse_month_job", "validate_month", "dry_run_month",
    }
    assert {s.name for s in defs.sensors} == {"etl1_sensor", "report_failed_month"}
    assert set(defs.resources) == {"s3", "etl1", "warehouse", "staging_io_manager", "iceberg", "glue"}
