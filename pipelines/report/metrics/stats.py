"""Small numeric helpers the metric groups share: rounding to plain JSON floats, value counts and
quantiles of a polars series."""

from __future__ import annotations

import math
from collections.abc import Sequence

import polars as pl


def rounded(x: float | None, digits: int = 4) -> float | None:
    if x is None:
        return None
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else round(x, digits)


def count_dict(series: pl.Series) -> dict[str, int]:
    counts = series.drop_nulls().value_counts(sort=True)
    name = series.name
    return {str(row[name]): int(row["count"]) for row in counts.iter_rows(named=True)}


def quantiles(values: pl.Series, qs: Sequence[float] = (0.05, 0.25, 0.5, 0.75, 0.95)) -> dict[str, float | None]:
    values = values.drop_nulls()
    if values.is_empty():
        return {f"p{round(q * 100):02d}": None for q in qs}
    return {f"p{round(q * 100):02d}": rounded(values.quantile(q, interpolation="linear")) for q in qs}
