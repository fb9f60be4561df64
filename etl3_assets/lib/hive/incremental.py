"""Rewrite only what changed: content digests of the warehouse's files, and the committed
files a rebuild may keep.

A file's digest is computed from its rows, before encoding, so that an unchanged file
costs neither an encode nor a write: every row of a bucket is hashed twice (polars'
``hash_rows`` with two seeds, each row's every column, nulls included) and a file's digest is the BLAKE2b of its rows'
hashes in file order, salted with the file columns' schema and the polars version (the
row hash is polars' own, stable for one version, not promised across versions: another
version, or a changed schema, gives other digests, so the month is rewritten once).

A committed file is kept when its key and digest are the new file's (same partition, same
split, same rows): ``MonthManifest.begin`` (manifest.py) says which committed files can
be trusted, and its docstring why the month stays exact whatever crashes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import polars as pl

from etl3_assets.lib.hive.layout import PARTITION_DIR_COLUMN, key_partition_dir

ROW_HASH_SEEDS = (0x6574_6C33, 0x6469_6765)
DIGEST_BYTES = 16
LISTING_SCHEMA = {"key": pl.String, "rows": pl.Int64, "bytes": pl.Int64, "digest": pl.String, "kept": pl.Boolean}


def _salt(schema: pl.Schema) -> bytes:
    columns = ",".join(f"{name}:{dtype}" for name, dtype in schema.items())
    return f"etl3-file-digest-v1|polars {pl.__version__}|{columns}".encode()


def file_digests(rows: pl.DataFrame, order: pl.Series | None, lengths: list[int]) -> list[str]:
    """The digest of each file cutting ``rows`` (taken in ``order``) into consecutive
    ranges of ``lengths`` rows."""
    # DataFrame.hash_rows: a quarter of the time of a struct's hash, without its copy
    hashes = pl.DataFrame({f"h{i}": rows.hash_rows(seed) for i, seed in enumerate(ROW_HASH_SEEDS)})
    if order is not None:
        hashes = hashes[order]
    matrix = np.ascontiguousarray(hashes.to_numpy(), dtype=np.uint64)
    base = hashlib.blake2b(_salt(rows.schema), digest_size=DIGEST_BYTES)
    digests, offset = [], 0
    for n in lengths:
        h = base.copy()
        h.update(matrix[offset : offset + n].tobytes())
        digests.append(h.hexdigest())
        offset += n
    return digests


def trusted_path(bucket_file: Path) -> Path:
    """Where a bucket's share of the trusted committed files is put for its worker."""
    return bucket_file.with_name(f"{bucket_file.stem}.trusted.parquet")


def split_trusted(trusted: pl.DataFrame, bucket_files: list[Path], bucket_of: pl.Expr) -> None:
    """Hand each bucket the trusted committed files of its partitions (``bucket_of`` is
    the spill's bucket of a partition folder), so a worker reads only its own."""
    if trusted.height == 0:
        return
    by_index = {int(p.stem.rsplit("-", 1)[-1]): p for p in bucket_files}
    frame = trusted.with_columns(key_partition_dir(pl.col("key")).alias(PARTITION_DIR_COLUMN)).with_columns(bucket_of.alias("_bucket"))
    for (bucket,), part in frame.group_by("_bucket"):
        if bucket in by_index:  # a bucket the month no longer fills has nothing to keep
            part.drop(PARTITION_DIR_COLUMN, "_bucket").write_parquet(trusted_path(by_index[bucket]), compression="lz4")


def kept_files(planned: pl.DataFrame, bucket_file: Path) -> pl.DataFrame:
    """The planned files (key, rows, digest) whose committed file may be kept as it is:
    key, rows, bytes and digest as committed."""
    path = trusted_path(bucket_file)
    if not path.exists():
        return pl.DataFrame(schema={k: LISTING_SCHEMA[k] for k in ("key", "rows", "bytes", "digest")})
    trusted = pl.read_parquet(path)
    return trusted.join(planned.select("key", "rows", "digest"), on=["key", "rows", "digest"], how="semi").select(
        "key", "rows", "bytes", "digest"
    )


def positions_of(lengths: list[int], chosen: list[int]) -> np.ndarray:
    """Row positions (in file order) of the files numbered ``chosen``."""
    bounds = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=bounds[1:])
    if not chosen:
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([np.arange(bounds[i], bounds[i + 1]) for i in chosen])
