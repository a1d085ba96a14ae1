"""The dialogue stage: accepted personas -> pairs -> Generator-Critic dialogues -> validate ->
dedup -> Parquet (+ the Synthetic-Persona-Chat export), with every dropped dialogue in
dialogues_rejected.

Keys: reads accepted PersonaRecords (`persona_id`, `persona_index`, `quota_cell`, `_attrs`,
`_embedding`); writes DialogueRecords.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import apache_beam as beam

from pipelines.common.settings import DialogueSettings
from pipelines.dialogue.export import SPC_COLUMNS, spc_row
from pipelines.dialogue.pairing import PairPersonas, Scenario
from pipelines.dialogue.task import DialogueTask, GuidedDialogueTask, TurnByTurnDialogueTask
from pipelines.generation.llm import LLMSettings, chat_handler
from pipelines.generation.loop import GeneratorCritic
from pipelines.output.shards import WriteCsv
from pipelines.progress import Total
from pipelines.records import DIALOGUE, DIALOGUE_SCHEMA, DIALOGUES_REJECTED_SCHEMA
from pipelines.validate_dedup_write import Curation, Datasets, ValidateDedupWrite

DATASETS = Datasets(
    kind=DIALOGUE,
    text_key="_text",
    schemas=(DIALOGUE_SCHEMA, DIALOGUES_REJECTED_SCHEMA),
    names=("dialogues", "dialogues_rejected"),
    count_keys=("pairing",),
)


def dialogue_task(settings: DialogueSettings, book=None) -> DialogueTask:
    """The dialogue task of `settings.mode`: turn by turn (framed by the pipeline in `guided`), or the
    whole conversation at once.
    `book`: the taxonomy's claim book, for every speaker's attributes (None: not checked)."""
    gen = settings.generation()
    if settings.turn_by_turn:
        task = GuidedDialogueTask if settings.mode == "guided" else TurnByTurnDialogueTask
        return task(gen, settings.critic, settings.turns, settings.turn_max_tokens, book)
    return DialogueTask(
        gen, settings.critic, settings.turns, settings.max_tokens, structured=settings.structured_output, book=book
    )


class Dialogues(beam.PTransform):
    """accepted personas -> the dialogue datasets; returns the kept dialogues."""

    def __init__(
        self,
        llm: LLMSettings,
        settings: DialogueSettings,
        seed: int,
        scenarios: Sequence[Scenario],
        provenance: dict[str, Any],
        curation: Curation,
        handlers=chat_handler,
        book=None,
    ):
        super().__init__()
        self.book = book  # the taxonomy's claim book (pipelines.persona.task.taxonomy_claim_book)
        self.llm = llm
        self.settings = settings
        self.seed = seed
        self.scenarios = tuple(scenarios)
        self.provenance = provenance
        self.curation = curation
        self.handlers = handlers

    def expand(self, personas):
        d = self.settings
        task = dialogue_task(d, self.book)
        turn_by_turn = d.turn_by_turn
        requests = Total("dialogue turns" if turn_by_turn else "dialogues")  # first-round LLM requests
        specs = (
            personas
            | "PairPersonas"
            >> PairPersonas(
                d.pairing, d.per_persona, self.seed, self.scenarios, requests, d.turns if turn_by_turn else 1
            )
            | "DialogueProvenance" >> beam.Map(lambda r, prov: {**r, "provenance": prov}, self.provenance)
        )
        llm = replace(self.llm, concurrency=d.concurrency_for(self.llm.concurrency))
        generated = specs | "DialogueGeneratorCritic" >> GeneratorCritic(
            llm, task, self.seed, expected_total=requests, handlers=self.handlers
        )
        kept = generated | "Dialogues" >> ValidateDedupWrite(self.curation, DATASETS)
        if d.export_spc:
            (
                kept
                | "ToSPC" >> beam.Map(spc_row)
                | "WriteSPC"
                >> WriteCsv(self.curation.output_dir, "export/synthetic_persona_chat", SPC_COLUMNS, DIALOGUE.index_key)
            )
        return kept
