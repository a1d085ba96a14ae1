"""Check a finished dataset against its JSON Schemas and the declarative rules.

    python -m pipelines.validate output/default [--rules rules/persona.yaml ...] [--max-examples 3]

A dataset folder is trusted by whoever trains on it, long after the run that wrote it. This reads
every shard under DATASET_DIR/personas/ (and DATASET_DIR/dialogues/ when there is one) exactly as
a consumer would, and checks every row against its JSON Schema (schemas/persona.schema.json;
schemas/dialogue.schema.json when it exists) and the rules files (default: rules/persona.yaml and
rules/dialogue.yaml). It prints rows checked, failures by schema path and by rule id, and a few
example rows for each.

Exit status: 0 when every row passes its schema and every error-level rule; 1 otherwise (warnings
never fail, but a rule that could not be evaluated on a row does, for error-level rules); 2 on bad
input: a missing folder, a folder without shards, an unreadable shard or a bad rules file.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from pipelines.cli import cli_main
from pipelines.errors import InputError
from pipelines.schemas import SCHEMA_DIR, schema_errors
from pipelines.validation.rules import PASSED, RuleSet, load_rules

log = logging.getLogger("pipelines.validate")
RULES_DIR = Path(__file__).resolve().parent.parent / "rules"
DEFAULT_RULES = (RULES_DIR / "persona.yaml", RULES_DIR / "dialogue.yaml")
BATCH_ROWS = 1000


@dataclass(frozen=True)
class Dataset:
    folder: str  # sub-folder of the dataset directory
    scope: str  # rules scope, and the schema name
    id_field: str  # the column that names a row in examples


DATASETS = (Dataset("personas", "persona", "persona_id"), Dataset("dialogues", "dialogue", "dialogue_id"))


@dataclass
class Tally:
    """What one dataset's rows came to: counts by schema path and by rule, with examples."""

    max_examples: int
    shards: int = 0
    rows: int = 0
    invalid_rows: int = 0
    schema: Counter = field(default_factory=Counter)  # (path, keyword) -> rows
    rules: Counter = field(default_factory=Counter)  # (rule_id, severity, status) -> rows
    examples: dict[tuple, list[str]] = field(default_factory=dict)

    def example(self, key: tuple, row_id: str, message: str) -> None:
        kept = self.examples.setdefault(key, [])
        if len(kept) < self.max_examples:
            kept.append(f"{row_id}: {message}")

    def summary(self, schema_checked: bool) -> dict[str, Any]:
        def severity_first(item: tuple[tuple, int]) -> tuple:
            (rule_id, severity, status), count = item
            return (severity != "error", -count, rule_id, status)

        return {
            "shards": self.shards,
            "rows": self.rows,
            "invalid_rows": self.invalid_rows,
            "schema_checked": schema_checked,
            "schema_failures": [
                {"path": p, "keyword": k, "rows": n, "examples": self.examples.get(("schema", p, k), [])}
                for (p, k), n in sorted(self.schema.items(), key=lambda kv: (-kv[1], kv[0]))
            ],
            "rule_outcomes": [
                {
                    "rule_id": r,
                    "severity": sev,
                    "status": st,
                    "rows": n,
                    "examples": self.examples.get(("rule", r, st), []),
                }
                for (r, sev, st), n in sorted(self.rules.items(), key=severity_first)
            ],
        }


def shards_of(folder: Path) -> list[Path]:
    shards = sorted(p for p in folder.glob("*.parquet") if p.is_file())
    if not shards:
        raise InputError(str(folder), "<folder>", "no Parquet shards (*.parquet) in this folder")
    return shards


def read_rows(shard: Path) -> Iterator[dict[str, Any]]:
    """Rows as the Python values a consumer gets from pyarrow (nested structs become dicts)."""
    try:
        reader = pq.ParquetFile(shard)
        for batch in reader.iter_batches(batch_size=BATCH_ROWS):
            yield from batch.to_pylist()
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid and ArrowIOError are among these
        raise InputError(str(shard), "<file>", f"not a readable Parquet file: {exc}") from None


def check_row(row: Any, row_id: str, schema: str | None, scope: str, ruleset: RuleSet, tally: Tally) -> None:
    tally.rows += 1
    invalid = False
    if schema:
        seen: set[tuple[str, str]] = set()
        for path, keyword, message in schema_errors(schema, row):
            if (path, keyword) not in seen:  # counts are rows, not errors
                seen.add((path, keyword))
                tally.schema[(path, keyword)] += 1
                tally.example(("schema", path, keyword), row_id, message)
            invalid = True
    for outcome in ruleset.evaluate(row, scope):
        if outcome.status == PASSED:
            continue
        tally.rules[(outcome.rule_id, outcome.severity, outcome.status)] += 1
        tally.example(("rule", outcome.rule_id, outcome.status), row_id, outcome.message)
        invalid = invalid or outcome.blocking
    tally.invalid_rows += invalid


def dataset_schema(dataset: Dataset) -> str | None:
    """The schema name for a dataset, or None when schemas/ has none for it (yet)."""
    return dataset.scope if (SCHEMA_DIR / f"{dataset.scope}.schema.json").is_file() else None


def check_dataset(root: Path, dataset: Dataset, ruleset: RuleSet, max_examples: int) -> dict[str, Any]:
    tally = Tally(max_examples)
    schema = dataset_schema(dataset)
    for shard in shards_of(root / dataset.folder):
        tally.shards += 1
        start = tally.rows
        for i, row in enumerate(read_rows(shard)):
            row_id = row.get(dataset.id_field) if isinstance(row, dict) else None
            check_row(row, str(row_id or f"{shard.name}#{i}"), schema, dataset.scope, ruleset, tally)
        log.info("%s: checked %d rows", shard, tally.rows - start)
    return {**tally.summary(schema is not None), "rule_count": len(ruleset.for_scope(dataset.scope))}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m pipelines.validate", description=__doc__.split("\n")[0])
    parser.add_argument("dataset_dir", metavar="DATASET_DIR", help="a dataset folder with personas/ (and dialogues/)")
    parser.add_argument(
        "--rules",
        nargs="+",
        default=None,
        metavar="FILE",
        help="rules files (default: rules/persona.yaml rules/dialogue.yaml of this repository)",
    )
    parser.add_argument("--max-examples", type=int, default=3, help="example rows shown per failure (default 3)")
    args = parser.parse_args(argv)
    if args.max_examples < 0:
        parser.error("--max-examples must be 0 or more")
    return args


def run(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    root = Path(args.dataset_dir)
    if not root.is_dir():
        raise InputError(str(root), "<folder>", "dataset folder not found")
    present = [d for d in DATASETS if (root / d.folder).is_dir()]
    if not present:
        raise InputError(str(root), "<folder>", "no personas/ (or dialogues/) folder with Parquet shards")
    ruleset = load_rules([str(p) for p in (args.rules or DEFAULT_RULES)])
    results = {d.folder: check_dataset(root, d, ruleset, args.max_examples) for d in present}
    return {
        "dataset_dir": str(root),
        "rules": {"files": list(ruleset.files), "sha256": ruleset.content_hash},
        "datasets": results,
        "passed": all(r["invalid_rows"] == 0 for r in results.values()),
    }


def report(summary: dict[str, Any]) -> str:
    """The summary as the lines a person reads."""
    lines = [f"validated {summary['dataset_dir']} with {', '.join(summary['rules']['files'])}"]
    for name, result in summary["datasets"].items():
        lines.append(
            f"{name}: {result['rows']} rows in {result['shards']} shard(s), {result['invalid_rows']} invalid, "
            f"{result['rule_count']} rules"
        )
        if not result["schema_checked"]:
            lines.append("  schema: not checked (no JSON Schema for this dataset in schemas/)")
        elif not result["schema_failures"]:
            lines.append("  schema: every row valid")
        for fail in result["schema_failures"]:
            lines.append(f"  schema {fail['path']} [{fail['keyword']}]: {fail['rows']} row(s)")
            lines.extend(f"      {example}" for example in fail["examples"])
        for outcome in result["rule_outcomes"]:
            lines.append(
                f"  rule {outcome['rule_id']} ({outcome['severity']}): {outcome['rows']} row(s) {outcome['status']}"
            )
            lines.extend(f"      {example}" for example in outcome["examples"])
        if result["rule_count"] and not result["rule_outcomes"]:
            lines.append("  rules: every row passes every rule")
    invalid = sum(r["invalid_rows"] for r in summary["datasets"].values())
    lines.append(
        "PASSED: every row passes its schema and the error-level rules"
        if summary["passed"]
        else f"FAILED: {invalid} invalid row(s)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    summaries: list[dict[str, Any]] = []

    def checked(args: list[str] | None) -> dict[str, Any]:
        summaries.append(run(args))
        return summaries[-1]

    code = cli_main(checked, argv, report)
    return 1 if code == 0 and not summaries[-1]["passed"] else code


if __name__ == "__main__":
    sys.exit(main())
