"""Deep-profile counts of written persona rows (per shard, summed by the manifest): personas,
dimensions selected and filled, both by top-level category, and missing values by reason."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any


def summarize(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    personas = selected = filled = 0
    by_category: dict[str, Counter] = {}
    missing: Counter = Counter()
    for row in rows:
        values = row.get("deep_profile") or []
        gaps = row.get("deep_profile_missing") or []
        personas += 1
        filled += len(values)
        selected += len(values) + len(gaps)
        for v in values:
            by_category.setdefault(v["category"], Counter())["filled"] += 1
            by_category[v["category"]]["selected"] += 1
        for g in gaps:
            missing[g["reason"]] += 1
            by_category.setdefault(g["category"], Counter())["selected"] += 1
    return {
        "personas": personas,
        "selected": selected,
        "filled": filled,
        "by_category": {c: {"selected": n["selected"], "filled": n["filled"]} for c, n in sorted(by_category.items())},
        "missing_by_reason": dict(sorted(missing.items())),
    }


def combine(summaries: Iterable[dict[str, Any]]) -> dict[str, Any] | None:
    """The run's summary from the shards' summaries (None when no shard has one)."""
    total: dict[str, Any] | None = None
    for s in summaries:
        if total is None:
            total = {
                "personas": 0,
                "selected": 0,
                "filled": 0,
                "by_category": {},
                "missing_by_reason": Counter(),
            }
        for key in ("personas", "selected", "filled"):
            total[key] += s[key]
        for c, n in s["by_category"].items():
            into = total["by_category"].setdefault(c, Counter())
            into.update(n)
        total["missing_by_reason"].update(s["missing_by_reason"])
    if total is None:
        return None
    n = max(total["personas"], 1)
    return {
        **{k: total[k] for k in ("personas", "selected", "filled")},
        "mean_selected": round(total["selected"] / n, 2),
        "mean_filled": round(total["filled"] / n, 2),
        "filled_share": round(total["filled"] / total["selected"], 4) if total["selected"] else None,
        "categories": sum(1 for n in total["by_category"].values() if n["filled"]),
        "by_category": {
            c: {"selected": n["selected"], "filled": n["filled"], "filled_share": round(n["filled"] / n["selected"], 4)}
            for c, n in sorted(total["by_category"].items())
        },
        "missing_by_reason": dict(sorted(total["missing_by_reason"].items())),
    }
