"""Deterministic, vectorised attribute sampling.

The attributes of persona i are a pure function of (taxonomy, plan, seed, i): every random number
is a hash of (seed, i, attempt, attribute, slot) through splitmix64, so a persona comes out the same
whether it is sampled alone, in a block of a million, in any order, on any worker. Blocks are
sampled column by column with numpy, which is what makes millions of personas per minute possible.

Hard constraints are enforced by redrawing: a persona that breaks one is drawn again with the next
attempt number (its quota cell stays fixed), up to `max_attempts`.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import pyarrow as pa

from pipelines.errors import InputError
from pipelines.taxonomy.model import Attribute, Condition, Constraint, Taxonomy
from pipelines.taxonomy.quota import QuotaPlan

_FAKER_GENDER = {"female": "female", "woman": "female", "male": "male", "man": "male"}
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_ATTEMPT = np.uint64(0xD6E8FEB86659FD93)
NAME_TABLE_DRAWS = 4000  # Faker draws per (locale, gender) used to build a weighted name table


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic)."""
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def _key(*parts: Any) -> np.uint64:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return np.uint64(int.from_bytes(digest[:8], "little"))


@dataclass
class Column:
    """One attribute over a block of personas. categorical: int32 codes into `domain` (-1 absent);
    integer/number: float64 (NaN absent); multi: bool matrix rows x domain; name: object array."""

    attr: Attribute
    data: np.ndarray
    domain: tuple[str, ...] = ()

    def value(self, row: int) -> Any:
        kind = self.attr.type
        if kind == "categorical":
            code = int(self.data[row])
            return None if code < 0 else self.domain[code]
        if kind == "multi":
            return [self.domain[j] for j in np.flatnonzero(self.data[row])]
        if kind in ("integer", "number"):
            x = float(self.data[row])
            if np.isnan(x):
                return None
            return int(x) if kind == "integer" else x
        return self.data[row]

    def to_arrow(self) -> pa.Array:
        kind = self.attr.type
        if kind == "categorical":
            codes = pa.array(self.data, mask=self.data < 0, type=pa.int32())
            return pa.DictionaryArray.from_arrays(codes, pa.array(self.domain, pa.string())).cast(pa.string())
        if kind in ("integer", "number"):
            missing = np.isnan(self.data)
            data = np.where(missing, 0, self.data)
            if kind == "integer":
                return pa.array(data.astype(np.int64), mask=missing, type=pa.int64())
            return pa.array(data, mask=missing, type=pa.float64())
        if kind == "multi":
            rows, cols = np.nonzero(self.data)
            offsets = np.concatenate([[0], np.cumsum(self.data.sum(axis=1))]).astype(np.int32)
            values = pa.DictionaryArray.from_arrays(
                pa.array(cols.astype(np.int32)), pa.array(self.domain, pa.string())
            ).cast(pa.string())
            return pa.ListArray.from_arrays(pa.array(offsets), values)
        return pa.array(self.data.tolist(), pa.string())


@dataclass
class Block:
    """Attribute sets for the persona indices [start, stop)."""

    indices: np.ndarray
    cells: np.ndarray  # index into plan.cells, per row
    columns: dict[str, Column]

    def __len__(self) -> int:
        return len(self.indices)

    def flat(self, row: int) -> dict[str, Any]:
        return {path: col.value(row) for path, col in self.columns.items()}


def _condition_mask(cond: Condition, columns: dict[str, Column], n: int) -> np.ndarray:
    col = columns[cond.path]
    kind = col.attr.type
    if kind == "categorical":
        present = col.data >= 0
    elif kind == "multi":
        present = col.data.any(axis=1)
    elif kind in ("integer", "number"):
        present = ~np.isnan(col.data)
    else:
        present = np.array([v is not None for v in col.data], dtype=bool)
    mask = np.ones(n, dtype=bool)
    if cond.present is not None:
        mask &= present if cond.present else ~present
    if cond.values is not None or cond.min is not None or cond.max is not None:
        mask &= present

    def listed(values: tuple[str, ...]) -> np.ndarray:
        codes = [col.domain.index(v) for v in values if v in col.domain]
        if kind == "multi":
            return col.data[:, codes].any(axis=1) if codes else np.zeros(n, dtype=bool)
        return np.isin(col.data, codes)

    if cond.values is not None:
        mask &= listed(cond.values)
    if cond.not_values is not None:
        mask &= ~listed(cond.not_values)
    with np.errstate(invalid="ignore"):
        if cond.min is not None:
            mask &= col.data >= cond.min
        if cond.max is not None:
            mask &= col.data <= cond.max
    return mask


def _all(conds: tuple[Condition, ...], columns: dict[str, Column], n: int) -> np.ndarray:
    mask = np.ones(n, dtype=bool)
    for cond in conds:
        mask &= _condition_mask(cond, columns, n)
    return mask


def _broken(rule: Constraint, columns: dict[str, Column], n: int) -> np.ndarray:
    """Rows where the rule's `when` holds and its `require` does not."""
    return _all(rule.when, columns, n) & ~_all(rule.require, columns, n)


def _case_rows(attr: Attribute, columns: dict[str, Column], n: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Rows per case of `attr` (the first case whose `when` holds) and the rows no case matches.
    Fast path for the common shape, every case conditioned on one categorical parent by value
    list: a lookup table from the parent's code, then one stable sort."""
    conds = [c.when[0] for c in attr.cases if c.when]
    simple = (
        bool(conds)
        and all(len(c.when) <= 1 for c in attr.cases)
        and len({c.path for c in conds}) == 1
        and all(c.values is not None and c.not_values is None and c.present is None for c in conds)
        and all(c.min is None and c.max is None for c in conds)
        and columns[conds[0].path].attr.type == "categorical"
    )
    if simple:
        parent = columns[conds[0].path]
        default = next((i for i, c in enumerate(attr.cases) if not c.when), -1)
        lut = np.full(len(parent.domain) + 1, default, dtype=np.int64)  # last slot: parent absent (-1)
        for ci in range(len(attr.cases) - 1, -1, -1):  # backwards, so the first matching case wins
            if attr.cases[ci].when:
                for v in attr.cases[ci].when[0].values:
                    lut[parent.domain.index(v)] = ci
        idx = lut[parent.data]
    else:
        idx = np.full(n, -1, dtype=np.int64)
        for ci, case in enumerate(attr.cases):
            free = idx < 0
            idx[free & _all(case.when, columns, n) if case.when else free] = ci
    order = np.argsort(idx, kind="stable")
    bounds = np.searchsorted(idx[order], np.arange(-1, len(attr.cases) + 1))
    return [order[bounds[ci + 1] : bounds[ci + 2]] for ci in range(len(attr.cases))], order[bounds[0] : bounds[1]]


@lru_cache(maxsize=256)
def _name_table(locale: str, gender: str | None, part: str) -> tuple[tuple[str, ...], np.ndarray]:
    """A weighted table of first or last names for a Faker locale: Faker's own generators drawn
    with a fixed seed, so locale rules (e.g. Polish feminine surnames) are kept."""
    from faker import Faker

    fake = Faker(locale)
    fake.seed_instance(0)
    draw = {
        ("first", "female"): fake.first_name_female,
        ("first", "male"): fake.first_name_male,
        ("first", None): fake.first_name,
        ("last", "female"): fake.last_name_female,
        ("last", "male"): fake.last_name_male,
        ("last", None): fake.last_name,
    }[(part, gender)]
    counts = Counter(draw() for _ in range(NAME_TABLE_DRAWS))
    names = tuple(sorted(counts))
    cdf = np.cumsum([counts[n] for n in names], dtype=float)
    return names, cdf / cdf[-1]


class AttributeSampler:
    """Samples attribute sets for blocks of persona indices. Picklable and cheap to ship."""

    def __init__(self, taxonomy: Taxonomy, plan: QuotaPlan, seed: int, max_attempts: int = 1000):
        self.taxonomy = taxonomy
        self.plan = plan
        self.seed = int(seed)
        self.max_attempts = int(max_attempts)
        self._seed_key = _key("persona-pipelines", self.seed)
        self._starts = np.array([c.start for c in plan.cells], dtype=np.int64)
        self._domains = {a.path: a.domain() for a in taxonomy.attributes}
        # Per cell, the code of each stratified attribute's fixed value.
        self._fixed = {
            path: np.array([self._domains[path].index(c.fixed[path]) for c in plan.cells], dtype=np.int32)
            for path in plan.stratify_by
        }
        self._slots = {a.path: _key(a.path) for a in taxonomy.attributes}

    # -- randomness ------------------------------------------------------------------------------

    def _uniform(self, indices: np.ndarray, attempts: np.ndarray, slot: np.uint64, width: int = 1) -> np.ndarray:
        """Uniform [0, 1) numbers, shape (rows, width): a pure function of (seed, index, attempt, slot, column)."""
        with np.errstate(over="ignore"):
            h = _mix(indices.astype(np.uint64) + self._seed_key)
            h = _mix(h ^ (attempts.astype(np.uint64) * _ATTEMPT) ^ slot)
            cols = np.arange(1, width + 1, dtype=np.uint64) * _GOLDEN
            bits = _mix(h[:, None] + cols[None, :])
        return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)

    # -- public API ------------------------------------------------------------------------------

    def sample_block(self, start: int, stop: int) -> Block:
        indices = np.arange(start, stop, dtype=np.int64)
        if len(indices) and (start < 0 or stop > self.plan.total):
            raise IndexError(f"persona indices {start}..{stop - 1} are outside the plan (0..{self.plan.total - 1})")
        cells = np.searchsorted(self._starts, indices, side="right") - 1
        return self._sample(indices, cells)

    def sample_in_cells(self, indices: np.ndarray, cells: np.ndarray) -> Block:
        """Personas at indices past the plan (top-up replacements), each in the given quota cell
        (positions in `plan.cells`). Same pure function of (seed, index) as `sample_block`."""
        indices = np.asarray(indices, dtype=np.int64)
        cells = np.asarray(cells, dtype=np.int64)
        if len(indices) != len(cells):
            raise ValueError(f"{len(indices)} indices but {len(cells)} cells")
        if len(indices) and indices.min() < self.plan.total:
            raise IndexError(f"top-up indices must be past the plan (>= {self.plan.total}), got {int(indices.min())}")
        if len(cells) and (cells.min() < 0 or cells.max() >= len(self.plan.cells)):
            raise IndexError(f"quota cell positions must be in 0..{len(self.plan.cells) - 1}")
        return self._sample(indices, cells)

    def sample(self, index: int) -> tuple[str, dict[str, Any]]:
        """(quota cell id, {attribute path: value}) for one persona; equal to its row in any block."""
        block = self.sample_block(index, index + 1)
        return self.plan.cells[int(block.cells[0])].cell_id, block.flat(0)

    def probe(self, rows: int) -> list[tuple[int, Counter]]:
        """Draw `rows` first attempts per quota cell (at indices outside the plan), all cells in
        one vectorised draw, and count per cell how many satisfy every constraint and which
        constraints the others broke."""
        k = len(self.plan.cells)
        cells = np.repeat(np.arange(k, dtype=np.int64), rows)
        indices = np.arange(k * rows, dtype=np.int64) + (1 << 40)
        columns = self._draw(indices, np.zeros(k * rows, dtype=np.int64), cells)
        ok = np.ones(k * rows, dtype=bool)
        broken: list[Counter] = [Counter() for _ in range(k)]
        for rule in self.taxonomy.constraints:
            bad = _broken(rule, columns, k * rows)
            for cell, count in enumerate(np.bincount(cells[bad], minlength=k)):
                broken[cell][rule.id] += int(count)
            ok &= ~bad
        return [(int(n), broken[c]) for c, n in enumerate(np.bincount(cells[ok], minlength=k))]

    def marginals(self, block: Block) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per categorical attribute: (sampled counts, target counts) over its domain. The target
        of each row is the distribution its case gives (weights times presence probability), so
        conditional attributes are compared with what their conditions imply, not a global mean."""
        n = len(block)
        out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for attr in self.taxonomy.attributes:
            if attr.type != "categorical" or attr.path in self._fixed:
                continue
            col = block.columns[attr.path]
            domain = col.domain
            sampled = np.bincount(col.data[col.data >= 0], minlength=len(domain)).astype(float)
            target = np.zeros(len(domain))
            per_case, _ = _case_rows(attr, block.columns, n)
            for case, rows in zip(attr.cases, per_case, strict=True):
                total = sum(w for _, w in case.values)
                for value, weight in case.values:
                    target[domain.index(value)] += len(rows) * weight / total * attr.probability
            out[attr.path] = (sampled, target)
        return out

    # -- internals -------------------------------------------------------------------------------

    def _violations(self, columns: dict[str, Column], n: int) -> np.ndarray:
        bad = np.zeros(n, dtype=bool)
        for rule in self.taxonomy.constraints:
            bad |= _broken(rule, columns, n)
        return bad

    def _sample(self, indices: np.ndarray, cells: np.ndarray) -> Block:
        n = len(indices)
        attempts = np.zeros(n, dtype=np.int64)
        columns = self._draw(indices, attempts, cells)
        pending = np.flatnonzero(self._violations(columns, n)) if self.taxonomy.constraints else np.array([], int)
        while len(pending):
            attempts[pending] += 1
            if attempts[pending].max() >= self.max_attempts:
                self._give_up(indices, cells, pending, columns)
            redraw = self._draw(indices[pending], attempts[pending], cells[pending])
            for path, col in columns.items():
                col.data[pending] = redraw[path].data
            still = self._violations(redraw, len(pending))
            pending = pending[still]
        return Block(indices, cells, columns)

    def _give_up(self, indices, cells, pending, columns) -> None:
        row = int(pending[0])
        cell = self.plan.cells[int(cells[row])]
        flat = {p: c.value(row) for p, c in columns.items()}
        rules = [r for r in self.taxonomy.constraints if not r.holds(flat)]
        file, _, loc = rules[0].source.partition(": ")
        raise InputError(
            file,
            loc,
            f"persona {int(indices[row])} in quota cell {cell.cell_id!r} still breaks {[r.id for r in rules]} after "
            f"{self.max_attempts} draws; the constraints leave this cell (almost) no valid persona",
        )

    def _draw(self, indices: np.ndarray, attempts: np.ndarray, cells: np.ndarray) -> dict[str, Column]:
        n = len(indices)
        columns: dict[str, Column] = {}
        for attr in self.taxonomy.attributes:
            path = attr.path
            if path in self._fixed:
                columns[path] = Column(attr, self._fixed[path][cells].copy(), self._domains[path])
                continue
            slot = self._slots[path]
            if attr.type == "name":
                columns[path] = Column(attr, self._names(attr, indices, attempts, slot, columns))
                continue
            col = self._empty(attr, n)
            per_case, unmatched = _case_rows(attr, columns, n)
            if len(unmatched):
                self._no_case(attr, columns, int(unmatched[0]))
            for case, rows in zip(attr.cases, per_case, strict=True):
                if len(rows):
                    self._fill(attr, case, col, rows, indices[rows], attempts[rows], slot)
            if attr.probability < 1.0:
                absent = self._uniform(indices, attempts, slot ^ np.uint64(1))[:, 0] >= attr.probability
                if attr.type == "multi":
                    col.data[absent] = False
                elif attr.type == "categorical":
                    col.data[absent] = -1
                else:
                    col.data[absent] = np.nan
            columns[path] = col
        return columns

    def _empty(self, attr: Attribute, n: int) -> Column:
        domain = self._domains[attr.path]
        if attr.type == "categorical":
            return Column(attr, np.full(n, -1, dtype=np.int32), domain)
        if attr.type == "multi":
            return Column(attr, np.zeros((n, len(domain)), dtype=bool), domain)
        return Column(attr, np.full(n, np.nan))

    def _fill(self, attr, case, col: Column, rows, indices, attempts, slot) -> None:
        if attr.type == "categorical":
            codes = np.array([col.domain.index(v) for v, _ in case.values], dtype=np.int32)
            cdf = np.cumsum([w for _, w in case.values], dtype=float)
            u = self._uniform(indices, attempts, slot)[:, 0] * cdf[-1]
            col.data[rows] = codes[np.minimum(np.searchsorted(cdf, u, side="right"), len(codes) - 1)]
        elif attr.type == "multi":
            # Weighted sampling without replacement (Efraimidis-Spirakis): the k largest u^(1/w).
            codes = np.array([col.domain.index(v) for v, _ in case.values], dtype=np.int64)
            weights = np.array([w for _, w in case.values], dtype=float)
            u = self._uniform(indices, attempts, slot, len(col.domain))[:, codes]
            keys = np.log(np.maximum(u, 1e-300)) / weights
            k = attr.pick_min + np.floor(
                self._uniform(indices, attempts, slot ^ np.uint64(2))[:, 0] * (attr.pick_max - attr.pick_min + 1)
            ).astype(np.int64)
            ranks = np.argsort(np.argsort(-keys, axis=1, kind="stable"), axis=1, kind="stable")
            chosen = ranks < k[:, None]
            block = np.zeros((len(rows), len(col.domain)), dtype=bool)
            block[:, codes] = chosen
            col.data[rows] = block
        else:
            lo, hi = float(case.min), float(case.max)
            u = self._uniform(indices, attempts, slot, 2)
            if case.mean is not None and case.sd is not None:
                z = np.sqrt(-2.0 * np.log1p(-u[:, 0])) * np.cos(2.0 * np.pi * u[:, 1])
                x = np.clip(case.mean + case.sd * z, lo, hi)
                x = np.round(x) if attr.type == "integer" else x
            elif attr.type == "integer":
                x = np.floor(lo + u[:, 0] * (hi - lo + 1.0))
            else:
                x = lo + u[:, 0] * (hi - lo)
            x = np.clip(x, lo, hi)
            col.data[rows] = x if attr.type == "integer" else np.round(x, attr.decimals)

    def _names(self, attr, indices, attempts, slot, columns: dict[str, Column]) -> np.ndarray:
        n = len(indices)
        locales = columns[attr.locale_from]
        genders = columns.get(attr.gender_from) if attr.gender_from else None
        u = self._uniform(indices, attempts, slot, 2)
        out = np.empty(n, dtype=object)
        keys: dict[tuple[str, str | None], list[int]] = {}
        for row in range(n):
            locale = self.taxonomy.locales[locales.value(row)]
            gender = _FAKER_GENDER.get(str(genders.value(row)).lower()) if genders is not None else None
            keys.setdefault((locale, gender), []).append(row)
        for (locale, gender), rows in keys.items():
            rows_a = np.array(rows)
            first, fcdf = _name_table(locale, gender, "first")
            last, lcdf = _name_table(locale, gender, "last")
            fi = np.minimum(np.searchsorted(fcdf, u[rows_a, 0], side="right"), len(first) - 1)
            li = np.minimum(np.searchsorted(lcdf, u[rows_a, 1], side="right"), len(last) - 1)
            for row, a, b in zip(rows, fi, li, strict=True):
                out[row] = f"{first[a]} {last[b]}"
        return out

    def _no_case(self, attr: Attribute, columns: dict[str, Column], row: int) -> None:
        parents = {d: columns[d].value(row) for d in attr.depends_on if d in columns}
        file, _, loc = attr.source.partition(": ")
        raise InputError(file, f"{loc}.cases", f"no case of {attr.path!r} matches {parents}; add a default case")


def check_feasibility(
    sampler: AttributeSampler, config_file: str = "<config>", probes: int = 500, min_rate: float = 0.02
) -> dict[str, float]:
    """Before any LLM call: every quota cell must admit personas that satisfy the constraints.
    Returns the first-draw acceptance rate per cell; raises InputError for a cell whose rate is
    below `min_rate` (0 means the constraints make the cell impossible)."""
    rates: dict[str, float] = {}
    if not sampler.taxonomy.constraints:
        return {c.cell_id: 1.0 for c in sampler.plan.cells}
    for cell, (ok, broken) in zip(sampler.plan.cells, sampler.probe(probes), strict=True):
        rates[cell.cell_id] = ok / probes
        if ok / probes < min_rate:
            worst = ", ".join(f"{rule} ({count}/{probes})" for rule, count in broken.most_common(3) if count)
            kind = "infeasible" if ok == 0 else f"nearly infeasible ({ok}/{probes} draws valid)"
            raise InputError(
                config_file,
                f"quotas (cell {cell.cell_id})",
                f"quota cell with target {cell.target} is {kind}: taxonomy constraints broken: {worst}",
            )
    return rates
