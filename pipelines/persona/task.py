"""The persona narrative task of the Generator-Critic loop (see `pipelines/generation/contract.py`).

Reads a PersonaSpec (`_attrs`, `persona_id`, `persona_index`, `quota_cell`; `_gen` in revision
rounds) and writes `narrative`. The critic is the narrative critic of `pipelines.critique.narrative`.
"""

from __future__ import annotations

from typing import Any

from pipelines.common.chat import ChatRequest, request_seed
from pipelines.common.facts import FACT_PATHS
from pipelines.common.settings import CriticSettings, GenerationSettings
from pipelines.critique.base import Verdict
from pipelines.critique.narrative import clean_text, critique_candidates, revision_instructions
from pipelines.critique.narrative.claims import ClaimBook, claim_book
from pipelines.critique.narrative.grounding import Embed
from pipelines.generation.contract import OneCallPerRound
from pipelines.persona.prompts import get_template
from pipelines.records import PERSONA


def build_request(
    spec: dict[str, Any],
    gen: GenerationSettings,
    seed: int,
    use_prefill: bool,
    exemplars: list[dict[str, Any]] | None = None,
    deep_facts: int = 0,
) -> ChatRequest:
    """The request for a persona's next round: a first draft, or a revision of its best candidate.
    With `deep_facts` = k, the first k deep-profile values join the facts."""
    template = get_template(gen.prompt_template)
    attrs = spec["_attrs"]
    state = spec.get("_gen") or {}
    round_ = int(state.get("round", 0))
    revision = (state["draft"], state["instructions"]) if round_ > 0 else None
    return ChatRequest(
        request_id=f"{spec['persona_id']}/r{round_}",
        messages=template.messages(attrs, exemplars, gen.target_words, revision, deep_profile_facts(spec, deep_facts)),
        seed=request_seed(seed, spec["persona_index"], round_, template.template_id),
        prefill=template.render_prefill(attrs) if use_prefill else "",
        payload=spec,
        n=gen.candidates,
    )


def deep_profile_facts(spec: dict[str, Any], k: int) -> list[tuple[str, str]]:
    """The first `k` filled deep-profile values of a persona as prompt facts (label, value)."""
    values = spec.get("deep_profile") or []
    return [(v["path"].rsplit(".", 1)[-1].replace("_", " ").capitalize(), v["value"]) for v in values[:k]]


class PersonaTask(OneCallPerRound):
    """Persona narratives: prompted with the persona's facts (and exemplars), critiqued by the
    narrative critic against the sampled attributes, exemplars spread over quota cells."""

    kind = PERSONA.name
    stage_prefix = ""  # LLM stages: generate, revise, judge
    metrics_ns = "generator"
    critic_ns = "critic"

    def __init__(
        self,
        gen: GenerationSettings,
        critic: CriticSettings,
        deep_facts: int = 0,
        book: ClaimBook | None = None,
        embed: Embed | None = None,
        prefill: bool = False,
    ):
        self.gen = gen
        self.critic = critic
        self.deep_facts = deep_facts  # deep-profile values shown with the facts (0: none)
        self.book = book  # the taxonomy's claim book: every sampled attribute checked (None: off)
        self.embed = embed  # sentence embedder of the grounding expert (None: off)
        self.prefill = prefill  # the backend continues a prefilled opening (the template's, if any)

    def request(self, spec, seed: int, use_prefill: bool, exemplars=None) -> ChatRequest:
        return build_request(spec, self.gen, seed, use_prefill, exemplars, self.deep_facts)

    def clean(self, text: str, finish_reason: str | None) -> str:
        return clean_text(text, finish_reason)

    def critique(self, texts: list[str], spec: dict[str, Any], exemplars) -> list[Verdict]:
        opening = get_template(self.gen.prompt_template).render_prefill if self.prefill else None
        return critique_candidates(
            texts, spec["_attrs"], self.critic, exemplars or (), self.book, self.embed, opening=opening
        )

    def instructions(self, verdict: Verdict, spec: dict[str, Any]) -> list[str]:
        return revision_instructions(verdict, spec["_attrs"], self.critic)

    def accept(self, spec: dict[str, Any], text: str) -> None:
        spec["narrative"] = text

    def exemplar_group(self, record: dict[str, Any]) -> str:
        """Exemplars are spread over quota cells."""
        return record["quota_cell"]

    def exemplar(self, record: dict[str, Any]) -> dict[str, Any]:
        return {
            "_kind": PERSONA.name,
            "persona_id": record["persona_id"],
            "_attrs": record["_attrs"],
            "narrative": record["narrative"],
            "score": record["critic"]["score"],
        }


def taxonomy_claim_book(taxonomy, prompted: tuple[str, ...] = FACT_PATHS) -> ClaimBook:
    """The claim book of a taxonomy: its categorical attributes' domains; coverage counts the
    facts the narrative prompt shows (`prompted`: the template's `prompted_paths`)."""
    domains = {a.path: a.domain() for a in taxonomy.attributes if a.type in ("categorical", "multi")}
    return claim_book(domains, prompted)
