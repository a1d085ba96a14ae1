"""Attribute coverage: per categorical attribute, the share of the taxonomy's values that occur in
the accepted personas; min / mean / max of the numeric ones."""

from __future__ import annotations

from typing import Any

import polars as pl

from pipelines.report.metrics.dataset import Dataset
from pipelines.report.metrics.stats import rounded


def _values(flat: pl.DataFrame, path: str) -> pl.Series:
    col = flat[path]
    if isinstance(col.dtype, pl.List):
        col = col.explode()
    return col.drop_nulls()


def coverage_metrics(ds: Dataset) -> dict[str, Any]:
    """Per categorical (and pick-k) attribute: the share of the taxonomy's possible values that occur
    in the accepted personas, with the missing and unexpected values. Without a taxonomy, distinct
    values only. Numeric attributes get min / mean / max."""
    flat, tax = ds.flat, ds.taxonomy
    categorical, numeric = [], []
    kinds: dict[str, str] = {}
    if tax is not None:
        kinds = {a.path: a.type for a in tax.attributes}
    for path in flat.columns:
        dtype = flat.schema[path]
        kind = kinds.get(path)
        if kind is None:  # not in the taxonomy (or no taxonomy): infer from the column type
            if dtype == pl.String or (isinstance(dtype, pl.List) and dtype.inner == pl.String):
                kind = "categorical" if dtype == pl.String else "multi"
            elif dtype.is_numeric():
                kind = "number"
            else:
                continue
        values = _values(flat, path)
        present = flat[path].drop_nulls()
        if isinstance(flat.schema[path], pl.List):
            present = present.filter(present.list.len() > 0)
        if kind in ("integer", "number"):
            numeric.append(
                {
                    "attribute": path,
                    "type": kind,
                    "present": present.len(),
                    "min": rounded(values.min()) if len(values) else None,
                    "mean": rounded(values.mean()) if len(values) else None,
                    "max": rounded(values.max()) if len(values) else None,
                }
            )
            continue
        observed = set(values.cast(pl.String).to_list())
        row: dict[str, Any] = {
            "attribute": path,
            "type": kind,
            "present": present.len(),
            "distinct": len(observed),
        }
        if kind == "name":
            row.update({"domain": None, "covered": None, "coverage": None})
        elif tax is not None and path in kinds:
            domain = list(tax.attribute(path).domain())
            covered = [v for v in domain if v in observed]
            row.update(
                {
                    "domain": len(domain),
                    "covered": len(covered),
                    "coverage": rounded(len(covered) / len(domain)) if domain else None,
                    "missing": [v for v in domain if v not in observed],
                    "unexpected": sorted(observed - set(domain)),
                }
            )
        else:
            row.update({"domain": None, "covered": None, "coverage": None})
        categorical.append(row)
    scored = [r["coverage"] for r in categorical if r.get("coverage") is not None]
    return {
        "taxonomy_loaded": tax is not None,
        "taxonomy_files": [str(n) for n in getattr(tax, "sources", ())] if tax is not None else [],
        "note": ds.taxonomy_note,
        "attributes": categorical,
        "numeric": numeric,
        "mean_coverage": rounded(sum(scored) / len(scored)) if scored else None,
        "min_coverage": rounded(min(scored)) if scored else None,
        "fully_covered": sum(1 for c in scored if c >= 1.0),
        "scored_attributes": len(scored),
    }
