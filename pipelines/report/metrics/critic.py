"""Critic scores and findings: the score distribution, per-expert means, findings by code, and the
revision, finish-reason and validation-warning counts of the accepted rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from pipelines.report.metrics.dataset import Dataset, flatten_attributes
from pipelines.report.metrics.stats import count_dict, quantiles, rounded


def critic_metrics(ds: Dataset, bins: int = 10) -> dict[str, Any]:
    """Critic score histogram on [0, 1], mean and quantiles, per-expert means, findings by code on
    the accepted rows, and the manifest's findings by code over every candidate."""
    df = ds.personas
    out: dict[str, Any] = {
        "findings_by_code_all_candidates": ((ds.manifest.get("generation") or {}).get("findings_by_code")) or {}
    }
    if "critic" not in df.columns:
        return {**out, "available": False}
    critic = df.select(pl.col("critic").struct.unnest())
    scores = critic["score"].drop_nulls().cast(pl.Float64)
    counts, edges = np.histogram(scores.to_numpy(), bins=bins, range=(0.0, 1.0))
    out.update(
        {
            "available": True,
            "rows": len(scores),
            "mean": rounded(scores.mean()) if len(scores) else None,
            "std": rounded(scores.std()) if len(scores) > 1 else None,
            "min": rounded(scores.min()) if len(scores) else None,
            "max": rounded(scores.max()) if len(scores) else None,
            "quantiles": quantiles(scores),
            "histogram": {"edges": [rounded(e) for e in edges], "counts": [int(c) for c in counts]},
            "passed": int(critic["passed"].sum()) if "passed" in critic.columns else None,
        }
    )
    if "experts" in critic.columns:
        experts = critic.select(pl.col("experts").explode()).drop_nulls().unnest("experts")
        if experts.height:
            grouped = experts.group_by("expert").agg(pl.col("score").mean().alias("mean"), pl.len().alias("rows"))
            out["experts"] = {
                e: {"mean": rounded(m), "rows": int(n)}
                for e, m, n in grouped.sort("expert").select("expert", "mean", "rows").iter_rows()
            }
    if "findings" in critic.columns:
        findings = (
            df.select(pl.col("persona_id"), pl.col("critic").struct.field("findings").alias("f"))
            .explode("f")
            .drop_nulls("f")
            .unnest("f")
        )
        rows = []
        if findings.height:
            grouped = (
                findings.group_by("code", "severity")
                .agg(pl.len().alias("occurrences"), pl.col("persona_id").n_unique().alias("personas"))
                .sort(["occurrences", "code"], descending=[True, False])
            )
            rows = [
                {"code": c, "severity": s, "occurrences": int(o), "personas": int(p)}
                for c, s, o, p in grouped.select("code", "severity", "occurrences", "personas").iter_rows()
            ]
        out["findings_accepted"] = rows
    if "generation" in df.columns:
        gen = df.select(pl.col("generation").struct.unnest())
        if "revision_count" in gen.columns:
            out["revision_count"] = {str(k): v for k, v in sorted(count_dict(gen["revision_count"]).items())}
        if "finish_reason" in gen.columns:
            out["finish_reason"] = count_dict(gen["finish_reason"])
    if "validation" in df.columns:
        warnings = df.select(pl.col("validation").struct.field("warnings").explode().alias("w")).drop_nulls("w")
        out["validation_warnings"] = count_dict(warnings.unnest("w")["rule_id"]) if warnings.height else {}
    return out


def attribute_claims(ds: Dataset, prompted: tuple[str, ...]) -> dict[str, Any]:
    """Per attribute: how often the accepted narratives convey it when the prompt gave it (the
    claims expert's fact_not_conveyed findings), and how often any candidate contradicted it
    (the manifest's findings by attribute over every candidate scored)."""
    gen = ds.manifest.get("generation") or {}
    scored = gen.get("candidates_scored") or 0
    contradicted = gen.get("findings_by_attribute") or {}
    df = ds.personas
    missing: dict[str, int] = {}
    if "critic" in df.columns:
        findings = (
            df.select(pl.col("critic").struct.field("findings").alias("f")).explode("f").drop_nulls("f").unnest("f")
        )
        if findings.height:
            gaps = findings.filter(pl.col("code") == "fact_not_conveyed").group_by("attribute").len()
            missing = {a: int(n) for a, n in gaps.iter_rows()}
    flat = flatten_attributes(df) if df.height else None
    rows = []
    for path in dict.fromkeys([*prompted, *contradicted]):
        present = None
        if flat is not None and path in flat.columns:
            col = flat[path]
            present = int(col.is_not_null().sum()) if col.dtype != pl.List else int((col.list.len() > 0).sum())
        errors = sum((contradicted.get(path) or {}).values())
        rows.append(
            {
                "attribute": path,
                "prompted": path in prompted,
                "personas": present,
                "coverage": rounded(1 - missing.get(path, 0) / present) if path in prompted and present else None,
                "contradictions": errors,
                "contradiction_rate": rounded(errors / scored) if scored else None,
            }
        )
    return {"candidates_scored": scored, "attributes": rows}
