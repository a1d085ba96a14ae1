"""Typed, frozen settings of each stage, built once from the validated run config.

Each default lives here and only here, in `DEFAULTS` (the run config's defaults, which
`pipelines.config` fills in). A stage receives its settings object, never a slice of the config
dict, and every number is converted once, in `from_config`. The LLM endpoint settings are
`pipelines.generation.llm.LLMSettings`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any

DEFAULTS: dict[str, Any] = {
    "run": {"name": "run", "seed": 0, "num_personas": 100},
    "taxonomy": {"files": ["taxonomy/base.yaml"]},
    "quotas": {
        "stratify_by": [],
        "shares": {},
        "counts": [],
        # Personas lost to the critic, validation or dedup are replaced by new ones of the same cell.
        "top_up": {"rounds": 2, "max_extra_fraction": 0.5},
    },
    "llm": {
        "backend": "embedded",
        "model": None,
        "base_url": None,
        "api_key_env": "OPENAI_API_KEY",
        "max_tokens": 150,
        "temperature": 0.7,
        "top_p": 0.9,
        "repetition_penalty": 1.2,
        "concurrency": 32,
        "request_timeout_s": 180,
        "max_retries": 4,
        "batch_retries": 3,
        "throttle_delay_s": 5,
        "request_seed": True,
        "assistant_prefill": None,
        "cache": {"enabled": True, "path": None},
        "vllm": {
            "gpu_memory_utilization": 0.3,
            "max_model_len": 2048,
            "enforce_eager": True,
            "startup_timeout_s": 900,
            # auto: the model's dtype, but float32 for a bfloat16 model on a CPU without native
            # bfloat16 (AVX2-only machines), where vLLM emulates it about 5x slower
            "dtype": "auto",
            # CPU backend: cores vLLM keeps out of the model's thread pool (null: vLLM's default, 1)
            "cpu_reserved_cores": None,
            "extra_args": [],
        },
    },
    "generation": {
        "prompt_template": "persona_narrative_v1",
        "target_words": 90,
        "candidates": 2,
        "max_revisions": 1,
        "exemplars": {"iterations": 1, "pilot_fraction": 0.1, "count": 3},
    },
    "critic": {
        "min_words": 35,
        "max_words": 260,
        "threshold": 0.6,
        "weights": {"faithfulness": 0.4, "degeneration": 0.3, "safety": 0.2, "novelty": 0.1, "llm_judge": 0.3},
        "novelty_threshold": 0.8,
        "language": "en",  # the language narratives must be written in (ISO 639-1, py3langid's labels)
        # Sentences checked against the persona's facts with the dedup embedding model
        # (pipelines.critique.narrative.grounding); thresholds are calibrated for the bundled model.
        "grounding": True,
        "llm_judge": {
            "enabled": False,
            # Overrides of the `llm` block for the judge: another backend, model or endpoint.
            "llm": {"temperature": 0.0, "top_p": 1.0},
            "min_score": 0.5,
            "max_tokens": 400,
        },
    },
    "dialogues": {
        "enabled": True,
        "scenarios": "taxonomy/scenarios.yaml",
        "pairing": "mixed",
        "per_persona": 1,
        "turns": 6,
        "mode": "turns",
        "turn_max_tokens": 60,
        "max_tokens": 320,
        "structured_output": False,
        "candidates": 2,
        "max_revisions": 1,
        "critic": {
            "threshold": 0.6,
            "min_turn_words": 3,
            "max_turn_words": 80,
            "echo_threshold": 0.6,
            "novelty_threshold": 0.8,
        },
        "export_spc": True,
        # Requests in flight for the dialogue stage; null: 3 x llm.concurrency in turns mode (each
        # turn is one short single-candidate line, so more of them keep the server's batch full and
        # a turn round needs fewer batches), llm.concurrency in whole mode.
        "concurrency": None,
    },
    "validation": {"rules": ["rules/persona.yaml", "rules/dialogue.yaml"]},
    "dedup": {
        "embedding_model": "bundled:all-MiniLM-L6-v2",
        "threshold": 0.9,
        "batch_size": 64,
        # Partitioned search (pipelines/dedup/partitioned.py): k-means cells, each item also probes
        # the cells it lies near the border of. partitions null: one below 20,000 records, else ~500
        # records per cell.
        "partitions": None,
        "probes": 8,
        "margin": 0.5,
    },
    "output": {"rows_per_shard": 100000, "compression": "zstd", "report": True, "report_embeddings": True},
    # Deep profiles (pipelines/deep_profile/): free-text dimensions of the taxonomy (`type: text`)
    # filled by the LLM per persona, progressively, before the narrative is written.
    "deep_profile": {
        "enabled": False,
        "dimensions": 60,  # selected per persona, spread over the dimensions' top-level categories
        "batch_size": 15,  # dimensions filled per LLM call; each call sees the values filled before
        "max_retries": 1,  # re-asks of the values the critic rejected, per batch
        "max_tokens": 400,
        "temperature": None,  # the stage's sampling temperature (null: the run's llm.temperature)
        "relatedness": 3.0,  # weight of the dimension-to-persona similarity against the random draw
        "distinct_threshold": 0.9,  # two dimensions this similar (cosine) are never both chosen
        "shown_filled": 12,  # values filled before that each call shows
        "in_narrative": 4,  # filled values added to the narrative prompt's facts
        "structured_output": False,  # JSON schema answers (capable models); else `item: value` lines
        "one_per_call": False,  # each dimension in a call of its own, one line each (small models)
        "embedding_model": "bundled:all-MiniLM-L6-v2",
    },
}

# The dialogue critic's expert weights where `dialogues.critic.weights` gives none.
DIALOGUE_WEIGHTS = {
    "structure": 0.25,
    "consistency": 0.3,
    "echo": 0.15,
    "naturalness": 0.1,
    "safety": 0.15,
    "novelty": 0.05,
}
DIALOGUE_TEMPLATE_ID = "dialogue_v1"


def merged(base: dict[str, Any], override: dict[str, Any] | None) -> dict[str, Any]:
    """`override` deep-merged onto a copy of `base`."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@dataclass(frozen=True)
class ExemplarSettings:
    iterations: int  # pilot iterations whose best accepted texts become the next few-shot examples
    pilot_fraction: float  # share of the records in each pilot iteration
    count: int  # exemplars shown per prompt

    @classmethod
    def from_config(cls, data: dict[str, Any]) -> ExemplarSettings:
        return cls(int(data["iterations"]), float(data["pilot_fraction"]), int(data["count"]))


@dataclass(frozen=True)
class GenerationSettings:
    """The Generator side of a Generator-Critic stage (`generation`)."""

    prompt_template: str
    target_words: int
    candidates: int  # k candidates per record and round, in one call (OpenAI/vLLM `n`)
    max_revisions: int  # revision rounds with the critic's findings as instructions
    exemplars: ExemplarSettings

    @classmethod
    def from_config(cls, data: dict[str, Any] | None = None) -> GenerationSettings:
        d = merged(DEFAULTS["generation"], data)
        return cls(
            str(d["prompt_template"]),
            int(d["target_words"]),
            int(d["candidates"]),
            int(d["max_revisions"]),
            ExemplarSettings.from_config(d["exemplars"]),
        )


@dataclass(frozen=True)
class JudgeSettings:
    """The optional LLM judge expert (`critic.llm_judge`); its model is its `llm` block on top of
    the run's `llm` block (`pipelines.config.judge_llm`)."""

    enabled: bool
    min_score: float  # a grade below this (0-1) is an error finding
    max_tokens: int


@dataclass(frozen=True)
class CriticSettings:
    """The narrative critic (`critic`)."""

    min_words: int
    max_words: int
    threshold: float  # the weighted expert score a candidate must reach
    weights: dict[str, float]  # expert -> weight in the score
    novelty_threshold: float  # similarity to a sibling or exemplar at which a text is a copy
    llm_judge: JudgeSettings
    language: str = "en"
    grounding: bool = True  # off_persona: sentences checked against the facts with sentence embeddings

    @classmethod
    def from_config(cls, data: dict[str, Any] | None = None) -> CriticSettings:
        d = merged(DEFAULTS["critic"], data)
        j = d["llm_judge"]
        return cls(
            int(d["min_words"]),
            int(d["max_words"]),
            float(d["threshold"]),
            {k: float(v) for k, v in d["weights"].items()},
            float(d["novelty_threshold"]),
            JudgeSettings(bool(j["enabled"]), float(j["min_score"]), int(j["max_tokens"])),
            str(d["language"]),
            bool(d["grounding"]),
        )


@dataclass(frozen=True)
class DialogueCriticSettings:
    """The dialogue critic (`dialogues.critic`)."""

    threshold: float
    min_turn_words: int
    max_turn_words: int
    echo_threshold: float  # a turn this similar to the partner's previous one is an echo
    novelty_threshold: float
    weights: dict[str, float]
    language: str = "en"  # the run's language (the narrative critic's `critic.language`)

    @classmethod
    def from_config(cls, data: dict[str, Any] | None = None) -> DialogueCriticSettings:
        d = merged(DEFAULTS["dialogues"]["critic"], data)
        return cls(
            float(d["threshold"]),
            int(d["min_turn_words"]),
            int(d["max_turn_words"]),
            float(d["echo_threshold"]),
            float(d["novelty_threshold"]),
            {k: float(v) for k, v in {**DIALOGUE_WEIGHTS, **(d.get("weights") or {})}.items()},
        )


@dataclass(frozen=True)
class DialogueSettings:
    """Persona-grounded dialogues (`dialogues`)."""

    enabled: bool
    scenarios: str
    pairing: str
    per_persona: int
    turns: int
    mode: str  # turns: one LLM call per turn; guided: turns framed by the pipeline; whole: one answer
    turn_max_tokens: int
    max_tokens: int
    structured_output: bool
    candidates: int
    max_revisions: int
    critic: DialogueCriticSettings
    export_spc: bool
    concurrency: int | None = None  # None: see concurrency_for

    def concurrency_for(self, llm_concurrency: int) -> int:
        """Requests in flight for the dialogue LLM calls, given the run's `llm.concurrency`."""
        if self.concurrency is not None:
            return self.concurrency
        return 3 * llm_concurrency if self.turn_by_turn else llm_concurrency

    @property
    def turn_by_turn(self) -> bool:
        """One LLM call per turn (modes `turns` and `guided`)."""
        return self.mode in ("turns", "guided")

    @classmethod
    def from_config(cls, data: dict[str, Any] | None = None) -> DialogueSettings:
        d = merged(DEFAULTS["dialogues"], data)
        return cls(
            bool(d["enabled"]),
            str(d["scenarios"]),
            str(d["pairing"]),
            int(d["per_persona"]),
            int(d["turns"]),
            str(d["mode"]),
            int(d["turn_max_tokens"]),
            int(d["max_tokens"]),
            bool(d["structured_output"]),
            int(d["candidates"]),
            int(d["max_revisions"]),
            DialogueCriticSettings.from_config(d["critic"]),
            bool(d["export_spc"]),
            None if d.get("concurrency") is None else max(1, int(d["concurrency"])),
        )

    def generation(self) -> GenerationSettings:
        """The Generator side of the dialogue stage: its own template, no bootstrapped exemplars."""
        return GenerationSettings(
            prompt_template=DIALOGUE_TEMPLATE_ID,
            target_words=int(DEFAULTS["generation"]["target_words"]),
            candidates=self.candidates,
            max_revisions=self.max_revisions,
            exemplars=ExemplarSettings(iterations=0, pilot_fraction=0.1, count=0),
        )


@dataclass(frozen=True)
class DedupSettings:
    """Embedding and near-duplicate search (`dedup`)."""

    embedding_model: str
    threshold: float  # cosine at or above which two texts are near duplicates
    batch_size: int
    partitions: int | None
    probes: int
    margin: float

    @classmethod
    def from_config(cls, data: dict[str, Any] | None = None) -> DedupSettings:
        d = merged(DEFAULTS["dedup"], data)
        return cls(
            str(d["embedding_model"]),
            float(d["threshold"]),
            int(d["batch_size"]),
            None if d["partitions"] is None else int(d["partitions"]),
            int(d["probes"]),
            float(d["margin"]),
        )

    def search_options(self) -> dict[str, Any]:
        """The partitioned search's options (`partitions` only when set)."""
        options = {"probes": self.probes, "margin": self.margin}
        return options if self.partitions is None else {"partitions": self.partitions, **options}


@dataclass(frozen=True)
class TopUpSettings:
    """Quota top-up (`quotas.top_up`): personas lost to the critic, validation or dedup are
    replaced by new ones of the same cell, at most ceil(max_extra_fraction * target) per cell."""

    rounds: int  # 0 turns the top-up off
    max_extra_fraction: float

    @classmethod
    def from_config(cls, data: dict[str, Any] | None = None) -> TopUpSettings:
        d = merged(DEFAULTS["quotas"]["top_up"], data)
        return cls(int(d["rounds"]), float(d["max_extra_fraction"]))


@dataclass(frozen=True)
class OutputSettings:
    """The written datasets (`output`)."""

    rows_per_shard: int
    compression: str
    report: bool
    report_embeddings: bool

    @classmethod
    def from_config(cls, data: dict[str, Any] | None = None) -> OutputSettings:
        d = merged(DEFAULTS["output"], data)
        return cls(int(d["rows_per_shard"]), str(d["compression"]), bool(d["report"]), bool(d["report_embeddings"]))


@dataclass(frozen=True)
class DeepProfileSettings:
    """Deep profiles (`deep_profile`)."""

    enabled: bool
    dimensions: int
    batch_size: int
    max_retries: int
    max_tokens: int
    temperature: float | None
    relatedness: float
    distinct_threshold: float
    shown_filled: int
    in_narrative: int
    structured_output: bool
    embedding_model: str
    one_per_call: bool

    @classmethod
    def from_config(cls, data: dict[str, Any] | None = None) -> DeepProfileSettings:
        d = merged(DEFAULTS["deep_profile"], data)
        return cls(
            bool(d["enabled"]),
            int(d["dimensions"]),
            int(d["batch_size"]),
            int(d["max_retries"]),
            int(d["max_tokens"]),
            None if d["temperature"] is None else float(d["temperature"]),
            float(d["relatedness"]),
            float(d["distinct_threshold"]),
            int(d["shown_filled"]),
            int(d["in_narrative"]),
            bool(d["structured_output"]),
            str(d["embedding_model"]),
            bool(d["one_per_call"]),
        )

    @property
    def batches(self) -> int:
        return -(-self.dimensions // self.batch_size)


@dataclass(frozen=True)
class StageSettings:
    """Every stage's settings of one run, from the resolved config."""

    generation: GenerationSettings
    critic: CriticSettings
    dialogues: DialogueSettings
    dedup: DedupSettings
    top_up: TopUpSettings
    output: OutputSettings
    deep_profile: DeepProfileSettings

    @classmethod
    def from_config(cls, data: dict[str, Any]) -> StageSettings:
        critic = CriticSettings.from_config(data["critic"])
        dialogues = DialogueSettings.from_config(data["dialogues"])
        return cls(
            generation=GenerationSettings.from_config(data["generation"]),
            critic=critic,
            dialogues=replace(dialogues, critic=replace(dialogues.critic, language=critic.language)),
            dedup=DedupSettings.from_config(data["dedup"]),
            top_up=TopUpSettings.from_config(data["quotas"]["top_up"]),
            output=OutputSettings.from_config(data["output"]),
            deep_profile=DeepProfileSettings.from_config(data.get("deep_profile")),
        )


__all__ = [
    "DEFAULTS",
    "CriticSettings",
    "DedupSettings",
    "DeepProfileSettings",
    "DialogueCriticSettings",
    "DialogueSettings",
    "ExemplarSettings",
    "GenerationSettings",
    "JudgeSettings",
    "OutputSettings",
    "StageSettings",
    "TopUpSettings",
    "replace",
]
