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


def top_up_bound(target: int, max_extra_fraction: float) -> int:
    """The most replacement personas a quota cell of this target may get over a run
    (`quotas.top_up.max_extra_fraction`); the 1e-9 keeps 0.5 * 4 from rounding up to 3."""
    return math.ceil(max_extra_fraction * target - 1e-9)


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


def _joint(attrs: list[Attribute], shares: dict[str, dict[str, float]]) -> list[tuple[dict[str, str], float]]:
    combos: list[tuple[dict[str, str], float]] = [({}, 1.0)]
    for attr in attrs:
        nxt = []
        for assigned, prob in combos:
            case = next((c for c in attr.cases if c.matches(assigned)), None)
            if case is None:
                continue
            weights = dict(case.values)
            if attr.path in shares:  # the config's target shares replace the taxonomy's weights
                weights = {v: shares[attr.path].get(v, 0.0) for v in weights}
            total = sum(weights.values())
            if total <= 0:
                continue
            for value, weight in weights.items():
                nxt.append(({**assigned, attr.path: value}, prob * weight / total))
        combos = nxt
    return combos


def _check_shares(
    attrs: list[Attribute], shares: dict[str, dict[str, float]], config_file: str
) -> dict[str, dict[str, float]]:
    by_path = {a.path: a for a in attrs}
    for path, table in shares.items():
        loc = f"quotas.shares.{path}"
        if path not in by_path:
            raise InputError(config_file, loc, f"{path!r} is not in quotas.stratify_by")
        unknown = sorted(set(table) - by_path[path].leaf_values())
        if unknown:
            raise InputError(config_file, loc, f"{unknown} are not values of {path!r}")
        if sum(table.values()) <= 0:
            raise InputError(config_file, loc, "shares must not all be zero")
    return {p: {k: float(v) for k, v in t.items()} for p, t in shares.items()}


def _largest_remainder(probs: list[float], total: int) -> list[int]:
    norm = sum(probs)
    exact = [p / norm * total for p in probs] if norm > 0 else [0.0] * len(probs)
    counts = [math.floor(x) for x in exact]
    # Ties go to the earlier cell so the plan is stable.
    by_remainder = sorted(range(len(probs)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def plan_quotas(
    taxonomy: Taxonomy,
    total: int,
    stratify_by: tuple[str, ...] = (),
    config_file: str = "<config>",
    shares: dict[str, dict[str, float]] | None = None,
    counts: list[dict] | None = None,
) -> QuotaPlan:
    """Exact integer targets per cell. Shares come from the taxonomy's joint weights, or from
    `shares` (per stratified attribute, value -> share) where given; `counts` pins exact counts for
    named cells and the rest of the run is spread over the other cells by share."""
    if total < 1:
        raise InputError(config_file, "run.num_personas", f"must be at least 1, got {total}")
    attrs = _check_stratifiers(taxonomy, tuple(stratify_by), config_file)
    combos = _joint(attrs, _check_shares(attrs, shares or {}, config_file))
    ids = [cell_id_of(tuple((a.path, assigned[a.path]) for a in attrs)) for assigned, _ in combos]
    pinned: dict[int, int] = {}
    for i, spec in enumerate(counts or []):
        loc = f"quotas.counts[{i}]"
        cell = spec["cell"]
        missing = [a.path for a in attrs if a.path not in cell]
        extra = sorted(set(cell) - {a.path for a in attrs})
        if missing or extra:
            raise InputError(
                config_file, loc, f"a cell names every stratified attribute; missing {missing}, extra {extra}"
            )
        wanted = cell_id_of(tuple((a.path, str(cell[a.path])) for a in attrs))
        if wanted not in ids:
            raise InputError(
                config_file, loc, f"cell {wanted!r} is infeasible: the taxonomy's conditions never produce it"
            )
        if ids.index(wanted) in pinned:
            raise InputError(config_file, loc, f"cell {wanted!r} is pinned twice")
        pinned[ids.index(wanted)] = int(spec["count"])
    rest = total - sum(pinned.values())
    if rest < 0:
        raise InputError(config_file, "quotas.counts", f"pinned counts sum to {total - rest}, more than {total}")
    free = [i for i in range(len(combos)) if i not in pinned]
    if rest and not any(combos[i][1] > 0 for i in free):
        raise InputError(config_file, "quotas.counts", f"{rest} personas left over but no other cell to put them in")
    spread = _largest_remainder([combos[i][1] for i in free], rest) if free else []
    targets = dict(pinned) | dict(zip(free, spread, strict=True))
    cells, start = [], 0
    for i, (assigned, prob) in enumerate(combos):
        if targets[i] == 0:
            continue
        values = tuple((a.path, assigned[a.path]) for a in attrs)
        cells.append(QuotaCell(ids[i], values, prob, targets[i], start))
        start += targets[i]
    return QuotaPlan(tuple(a.path for a in attrs), tuple(cells), total)
