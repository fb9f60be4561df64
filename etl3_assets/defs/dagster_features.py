"""The Dagster features this project depends on although Dagster marks them beta or preview.

Dagster warns on every use of such a feature, once per call: every ``etl3`` command and
every ``dagster`` command that loads the definitions printed a screenful of the same
warnings, burying what the user asked for. The project has chosen these features
knowingly, so each use is wrapped in :func:`relying_on`, which ignores exactly that
warning (its category and the start of its message) for exactly that call. Any other
warning, and these ones raised anywhere else, still shows.

Relied on:

* ``multi_observable_source_asset`` (``BetaWarning``): the ETL1 tables as observed source
  assets, whose data version is the file's fingerprint (``defs/etl1/assets.py``); the
  multi form because only an ``AssetSpec`` carries owners and kinds.
* ``partitions_def`` on ``AssetCheckSpec`` (``PreviewWarning``): checks partitioned by
  month, so a run checks and records its own month only (``defs/warehouse/checks.py``).

When Dagster promotes a feature, the filter no longer matches anything: remove its use.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

MULTI_OBSERVABLE_SOURCE_ASSET = (dg.BetaWarning, "Function `multi_observable_source_asset` is currently in beta")
PARTITIONED_CHECK_SPEC = (dg.PreviewWarning, "Specifying a partitions_def on an AssetCheckSpec is currently in preview")


@contextmanager
def relying_on(feature: tuple[type[Warning], str]) -> Iterator[None]:
    """Ignore the one warning of ``feature`` (category, message start) inside the block."""
    category, message = feature
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=re.escape(message), category=category)
        yield
