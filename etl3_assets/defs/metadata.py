"""Engine results (plain Python values) as Dagster metadata."""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from etl3_assets.lib.quality.metrics import Markdown


def as_metadata(values: Mapping[str, object]) -> dict[str, object]:
    """Dicts and lists as JSON, ``Markdown`` as markdown, everything else as it is."""

    def one(value: object) -> object:
        if isinstance(value, Markdown):
            return dg.MetadataValue.md(str(value))
        if isinstance(value, (dict, list)):
            return dg.MetadataValue.json(value)
        return value

    return {key: one(value) for key, value in values.items()}
