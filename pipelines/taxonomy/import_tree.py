"""Import a nested JSON attribute tree as a taxonomy extension of free-text dimensions.

    python -m pipelines.taxonomy.import_tree TREE.json --output taxonomy/NAME.yaml
        [--root profile] [--name NAME] [--merge-similar] [--max-depth 6]

The input is the format DeepPersona publishes: a JSON object whose keys are category names, nested,
with empty objects `{}` as leaves. Every leaf becomes a `type: text` attribute, everything under one
root category (`--root`), so that `{"Lifestyle and Daily Routine": {"Sleep Patterns": {"Bedtime
Ritual": {}}}}` gives the dimension `profile.lifestyle_and_daily_routine.sleep_patterns.bedtime_ritual`
with the label "Bedtime Ritual" (and each category its own label).

- Ids are slugs of the names (`slug`). Siblings with the same slug, repeated keys included, are
  merged: their children are united, and each merge is reported.
- Sibling *categories* whose names are near-duplicates (`similarity` >= `SIMILARITY`) are reported,
  and merged into the first of them only with `--merge-similar`. Leaves are never compared: "Favourite
  Food" and "Least Favourite Food" are different questions.
- Bad input stops with exit code 2 and one line `error: FILE: at $["Key"]["Key"]: what is wrong`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pipelines.cli import cli_main
from pipelines.errors import InputError

PROG = "python -m pipelines.taxonomy.import_tree"
SIMILARITY = 0.6  # Jaccard of the content-word sets, see `similarity`
STOPWORDS = frozenset({"a", "an", "and", "or", "of", "the", "for", "in", "on", "to", "with", "at", "by", "from"})
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")  # the schema's `identifier`
_LISTED = 20  # merges and near-duplicates listed one per line in the summary; the rest are counted
_Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Object(list):
    """A JSON object as its (key, value) pairs, so that repeated keys are kept (and merged)."""


def _ascii(name: str) -> str:
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"['`]", "", plain.lower())


def slug(name: str) -> str:
    """An id for a name: lowercase ASCII, runs of other characters as `_` ("Partner's Job" ->
    `partners_job`). A slug starting with a digit gets `n_` in front; a name with no ASCII letter or
    digit at all gets `x_` and a short hash of the name, so that different names stay apart."""
    ident = re.sub(r"[^a-z0-9]+", "_", _ascii(name)).strip("_")
    if not ident:
        return "x_" + hashlib.sha1(name.encode("utf-8")).hexdigest()[:8]
    return f"n_{ident}" if ident[0].isdigit() else ident


def words(name: str) -> frozenset[str]:
    """The content words of a name: lowercase, without `STOPWORDS`, a plural `s` dropped from words
    longer than three letters ("Beliefs" and "Belief" are the same word)."""
    tokens = re.findall(r"[a-z0-9]+", _ascii(name))
    return frozenset(t[:-1] if len(t) > 3 and t.endswith("s") else t for t in tokens if t not in STOPWORDS)


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two word sets: "Core Values and Beliefs" vs "Core Values, Beliefs, and
    Philosophy" share 3 of 4 words, 0.75."""
    return len(a & b) / len(a | b) if a and b else 0.0


@dataclass
class Node:
    id: str
    label: str
    children: list[Node] = field(default_factory=list)  # none: a leaf, that is a text dimension


@dataclass
class _Group:
    """Sibling keys that became one node: the first name gives the label."""

    id: str
    label: str
    where: str  # JSON path of the first key
    members: list[tuple[_Object, str]]  # (value, JSON path) of every merged key

    @property
    def is_category(self) -> bool:
        return any(value for value, _ in self.members)


def _key_path(parent: str, key: str) -> str:
    return f"{parent}[{json.dumps(key, ensure_ascii=False)}]"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return {str: "a string", list: "a list", int: "a number", float: "a number"}.get(type(value), type(value).__name__)


@dataclass
class TreeImport:
    """Turns the parsed tree into `Node`s, level by level, recording merges and depth."""

    file: str
    max_depth: int
    merge_similar: bool = False
    duplicates: list[str] = field(default_factory=list)
    near_duplicates: list[dict[str, Any]] = field(default_factory=list)
    depth: int = 0

    def level(self, items: list[tuple[str, Any, str]], depth: int) -> list[Node]:
        """One level of siblings, given as (key, value, JSON path of the key)."""
        groups: dict[str, _Group] = {}
        for key, value, where in items:
            self._check(key, value, where, depth)
            ident = slug(key)
            if ident in groups:
                kept = groups[ident]
                kept.members.append((value, where))
                same = " ".join(key.split()) == kept.label
                self.duplicates.append(f"{where}: " + ("repeated key" if same else f"same id {ident} as {kept.where}"))
            else:
                groups[ident] = _Group(ident, " ".join(key.split()), where, [(value, where)])
        return [self._node(group, depth) for group in self._similar(list(groups.values()))]

    def _check(self, key: str, value: Any, where: str, depth: int) -> None:
        if not key.strip():
            raise InputError(self.file, where, "empty key: every category and leaf needs a name")
        if depth > self.max_depth:
            raise InputError(self.file, where, f"nested {depth} levels deep, more than --max-depth {self.max_depth}")
        if not isinstance(value, _Object):
            raise InputError(
                self.file, where, f"expected an object (a category) or {{}} (a leaf), found {_kind(value)}"
            )
        self.depth = max(self.depth, depth)

    def _similar(self, groups: list[_Group]) -> list[_Group]:
        """Report near-duplicate sibling categories; with `merge_similar`, merge each into the first
        kept sibling it resembles most. Only siblings sharing a word are compared."""
        kept: list[_Group] = []
        by_word: dict[str, list[int]] = {}
        for group in groups:
            mine = words(group.label) if group.is_category else frozenset()
            candidates = sorted({i for w in mine for i in by_word.get(w, ())})
            scores = [(similarity(mine, words(kept[i].label)), -i) for i in candidates]
            best = max(scores, default=(0.0, 0))
            if best[0] >= SIMILARITY:
                match = kept[-best[1]]
                self.near_duplicates.append(
                    {"kept": match.where, "other": group.where, "similarity": round(best[0], 2)}
                )
                if self.merge_similar:
                    match.members.extend(group.members)
                    continue
            for w in mine:
                by_word.setdefault(w, []).append(len(kept))
            kept.append(group)
        return kept

    def _node(self, group: _Group, depth: int) -> Node:
        children = [(k, v, _key_path(where, k)) for value, where in group.members for k, v in value]
        return Node(group.id, group.label, self.level(children, depth + 1) if children else [])


def read_tree(path: Path) -> _Object:
    file = str(path)
    if not path.is_file():
        raise InputError(file, "<file>", "file not found")
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"), object_pairs_hook=_Object)
    except UnicodeDecodeError as exc:
        raise InputError(file, "<file>", f"not UTF-8 text: {exc.reason}") from exc
    except json.JSONDecodeError as exc:
        raise InputError(file, f"line {exc.lineno}, column {exc.colno}", f"not valid JSON: {exc.msg}") from exc
    except RecursionError as exc:
        raise InputError(file, "<file>", "nested too deeply to parse") from exc
    if not isinstance(data, _Object):
        raise InputError(file, "$", f"the top level must be an object of categories, found {_kind(data)}")
    if not data:
        raise InputError(file, "$", "the tree is empty: no categories or leaves")
    return data


def _category(node: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"id": node.id, "label": node.label}
    leaves = [{"id": c.id, "type": "text", "label": c.label} for c in node.children if not c.children]
    if leaves:
        out["attributes"] = leaves
    subcategories = [_category(c) for c in node.children if c.children]
    if subcategories:
        out["categories"] = subcategories
    return out


def _count_leaves(nodes: list[Node]) -> int:
    return sum(_count_leaves(n.children) if n.children else 1 for n in nodes)


def command_line(args: argparse.Namespace) -> str:
    """The command that regenerates the output, as recorded in its header."""
    parts = [PROG, args.tree, "--output", args.output]
    if args.root != "profile":
        parts += ["--root", args.root]
    if args.name:
        parts += ["--name", args.name]
    if args.merge_similar:
        parts.append("--merge-similar")
    if args.max_depth != 6:
        parts += ["--max-depth", str(args.max_depth)]
    return " ".join(parts)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("tree", help="nested JSON object; leaves are empty objects {}")
    parser.add_argument("--output", required=True, help="taxonomy extension YAML to write")
    parser.add_argument("--root", default="profile", help="id of the one root category (default: profile)")
    parser.add_argument("--name", default=None, help="taxonomy name (default: the output file's stem)")
    parser.add_argument("--merge-similar", action="store_true", help="merge near-duplicate sibling categories")
    parser.add_argument("--max-depth", type=int, default=6, help="deepest nesting accepted (default: 6)")
    return parser.parse_args(argv)


def run(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if not _IDENTIFIER.match(args.root):
        raise InputError("<command line>", "--root", f"{args.root!r} is not an id (lowercase, digits, _)")
    if args.max_depth < 1:
        raise InputError("<command line>", "--max-depth", "must be at least 1")
    tree, output = Path(args.tree), Path(args.output)
    importer = TreeImport(str(tree), args.max_depth, args.merge_similar)
    nodes = importer.level([(k, v, _key_path("$", k)) for k, v in read_tree(tree)], 1)
    name = args.name or output.stem
    leaves = _count_leaves(nodes)
    tops = sum(1 for n in nodes if n.children)
    doc = {
        "taxonomy": name,
        "version": "1",
        "description": f"Free-text profile dimensions imported from {tree.name}: {tops} top-level categories,"
        f" {leaves} dimensions. Each is written per persona, not sampled.",
        "categories": [_category(Node(args.root, args.root.replace("_", " ").capitalize(), nodes))],
    }
    header = (
        f"# Generated by the tree importer (pipelines/taxonomy/import_tree.py) from {tree.name}.\n"
        "# Do not edit by hand: edit the tree, then regenerate from the repository root with\n"
        f"#   {command_line(args)}\n"
    )
    body = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1000, default_flow_style=False)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(header + body, encoding="utf-8")
    return {
        "tree": str(tree),
        "output": str(output),
        "taxonomy": name,
        "root": args.root,
        "top_level_categories": tops,
        "leaves": leaves,
        "max_depth": importer.depth,
        "duplicates_merged": importer.duplicates,
        "near_duplicates": importer.near_duplicates,
        "near_duplicates_merged": args.merge_similar,
    }


def _listed(lines: list[str]) -> list[str]:
    more = [f"    ... and {len(lines) - _LISTED} more"] if len(lines) > _LISTED else []
    return [f"    {line}" for line in lines[:_LISTED]] + more


def summary(m: dict[str, Any]) -> str:
    near = m["near_duplicates"]
    action = "merged" if m["near_duplicates_merged"] else "not merged; --merge-similar merges them"
    pairs = [f"{n['other']} ~ {n['kept']} (similarity {n['similarity']:.2f})" for n in near]
    return "\n".join(
        [
            f"imported {m['tree']} as taxonomy {m['taxonomy']!r} under root category {m['root']!r}",
            f"  top-level categories: {m['top_level_categories']}",
            f"  leaves (text dimensions): {m['leaves']}",
            f"  max depth: {m['max_depth']} (levels in the tree; paths add the root)",
            f"  duplicates merged: {len(m['duplicates_merged'])}",
            *_listed(m["duplicates_merged"]),
            f"  near-duplicate names: {len(near)}" + (f" ({action})" if near else ""),
            *_listed(pairs),
            f"  output: {m['output']}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    return cli_main(run, argv, summary)


if __name__ == "__main__":
    sys.exit(main())
