"""Deterministic attribute sampling: persona i's attributes depend only on
(taxonomy, plan, seed, i), never on worker count, bundle order or runner."""

from __future__ import annotations

from typing import Any

import numpy as np

from pipelines.errors import InputError
from pipelines.taxonomy.model import Attribute, Case, Taxonomy
from pipelines.taxonomy.quota import QuotaPlan

_FAKER_GENDER = {"female": "female", "woman": "female", "male": "male", "man": "male"}


class AttributeSampler:
    """Samples one attribute set per persona index. Picklable; Faker instances are built lazily."""

    def __init__(self, taxonomy: Taxonomy, plan: QuotaPlan, seed: int):
        self.taxonomy = taxonomy
        self.plan = plan
        self.seed = int(seed)
        self._fakers: dict[str, Any] = {}

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_fakers"] = {}
        return state

    def rng(self, index: int) -> np.random.Generator:
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence([self.seed, index])))

    def sample(self, index: int) -> tuple[str, dict[str, Any]]:
        """Return (quota cell id, {attribute path: value}) for persona `index`."""
        cell = self.plan.cell_for(index)
        fixed = cell.fixed
        rng = self.rng(index)
        out: dict[str, Any] = {}
        for attr in self.taxonomy.attributes:
            if attr.path in fixed:
                out[attr.path] = fixed[attr.path]
                continue
            if attr.probability < 1.0 and rng.random() >= attr.probability:
                out[attr.path] = [] if attr.type == "multi" else None
                continue
            out[attr.path] = self._draw(attr, self._case(attr, out), out, rng)
        return cell.cell_id, out

    @staticmethod
    def _case(attr: Attribute, sampled: dict[str, Any]) -> Case:
        for case in attr.cases:
            if case.matches(sampled):
                return case
        parents = {d: sampled.get(d) for d in attr.depends_on}
        file, _, loc = attr.source.partition(": ")
        raise InputError(file, f"{loc}.cases", f"no case of {attr.path!r} matches {parents}; add a default case")

    def _draw(self, attr: Attribute, case: Case, sampled: dict[str, Any], rng: np.random.Generator) -> Any:
        if attr.type == "categorical":
            values, weights = zip(*case.values, strict=True)
            p = np.asarray(weights, dtype=float)
            return values[int(rng.choice(len(values), p=p / p.sum()))]
        if attr.type == "multi":
            values, weights = zip(*case.values, strict=True)
            p = np.asarray(weights, dtype=float)
            k = int(rng.integers(attr.pick_min, attr.pick_max + 1))
            picked = rng.choice(len(values), size=k, replace=False, p=p / p.sum())
            return [values[i] for i in sorted(int(j) for j in picked)]
        if attr.type in ("integer", "number"):
            lo, hi = float(case.min), float(case.max)
            if case.mean is not None and case.sd is not None:
                x = float(np.clip(rng.normal(case.mean, case.sd), lo, hi))
            else:
                x = float(rng.uniform(lo, hi + (1.0 if attr.type == "integer" else 0.0)))
            if attr.type == "integer":
                return int(min(max(int(np.floor(x)) if case.mean is None else round(x), lo), hi))
            return round(min(x, hi), attr.decimals)
        if attr.type == "name":
            return self._name(attr, sampled, rng)
        raise AssertionError(attr.type)

    def _name(self, attr: Attribute, sampled: dict[str, Any], rng: np.random.Generator) -> str:
        from faker import Faker  # imported lazily: workers that never sample names skip it

        locale = self.taxonomy.locales[sampled[attr.locale_from]]
        fake = self._fakers.get(locale)
        if fake is None:
            fake = self._fakers[locale] = Faker(locale)
        fake.seed_instance(int(rng.integers(0, 2**31 - 1)))
        gender = _FAKER_GENDER.get(str(sampled.get(attr.gender_from, "")).lower())
        if gender == "female":
            first = fake.first_name_female()
        elif gender == "male":
            first = fake.first_name_male()
        else:
            first = fake.first_name()
        return f"{first} {fake.last_name()}"
