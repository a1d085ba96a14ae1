"""Prompt templates. The pipeline owns every structured field; the model only writes prose.

A template has an id that is recorded on every row, so a dataset says which prompt made it.
Small models follow an example far better than instructions, so the template carries one.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from pipelines.common.facts import PREFILL_FIELD_PATHS, persona_facts, prefill_fields, prompted_paths


@dataclass(frozen=True)
class PromptTemplate:
    template_id: str
    system: str
    example_facts: tuple[tuple[str, str], ...]
    example_answer: str
    instruction: str  # formatted with {name} and {words}
    # Opening words of the answer, written by the pipeline from the sampled attributes; the model
    # continues them (backends that support assistant prefill). Keeps small models on the subject.
    prefill: str = ""
    # The openings tried in turn where a persona lacks a field the prefill names (none left: no
    # prefill).
    prefill_fallbacks: tuple[str, ...] = ()
    target_words: int = 90
    # The `persona_facts` labels the prompt shows (empty: all). Small models keep a handful of
    # facts straight far better than eighteen.
    fact_labels: tuple[str, ...] = ()

    @property
    def prompted_paths(self) -> tuple[str, ...]:
        """The attribute paths whose facts the prompt shows."""
        return prompted_paths(self.fact_labels)

    @property
    def prefilled_paths(self) -> frozenset[str]:
        """The attribute paths the prefill itself states (from the fields it is formatted with):
        written by the pipeline, not by the model."""
        fields = (f for _, f, _, _ in string.Formatter().parse(self.prefill) if f)
        return frozenset(p for f in fields for p in PREFILL_FIELD_PATHS[f])

    def model_paths(self, prefill: bool) -> tuple[str, ...]:
        """The prompted facts the model has to convey (what attribute coverage counts): all of them,
        less those the prefilled opening states when the backend continues a prefill."""
        written = self.prefilled_paths if prefill else frozenset()
        return tuple(p for p in self.prompted_paths if p not in written)

    def facts(self, attrs: dict[str, Any]) -> list[tuple[str, str]]:
        facts = persona_facts(attrs)
        return [f for f in facts if f[0] in self.fact_labels] if self.fact_labels else facts

    def render_prefill(self, attrs: dict[str, Any]) -> str:
        """The answer's opening (`prefill`, formatted with `facts.prefill_fields`)."""
        if not self.prefill:
            return ""
        fields = prefill_fields(attrs)
        for opening in (self.prefill, *self.prefill_fallbacks):
            try:
                return opening.format(**fields)
            except KeyError:
                continue
        return ""

    def render_facts(self, facts: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> str:
        return "Facts:\n" + "\n".join(f"- {k}: {v}" for k, v in facts)

    def shots(self, exemplars: list[dict[str, Any]] | None) -> list[tuple[tuple[tuple[str, str], ...], str]]:
        """Few-shot examples as (facts, answer): bootstrapped exemplars from an earlier iteration
        when there are any, else the template's own hand-written example."""
        if exemplars:
            return [(tuple(self.facts(e["_attrs"])), e["narrative"]) for e in exemplars]
        return [(self.example_facts, self.example_answer)]

    def messages(
        self,
        attrs: dict[str, Any],
        exemplars: list[dict[str, Any]] | None = None,
        target_words: int | None = None,
        revision: tuple[str, list[str]] | None = None,
        extra_facts: Sequence[tuple[str, str]] = (),
    ) -> tuple[tuple[str, str], ...]:
        """The chat: system, few-shot pairs, the persona's facts (then `extra_facts`, e.g.
        deep-profile values). With `revision` = (draft, instructions), the draft is shown as the
        model's answer and followed by the critic's findings as concrete corrections to make."""
        words = target_words or self.target_words
        out: list[tuple[str, str]] = [("system", self.system)]
        for facts, answer in self.shots(exemplars):
            name = dict(facts)["Name"]
            out.append(("user", self.render_facts(facts) + "\n\n" + self.instruction.format(name=name, words=words)))
            out.append(("assistant", answer))
        name = attrs["identity.name"]
        out.append(
            (
                "user",
                self.render_facts([*self.facts(attrs), *extra_facts])
                + "\n\n"
                + self.instruction.format(name=name, words=words),
            )
        )
        if revision:
            draft, instructions = revision
            out.append(("assistant", draft))
            out.append(
                (
                    "user",
                    f"Rewrite the paragraph about {name}. Fix these problems:\n"
                    + "\n".join(f"- {i}" for i in instructions)
                    + "\nKeep every fact above and write the whole paragraph again.",
                )
            )
        return tuple(out)


# The short templates' system prompt, worked example's facts and the facts they show.
_SHORT_SYSTEM = (
    "You write short, plain biographies of fictional people. Use only the facts given and "
    "contradict none. Third person, simple sentences."
)
_SHORT_EXAMPLE_FACTS = (
    ("Name", "Lucía Romero"),
    ("Age", "41"),
    ("Gender", "Female (she/her)"),
    ("Lives in", "Valencia, Spain"),
    ("Occupation", "Registered nurse"),
    ("Family", "Divorced, 2 children, lives with her children"),
    ("Hobbies", "cycling and pottery"),
)
# The guided openings: the first two sentences and the start of the third (v1), then the first
# hobby and the start of the weekend sentence (v2, v3); the opening where the facts are missing.
_FACTS_OPENING = (
    "{name} is {a_age}-year-old {occupation} in {city}, {country}. {Pron} {be} {marital} and "
    "{has} {children}. In {poss} free time, {pron}"
)
_GUIDED_OPENING = _FACTS_OPENING + " {enjoys} {hobby}. On weekends, {pron}"
_BARE_OPENING = "{name} is {a_age}-year-old {noun}"
_SHORT_FACTS = ("Name", "Age", "Gender", "Lives in", "Occupation", "Family", "Hobbies")

TEMPLATES: dict[str, PromptTemplate] = {
    "persona_narrative_v1": PromptTemplate(
        template_id="persona_narrative_v1",
        system=(
            "You write short, realistic biographies of fictional people. Use every fact you are "
            "given and contradict none. Write one paragraph of plain prose in the third person."
        ),
        example_facts=(
            ("Name", "Lucía Romero"),
            ("Age", "41"),
            ("Gender", "Female (she/her)"),
            ("Lives in", "Valencia, Spain (big city)"),
            ("Occupation", "Registered nurse, shift work"),
            ("Education", "Bachelor's degree in Nursing"),
            ("Family", "Divorced, 2 children, lives with partner and children"),
            ("Personality", "patient and blunt"),
            ("Hobbies", "cycling and pottery"),
            ("Values", "fairness"),
            ("Way of talking", "direct and brief"),
        ),
        example_answer=(
            "Lucía Romero is a 41-year-old registered nurse in Valencia who works rotating shifts "
            "on a busy surgical ward. She studied nursing, divorced in her thirties and now shares "
            "a flat with her partner and her two children. Patient with patients but blunt with "
            "colleagues, she cares most about fairness and says what she thinks in few words. On "
            "free mornings she cycles along the old riverbed, and on Sunday evenings she shapes "
            "uneven bowls at a pottery class that she refuses to take seriously."
        ),
        instruction="Write one paragraph of about {words} words about {name}.",
        prefill="{name} is a {age}-year-old {noun}",
    ),
    # For small models (the embedded SmolLM2-135M): seven facts, three short sentences. With the
    # full prompt the embedded model drifts into word salad after its first sentence.
    "persona_narrative_short_v1": PromptTemplate(
        template_id="persona_narrative_short_v1",
        system=_SHORT_SYSTEM,
        example_facts=_SHORT_EXAMPLE_FACTS,
        example_answer=(
            "Lucía Romero is a 41-year-old registered nurse in Valencia, Spain. She is divorced and "
            "lives with her two children. On free mornings she cycles along the river, and on "
            "Sundays she goes to a pottery class."
        ),
        instruction="Write three short sentences about {name}.",
        prefill="{name} is a {age}-year-old {noun}",
        target_words=45,
        fact_labels=_SHORT_FACTS,
    ),
    # The embedded default. The pipeline writes the first two sentences from the facts (age,
    # occupation, place, marital status, children) and the model continues with the third, about
    # the persona's free time. With the whole paragraph to write, SmolLM2-135M contradicted marital
    # status, children or employment in most narratives; written by the pipeline, those facts hold.
    "persona_narrative_guided_v1": PromptTemplate(
        template_id="persona_narrative_guided_v1",
        system=_SHORT_SYSTEM,
        example_facts=_SHORT_EXAMPLE_FACTS,
        example_answer=(
            "Lucía Romero is a 41-year-old registered nurse in Valencia, Spain. She is divorced and "
            "has two children. In her free time, she cycles along the river and goes to a pottery "
            "class on Sundays."
        ),
        instruction="Write three short sentences about {name}.",
        prefill=_FACTS_OPENING,
        prefill_fallbacks=(_BARE_OPENING,),
        target_words=45,
        fact_labels=_SHORT_FACTS,
    ),
    # The guided template with the persona's first hobby written by the pipeline too: the model
    # writes one sentence about the persona's weekends. With the free-time activity left to it,
    # the embedded model often wrote nonsense about a pastime ("hunting and fishing on horseback",
    # "hiking up mountains on YouTube videos") that no check sees.
    "persona_narrative_guided_v2": PromptTemplate(
        template_id="persona_narrative_guided_v2",
        system=_SHORT_SYSTEM,
        example_facts=_SHORT_EXAMPLE_FACTS,
        example_answer=(
            "Lucía Romero is a 41-year-old registered nurse in Valencia, Spain. She is divorced and "
            "has two children. In her free time, she enjoys cycling. On weekends, she rides along "
            "the river and goes to a pottery class."
        ),
        instruction="Write four short sentences about {name}.",
        prefill=_GUIDED_OPENING,
        prefill_fallbacks=(_BARE_OPENING,),
        target_words=45,
        fact_labels=_SHORT_FACTS,
    ),
}

# The second guided template with the weekend activity written by the pipeline as well (for the
# second hobby, from `activities.yaml`): the model finishes that sentence. Left to choose the verb,
# the embedded model wrote "reads wine", "plays woodcarving", "trains for chess". A hobby without
# an activity falls back to the second template's opening.
TEMPLATES["persona_narrative_guided_v3"] = replace(
    TEMPLATES["persona_narrative_guided_v2"],
    template_id="persona_narrative_guided_v3",
    example_answer=(
        "Lucía Romero is a 41-year-old registered nurse in Valencia, Spain. She is divorced and "
        "has two children. In her free time, she enjoys cycling. On weekends, she goes to a "
        "pottery class with her daughter."
    ),
    prefill=_GUIDED_OPENING + " {activity}",
    prefill_fallbacks=(_GUIDED_OPENING, _BARE_OPENING),
)


def get_template(template_id: str) -> PromptTemplate:
    try:
        return TEMPLATES[template_id]
    except KeyError:
        raise KeyError(f"unknown prompt template {template_id!r}; known: {sorted(TEMPLATES)}") from None
