"""The in-memory taxonomy: a flat, dependency-ordered list of sampled attributes with dotted paths,
plus the free-text dimensions (`text` attributes) that are written per persona instead of sampled."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa


def _readable(ident: str) -> str:
    return ident.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Condition:
    """A test on one attribute. `values`: the value is one of them (for `multi`: contains any);
    `not_values`: it is none of them; `min`/`max`: a numeric range; `present`: set or absent.
    All given parts must hold. An absent (optional) attribute fails every test except `not_values`
    and `present: false`."""

    path: str
    values: tuple[str, ...] | None = None
    not_values: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    present: bool | None = None

    def holds(self, value: Any) -> bool:
        absent = value is None or (isinstance(value, list) and not value)
        if self.present is not None and absent == self.present:
            return False
        if absent:
            return self.values is None and self.min is None and self.max is None
        items = value if isinstance(value, list) else [value]
        if self.values is not None and not any(v in self.values for v in items):
            return False
        if self.not_values is not None and any(v in self.not_values for v in items):
            return False
        if self.min is not None and not value >= self.min:
            return False
        return self.max is None or value <= self.max

    def describe(self) -> str:
        parts = []
        if self.values is not None:
            parts.append(f"in {list(self.values)}")
        if self.not_values is not None:
            parts.append(f"not in {list(self.not_values)}")
        if self.min is not None:
            parts.append(f">= {self.min:g}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}")
        if self.present is not None:
            parts.append("present" if self.present else "absent")
        return f"{self.path} " + " and ".join(parts)


@dataclass(frozen=True)
class Case:
    """One branch of a conditional domain. `when` holds the conditions on other attributes; an
    empty `when` is the default branch."""

    when: tuple[Condition, ...]
    values: tuple[tuple[str, float], ...] = ()
    min: float | None = None
    max: float | None = None
    mean: float | None = None
    sd: float | None = None

    def matches(self, sampled: dict[str, Any]) -> bool:
        return all(c.holds(sampled.get(c.path)) for c in self.when)


@dataclass(frozen=True)
class Constraint:
    """A hard rule between attributes: whenever every `when` condition holds, every `require`
    condition must hold too. The sampler redraws a persona until all constraints hold."""

    id: str
    description: str
    when: tuple[Condition, ...]
    require: tuple[Condition, ...]
    source: str = ""

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c.path for c in (*self.when, *self.require)))

    def holds(self, sampled: dict[str, Any]) -> bool:
        if not all(c.holds(sampled.get(c.path)) for c in self.when):
            return True
        return all(c.holds(sampled.get(c.path)) for c in self.require)


@dataclass(frozen=True)
class Attribute:
    path: str  # e.g. "demographics.age_band"
    type: str  # categorical | integer | number | multi | name | text
    cases: tuple[Case, ...]  # empty for text dimensions
    probability: float = 1.0
    decimals: int = 2
    pick_min: int = 1
    pick_max: int = 1
    locale_from: str | None = None
    gender_from: str | None = None
    description: str = ""  # for a text dimension: a hint for the writer
    source: str = ""  # file and location that defined it, for error messages
    label: str = ""  # readable name, e.g. "Bedtime Ritual"; see Taxonomy.label_path

    @property
    def depends_on(self) -> tuple[str, ...]:
        deps: list[str] = []
        for case in self.cases:
            deps.extend(c.path for c in case.when)
        deps.extend(p for p in (self.locale_from, self.gender_from) if p)
        return tuple(dict.fromkeys(deps))

    def arrow_type(self) -> pa.DataType:
        return {
            "categorical": pa.string(),
            "name": pa.string(),
            "integer": pa.int64(),
            "number": pa.float64(),
            "multi": pa.list_(pa.string()),
            "text": pa.string(),
        }[self.type]

    def leaf_values(self) -> set[str]:
        return set(self.domain())

    def domain(self) -> tuple[str, ...]:
        """Every value any case offers, in order of first appearance (categorical and multi)."""
        return tuple(dict.fromkeys(v for case in self.cases for v, _ in case.values))


@dataclass(frozen=True)
class Taxonomy:
    names: tuple[str, ...]  # composed file names, in order
    version: str
    attributes: tuple[Attribute, ...]  # topologically ordered: dependencies first
    constraints: tuple[Constraint, ...] = ()
    locales: dict[str, str] = field(default_factory=dict)
    sources: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    # Text dimensions in file order. They are not in `attributes`: sampling, quotas, `paths`,
    # `arrow_struct` and `nest` only ever see the sampled core.
    dimensions: tuple[Attribute, ...] = ()
    category_labels: dict[str, str] = field(default_factory=dict)  # category path -> its `label`

    def attribute(self, path: str) -> Attribute:
        for attr in self.attributes:
            if attr.path == path:
                return attr
        raise KeyError(path)

    @functools.cached_property
    def _dimensions_by_path(self) -> dict[str, Attribute]:
        return {dim.path: dim for dim in self.dimensions}

    def dimension(self, path: str) -> Attribute:
        return self._dimensions_by_path[path]

    @staticmethod
    def dimension_category(path: str) -> str:
        """The top-level category of a dimension below its root: the first two ids of the path
        (`profile.lifestyle_and_daily_routine` for `profile.lifestyle_and_daily_routine.sleep_patterns.
        bedtime_ritual`). A dimension directly inside a root category belongs to the root itself."""
        parts = path.split(".")
        return ".".join(parts[:2] if len(parts) > 2 else parts[:1])

    def dimension_categories(self) -> dict[str, tuple[Attribute, ...]]:
        """Dimensions grouped by `dimension_category`, both in file order."""
        groups: dict[str, list[Attribute]] = {}
        for dim in self.dimensions:
            groups.setdefault(self.dimension_category(dim.path), []).append(dim)
        return {cat: tuple(dims) for cat, dims in groups.items()}

    def category_label(self, path: str) -> str:
        """A category's `label`, or its id made readable (`sleep_patterns` -> "Sleep patterns")."""
        return self.category_labels.get(path) or _readable(path.rpartition(".")[2])

    def label_path(self, path: str) -> str:
        """The readable path of a dimension, from its top-level category down to the leaf:
        "Lifestyle and Daily Routine / Sleep Patterns / Bedtime Ritual" (the root is left out)."""
        dim = self.dimension(path)
        parts = path.split(".")
        start = len(self.dimension_category(path).split("."))
        cats = [self.category_label(".".join(parts[:i])) for i in range(start, len(parts))]
        return " / ".join([*cats, dim.label or _readable(parts[-1])])

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(a.path for a in self.attributes)

    @property
    def content_hash(self) -> str:
        canonical = json.dumps(self.raw, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    def arrow_struct(self) -> pa.StructType:
        """Nested struct mirroring the category tree: attributes.demographics.age, ..."""
        tree: dict[str, Any] = {}
        for attr in self.attributes:
            node = tree
            *cats, leaf = attr.path.split(".")
            for cat in cats:
                node = node.setdefault(cat, {})
            node[leaf] = attr.arrow_type()

        def build(node: dict[str, Any]) -> pa.StructType:
            return pa.struct(
                [pa.field(k, build(v) if isinstance(v, dict) else v, nullable=True) for k, v in node.items()]
            )

        return build(tree)

    def nest(self, flat: dict[str, Any]) -> dict[str, Any]:
        """Turn {"a.b.c": v} into {"a": {"b": {"c": v}}}, with every taxonomy path present."""
        out: dict[str, Any] = {}
        for attr in self.attributes:
            node = out
            *cats, leaf = attr.path.split(".")
            for cat in cats:
                node = node.setdefault(cat, {})
            node[leaf] = flat.get(attr.path)
        return out
