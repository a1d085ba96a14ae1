"""Counts and acceptance by stage: planned / accepted / rejected cross-checked with the manifest,
rejections by stage, reason and rule, and the acceptance funnel."""

from __future__ import annotations

from typing import Any

from pipelines.report.metrics.dataset import Dataset
from pipelines.report.metrics.stats import count_dict, rounded

STAGE_ORDER = ("generate", "critique", "validate", "deduplicate")


def counts_metrics(ds: Dataset) -> dict[str, Any]:
    """Counts from the manifest cross-checked with the shards, rejections by stage / reason / rule and
    the acceptance funnel: for each stage in pipeline order, how many records entered it, how many
    it rejected and its pass rate."""
    m_counts = ds.manifest.get("counts") or {}
    accepted = ds.personas.height
    rej = ds.rejected
    rejected = 0 if rej is None else rej.height
    topped_up = int(m_counts.get("topped_up") or 0)  # quota top-up replacements
    planned = int(m_counts.get("planned", accepted + rejected - topped_up))
    by_stage = count_dict(rej["stage"]) if rej is not None and "stage" in rej.columns else {}
    by_reason = count_dict(rej["reason"]) if rej is not None and "reason" in rej.columns else {}
    by_rule = count_dict(rej["rule"]) if rej is not None and "rule" in rej.columns else {}
    by_stage_reason = []
    if rej is not None and {"stage", "reason"} <= set(rej.columns):
        grouped = rej.group_by("stage", "reason").len().sort("len", "stage", "reason", descending=[True, False, False])
        by_stage_reason = [{"stage": s, "reason": r, "rows": int(n)} for s, r, n in grouped.iter_rows()]
    stages = list(STAGE_ORDER) + sorted(s for s in by_stage if s not in STAGE_ORDER)
    funnel, entering = [], planned + topped_up
    for stage in stages:
        dropped = by_stage.get(stage, 0)
        passed = entering - dropped
        funnel.append(
            {
                "stage": stage,
                "entered": entering,
                "rejected": dropped,
                "passed": passed,
                "pass_rate": rounded(passed / entering) if entering else None,
            }
        )
        entering = passed
    mismatches = []
    for key, ours in (("accepted", accepted), ("rejected", rejected)):
        if key in m_counts and int(m_counts[key]) != ours:
            mismatches.append(f"manifest says {key}={m_counts[key]}, the shards hold {ours}")
    iterations = ((ds.manifest.get("generation") or {}).get("iterations")) or []
    return {
        "planned": planned,
        "topped_up": topped_up,
        "accepted": accepted,
        "rejected": rejected,
        "unfinished": planned + topped_up - accepted - rejected,
        "acceptance_rate": rounded(accepted / planned) if planned else None,
        "manifest": {
            k: m_counts.get(k) for k in ("planned", "topped_up", "accepted", "rejected", "unfinished", "balanced")
        },
        "consistent_with_manifest": not mismatches,
        "mismatches": mismatches,
        "rejected_by_stage": by_stage,
        "rejected_by_reason": by_reason,
        "rejected_by_rule": by_rule,
        "rejected_by_stage_and_reason": by_stage_reason,
        "funnel": funnel,
        "generation_iterations": iterations,
    }
