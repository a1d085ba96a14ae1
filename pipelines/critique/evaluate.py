"""Measure the critic on a labelled set of narratives (tests/fixtures/broken_narratives.yaml).

Each item: {id, attrs, text (or text_rot13), expect: [codes], others: [[label, text], ...]}.
Per finding code: true/false positives, false negatives, precision and recall. Overall: whether
the critic accepts exactly the items that should pass (expect empty or only warning codes).

    python -m pipelines.critique.evaluate tests/fixtures/broken_narratives.yaml
"""

from __future__ import annotations

import argparse
import codecs
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from pipelines.critique.experts import WARNING_CODES, judge


def read_fixture(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A fixture file's top-level settings (empty for a bare list) and its items, each with
    `text_rot13` (used for items that quote a slur) decoded into `text`, `others` as
    (label, text) pairs and `expect` as a list."""
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    settings, items = (doc, doc["items"]) if isinstance(doc, dict) else ({}, doc)
    out = []
    for item in items:
        item = dict(item)
        if "text_rot13" in item:
            item["text"] = codecs.decode(item.pop("text_rot13"), "rot13")
        item["others"] = [(str(label), str(text)) for label, text in item.get("others") or ()]
        item["expect"] = list(item.get("expect") or ())
        out.append(item)
    return settings, out


def load_items(path: str | Path) -> list[dict[str, Any]]:
    """Read a narrative fixture: a list of items, or a mapping with an `items` list."""
    return read_fixture(path)[1]


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def evaluate(items: Iterable[dict[str, Any]], critic: dict[str, Any]) -> dict[str, Any]:
    """Run the narrative critic over `items` and compare its findings with each item's `expect` codes."""
    return score_critic(
        items, lambda item: judge(item["text"], item["attrs"], critic, item.get("others") or ()), WARNING_CODES
    )


def score_critic(
    items: Iterable[dict[str, Any]], judge_item: Callable[[dict[str, Any]], Any], warning_codes: Iterable[str]
) -> dict[str, Any]:
    """Per finding code: tp/fp/fn, precision and recall against each item's `expect` codes;
    overall accept/reject accuracy (an item should pass when it expects only warning codes)."""
    warning_codes = frozenset(warning_codes)
    per_code: dict[str, dict[str, int]] = {}
    rows = []
    correct = 0
    false_rejects: list[str] = []
    false_accepts: list[str] = []
    for item in items:
        verdict = judge_item(item)
        predicted = {f.code for f in verdict.findings}
        expected = set(item.get("expect") or ())
        for code in predicted | expected:
            c = per_code.setdefault(code, {"tp": 0, "fp": 0, "fn": 0})
            c["tp" if code in predicted and code in expected else "fp" if code in predicted else "fn"] += 1
        should_pass = expected <= warning_codes
        if verdict.passed == should_pass:
            correct += 1
        elif should_pass:
            false_rejects.append(item["id"])
        else:
            false_accepts.append(item["id"])
        if predicted != expected or verdict.passed != should_pass:
            rows.append(
                {
                    "id": item["id"],
                    "expected": sorted(expected),
                    "predicted": sorted(predicted),
                    "passed": verdict.passed,
                    "should_pass": should_pass,
                    "score": verdict.score,
                }
            )
    codes = {}
    for code, c in sorted(per_code.items()):
        codes[code] = {
            **c,
            "support": c["tp"] + c["fn"],
            "severity": "warning" if code in warning_codes else "error",
            "precision": _ratio(c["tp"], c["tp"] + c["fp"]),
            "recall": _ratio(c["tp"], c["tp"] + c["fn"]),
        }
    errors = [c for code, c in codes.items() if code not in warning_codes]
    tp, fp, fn = (sum(c[k] for c in errors) for k in ("tp", "fp", "fn"))
    n = correct + len(false_rejects) + len(false_accepts)
    return {
        "codes": codes,
        "items": n,
        "accuracy": _ratio(correct, n),
        "error_precision": _ratio(tp, tp + fp),
        "error_recall": _ratio(tp, tp + fn),
        "false_rejects": false_rejects,  # should pass, rejected
        "false_accepts": false_accepts,  # should be rejected, passed
        "mismatches": rows,
    }


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def format_report(result: dict[str, Any]) -> str:
    lines = [f"{'code':<26}{'severity':<10}{'support':>8}{'tp':>5}{'fp':>5}{'fn':>5}{'precision':>11}{'recall':>8}"]
    for code, c in result["codes"].items():
        lines.append(
            f"{code:<26}{c['severity']:<10}{c['support']:>8}{c['tp']:>5}{c['fp']:>5}{c['fn']:>5}"
            f"{_fmt(c['precision']):>11}{_fmt(c['recall']):>8}"
        )
    lines += [
        "",
        f"items: {result['items']}   accept/reject accuracy: {_fmt(result['accuracy'])}   "
        f"error codes: precision {_fmt(result['error_precision'])}, recall {_fmt(result['error_recall'])}",
        f"false rejects (should pass): {', '.join(result['false_rejects']) or 'none'}",
        f"false accepts (should fail): {', '.join(result['false_accepts']) or 'none'}",
    ]
    if result["mismatches"]:
        lines += ["", "findings that differ from the labels:"]
        for row in result["mismatches"]:
            missed = sorted(set(row["expected"]) - set(row["predicted"]))
            extra = sorted(set(row["predicted"]) - set(row["expected"]))
            lines.append(f"  {row['id']}: missed {missed or '-'}, extra {extra or '-'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from pipelines.config import DEFAULTS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fixture", help="YAML file of labelled narratives")
    args = parser.parse_args(argv)
    print(format_report(evaluate(load_items(args.fixture), dict(DEFAULTS["critic"]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
