"""Evaluating the pandera schemas of ``quality_schemas`` on data larger than memory.

pandera validates a polars LazyFrame schema-only (columns, dtypes), which costs nothing;
its data checks need an eager frame. So a month is validated in three steps:

1. *schema*: pandera on the LazyFrame, schema-only;
2. *rows*: the columns that carry a rule are streamed in chunks (``collect_batches``), and
   pandera validates each chunk eagerly; failures are counted per rule, with the first
   few failing rows kept as examples;
3. *keys*: uniqueness cannot be judged per chunk, so it is a streaming group-by on the
   key, split into passes by a hash of the key so that one pass's keys fit the budget.

Findings name the table (or month), the column and an offending value.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pandera.polars as pa
import polars as pl
from pandera.config import ValidationDepth, config_context
from pandera.errors import SchemaErrorReason, SchemaErrors

from etl3_assets.lib.contract import DIM_NPI, ETL1_TABLES, FACT_RATE, PARTITION_KEYS
from etl3_assets.lib.hive.reader import scan_files
from etl3_assets.lib.hive.layout import (
    PARTITION_DIR_COLUMN,
    as_read_back,
    in_partitions,
    key_partition_dir,
    overlong_keys,
    partition_dir_expr,
)
from etl3_assets.lib.quality.schemas import (
    ENRICHED_FACT_SCHEMA,
    ENRICHED_VALUE_RULES,
    ETL1_KEYS_CHECK,
    ETL1_SCHEMA_CHECK,
    ETL1_SCHEMAS,
    FACT_UID_UNIQUE_CHECK,
    FACT_YEAR_MONTH_RULE,
    REQUIRED_FIELDS,
    REQUIRED_FIELDS_CHECK,
    WAREHOUSE_SCHEMA_CHECK,
    Rule,
    etl1_rules,
)

if TYPE_CHECKING:
    from etl3_assets.lib.etl1.source import Etl1Source
    from etl3_assets.lib.storage import WarehouseStorage

NOT_NULLABLE = "not_nullable"
# Bytes a distinct key costs in a streaming group-by (a 20-byte string key, measured with
# headroom); sets how many keys one uniqueness pass may hold.
BYTES_PER_DISTINCT_KEY = 150
# Bytes a fact row costs in the streaming join that finds a month's partition values
# (2.8 GB for a 20M-row month in one pass, bench/measured/); sets its passes.
BYTES_PER_ROW_IN_PARTITION_SCAN = 150
_ROWS = "_rows"
# Metadata of the input check: fact rows with an empty year_month (in no month, never written).
FACT_ROWS_WITHOUT_MONTH = "fact_rows_without_month"


@dataclass(frozen=True)
class QualitySettings:
    chunk_rows: int = 250_000
    memory_limit_mb: int = 1024
    max_examples: int = 5
    keys_per_pass: int | None = None  # default: what half the memory budget holds
    partition_scan_passes_override: int | None = None  # default: what a quarter of the budget holds

    def key_passes(self, rows: int) -> int:
        per_pass = self.keys_per_pass or max(
            100_000, self.memory_limit_mb * 1024 * 1024 // 2 // BYTES_PER_DISTINCT_KEY
        )
        return max(1, math.ceil(rows / per_pass))

    def partition_scan_passes(self, rows: int) -> int:
        """Passes of the partition-value scan so that one fills at most a quarter of the
        budget: the scan runs in the step process, beside the Dagster CLI's and the
        memory the step's earlier checks leave to the allocator."""
        if self.partition_scan_passes_override:
            return self.partition_scan_passes_override
        return max(1, math.ceil(rows * BYTES_PER_ROW_IN_PARTITION_SCAN / (self.memory_limit_mb * 1024 * 1024 // 4)))


@dataclass
class Finding:
    """One broken rule on one column of one table (or month)."""

    subject: str  # "ETL1 table dim_code" / "warehouse month 2025-08"
    column: str | None
    problem: str
    failing_rows: int = 0
    rows: int = 0
    examples: list[dict] = field(default_factory=list)
    not_evaluated: bool = False  # the rule could not be judged because another check failed

    @property
    def message(self) -> str:
        where = f"{self.subject}, column {self.column}" if self.column else self.subject
        return f"{where}: {self.problem}"


@dataclass
class CheckOutcome:
    """What one Dagster asset check found: every finding of its rules, over ``rows`` rows."""

    check: str
    rows: int = 0
    findings: list[Finding] = field(default_factory=list)
    distinct_failing_rows: int | None = None  # when known: a row failing two rules counts once
    ignored_columns: dict[str, list[str]] = field(default_factory=dict)  # table -> stored, not in the contract
    fact_rows_without_month: int | None = None  # fact rows whose year_month is empty: never written

    @property
    def passed(self) -> bool:
        return not self.findings

    @property
    def failing_rows(self) -> int:
        if self.distinct_failing_rows is not None:
            return self.distinct_failing_rows
        return sum(f.failing_rows for f in self.findings)

    @property
    def failing_share(self) -> float:
        return self.failing_rows / self.rows if self.rows else 0.0

    @property
    def examples(self) -> list[dict]:
        """The findings' example rows, each once."""
        unique = {repr(e): e for f in self.findings for e in f.examples}
        return list(unique.values())

    def summary(self) -> str:
        if self.passed:
            return f"{self.check}: passed ({self.rows} rows)"
        more = f" (+{len(self.findings) - 1} more findings)" if len(self.findings) > 1 else ""
        return self.findings[0].message + more


# --- 1. schema ---


def schema_findings(lf: pl.LazyFrame, schema: pa.DataFrameSchema, subject: str) -> list[Finding]:
    """Missing columns and wrong dtypes, from pandera's schema-only validation of ``lf``."""
    try:
        with config_context(validation_depth=ValidationDepth.SCHEMA_ONLY):
            schema.validate(lf, lazy=True)
        return []
    except SchemaErrors as errors:
        found = lf.collect_schema()
        findings = []
        for error in errors.schema_errors:
            if error.reason_code == SchemaErrorReason.COLUMN_NOT_IN_DATAFRAME:
                column = _missing_column(error, schema, found)
                problem = f"column is missing (found columns: {', '.join(found)})"
            elif error.reason_code == SchemaErrorReason.WRONG_DATATYPE:
                column = error.column_name
                problem = f"expected dtype {schema.columns[column].dtype}, found {found[column]}{_example(lf, column)}"
            else:
                column, problem = getattr(error, "column_name", None), str(error).splitlines()[0]
            findings.append(Finding(subject, column, problem))
        return findings


def _example(lf: pl.LazyFrame, column: str) -> str:
    """`` (e.g. value …)`` from the column, or nothing when it cannot be read (files of a
    scan that disagree on the column's dtype)."""
    try:
        return f" (e.g. value {lf.select(pl.col(column).drop_nulls().first()).collect().item()!r})"
    except (pl.exceptions.PolarsError, OSError):
        return ""


def _missing_column(error, schema: pa.DataFrameSchema, found: pl.Schema) -> str | None:
    missing = [c for c in schema.columns if c not in found]
    text = str(error)
    return next((c for c in missing if f"'{c}'" in text), missing[0] if missing else None)


# --- 2. rows ---


@dataclass
class _Tally:
    failing_rows: int = 0
    first_value: object = None
    examples: list[dict] = field(default_factory=list)


@dataclass
class RowFindings:
    """Findings per check, and per check the rows failing any of its rules (counted once)."""

    findings: dict[str, list[Finding]] = field(default_factory=dict)
    failing_rows: dict[str, int] = field(default_factory=dict)

    def of(self, check: str) -> list[Finding]:
        return self.findings.get(check, [])


def rule_findings(
    lf: pl.LazyFrame,
    schema: pa.DataFrameSchema,
    subject: str,
    *,
    rules: Iterable[Rule],
    non_null: Iterable[str] = (),
    example_columns: Iterable[str] = (),
    weight_column: str | None = None,
    settings: QualitySettings = QualitySettings(),
) -> RowFindings:
    """Stream ``lf`` through pandera chunk by chunk; findings keyed by the rule's check.

    Null values in ``non_null`` columns are returned under the key ``NOT_NULLABLE``: the
    caller knows which check they belong to. With ``weight_column``, each row of ``lf``
    stands for that many rows (value counts).
    """
    rules = {r.column: r for r in rules}
    non_null = tuple(non_null)
    check_of = {r.column: r.check for r in rules.values()}
    checked = list(dict.fromkeys([*non_null, *rules]))
    shown = list(dict.fromkeys([*example_columns, *checked]))
    data_schema = schema.select_columns(checked)
    data_schema.unique = None
    tallies: dict[tuple[str, str], _Tally] = {}
    report = RowFindings()
    rows = 0
    columns = [*shown, weight_column] if weight_column else shown
    with config_context(validation_depth=ValidationDepth.SCHEMA_AND_DATA):
        for chunk in lf.select(columns).collect_batches(chunk_size=settings.chunk_rows):
            weights = chunk[weight_column] if weight_column else None
            rows += int(weights.sum()) if weights is not None else chunk.height
            try:
                data_schema.validate(chunk.select(checked), lazy=True)
            except SchemaErrors as errors:
                cases = _cases(errors.failure_cases, check_of)
                _tally(cases, chunk.select(shown), weights, tallies, settings)
                per_check = cases.group_by("check_name").agg(pl.col("index").unique())
                for check, indices in zip(per_check["check_name"], per_check["index"]):
                    report.failing_rows[check] = report.failing_rows.get(check, 0) + _count(indices, weights)
    for (column, kind), tally in tallies.items():
        if kind == NOT_NULLABLE:
            check = NOT_NULLABLE
            problem = f"null in {tally.failing_rows} of {rows} rows (the column is required)"
        else:
            check = rules[column].check
            problem = (
                f"value {tally.first_value!r} is not {rules[column].meaning}"
                f" ({tally.failing_rows} of {rows} rows fail)"
            )
        report.findings.setdefault(check, []).append(
            Finding(subject, column, problem, tally.failing_rows, rows, tally.examples)
        )
    return report


def _cases(failure_cases: pl.DataFrame, check_of: dict[str, str]) -> pl.DataFrame:
    """pandera's failure cases of one chunk, each with its kind and the check it counts for."""
    unexpected = failure_cases.filter(pl.col("index").is_null())
    if unexpected.height:
        raise RuntimeError(f"schema-level failure in a data pass: {unexpected.row(0, named=True)}")
    null = pl.col("check") == NOT_NULLABLE
    return failure_cases.with_columns(
        kind=pl.when(null).then(pl.lit(NOT_NULLABLE)).otherwise(pl.lit("rule")),
        check_name=pl.when(null)
        .then(pl.lit(NOT_NULLABLE))
        .otherwise(pl.col("column").replace_strict(check_of, default=None)),
    )


def _count(indices: pl.Series, weights: pl.Series | None) -> int:
    return int(weights.gather(indices).sum()) if weights is not None else indices.len()


def _tally(
    cases: pl.DataFrame,
    chunk: pl.DataFrame,
    weights: pl.Series | None,
    tallies: dict[tuple[str, str], _Tally],
    settings: QualitySettings,
) -> None:
    for (column, kind), group in cases.group_by("column", "kind", maintain_order=True):
        rows = group["index"].unique().sort()
        tally = tallies.setdefault((column, kind), _Tally())
        tally.failing_rows += _count(rows, weights)
        if tally.first_value is None and kind != NOT_NULLABLE:
            tally.first_value = chunk[column][int(rows[0])]
        room = settings.max_examples - len(tally.examples)
        if room > 0:
            tally.examples += chunk[rows.head(room)].to_dicts()


# --- 3. keys ---


def duplicate_key_finding(
    lf: pl.LazyFrame,
    key: list[str],
    subject: str,
    *,
    rows: int,
    settings: QualitySettings = QualitySettings(),
) -> Finding | None:
    """Keys that occur more than once (nulls excluded: nullability is a separate rule)."""
    passes = settings.key_passes(rows)
    keys = lf.select(key).drop_nulls()
    duplicated = []
    for i in range(passes):
        part = keys if passes == 1 else keys.filter(pl.struct(key).hash(7) % passes == i)
        duplicated.append(
            part.group_by(key)
            .agg(pl.len().alias(_ROWS))
            .filter(pl.col(_ROWS) > 1)
            .collect(engine="streaming")
        )
    dupes = pl.concat(duplicated).sort(_ROWS, *key, descending=[True] + [False] * len(key))
    if dupes.is_empty():
        return None
    first = dupes.row(0, named=True)
    value = tuple(first[c] for c in key) if len(key) > 1 else first[key[0]]
    problem = (
        f"duplicated key {value!r} appears {first[_ROWS]} times ({dupes.height} duplicated"
        f" keys, {int(dupes[_ROWS].sum())} rows in all; the key must be unique)"
    )
    examples = dupes.head(settings.max_examples).rename({_ROWS: "occurrences"}).to_dicts()
    return Finding(subject, ", ".join(key), problem, int(dupes[_ROWS].sum()), rows, examples)


# --- The two reports: ETL1 inputs of a month, and an enriched (warehouse) month. ---


# Where each partition key's value comes from in ETL1, so that a value that cannot be a
# folder is reported on the table and column a user can fix.
PARTITION_VALUE_ORIGIN = {
    "payer_slug": ("fact_rate", "payer_slug"),
    "state": ("fact_rate", "state"),
    "billing_class": ("fact_rate", "billing_class"),
    "procedure_set": ("dim_code_cat", "proc_set"),
    "procedure_class": ("dim_code_cat", "proc_class"),
    "taxonomy": ("dim_npi", "primary_taxonomy_code"),
    "stat_area_name": ("dim_npi_address_geolocation", "stat_area_name"),
}


def partition_key_findings(
    source: Etl1Source, year_month: str, key_prefix: str = "", settings: QualitySettings = QualitySettings()
) -> list[Finding]:
    """The month's partition values whose folder, or whose whole object key, cannot exist.

    Computed on the month's enriched partition values (a streaming distinct over the
    join, partition columns only), so only values that reach this month count. Runs
    before anything is staged or written. The join holds about
    ``BYTES_PER_ROW_IN_PARTITION_SCAN`` per fact row, so a month is taken in passes by a
    hash of ``pg_uid`` (each group's rows in one pass) that fit a quarter of the budget.
    """
    from etl3_assets.lib.enrich import Lookups, enrich_facts

    columns = [column for _, column in PARTITION_KEYS]
    facts = source.scan(FACT_RATE).filter(pl.col("year_month") == year_month)
    rows = facts.select(pl.len()).collect(engine="streaming").item()
    passes = settings.partition_scan_passes(rows)
    lookups = Lookups.scan(source, year_month)
    combos = []
    for i in range(passes):
        part = facts if passes == 1 else facts.filter(pl.col("pg_uid").hash(11) % passes == i)
        combos.append(enrich_facts(part, lookups).select(columns).unique().collect(engine="streaming"))
    dirs = pl.concat(combos).unique().select(partition_dir_expr())[PARTITION_DIR_COLUMN]
    findings = []
    for overlong in overlong_keys(dirs, key_prefix):
        table, column = PARTITION_VALUE_ORIGIN.get(overlong.key, ("fact_rate", overlong.key))
        findings.append(Finding(f"ETL1 table {table}", column, overlong.problem))
    return findings


def check_etl1_inputs(
    source: Etl1Source,
    year_month: str,
    settings: QualitySettings = QualitySettings(),
    warehouse_key_prefix: str = "",
) -> dict[str, CheckOutcome]:
    """The blocking input checks of one month: ``etl1_schema`` and ``etl1_keys_unique``.

    Tables are read by meaning (``Etl1Source.reading``): a lossless storage variant
    passes, columns the contract does not name are listed in ``ignored_columns``. A table
    that is missing or unreadable fails both checks: its keys cannot be judged.
    """
    schema_check, keys_check = CheckOutcome(ETL1_SCHEMA_CHECK), CheckOutcome(ETL1_KEYS_CHECK)
    readable, missing = [], []
    for table in ETL1_TABLES:
        subject = f"ETL1 table {table.name}"
        if not source.exists(table):
            missing.append(table)
            problem = f"table is missing: expected {source.path(table)}"
            schema_check.findings.append(Finding(subject, None, problem))
            keys_check.findings.append(
                Finding(subject, ", ".join(table.key), "not evaluated: the table is missing", not_evaluated=True)
            )
            continue
        reading = source.reading(table)
        findings = [Finding(subject, p.column, p.problem) for p in reading.problems]
        if not findings:
            findings = schema_findings(source.scan(table), ETL1_SCHEMAS[table.name], subject)
        if reading.ignored:
            schema_check.ignored_columns[table.name] = list(reading.ignored)
        schema_check.findings += findings
        if findings:
            keys_check.findings.append(
                Finding(
                    subject, ", ".join(table.key),
                    f"not evaluated: the table cannot be read ({findings[0].problem})", not_evaluated=True,
                )
            )
        else:
            readable.append(table)
    if len(missing) == len(ETL1_TABLES):
        # nothing at all: the root is wrong, rather than every table missing; say that first
        problem = (
            f"none of the {len(ETL1_TABLES)} ETL1 tables is there (expected e.g. "
            f"{source.path(FACT_RATE)}): is the ETL1 root (ETL1_ROOT) right?"
        )
        for outcome in (schema_check, keys_check):
            outcome.findings.insert(0, Finding(f"ETL1 root {source.storage.root_uri}", None, problem))

    for table in readable:
        subject = f"ETL1 table {table.name}"
        lf = source.scan(table)
        rules = list(etl1_rules(table))
        if table is FACT_RATE:
            month_values = lf.group_by("year_month").agg(pl.len().alias(_ROWS)).collect(engine="streaming")
            found = rule_findings(
                month_values.lazy(), ETL1_SCHEMAS[table.name], subject,
                rules=[FACT_YEAR_MONTH_RULE], weight_column=_ROWS, settings=settings,
            )
            schema_check.findings += found.of(ETL1_SCHEMA_CHECK)
            without_month = month_values.filter(pl.col("year_month").is_null() | (pl.col("year_month") == ""))
            schema_check.fact_rows_without_month = int(without_month[_ROWS].sum())
            rules.remove(FACT_YEAR_MONTH_RULE)
            lf = lf.filter(pl.col("year_month") == year_month)
        if table is DIM_NPI:
            # placeholder rows of NPIs not fetched yet: every contract column null (CONTRACT section 1)
            lf = lf.filter(pl.any_horizontal(pl.all().is_not_null()))
        rows = lf.select(pl.len()).collect(engine="streaming").item()
        schema_check.rows += rows
        keys_check.rows += rows
        found = rule_findings(
            lf, ETL1_SCHEMAS[table.name], subject,
            rules=rules, non_null=table.key, example_columns=table.key, settings=settings,
        )
        schema_check.findings += found.of(ETL1_SCHEMA_CHECK)
        keys_check.findings += found.of(NOT_NULLABLE)
        duplicated = duplicate_key_finding(lf, list(table.key), subject, rows=rows, settings=settings)
        if duplicated:
            keys_check.findings.append(duplicated)
    if len(readable) == len(ETL1_TABLES) and not schema_check.findings:
        schema_check.findings += partition_key_findings(source, year_month, warehouse_key_prefix, settings)
    return {c.check: c for c in (schema_check, keys_check)}


MONTH_CHECKS = (
    WAREHOUSE_SCHEMA_CHECK,
    REQUIRED_FIELDS_CHECK,
    *dict.fromkeys(r.check for r in ENRICHED_VALUE_RULES),
    FACT_UID_UNIQUE_CHECK,
)
EXAMPLE_COLUMNS = ("fact_uid", "payer_slug", "state", "code_type", "code")


def check_enriched_month(
    lf: pl.LazyFrame, year_month: str, settings: QualitySettings = QualitySettings()
) -> dict[str, CheckOutcome]:
    """The checks of an enriched month (as written to the warehouse), one outcome per check."""
    subject = f"warehouse month {year_month}"
    outcomes = {c: CheckOutcome(c) for c in MONTH_CHECKS}
    broken = schema_findings(lf, ENRICHED_FACT_SCHEMA, subject)
    rows = 0 if broken else lf.select(pl.len()).collect(engine="streaming").item()
    if broken or rows == 0:
        outcomes[WAREHOUSE_SCHEMA_CHECK].findings = broken or [
            Finding(subject, None, "the warehouse has no rows for this month (not materialized?)")
        ]
        reason = outcomes[WAREHOUSE_SCHEMA_CHECK].findings[0].problem
        for check in MONTH_CHECKS[1:]:
            outcomes[check].findings.append(Finding(subject, None, f"not evaluated: {reason}"))
        return outcomes
    for outcome in outcomes.values():
        outcome.rows = rows
    found = rule_findings(
        lf, ENRICHED_FACT_SCHEMA, subject,
        rules=ENRICHED_VALUE_RULES, non_null=REQUIRED_FIELDS, example_columns=EXAMPLE_COLUMNS,
        settings=settings,
    )
    for check, findings in found.findings.items():
        outcome = outcomes[REQUIRED_FIELDS_CHECK if check == NOT_NULLABLE else check]
        outcome.findings = findings
        outcome.distinct_failing_rows = found.failing_rows[check]
    duplicated = duplicate_key_finding(lf, ["fact_uid"], subject, rows=rows, settings=settings)
    if duplicated:
        outcomes[FACT_UID_UNIQUE_CHECK].findings.append(duplicated)
    return outcomes


READ_BACK_SAMPLE_PARTITIONS = 64
"""Partitions of a just-written month read back whole by its checks (evenly spread over
the manifest); the rest of the month is checked through its manifest and its rows."""


def check_written_month(
    month_rows: pl.LazyFrame,
    manifest: pl.DataFrame,
    storage: WarehouseStorage,
    year_month: str,
    settings: QualitySettings = QualitySettings(),
    sample_partitions: int = READ_BACK_SAMPLE_PARTITIONS,
) -> dict[str, CheckOutcome]:
    """The checks of a month a run has just written from ``month_rows``, without reading
    every file back (a real month is hundreds of thousands of files).

    The value rules and uniqueness are judged on the rows the write consumed; the month's
    schema check adds what only the warehouse can show: the committed manifest (key, rows,
    bytes per file) counts exactly those rows, and a sample of whole partitions exists with
    the manifest's sizes and, read back through the Hive reader, has the contract's columns
    and dtypes and exactly the rows of those partitions.
    """
    outcomes = check_enriched_month(month_rows, year_month, settings)
    schema = outcomes[WAREHOUSE_SCHEMA_CHECK]
    if schema.passed:
        schema.findings += written_month_findings(
            month_rows, manifest, storage, f"warehouse month {year_month}", schema.rows, sample_partitions
        )
    return outcomes


def written_month_findings(
    month_rows: pl.LazyFrame,
    manifest: pl.DataFrame,
    storage: WarehouseStorage,
    subject: str,
    rows: int,
    sample_partitions: int,
) -> list[Finding]:
    listed = int(manifest["rows"].sum()) if manifest.height else 0
    if listed != rows:
        return [Finding(
            subject, None, f"the manifest lists {listed} rows in {manifest.height} files, the month written has {rows}",
            failing_rows=abs(listed - rows),
        )]
    files = manifest.with_columns(key_partition_dir(pl.col("key")).alias(PARTITION_DIR_COLUMN))
    folders = files[PARTITION_DIR_COLUMN].unique().sort()
    sampled = folders.gather_every(max(1, math.ceil(folders.len() / sample_partitions)))
    sample = files.filter(pl.col(PARTITION_DIR_COLUMN).is_in(sampled.implode()))
    where = f"{subject} (read back: {sample.height} files of {sampled.len()} partitions)"
    for key, size in sample.select("key", "bytes").iter_rows():
        stat = storage.stat(key)
        if stat is None or stat.size != size:
            found_as = "missing" if stat is None else f"{stat.size} bytes, the manifest says {size}"
            return [Finding(where, None, f"file {key!r} is {found_as}", failing_rows=1)]
    found = scan_files(storage, sample["key"].to_list())
    broken = schema_findings(found, ENRICHED_FACT_SCHEMA, where)
    if broken:
        return broken
    columns = list(ENRICHED_FACT_SCHEMA.columns)
    expected = (
        month_rows.filter(in_partitions(sampled))
        .with_columns(as_read_back())
        .select(columns)
        .collect(engine="streaming")
        .sort("fact_uid")
    )
    try:
        actual = found.select(columns).sort("fact_uid").collect()
    except (pl.exceptions.PolarsError, OSError) as error:  # e.g. one file's dtype differs from the others'
        return [Finding(where, None, f"reading the files back failed: {str(error).splitlines()[0]}")]
    if actual.equals(expected):
        return []
    missing = expected.join(actual, on="fact_uid", how="anti")
    extra = actual.join(expected, on="fact_uid", how="anti")
    if missing.height or extra.height:
        example = pl.concat([missing["fact_uid"], extra["fact_uid"]])[0]
        return [Finding(
            where, None,
            f"{actual.height} rows read back, {expected.height} written: {missing.height} written rows not"
            f" read back, {extra.height} read back not written (e.g. fact_uid {example!r})",
            failing_rows=max(missing.height, extra.height),
        )]
    for column in columns:
        differs = expected[column].ne_missing(actual[column])
        if differs.any():
            at = int(differs.arg_max())
            return [Finding(
                where, column,
                f"values differ from the rows written in {int(differs.sum())} rows, e.g. fact_uid"
                f" {expected['fact_uid'][at]!r}: written {expected[column][at]!r}, read back {actual[column][at]!r}",
                failing_rows=int(differs.sum()),
            )]
    return []
