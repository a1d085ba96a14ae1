"""Load, validate and compose taxonomy YAML files.

Everything that can be wrong with a taxonomy is reported here, before any sampling or LLM call,
as an InputError naming the file and the location inside it. Attributes of type `text` are free-text
dimensions: they go to `Taxonomy.dimensions`, never to the sampled `Taxonomy.attributes`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from pipelines.errors import InputError
from pipelines.schemas import check_file_against_schema
from pipelines.taxonomy.model import Attribute, Case, Condition, Constraint, Taxonomy

_NUMERIC = ("integer", "number")
TEXT = "text"
_TEXT_KEYS = ("id", "type", "label", "description")
_FAST_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise InputError(str(path), "<file>", "file not found")
    text = path.read_text(encoding="utf-8")
    try:
        return yaml.load(text, Loader=_FAST_LOADER)  # libyaml: a large taxonomy parses ~20x faster
    except yaml.YAMLError:
        pass  # parsed again below: the pure-Python loader's messages and marks are the ones reported
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "<file>"
        raise InputError(str(path), where, f"not valid YAML: {getattr(exc, 'problem', exc)}") from exc


def _merge_categories(base: list[dict], extra: list[dict]) -> list[dict]:
    """Merge category lists by id: attributes with the same id are replaced, new ones appended."""
    merged = copy.deepcopy(base)
    by_id = {c["id"]: c for c in merged}
    for cat in extra:
        if cat["id"] not in by_id:
            merged.append(copy.deepcopy(cat))
            by_id[cat["id"]] = merged[-1]
            continue
        target = by_id[cat["id"]]
        attrs = target.setdefault("attributes", [])
        index = {a["id"]: i for i, a in enumerate(attrs)}
        for attr in cat.get("attributes", []):
            if attr["id"] in index:
                attrs[index[attr["id"]]] = copy.deepcopy(attr)
            else:
                attrs.append(copy.deepcopy(attr))
        target["categories"] = _merge_categories(target.get("categories", []), cat.get("categories", []))
        for key in ("label", "description"):
            if cat.get(key):
                target[key] = cat[key]
    return merged


def _weighted(values: list[Any]) -> tuple[tuple[str, float], ...]:
    out = []
    for v in values:
        if isinstance(v, str):
            out.append((v, 1.0))
        else:
            out.append((v["value"], float(v.get("weight", 1.0))))
    return tuple(out)


def _conditions(spec: dict[str, Any] | None) -> tuple[Condition, ...]:
    out = []
    for path, test in (spec or {}).items():
        if isinstance(test, list):
            out.append(Condition(path, values=tuple(test)))
            continue
        out.append(
            Condition(
                path,
                values=tuple(test["in"]) if "in" in test else None,
                not_values=tuple(test["not_in"]) if "not_in" in test else None,
                min=test.get("min"),
                max=test.get("max"),
                present=test.get("present"),
            )
        )
    return tuple(out)


def _case(spec: dict[str, Any]) -> Case:
    return Case(
        when=_conditions(spec.get("when")),
        values=_weighted(spec.get("values", [])),
        min=spec.get("min"),
        max=spec.get("max"),
        mean=spec.get("mean"),
        sd=spec.get("sd"),
    )


def _attribute(spec: dict[str, Any], path: str, file: str, loc: str) -> Attribute:
    kind = spec["type"]
    if "cases" in spec:
        own = [k for k in ("values", "min", "max", "mean", "sd") if k in spec]
        if own:
            raise InputError(file, loc, f"attribute {path!r} has both `cases` and {own}; use one")
        cases = tuple(_case(c) for c in spec["cases"])
    else:
        cases = (_case(spec),)
    defaults = [i for i, c in enumerate(cases) if not c.when]
    if len(defaults) > 1 or (defaults and defaults[0] != len(cases) - 1):
        raise InputError(file, f"{loc}.cases", "only the last case may omit `when` (the default)")
    for i, case in enumerate(cases):
        cloc = f"{loc}.cases[{i}]" if "cases" in spec else loc
        if kind in ("categorical", "multi") and not case.values:
            raise InputError(file, cloc, f"{kind} attribute {path!r} needs `values`")
        if kind in _NUMERIC:
            if case.min is None or case.max is None:
                raise InputError(file, cloc, f"{kind} attribute {path!r} needs `min` and `max`")
            if case.min > case.max:
                raise InputError(file, cloc, f"min {case.min} is greater than max {case.max}")
        seen: set[str] = set()
        for value, _ in case.values:
            if value in seen:
                raise InputError(file, f"{cloc}.values", f"duplicate value {value!r}")
            seen.add(value)
    pick = spec.get("pick", {"min": 1, "max": 1})
    if kind == "multi":
        if pick["min"] > pick["max"]:
            raise InputError(file, f"{loc}.pick", "pick.min is greater than pick.max")
        smallest = min(len(c.values) for c in cases)
        if pick["max"] > smallest:
            raise InputError(file, f"{loc}.pick", f"pick.max {pick['max']} exceeds the {smallest} values offered")
    if kind == "name" and not spec.get("locale_from"):
        raise InputError(file, loc, f"name attribute {path!r} needs `locale_from`")
    return Attribute(
        path=path,
        type=kind,
        cases=cases,
        probability=float(spec.get("probability", 1.0)),
        decimals=int(spec.get("decimals", 2)),
        pick_min=int(pick["min"]),
        pick_max=int(pick["max"]),
        locale_from=spec.get("locale_from"),
        gender_from=spec.get("gender_from"),
        description=spec.get("description", ""),
        label=spec.get("label", ""),
        source=f"{file}: {loc}",
    )


def _dimension(spec: dict[str, Any], path: str, file: str, loc: str) -> Attribute:
    return Attribute(
        path=path,
        type=TEXT,
        cases=(),
        description=spec.get("description", ""),
        label=spec.get("label", ""),
        source=f"{file}: {loc}",
    )


def _nodes(categories: Any, prefix: str = "", loc: str = "categories"):
    """Every category and attribute below `categories`, as (kind, path, location, spec), in file
    order (a category's attributes before its subcategories). Entries that are not objects are
    skipped, so this may run before the schema check."""
    for ci, cat in enumerate(categories if isinstance(categories, list) else ()):
        if not isinstance(cat, dict):
            continue
        cpath, cloc = f"{prefix}{cat.get('id')}", f"{loc}[{ci}]"
        yield "category", cpath, cloc, cat
        for ai, attr in enumerate(cat.get("attributes") if isinstance(cat.get("attributes"), list) else ()):
            if isinstance(attr, dict):
                yield "attribute", f"{cpath}.{attr.get('id')}", f"{cloc}.attributes[{ai}]", attr
        yield from _nodes(cat.get("categories"), f"{cpath}.", f"{cloc}.categories")


def _check_text_keys(doc: Any, file: str) -> None:
    """Text dimensions take no domain. Checked before the schema, to say so in plain words."""
    for kind, path, loc, spec in _nodes(doc.get("categories") if isinstance(doc, dict) else None):
        extra = [k for k in spec if k not in _TEXT_KEYS] if kind == "attribute" and spec.get("type") == TEXT else []
        if extra:
            raise InputError(
                file,
                loc,
                f"text attribute {path!r} may not have {extra}: a text dimension is written per persona, not"
                f" sampled, and takes only {list(_TEXT_KEYS)}",
            )


def _toposort(attrs: dict[str, Attribute]) -> list[Attribute]:
    order: list[Attribute] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(path: str, chain: list[str]) -> None:
        if state.get(path) == 2:
            return
        if state.get(path) == 1:
            cycle = " -> ".join([*chain[chain.index(path) :], path])
            file, _, loc = attrs[path].source.partition(": ")
            raise InputError(file, loc, f"circular dependency between attributes: {cycle}")
        state[path] = 1
        for dep in attrs[path].depends_on:
            visit(dep, [*chain, path])
        state[path] = 2
        order.append(attrs[path])

    for path in attrs:  # file order, so the result is stable
        visit(path, [])
    return order


def _check_known(path: str, attrs: dict[str, Attribute], dims: dict[str, Attribute], file: str, loc: str) -> None:
    if path in dims:
        raise InputError(file, loc, f"{path!r} is a text dimension; only sampled attributes can be referenced")
    if path not in attrs:
        raise InputError(file, loc, f"unknown attribute {path!r}")


def _check_condition(
    cond: Condition, attrs: dict[str, Attribute], dims: dict[str, Attribute], file: str, loc: str
) -> None:
    _check_known(cond.path, attrs, dims, file, loc)
    target = attrs[cond.path]
    loc = f"{loc}.{cond.path}"
    listed = (cond.values or ()) + (cond.not_values or ())
    if listed and target.type not in ("categorical", "multi"):
        raise InputError(file, loc, f"{cond.path!r} is {target.type}; value lists apply to categorical and multi")
    if (cond.min is not None or cond.max is not None) and target.type not in _NUMERIC:
        raise InputError(file, loc, f"{cond.path!r} is {target.type}; min/max apply to integer and number")
    known = target.leaf_values()
    for value in listed:
        if value not in known:
            raise InputError(file, loc, f"{value!r} is not a value of {cond.path!r}")


def _check_references(attrs: dict[str, Attribute], dims: dict[str, Attribute], locales: dict[str, str]) -> None:
    for attr in attrs.values():
        file, _, loc = attr.source.partition(": ")
        for ci, case in enumerate(attr.cases):
            for cond in case.when:
                _check_condition(cond, attrs, dims, file, f"{loc}.cases[{ci}].when")
        for ref in (attr.locale_from, attr.gender_from):
            if ref:
                _check_known(ref, attrs, dims, file, loc)
        if attr.locale_from:
            missing = sorted(attrs[attr.locale_from].leaf_values() - set(locales))
            if missing:
                raise InputError(file, "locales", f"no Faker locale for {attr.locale_from} value(s) {missing}")


def _constraints(
    docs: list[tuple[str, Any]], attrs: dict[str, Attribute], dims: dict[str, Attribute]
) -> tuple[Constraint, ...]:
    """Constraints from every file, merged by id (a later file replaces an earlier one)."""
    by_id: dict[str, Constraint] = {}
    for file, doc in docs:
        for i, spec in enumerate(doc.get("constraints") or []):
            loc = f"constraints[{i}]"
            rule = Constraint(
                id=spec["id"],
                description=spec.get("description", ""),
                when=_conditions(spec["when"]),
                require=_conditions(spec["require"]),
                source=f"{file}: {loc}",
            )
            for part in ("when", "require"):
                for cond in getattr(rule, part):
                    _check_condition(cond, attrs, dims, file, f"{loc}.{part}")
            by_id[rule.id] = rule
    return tuple(by_id.values())


def load_taxonomy(files: Sequence[str | Path]) -> Taxonomy:
    """Load one or more taxonomy files (a base plus extensions) into one Taxonomy."""
    if not files:
        raise InputError("<config>", "taxonomy.files", "at least one taxonomy file is required")
    categories: list[dict] = []
    locales: dict[str, str] = {}
    names, versions, sources = [], [], []
    origin: dict[str, tuple[str, str]] = {}
    raws = []
    docs: list[tuple[str, Any]] = []
    for file in files:
        doc = read_yaml(file)
        _check_text_keys(doc, str(file))
        check_file_against_schema("taxonomy", doc, str(file))
        raws.append(doc)
        docs.append((str(file), doc))
        for kind, path, loc, _ in _nodes(doc["categories"]):
            if kind == "attribute":  # the file and location that defined each path last
                origin[path] = (str(file), loc)
        categories = _merge_categories(categories, doc["categories"])
        locales.update(doc.get("locales", {}))
        names.append(doc["taxonomy"])
        versions.append(doc["version"])
        sources.extend(doc.get("sources", []))

    attrs: dict[str, Attribute] = {}
    dims: dict[str, Attribute] = {}
    labels: dict[str, str] = {}
    for kind, path, _, spec in _nodes(categories):
        if kind == "category":
            if spec.get("label"):
                labels[path] = spec["label"]
        elif spec["type"] == TEXT:
            dims[path] = _dimension(spec, path, *origin[path])
        else:
            attrs[path] = _attribute(spec, path, *origin[path])
    if not attrs:
        more = f" (only {len(dims)} text dimension(s), which are not sampled)" if dims else ""
        raise InputError(str(files[0]), "categories", f"the taxonomy defines no attributes to sample{more}")
    _check_references(attrs, dims, locales)
    return Taxonomy(
        names=tuple(names),
        version="+".join(versions),
        attributes=tuple(_toposort(attrs)),
        constraints=_constraints(docs, attrs, dims),
        locales=locales,
        sources=tuple(sources),
        raw={"files": raws},
        dimensions=tuple(dims.values()),
        category_labels=labels,
    )
