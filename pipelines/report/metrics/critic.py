"""Critic scores and findings: the score distribution, per-expert means, findings by code, and the
revision, finish-reason and validation-warning counts of the accepted rows."""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from pipelines.report.metrics.dataset import Dataset
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
