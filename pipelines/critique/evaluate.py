"""Measure the critics on labelled fixtures: narratives (tests/fixtures/broken_narratives.yaml)
and dialogues (tests/fixtures/broken_dialogues.yaml).

Narrative item: {id, attrs, text (or text_rot13), expect: [codes], others: [[label, text], ...]}.
Dialogue item: {id, speakers: [attrs A, attrs B], text (or text_rot13), expect, expected_turns,
others}. A fixture's top-level `critic` block, if any, overrides the critic's default settings.
Per finding code: true/false positives, false negatives, precision and recall. Overall: whether
the critic accepts exactly the items that should pass (expect empty or only warning codes).

    python -m pipelines.critique.evaluate tests/fixtures/broken_narratives.yaml
    python -m pipelines.critique.dialogue tests/fixtures/broken_dialogues.yaml
"""

from __future__ import annotations

import argparse
import codecs
import sys
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from pipelines.common.settings import DEFAULTS, CriticSettings, DialogueCriticSettings
from pipelines.critique.base import Verdict
from pipelines.critique.dialogue import DIALOGUE_WARNING_CODES, critique_dialogue, parse_dialogue
from pipelines.critique.dialogue.findings import names_of
from pipelines.critique.narrative import WARNING_CODES, judge


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


def load_dialogue_items(path: str | Path) -> list[dict[str, Any]]:
    """Read a dialogue fixture: a mapping with `items` (and optionally `expected_turns`, the
    default for every item), each item's speakers as a pair of attribute dicts."""
    settings, items = read_fixture(path)
    default_turns = int(settings.get("expected_turns", 6))
    for item in items:
        item["speakers"] = tuple(dict(s) for s in item["speakers"])
        item["expected_turns"] = int(item.get("expected_turns", default_turns))
    return items


def evaluate(items: Iterable[dict[str, Any]], critic: CriticSettings) -> dict[str, Any]:
    """Run the narrative critic over `items` and compare its findings with each item's `expect` codes."""
    return score_critic(
        items, lambda item: judge(item["text"], item["attrs"], critic, item.get("others") or ()), WARNING_CODES
    )


def judge_dialogue_item(item: dict[str, Any], critic: DialogueCriticSettings) -> Verdict:
    """The dialogue critic's verdict on one fixture item (its text parsed into turns first)."""
    turns = parse_dialogue(item["text"], names_of(item["speakers"]))
    return critique_dialogue(turns, item["speakers"], critic, item["expected_turns"], item.get("others") or ())


def evaluate_dialogues(items: Iterable[dict[str, Any]], critic: DialogueCriticSettings) -> dict[str, Any]:
    """Run the dialogue critic over `items` and compare its findings with each item's `expect` codes."""
    return score_critic(items, lambda item: judge_dialogue_item(item, critic), DIALOGUE_WARNING_CODES)


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


# kind -> (settings class, fixture reader, evaluation)
_KINDS: dict[str, tuple[Any, Callable[..., list[dict[str, Any]]], Callable[..., dict[str, Any]]]] = {
    "narratives": (CriticSettings, load_items, evaluate),
    "dialogues": (DialogueCriticSettings, load_dialogue_items, evaluate_dialogues),
}


def evaluation_book(taxonomy_files: list[str], prompted: Iterable[str]):
    """The claim book the pipeline builds for the taxonomy (see pipelines.persona.task)."""
    from pipelines.critique.narrative.claims import claim_book

    return claim_book(_domains(tuple(map(str, taxonomy_files))), tuple(prompted))


@lru_cache(maxsize=4)
def _domains(taxonomy_files: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    from pipelines.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(list(taxonomy_files))
    return {a.path: a.domain() for a in taxonomy.attributes if a.type in ("categorical", "multi")}


def evaluate_sets(folder: str | Path, taxonomy_files: list[str]) -> dict[str, dict[str, Any]]:
    """Every `narratives_*.yaml` and `dialogues_*.yaml` labelled set in `folder`, scored by
    verdict (pipelines.critique.verdicts) with the default critic settings, or a set's own
    `critic` block over them (narratives with the grounding expert on the default embedding
    model, as a build runs them)."""
    from pipelines.common.embedding import SentenceEmbedder
    from pipelines.critique.verdicts import load_set_settings, score_verdicts

    dialogue_critic = DialogueCriticSettings.from_config()
    embed = None
    books: dict[tuple[str, ...], Any] = {}

    def book(prompted):
        key = tuple(prompted or ())
        if key not in books:
            books[key] = evaluation_book(taxonomy_files, key)
        return books[key]

    def dialogue(item):
        speakers = tuple(s["attrs"] for s in item["speakers"])
        turns = parse_dialogue(item["text"], names_of(speakers))
        expected = int(item.get("turns") or len(turns))
        return critique_dialogue(turns, speakers, dialogue_critic, expected, [], book(()))

    out = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        settings, items = load_set_settings(path)
        if path.name.startswith("narratives"):
            critic = CriticSettings.from_config(settings)
            if critic.grounding and embed is None:
                embed = SentenceEmbedder(DEFAULTS["dedup"]["embedding_model"])

            def judge_item(item, critic=critic, embed=embed):
                return judge(item["text"], item["attrs"], critic, (), book(item.get("prompted")), embed)

        else:
            judge_item = dialogue
        out[path.stem] = score_verdicts(items, judge_item)
    return out


def main(argv: list[str] | None = None, kind: str = "narratives", prog: str | None = None) -> int:
    """Print the report of the `kind` ("narratives" or "dialogues") critic on the fixture named in
    `argv`, with the settings of the fixture's `critic` block over the defaults. Given a folder of
    verdict-labelled sets (tests/fixtures/critic_eval/), the report of every set in it."""
    settings_class, load, run = _KINDS[kind]
    parser = argparse.ArgumentParser(prog=prog, description=f"Measure the {kind[:-1]} critic on a labelled fixture.")
    parser.add_argument("fixture", help=f"YAML file of labelled {kind}, or a folder of verdict-labelled sets")
    parser.add_argument("--taxonomy", nargs="+", default=["taxonomy/base.yaml"], help="taxonomy of the sets' personas")
    args = parser.parse_args(argv)
    if Path(args.fixture).is_dir():
        from pipelines.critique.verdicts import format_verdicts

        for name, result in evaluate_sets(args.fixture, args.taxonomy).items():
            print(format_verdicts(name, result), end="\n\n")
        return 0
    critic = settings_class.from_config(read_fixture(args.fixture)[0].get("critic"))
    print(format_report(run(load(args.fixture), critic)))
    return 0


def dialogue_main(argv: list[str] | None = None) -> int:
    """`python -m pipelines.critique.dialogue FIXTURE`."""
    return main(argv, "dialogues", prog="python -m pipelines.critique.dialogue")


if __name__ == "__main__":
    sys.exit(main())
