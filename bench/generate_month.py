"""A realistic ETL1 month of N fact rows for the benchmark (not the test sample data).

Cardinalities follow issue 4: 12 payers, 3 states, 1,500 codes with a Zipf-like
popularity, 20,000 provider groups, 120,000 NPIs, 60 taxonomies, 40 market areas, two
billing classes. With the contract's partition keys a 2M-row month falls into roughly
200,000 partitions of about ten rows. Values carry the characters the Hive layout must
escape (``/``, ``,``, spaces) as real data does. Fact rows are written in slices, so a
20M-row month is generated without holding it.

The tables are laid out as the real ETL1 writes them (CONTRACT section 1): extra columns,
NaN for missing reference numbers, 1-3 TINs per group in xref_pg_member_tin, npi `0` rows,
placeholder dim_npi rows, the three Medicare benchmarks stacked with two effective months,
and fact rows with an empty year_month beside the month's rows.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from etl3_assets.lib.contract import BENCHMARK_RATE_COLUMNS, FACT_RATE, TIN_LEVEL_NPI
from etl3_assets.devtools.etl1_files import as_etl1_writes, conform_to_contract, write_etl1_table

PAYERS = [f"payer-{i:02d}" for i in range(12)]
STATES = ["GA", "TX", "NY"]
BILLING_CLASSES = ["professional", "institutional"]
CODE_TYPES = ["CPT", "HCPCS"]
N_CODES = 1_500
N_GROUPS = 20_000
N_NPIS = 120_000
TAXONOMIES = [f"{207 + i // 10}{'RQ'[i % 2]}{i:05d}X" for i in range(60)]
MARKET_AREAS = (
    ["Atlanta--Athens-Clarke County--Sandy Springs, GA-AL CSA"]
    + [f"Market Area {i}/Metro, S{i % 7}" for i in range(38)]
    + [None]
)
PROCEDURE_SETS = ["Evaluation and Management", "Procedures", "Imaging", "Tests", "Other"]
PROCEDURE_CLASSES_PER_SET = 3
CODE_ZIPF_EXPONENT = 1.1
SLICE_ROWS = 1_000_000
# Benchmarks take effect in January; about a third of the cells are revised in July.
BENCH_EFFECTIVE = ("2025-01", "2025-07")
TIN_LEVEL_GROUP_EVERY = 10  # every 10th group also has npi `0` (a TIN-level contract)
PLACEHOLDER_NPI_ROWS = 1_000
ROWS_WITHOUT_MONTH_SHARE = 0.005  # fact rows with an empty year_month, beside the month's


class Draws:
    """Seeded pseudo-random draws as polars Series (hash of a counter), so the generator
    needs nothing beyond polars."""

    def __init__(self, seed: int):
        self.seed = seed
        self.calls = 0

    def uniform(self, n: int, low: float = 0.0, high: float = 1.0) -> pl.Series:
        self.calls += 1
        bits = pl.int_range(n, eager=True, dtype=pl.UInt64).hash(self.seed * 1_000_003 + self.calls)
        return (bits // (1 << 11)).cast(pl.Float64) / float(1 << 53) * (high - low) + low

    def integers(self, low: int, high: int, n: int) -> pl.Series:
        return (self.uniform(n) * (high - low)).floor().cast(pl.Int64) + low

    def choice(self, k: int, n: int, weights: list[float]) -> pl.Series:
        cdf = pl.Series(weights).cum_sum()
        return cdf.search_sorted(self.uniform(n) * cdf[-1], side="right").clip(0, k - 1).cast(pl.Int64)


def zipf_weights(n: int, exponent: float) -> list[float]:
    return [1.0 / (i ** exponent) for i in range(1, n + 1)]


def payer_slugs(n: int) -> list[str]:
    """The month's payers (``--payers``; 12 by default, issue 4's count)."""
    return [f"payer-{i:02d}" for i in range(n)]


def bench_frame(rng: Draws, codes: list[str]) -> pl.DataFrame:
    """The three benchmarks stacked: per state, code and benchmark type a row effective in
    January and, for about a third, a revision effective in July; 0.0 rates occur."""
    cells = pl.DataFrame(
        {
            "state": [s for s in STATES for _ in codes],
            "code": codes * len(STATES),
        }
    )
    frames = []
    for benchmark_type, label in (("professional", "CPT"), ("opps", "HCPCS"), ("asc", "CPT")):
        for k, year_month in enumerate(BENCH_EFFECTIVE):
            part = cells if k == 0 else cells.filter(rng.uniform(cells.height) < 0.33)
            n = part.height
            national, state = BENCHMARK_RATE_COLUMNS[benchmark_type]
            rate = rng.uniform(n, 10, 900)
            columns = {
                "year_month": pl.repeat(year_month, n, eager=True),
                "code_type": pl.repeat(label, n, eager=True),
                "benchmark_type": pl.repeat(benchmark_type, n, eager=True),
                national: rate,
                state: (rate * rng.uniform(n, 0.85, 1.2)).round(2) * (rng.uniform(n) > 0.02),
            }
            if benchmark_type == "professional":
                work = rng.uniform(n, 0, 20).round(2)
                columns |= {"work_rvu": work, "total_rvu": work, "conversion_factor": pl.repeat(32.3465, n, eager=True)}
            elif benchmark_type == "opps":
                columns |= {"opps_weight": rng.uniform(n, 0.1, 30), "opps_si": pl.repeat("J1", n, eager=True)}
            else:
                columns |= {"asc_pi": pl.repeat("A2", n, eager=True)}
            frames.append(part.with_columns(**columns))
    return pl.concat(frames, how="diagonal")


def dimension_frames(rng: Draws, payers: list[str] = PAYERS) -> dict[str, pl.DataFrame]:
    PAYERS = payers  # noqa: N806 - the month's payers, where the module's default was
    codes = [f"{10000 + i}" for i in range(N_CODES)]
    npis = [f"{1000000000 + 7 * i}" for i in range(N_NPIS)]
    pg_uids = [f"pg{i:06d}" for i in range(N_GROUPS)]
    code_set = rng.integers(0, len(PROCEDURE_SETS), N_CODES).to_list()
    code_class = rng.integers(0, PROCEDURE_CLASSES_PER_SET, N_CODES).to_list()
    npi_taxonomy = rng.choice(len(TAXONOMIES), N_NPIS, zipf_weights(len(TAXONOMIES), 1.8)).to_list()
    npi_area = rng.choice(len(MARKET_AREAS), N_NPIS, zipf_weights(len(MARKET_AREAS), 1.5)).to_list()
    members = rng.integers(1, 8, N_GROUPS).to_list()
    xref_pg = [g for g, m in enumerate(members) for _ in range(m)]
    xref_npi = rng.integers(0, N_NPIS, len(xref_pg)).to_list()
    tins = rng.integers(1, 4, N_GROUPS).to_list()
    tin_pg = [g for g, m in enumerate(tins) for _ in range(m)]
    tin_level = pg_uids[::TIN_LEVEL_GROUP_EVERY]
    address_hash = [f"h{i:08x}" for i in range(N_NPIS)]
    return {
        "dim_payer": pl.DataFrame(
            {"payer_slug": PAYERS, "reporting_entity_name": [f"{p.title()} Health, Inc." for p in PAYERS]}
        ),
        "dim_code": pl.DataFrame(
            {
                "code_type": [CODE_TYPES[i % 2] for i in range(N_CODES)],
                "code": codes,
                "code_description": [f"Procedure {c}, with description" for c in codes],
                "code_name": [f"proc {c}" for c in codes],
            }
        ),
        "dim_code_cat": pl.DataFrame(
            {
                "proc_cd": codes,
                "proc_set": [PROCEDURE_SETS[s] for s in code_set],
                "proc_class": [
                    "Office/ outpatient services" if k == 0 else f"{PROCEDURE_SETS[s]}/class {k}"
                    for s, k in zip(code_set, code_class)
                ],
                "proc_group": [f"group {i % 97}" for i in range(N_CODES)],
            }
        ),
        "dim_provider_group": pl.DataFrame(
            {
                "pg_uid": pg_uids,
                "payer_slug": [PAYERS[i % len(PAYERS)] for i in range(N_GROUPS)],
                "provider_group_id_raw": list(range(N_GROUPS)),
            }
        ),
        "xref_pg_member_tin": pl.DataFrame(
            {
                "pg_uid": [pg_uids[g] for g in tin_pg],
                "tin_type": ["npi" if k % 5 == 4 else "ein" for k in range(len(tin_pg))],
                "tin_value": [f"{(7919 * k) % 10**9:09d}" for k in range(len(tin_pg))],
            }
        ).unique(["pg_uid", "tin_value"]),
        "dim_pos_set": pl.DataFrame(
            {
                "pos_set_id": [f"pos{i}" for i in range(20)],
                "pos_members": [[] if i == 0 else ["l", "n", "u"] if i == 1 else [f"{i:02d}", "11"] for i in range(20)],
            }
        ),
        "xref_pg_member_npi": pl.DataFrame(
            {
                "pg_uid": [pg_uids[g] for g in xref_pg] + tin_level,
                "npi": [npis[n] for n in xref_npi] + [TIN_LEVEL_NPI] * len(tin_level),
            }
        ).unique(),
        "dim_npi": pl.concat(
            [
                pl.DataFrame(
                    {
                        "npi": npis,
                        "first_name": [f"First{i % 500}" for i in range(N_NPIS)],
                        "last_name": [f"Last{i % 3000}" for i in range(N_NPIS)],
                        "enumeration_type": ["NPI-1" if i % 4 else "NPI-2" for i in range(N_NPIS)],
                        "status": ["A"] * N_NPIS,
                        "primary_taxonomy_code": [TAXONOMIES[t] for t in npi_taxonomy],
                        "primary_taxonomy_desc": [f"Taxonomy {t}" for t in npi_taxonomy],
                        "primary_taxonomy_state": [STATES[i % 3] for i in range(N_NPIS)],
                        "sole_proprietor": [("YES", "NO", None)[i % 3] for i in range(N_NPIS)],
                        "enumeration_date": ["2010-01-01"] * N_NPIS,
                        "last_updated": ["2024-06-01"] * N_NPIS,
                    }
                ),
                # placeholders of NPIs not fetched from NPPES yet: every column null
                pl.DataFrame({"npi": [None] * PLACEHOLDER_NPI_ROWS}, schema={"npi": pl.String}),
            ],
            how="diagonal",
        ),
        "dim_npi_address": pl.DataFrame(
            {
                "npi": npis,
                "address_purpose": ["LOCATION"] * N_NPIS,
                "address_1": [f"{i % 9000} Main St" for i in range(N_NPIS)],
                "city": [f"City {i % 400}" for i in range(N_NPIS)],
                "state": [STATES[i % 3] for i in range(N_NPIS)],
                "postal_code": [f"{30000 + i % 9000:05d}" for i in range(N_NPIS)],
                "country_code": ["US"] * N_NPIS,
                "address_hash": address_hash,
            }
        ),
        "dim_npi_address_geolocation": pl.DataFrame(
            {
                "npi": npis,
                "address_hash": address_hash,
                "matched_address": [f"{i % 9000} MAIN ST" for i in range(N_NPIS)],
                "county_name": [f"County {a}" for a in npi_area],
                "county_fips": [f"{13000 + a:05d}" for a in npi_area],
                "stat_area_name": [MARKET_AREAS[a] for a in npi_area],
                "stat_area_code": [f"{12000 + a:05d}" for a in npi_area],
                "latitude": rng.uniform(N_NPIS, 25, 45),
                "longitude": rng.uniform(N_NPIS, -100, -75),
            }
        ),
        "bench_medicare_comprehensive": bench_frame(rng, codes),
    }


def fact_slice(rng: Draws, year_month: str, start: int, n: int, payers: list[str] = PAYERS) -> pl.DataFrame:
    PAYERS = payers  # noqa: N806 - the month's payers, where the module's default was
    code = rng.choice(N_CODES, n, zipf_weights(N_CODES, CODE_ZIPF_EXPONENT))
    group = rng.integers(0, N_GROUPS, n)
    frame = pl.DataFrame(
        {
            "fact_uid": pl.int_range(start, start + n, eager=True).cast(pl.String),
            "state": pl.Series(STATES).gather(rng.integers(0, len(STATES), n)),
            "payer_slug": pl.Series(PAYERS).gather(group % len(PAYERS)),
            "billing_class": pl.Series(BILLING_CLASSES).gather(rng.integers(0, 2, n)),
            "code": code + 10000,
            "pg_uid": group,
            "pos_set_id": rng.integers(0, 20, n),
            "negotiated_rate": rng.uniform(n, 5, 2000).round(2) * (rng.uniform(n) > 0.001),
        }
    )
    return frame.with_columns(
        pl.lit(year_month).alias("year_month"),
        pl.Series(CODE_TYPES).gather(code % 2).alias("code_type"),
        pl.col("code").cast(pl.String),
        pl.format("pg{}", pl.col("pg_uid").cast(pl.String).str.zfill(6)).alias("pg_uid"),
        pl.format("pos{}", pl.col("pos_set_id")).alias("pos_set_id"),
        pl.lit("negotiated").alias("negotiated_type"),
        pl.lit("ffs").alias("negotiation_arrangement"),
        pl.lit("9999-12-31").alias("expiration_date"),
    )


def generate_month(
    root: str | Path, rows: int, year_month: str = "2025-08", seed: int = 4, payers: int = len(PAYERS)
) -> Path:
    """Write the ETL1 star schema for one month of ``rows`` fact rows of ``payers`` payers
    under ``root`` (and, beside them, fact rows with an empty year_month, as the real ETL1
    writes)."""
    rng = Draws(seed)
    slugs = payer_slugs(payers)
    for name, frame in dimension_frames(rng, slugs).items():
        write_etl1_table(root, name, frame)
    path = Path(root) / FACT_RATE.relative_path
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = None
    slices = [(year_month, start, min(SLICE_ROWS, rows - start)) for start in range(0, rows, SLICE_ROWS)]
    slices.append(("", rows, int(rows * ROWS_WITHOUT_MONTH_SHARE)))
    for month, start, n in slices:
        facts = conform_to_contract(FACT_RATE, fact_slice(rng, month, start, n, slugs))
        table = as_etl1_writes(FACT_RATE, facts).to_arrow()
        writer = writer or pq.ParquetWriter(path, table.schema, compression="zstd")
        writer.write_table(table)
    if writer:
        writer.close()
    return Path(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root")
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--month", default="2025-08")
    parser.add_argument("--payers", type=int, default=len(PAYERS))
    args = parser.parse_args()
    generate_month(args.root, args.rows, args.month, payers=args.payers)


if __name__ == "__main__":
    main()
