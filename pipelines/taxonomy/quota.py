"""Stratified quota planning: exact integer targets per cell, by largest remainder.

A cell is one combination of values of the stratification attributes. Its share of the run is the
joint probability the taxonomy gives it (conditional weights included); targets are rounded so that
they sum exactly to the number of personas requested.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from pipelines.errors import InputError
from pipelines.taxonomy.model import Attribute, Taxonomy


@dataclass(frozen=True)
class QuotaCell:
    cell_id: str
    values: tuple[tuple[str, str], ...]  # (attribute path, value)
    probability: float
    target: int
    start: int  # first persona index of this cell

    @property
    def fixed(self) -> dict[str, str]:
        return dict(self.values)


@dataclass(frozen=True)
class QuotaPlan:
    stratify_by: tuple[str, ...]
    cells: tuple[QuotaCell, ...]
    total: int

    def cell_for(self, index: int) -> QuotaCell:
        if not 0 <= index < self.total:
            raise IndexError(f"persona index {index} is outside the plan (0..{self.total - 1})")
        starts = [c.start for c in self.cells]
        return self.cells[bisect.bisect_right(starts, index) - 1]

    def as_dict(self) -> list[dict]:
        return [
            {"cell_id": c.cell_id, "values": dict(c.values), "target": c.target, "probability": c.probability}
            for c in self.cells
        ]


def cell_id_of(values: dict[str, str] | tuple[tuple[str, str], ...]) -> str:
    items = values.items() if isinstance(values, dict) else values
    return ";".join(f"{path}={value}" for path, value in items) or "all"


def _check_stratifiers(taxonomy: Taxonomy, stratify_by: tuple[str, ...], config_file: str) -> list[Attribute]:
    attrs = []
    for i, path in enumerate(stratify_by):
        loc = f"quotas.stratify_by[{i}]"
        try:
            attr = taxonomy.attribute(path)
        except KeyError:
            raise InputError(config_file, loc, f"unknown taxonomy attribute {path!r}") from None
        if attr.type != "categorical":
            raise InputError(
                config_file, loc, f"{path!r} is {attr.type}; only categorical attributes can be stratified"
            )
        if attr.probability < 1.0:
            raise InputError(config_file, loc, f"{path!r} is optional; stratified attributes must always be present")
        outside = [d for d in attr.depends_on if d not in stratify_by]
        if outside:
            raise InputError(config_file, loc, f"{path!r} depends on {outside}, which must be stratified too")
        attrs.append(attr)
    order = {a.path: i for i, a in enumerate(taxonomy.attributes)}
    return sorted(attrs, key=lambda a: order[a.path])


def _joint(attrs: list[Attribute]) -> list[tuple[dict[str, str], float]]:
    combos: list[tuple[dict[str, str], float]] = [({}, 1.0)]
    for attr in attrs:
        nxt = []
        for assigned, prob in combos:
            case = next((c for c in attr.cases if c.matches(assigned)), None)
            if case is None:
                continue
            total = sum(w for _, w in case.values)
            for value, weight in case.values:
                nxt.append(({**assigned, attr.path: value}, prob * weight / total))
        combos = nxt
    return combos


def plan_quotas(
    taxonomy: Taxonomy, total: int, stratify_by: tuple[str, ...] = (), config_file: str = "<config>"
) -> QuotaPlan:
    if total < 1:
        raise InputError(config_file, "run.num_personas", f"must be at least 1, got {total}")
    attrs = _check_stratifiers(taxonomy, tuple(stratify_by), config_file)
    combos = _joint(attrs)
    exact = [p * total for _, p in combos]
    counts = [math.floor(x) for x in exact]
    # Largest remainder; ties go to the earlier cell so the plan is stable.
    by_remainder = sorted(range(len(combos)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    cells, start = [], 0
    for (assigned, prob), count in zip(combos, counts, strict=True):
        if count == 0:
            continue
        values = tuple((a.path, assigned[a.path]) for a in attrs)
        cells.append(QuotaCell(cell_id_of(values), values, prob, count, start))
        start += count
    return QuotaPlan(tuple(a.path for a in attrs), tuple(cells), total)
