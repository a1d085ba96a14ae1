"""Measure a critic on items labelled by a reader with a verdict (accept / reject) and the kinds
of failure they show (tests/fixtures/critic_eval/: a development half that thresholds may be
tuned on, and a held-back half that they never are).

Item: {id, attrs (narratives) or speakers (dialogues), prompted, text, verdict, failures: [{kind,
attribute?, evidence?}], why}. A broken item is a positive: precision = broken among the
rejected, recall = rejected among the broken; accuracy = items whose verdict matches. Per failure
kind: the share of the items showing it that were rejected. Per finding code: how often it fired
on broken items (tp) and on acceptable ones (fp).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml


def load_set(path: str | Path) -> list[dict[str, Any]]:
    return load_set_settings(path)[1]


def load_set_settings(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A verdict-labelled set's `critic` block (the settings of the build its texts came from,
    over the defaults; empty when it has none) and its items."""
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    items = doc["items"] if isinstance(doc, dict) else doc
    settings = dict(doc.get("critic") or {}) if isinstance(doc, dict) else {}
    for item in items:
        if item.get("verdict") not in ("accept", "reject"):
            raise ValueError(f"{path}: item {item.get('id')!r}: verdict must be accept or reject")
    return settings, items


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def score_verdicts(items: Iterable[dict[str, Any]], judge_item: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    tp = fp = fn = tn = 0
    kinds: dict[str, Counter] = {}
    codes: dict[str, Counter] = {}
    false_rejects, false_accepts = [], []
    for item in items:
        verdict = judge_item(item)
        broken = item["verdict"] == "reject"
        rejected = not verdict.passed
        tp += broken and rejected
        fp += (not broken) and rejected
        fn += broken and not rejected
        tn += (not broken) and not rejected
        if rejected and not broken:
            reasons = sorted({f.code for f in verdict.findings if f.severity == "error"})
            false_rejects.append(f"{item['id']} ({', '.join(reasons) or 'score'})")
        if broken and not rejected:
            false_accepts.append(f"{item['id']} ({', '.join(sorted({f['kind'] for f in item['failures']}))})")
        for kind in {f["kind"] for f in item.get("failures") or ()}:
            kinds.setdefault(kind, Counter())["items"] += 1
            kinds[kind]["rejected"] += rejected
        for code in {f.code for f in verdict.findings if f.severity == "error"}:
            codes.setdefault(code, Counter())["tp" if broken else "fp"] += 1
    n = tp + fp + fn + tn
    return {
        "items": n,
        "broken": tp + fn,
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "accuracy": _ratio(tp + tn, n),
        "kinds": {k: {**c, "recall": _ratio(c["rejected"], c["items"])} for k, c in sorted(kinds.items())},
        "codes": {k: dict(c) for k, c in sorted(codes.items())},
        "false_rejects": false_rejects,
        "false_accepts": false_accepts,
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_verdicts(name: str, r: dict[str, Any]) -> str:
    lines = [
        f"== {name}: {r['items']} items, {r['broken']} broken: precision {_fmt(r['precision'])}, "
        f"recall {_fmt(r['recall'])}, accept/reject accuracy {_fmt(r['accuracy'])}",
        f"{'failure kind':<22}{'items':>6}{'rejected':>10}{'recall':>8}",
    ]
    for kind, c in r["kinds"].items():
        lines.append(f"{kind:<22}{c['items']:>6}{c['rejected']:>10}{_fmt(c['recall']):>8}")
    lines.append(f"{'finding code':<26}{'on broken':>10}{'on clean':>10}")
    for code, c in r["codes"].items():
        lines.append(f"{code:<26}{c.get('tp', 0):>10}{c.get('fp', 0):>10}")
    lines.append(f"false rejects: {', '.join(r['false_rejects']) or 'none'}")
    lines.append(f"false accepts: {', '.join(r['false_accepts']) or 'none'}")
    return "\n".join(lines)
