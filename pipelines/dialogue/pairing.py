"""Who talks to whom, about what: pairs of accepted personas and a scenario for each dialogue.

Strategies (`dialogues.pairing`):
- `random_within_strata`: partners from the same quota cell (age band x gender by default), so
  the dialogues mirror the strata; odd ones out are paired across cells;
- `similar_interests`: each persona's partner is its nearest unpaired neighbour by the narrative
  embeddings (people with things in common);
- `contrasting`: the least similar among a persona's next unpaired candidates, preferring
  another quota cell (people who see the world differently);
- `mixed`: each persona is assigned one of the three by a hash.

Each persona takes part in `per_persona` dialogues (one per round; a pair never repeats). Every
choice is a pure function of (seed, persona indices, embeddings): input order, bundles and worker
count change nothing. Pairing sees one light tuple per persona (index, id, cell, embedding) on
one worker, which suits runs up to about 10^5 personas; the personas' attributes are joined back
to the pairs by key.

Keys: reads accepted PersonaRecords (`persona_id`, `persona_index`, `quota_cell`, `_attrs`,
`_embedding`); writes DialogueSpecs (`_kind`, `dialogue_id`, `dialogue_index`, `persona_ids`,
`scenario`, `pairing`, `_speakers`).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import apache_beam as beam
import numpy as np
from apache_beam.metrics import Metrics

from pipelines.errors import InputError
from pipelines.progress import Total
from pipelines.records import DIALOGUE, dialogue_id, record_index
from pipelines.schemas import check_file_against_schema
from pipelines.taxonomy.loader import read_yaml

STRATEGIES = ("random_within_strata", "similar_interests", "contrasting")
CANDIDATES = 32  # partners considered per persona by the embedding strategies


@dataclass(frozen=True)
class Scenario:
    id: str
    description: str
    weight: float


def load_scenarios(path: str | Path) -> tuple[Scenario, ...]:
    doc = read_yaml(Path(path))
    check_file_against_schema("scenarios", doc, str(path))
    seen: set[str] = set()
    out = []
    for i, s in enumerate(doc["scenarios"]):
        if s["id"] in seen:
            raise InputError(str(path), f"$.scenarios[{i}].id", f"duplicate scenario id {s['id']!r}")
        seen.add(s["id"])
        out.append(Scenario(s["id"], " ".join(s["description"].split()), float(s.get("weight", 1))))
    return tuple(out)


def _h(*parts: Any) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


@dataclass(frozen=True)
class Member:
    index: int
    persona_id: str
    cell: str
    embedding: np.ndarray


def _match(
    order: list[Member], kind: str, met: dict[int, set[int]]
) -> tuple[list[tuple[Member, Member]], list[Member]]:
    """Greedy matching in `order`: each persona still free takes a free partner it has not met:
    the next one in order (`first`), the most similar of all (`nearest`), or the least similar
    of the next CANDIDATES, preferring another cell (`contrast`). Returns (pairs, unmatched)."""
    n = len(order)
    if n == 0:
        return [], []
    vectors = np.stack([m.embedding for m in order]) if kind != "first" else None
    cells = np.array([m.cell for m in order], dtype=object)
    position = {m.index: i for i, m in enumerate(order)}
    free = np.ones(n, dtype=bool)
    pairs, unmatched = [], []
    for i, a in enumerate(order):
        if not free[i]:
            continue
        free[i] = False
        mask = free.copy()
        for other in met.get(a.index, ()):
            if other in position:
                mask[position[other]] = False
        window = np.flatnonzero(mask)
        if kind != "nearest":
            window = window[:CANDIDATES]
        if window.size == 0:
            unmatched.append(a)
            continue
        if kind == "first":
            j = int(window[0])
        else:
            sims = vectors[window] @ vectors[i]
            if kind == "nearest":
                j = int(window[int(np.argmax(sims))])  # ties: earliest in order
            else:
                same_cell = (cells[window] == a.cell).astype(np.float32)
                j = int(window[int(np.argmin(sims + 2.0 * same_cell))])
        free[j] = False
        b = order[j]
        met.setdefault(a.index, set()).add(b.index)
        met.setdefault(b.index, set()).add(a.index)
        pairs.append((a, b))
    return pairs, unmatched


def _pairs(members: list[Member], name: str, seed: int, round_: int, met) -> tuple[list, list[Member]]:
    if name == "random_within_strata":
        by_cell: dict[str, list[Member]] = defaultdict(list)
        for m in members:
            by_cell[m.cell].append(m)
        pairs, left = [], []
        for cell in sorted(by_cell):
            group = sorted(by_cell[cell], key=lambda m: _h(seed, round_, "strata", m.index))
            found, rest = _match(group, "first", met)
            pairs += found
            left += rest
        return pairs, left
    order = sorted(members, key=lambda m: _h(seed, round_, name, m.index))
    return _match(order, "nearest" if name == "similar_interests" else "contrast", met)


def _pick_scenario(scenarios: Sequence[Scenario], seed: int, index: int) -> Scenario:
    total = sum(s.weight for s in scenarios)
    x = (_h(seed, "scenario", index) / 2**64) * total
    for s in scenarios:
        x -= s.weight
        if x < 0:
            return s
    return scenarios[-1]


def _speaking_order(a: Member, b: Member, seed: int) -> tuple[int, int]:
    first, second = sorted((a, b), key=lambda m: _h(seed, "speaks-first", min(a.index, b.index), m.index))
    return first.index, second.index


def plan_dialogues(
    members: Sequence[tuple[int, str, str, Any]],
    strategy: str,
    per_persona: int,
    seed: int,
    scenarios: Sequence[Scenario],
) -> list[dict[str, Any]]:
    """(index, persona_id, cell, embedding) per persona -> dialogue plans, sorted by dialogue index:
    {dialogue_index, dialogue_id, a_index, b_index, persona_ids, scenario, pairing}."""
    if strategy not in (*STRATEGIES, "mixed"):
        raise ValueError(f"unknown pairing strategy {strategy!r}")
    people = sorted(
        (Member(int(i), pid, cell, np.asarray(e, dtype=np.float32)) for i, pid, cell, e in members),
        key=lambda m: m.index,
    )
    met: dict[int, set[int]] = {}
    planned: list[tuple[int, int, int, str]] = []  # (round, a, b, strategy)
    for round_ in range(per_persona):
        groups: dict[str, list[Member]] = defaultdict(list)
        for m in people:
            name = STRATEGIES[_h(seed, round_, "mix", m.index) % 3] if strategy == "mixed" else strategy
            groups[name].append(m)
        left: list[Member] = []
        for name in STRATEGIES:
            pairs, rest = _pairs(groups.get(name, []), name, seed, round_, met)
            left += rest
            planned += [(round_, *_speaking_order(a, b, seed), name) for a, b in pairs]
        # odd ones out of each group meet across groups and cells
        order = sorted(left, key=lambda m: _h(seed, round_, "leftover", m.index))
        pairs, _ = _match(order, "first", met)
        planned += [(round_, *_speaking_order(a, b, seed), "leftover") for a, b in pairs]
    planned.sort(key=lambda p: (p[0], min(p[1], p[2]), max(p[1], p[2])))
    ids = {m.index: m.persona_id for m in people}
    out = []
    for d, (_, a, b, name) in enumerate(planned):
        scenario = _pick_scenario(scenarios, seed, d)
        out.append(
            {
                "dialogue_index": d,
                "dialogue_id": dialogue_id(seed, d),
                "a_index": a,
                "b_index": b,
                "persona_ids": [ids[a], ids[b]],
                "scenario": {"id": scenario.id, "description": scenario.description},
                "pairing": name,
            }
        )
    return out


def _speaker(persona: dict[str, Any]) -> dict[str, Any]:
    return {"persona_id": persona["persona_id"], "_attrs": persona["_attrs"]}


def _attach(keyed, slot: int):
    _, grouped = keyed
    personas = list(grouped["persona"])
    for plan in grouped["plan"]:
        plan = dict(plan)
        speakers = list(plan.get("_speakers") or [None, None])
        speakers[slot] = _speaker(personas[0])
        plan["_speakers"] = speakers
        yield plan


class PairPersonas(beam.PTransform):
    """accepted personas (with `_attrs` and `_embedding`) -> dialogue specs with both speakers."""

    def __init__(
        self,
        strategy: str,
        per_persona: int,
        seed: int,
        scenarios: Sequence[Scenario],
        requests: Total | None = None,
        requests_per_dialogue: int = 1,
    ):
        super().__init__()
        self.strategy = strategy
        self.per_persona = per_persona
        self.seed = seed
        self.scenarios = tuple(scenarios)
        self.requests = requests  # the dialogue LLM stage's progress total, declared once planned
        self.requests_per_dialogue = requests_per_dialogue

    def _plan(self, members):
        plans = plan_dialogues(members, self.strategy, self.per_persona, self.seed, self.scenarios)
        Metrics.counter("dialogue", "planned").inc(len(plans))
        if self.requests is not None:
            self.requests.add(len(plans) * self.requests_per_dialogue)
        return plans

    def expand(self, personas):
        plans = (
            personas
            | "Light" >> beam.Map(lambda r: (record_index(r), r["persona_id"], r["quota_cell"], r["_embedding"]))
            | "Gather" >> beam.combiners.ToList()
            | "Plan" >> beam.FlatMap(self._plan)
        )
        by_index = personas | "ByIndex" >> beam.Map(lambda r: (record_index(r), r))
        with_a = (
            {"plan": plans | "ByA" >> beam.Map(lambda p: (p["a_index"], p)), "persona": by_index}
            | "JoinA" >> beam.CoGroupByKey()
            | "AttachA" >> beam.FlatMap(_attach, 0)
        )
        return (
            {"plan": with_a | "ByB" >> beam.Map(lambda p: (p["b_index"], p)), "persona": by_index}
            | "JoinB" >> beam.CoGroupByKey()
            | "AttachB" >> beam.FlatMap(_attach, 1)
            | "Spec"
            >> beam.Map(
                lambda p: {"_kind": DIALOGUE.name, **{k: v for k, v in p.items() if k not in ("a_index", "b_index")}}
            )
        )
