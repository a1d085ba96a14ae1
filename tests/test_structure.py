"""The layout's promises: no import cycle among the `pipelines` packages, a wiring-only entry
point, no module over 600 lines, and `pipelines.common` / `pipelines.critique` importing nothing
above them."""

import ast
from collections import defaultdict
from pathlib import Path

PIPELINES = Path(__file__).resolve().parent.parent / "pipelines"


def unit(module: str) -> str:
    """The package-level unit of a module: `pipelines.critique.narrative.x` -> `critique`."""
    return module.split(".")[1] if module.count(".") >= 1 else module


def imports() -> dict[str, set[str]]:
    """unit -> the units it imports (at module level or inside functions)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in PIPELINES.rglob("*.py"):
        rel = path.relative_to(PIPELINES.parent).with_suffix("")
        parts = list(rel.parts)
        if len(parts) == 2 and parts[1] == "__init__":
            continue
        me = unit(".".join(parts).replace(".__init__", "").removesuffix(".py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names if node.module == "pipelines"]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                if name.startswith("pipelines.") and unit(name) != me and not unit(name).startswith("__"):
                    graph[me].add(unit(name))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, state, stack = [], {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                found.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    return found


def test_no_import_cycle_among_packages():
    assert cycles(imports()) == []


def test_the_cycle_check_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c", "a"]]


def test_common_and_critique_import_nothing_above_them():
    graph = imports()
    assert graph.get("common", set()) == set()
    # critique: only the evaluation command loads a taxonomy (for the claim book of its labelled sets)
    assert graph.get("critique", set()) <= {"common", "taxonomy"}


def test_the_entry_point_only_wires_and_modules_stay_small():
    assert len((PIPELINES / "build_dataset.py").read_text().splitlines()) <= 200
    big = {
        str(p.relative_to(PIPELINES)): n
        for p in PIPELINES.rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 600
    }
    assert big == {}
