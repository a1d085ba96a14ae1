"""Quotas: target vs achieved per quota cell, shares and the largest deviations."""

from __future__ import annotations

from typing import Any

from pipelines.report.metrics.dataset import Dataset
from pipelines.report.metrics.stats import count_dict, rounded


def quota_metrics(ds: Dataset) -> dict[str, Any]:
    """Target vs achieved per quota cell. `achieved` is counted from the shards (`quota_cell`),
    `deviation` = achieved - target; shares are of all planned / all accepted personas."""
    cells = ds.manifest.get("quotas") or []
    achieved = count_dict(ds.personas["quota_cell"]) if "quota_cell" in ds.personas.columns else {}
    total_target = sum(int(c.get("target", 0)) for c in cells)
    total_achieved = sum(achieved.values())
    rows = []
    for c in cells:
        cid = c.get("cell_id")
        target, got = int(c.get("target", 0)), achieved.get(cid, 0)
        target_share = target / total_target if total_target else 0.0
        achieved_share = got / total_achieved if total_achieved else 0.0
        rows.append(
            {
                "cell_id": cid,
                "values": c.get("values") or {},
                "target": target,
                "achieved": got,
                "manifest_achieved": c.get("achieved"),
                "deviation": got - target,
                "target_share": rounded(target_share),
                "achieved_share": rounded(achieved_share),
                "share_deviation": rounded(achieved_share - target_share),
                "lost": c.get("lost") or {},
                "top_up": c.get("top_up") or {},
                "short_because": c.get("short_because"),
            }
        )
    planned_ids = {c.get("cell_id") for c in cells}
    unplanned = {k: v for k, v in achieved.items() if k not in planned_ids}
    deviations = [abs(r["deviation"]) for r in rows]
    share_devs = [abs(r["share_deviation"] or 0.0) for r in rows]
    return {
        "stratify_by": ((ds.manifest.get("config") or {}).get("quotas") or {}).get("stratify_by") or [],
        "cells": rows,
        "n_cells": len(rows),
        "cells_met": sum(r["achieved"] >= r["target"] for r in rows),
        "total_target": total_target,
        "total_achieved": total_achieved,
        "total_shortfall": sum(max(0, -r["deviation"]) for r in rows),
        "max_abs_deviation": max(deviations, default=0),
        "max_abs_share_deviation": rounded(max(share_devs, default=0.0)),
        "total_variation_distance": rounded(0.5 * sum(share_devs)),
        "unplanned_cells": unplanned,
    }
