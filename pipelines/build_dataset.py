"""Build a persona dataset: taxonomy + config -> plan -> sample -> generate -> critique ->
validate -> embed + deduplicate -> Parquet shards, rejected records and a manifest.

    python -m pipelines.build_dataset --config configs/default.yaml --output out/default
    python -m pipelines.build_dataset --runner=DataflowRunner --project=... --output gs://...

Unknown flags are Beam pipeline options. Without --runner the local in-process runner is used.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from dataclasses import dataclass
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipelines import __version__
from pipelines.cli import cli_main
from pipelines.config import RunConfig, judge_llm, load_config
from pipelines.dedup.embed import EmbedRecords, resolve_embedding_model
from pipelines.dedup.partitioned import DeduplicateScalable
from pipelines.dialogue.pairing import PairPersonas, Scenario, load_scenarios
from pipelines.dialogue.task import SPC_COLUMNS, DialogueTask, TurnByTurnDialogueTask, spc_row
from pipelines.dialogue.task import TEMPLATE_ID as DIALOGUE_TEMPLATE_ID
from pipelines.errors import InputError
from pipelines.generation.llm import LLMSettings
from pipelines.generation.prompts import get_template
from pipelines.generation.transforms import GeneratorCritic, SelectExemplars
from pipelines.output.manifest import build_manifest, read_manifest, write_manifest
from pipelines.output.shards import WriteCsv, WriteShards, prepare_output
from pipelines.records import DIALOGUE_SCHEMA, DIALOGUES_REJECTED_SCHEMA, REJECTED_SCHEMA, persona_schema
from pipelines.sampling import Population, SampleAttributes, SampleTopUp, TopUpPlan, index_ranges, population
from pipelines.taxonomy import QuotaPlan, Taxonomy
from pipelines.validation.rules import RuleSet, load_rules
from pipelines.validation.transforms import ValidateRecords, public_view

log = logging.getLogger("pipelines.build_dataset")
DEFAULT_RUNNER = "FnApiRunner"


@dataclass(frozen=True)
class RunContext:
    """Everything the pipeline needs, resolved and checked before any LLM call."""

    config: RunConfig
    population: Population
    llm: LLMSettings
    output: str
    rules: RuleSet
    judge: LLMSettings | None = None  # the LLM judge expert's model, when it is on
    scenarios: tuple[Scenario, ...] = ()  # dialogue scenarios, when dialogues are on

    @property
    def taxonomy(self) -> Taxonomy:
        return self.population.taxonomy

    @property
    def plan(self) -> QuotaPlan:
        return self.population.plan

    @property
    def seed(self) -> int:
        return int(self.config["run"]["seed"])

    def identity(self) -> dict[str, Any]:
        """What makes two runs the same run (recorded in the output's run.json, checked on resume)."""
        return {
            "run_name": self.config["run"]["name"],
            "num_personas": self.plan.total,
            "seed": self.seed,
            "config_hash": self.config.content_hash,
            "taxonomy_hash": self.taxonomy.content_hash,
            "rules_hash": self.rules.content_hash,
            "pipeline_version": __version__,
        }

    def provenance(self) -> dict[str, Any]:
        return {
            "run_name": self.config["run"]["name"],
            "seed": self.seed,
            "taxonomy_hash": self.taxonomy.content_hash,
            "config_hash": self.config.content_hash,
            "pipeline_version": __version__,
        }


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m pipelines.build_dataset", description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=None, help="run config YAML (default: configs/default.yaml)")
    parser.add_argument(
        "--output", default=None, help="output folder, local or a FileSystems URL (default: output/<run name>)"
    )
    parser.add_argument("--num_personas", type=int, default=None, help="personas to plan (overrides run.num_personas)")
    parser.add_argument("--seed", type=int, default=None, help="sampling seed (overrides run.seed)")
    parser.add_argument("--llm_backend", choices=["embedded", "vllm", "openai"], default=None)
    parser.add_argument("--llm_model", default=None, help="vllm: model name or path; openai: model name")
    parser.add_argument("--llm_base_url", default=None, help="OpenAI-compatible endpoint, e.g. http://host:8000/v1")
    parser.add_argument("--llm_api_key_env", default=None, help="environment variable holding the API key")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue an interrupted run in --output (same config); answers already received come from the cache",
    )
    parser.add_argument("--no_cache", action="store_true", help="do not read or write the LLM answer cache")
    return parser.parse_known_args(argv)


def config_overrides(args: argparse.Namespace) -> dict[str, Any]:
    run: dict[str, Any] = {}
    llm: dict[str, Any] = {}
    if args.num_personas is not None:
        run["num_personas"] = args.num_personas
    if args.seed is not None:
        run["seed"] = args.seed
    for arg, key in (
        ("llm_backend", "backend"),
        ("llm_model", "model"),
        ("llm_base_url", "base_url"),
        ("llm_api_key_env", "api_key_env"),
    ):
        if getattr(args, arg) is not None:
            llm[key] = getattr(args, arg)
    if llm.get("backend") == "openai" or (llm.get("base_url") and "backend" not in llm):
        llm["backend"] = "openai"
    if args.no_cache:
        llm["cache"] = {"enabled": False}
    return {k: v for k, v in (("run", run), ("llm", llm)) if v}


def prepare_context(args: argparse.Namespace) -> RunContext:
    config = load_config(args.config, config_overrides(args))
    pop = population(config)
    try:
        get_template(config["generation"]["prompt_template"])
    except KeyError as exc:
        raise InputError(config.source, "$.generation.prompt_template", str(exc.args[0])) from None
    try:
        resolve_embedding_model(config["dedup"]["embedding_model"])
    except (ValueError, ImportError) as exc:
        raise InputError(config.source, "$.dedup.embedding_model", str(exc)) from None
    if config["llm"]["backend"] == "embedded":
        from pipelines.models.embedded import prepare

        prepare()
    rules = load_rules(config.rules_files())
    scenarios: tuple[Scenario, ...] = ()
    if config["dialogues"]["enabled"]:
        scenarios = load_scenarios(config.resolve([config["dialogues"]["scenarios"]])[0])
    llm = LLMSettings.from_config(config["llm"])
    if llm.backend == "openai":
        check_endpoint(llm, config.source, "$.llm")
    judge = None
    if config["critic"]["llm_judge"]["enabled"]:
        judge = LLMSettings.from_config(judge_llm(config.data))
        if judge.backend == "openai":
            check_endpoint(judge, config.source, "$.critic.llm_judge.llm")
    output = args.output or os.path.join("output", config["run"]["name"])
    return RunContext(config, pop, llm, output, rules, judge, scenarios)


def check_endpoint(llm: LLMSettings, source: str, where: str) -> None:
    """Fail before the pipeline starts when the endpoint is unreachable or lacks the model."""
    from openai import OpenAI

    client = OpenAI(base_url=llm.base_url, api_key=llm.api_key(), timeout=15, max_retries=1)
    try:
        models = [m.id for m in client.models.list()]
    except Exception as exc:  # noqa: BLE001
        raise InputError(
            source, f"{where}.base_url", f"cannot reach {llm.base_url}: {type(exc).__name__}: {exc}"
        ) from None
    if models and llm.served_name not in models:
        raise InputError(
            source, f"{where}.model", f"model {llm.served_name!r} not served by {llm.base_url}; it serves {models[:10]}"
        )


def build_pipeline(p: beam.Pipeline, ctx: RunContext) -> None:
    """Wire the stages. Each stage is a transform in its own module; this only connects them."""
    cfg = ctx.config
    n = ctx.plan.total
    provenance = ctx.provenance()

    specs = (
        p
        | "PlanIndexRanges" >> beam.Create(index_ranges(n))
        | "SampleAttributes" >> beam.ParDo(SampleAttributes(ctx.population.sampler))
        | "AttachProvenance" >> beam.Map(lambda r, prov: {**r, "provenance": prov}, provenance)
    )
    generated = specs | "GeneratorCritic" >> GeneratorCritic(
        ctx.llm, cfg["generation"], cfg["critic"], ctx.seed, n, judge_settings=ctx.judge
    )
    top_up = cfg["quotas"]["top_up"]
    kept = generated | "Personas" >> ValidateDedupWrite(
        ctx,
        scope="persona",
        text_key="narrative",
        schemas=(persona_schema(ctx.taxonomy), REJECTED_SCHEMA),
        datasets=("personas", "rejected"),
        count_keys=("quota_cell", "top_up_round", ("quota_cell", "top_up_round")),
        rejected_count_keys=(("quota_cell", "reason"), ("quota_cell", "top_up_round")),
        expected_total=n,
        refill=QuotaTopUp(ctx, provenance) if int(top_up["rounds"]) > 0 else None,
    )
    if cfg["dialogues"]["enabled"]:
        build_dialogues(kept, ctx, provenance)


class QuotaTopUp:
    """Refills quota cells after validation and dedup: each round counts the kept personas per
    cell, samples replacements for the cells that are short (new persona indices of the same
    cell, at most ceil(max_extra_fraction * target) per cell over the run, see `TopUpPlan`) and
    sends them through the Generator-Critic, with exemplars from the personas already kept.
    The caller validates and deduplicates them against everything kept so far."""

    def __init__(self, ctx: RunContext, provenance: dict[str, Any]):
        self.ctx = ctx
        self.provenance = provenance
        cfg = ctx.config["quotas"]["top_up"]
        self.rounds = int(cfg["rounds"])
        self.plan = TopUpPlan.of(ctx.plan, float(cfg["max_extra_fraction"]))
        self.allocation = None  # the previous round's allocation (a singleton PCollection)

    def __call__(self, kept, r: int, label: str):
        ctx, cfg = self.ctx, self.ctx.config
        used = [beam.pvalue.AsSingleton(self.allocation)] if self.allocation is not None else []
        allocation = (
            kept
            | f"{label}CellOf" >> beam.Map(lambda rec: rec["quota_cell"])
            | f"{label}CountCells" >> beam.combiners.Count.PerElement()
            | f"{label}Achieved" >> beam.combiners.ToDict()
            | f"{label}Allocate" >> beam.Map(_allocate, self.plan, r, *used)
        )
        self.allocation = allocation
        specs = (
            allocation
            | f"{label}Ranges" >> beam.FlatMap(lambda a: a["ranges"])
            | f"{label}Spread" >> beam.Reshuffle()
            | f"{label}Sample" >> beam.ParDo(SampleTopUp(ctx.population.sampler, r))
            | f"{label}Provenance" >> beam.Map(lambda rec, prov: {**rec, "provenance": prov}, self.provenance)
        )
        gen = cfg["generation"]
        exemplars = None
        if int(gen["exemplars"]["iterations"]) > 0:
            exemplars = kept | f"{label}Exemplars" >> SelectExemplars(int(gen["exemplars"]["count"]))
        return specs | f"{label}GeneratorCritic" >> GeneratorCritic(
            ctx.llm, gen, cfg["critic"], ctx.seed, judge_settings=ctx.judge, exemplars=exemplars
        )


def _allocate(achieved: dict[str, int], plan: TopUpPlan, r: int, previous: dict[str, Any] | None = None):
    allocation = plan.allocate(achieved, previous["used"] if previous else None)
    count = sum(stop - start for _, start, stop in allocation["ranges"])
    cells = len({cell for cell, _, _ in allocation["ranges"]})
    log.info(
        "quota top-up round %d: %d replacement personas for %d short cells; %d short cells at the top-up bound",
        r, count, cells, len(allocation["at_bound"]),
    )  # fmt: skip
    return allocation


class ValidateDedupWrite(beam.PTransform):
    """(accepted, rejected) of a Generator-Critic stage -> schema and rules -> embed -> dedup ->
    the kept records as a Parquet dataset, and every dropped record, with its reason, as the
    matching rejected dataset. Returns the kept records (still with their working fields).

    With `refill` (see `QuotaTopUp`), up to `refill.rounds` more rounds follow: refill(kept,
    round, label) generates replacements, which are validated, embedded and deduplicated against
    everything kept so far and each other (only pairs with a new record are searched; a kept
    record always wins over a replacement, see `priority`)."""

    def __init__(
        self,
        ctx: RunContext,
        *,
        scope,
        text_key,
        schemas,
        datasets,
        count_keys,
        rejected_count_keys=(),
        expected_total=None,
        refill=None,
    ):
        super().__init__()
        self.ctx = ctx
        self.scope = scope
        self.text_key = text_key
        self.schemas = schemas
        self.datasets = datasets
        self.count_keys = count_keys
        self.rejected_count_keys = rejected_count_keys
        self.expected_total = expected_total
        self.refill = refill

    def expand(self, generated):
        ctx, dedup_cfg, out = self.ctx, self.ctx.config["dedup"], self.ctx.config["output"]
        rounds = self.refill.rounds if self.refill is not None else 0
        accepted, rejected, kept = generated[0], [generated[1]], None
        for r in range(rounds + 1):
            label = f"TopUp{r}" if r else ""
            if r:
                accepted, refill_rejected = self.refill(kept, r, label)
                rejected.append(refill_rejected)
            validated = accepted | f"{label}Validate" >> beam.ParDo(
                ValidateRecords(self.scope, ctx.rules, self.scope)
            ).with_outputs("rejected", main="valid")
            embedded = validated.valid | f"{label}Embed" >> EmbedRecords(
                dedup_cfg["embedding_model"],
                dedup_cfg["batch_size"],
                self.text_key,
                expected_total=None if r else self.expected_total,
            )
            pool = embedded if kept is None else (kept, embedded) | f"{label}Pool" >> beam.Flatten()
            deduped = pool | f"{label}Deduplicate" >> DeduplicateScalable(
                dedup_cfg["threshold"], text_key=self.text_key, new_round=r or None, **dedup_options(dedup_cfg)
            )
            rejected += [validated.rejected, deduped.rejected]
            kept = deduped.kept
        kept_schema, rejected_schema = self.schemas
        kept_name, rejected_name = self.datasets
        (
            kept
            | "ToRows" >> beam.Map(public_view)
            | "WriteKept"
            >> WriteShards(
                ctx.output, kept_name, kept_schema, out["rows_per_shard"], out["compression"], self.count_keys
            )
        )
        (
            rejected
            | "AllRejected" >> beam.Flatten()
            | "WriteRejected"
            >> WriteShards(
                ctx.output,
                rejected_name,
                rejected_schema,
                out["rows_per_shard"],
                out["compression"],
                ("reason", "stage", "rule", *self.rejected_count_keys),
            )
        )
        return kept


def dedup_options(dedup_cfg: dict[str, Any]) -> dict[str, Any]:
    """The partitioned search's settings from the config (`dedup.partitions`, `probes`, `margin`)."""
    return {k: dedup_cfg[k] for k in ("partitions", "probes", "margin") if dedup_cfg.get(k) is not None}


def build_dialogues(personas, ctx: RunContext, provenance: dict[str, Any]) -> None:
    """Accepted personas -> pairs -> Generator-Critic dialogues -> validate -> dedup -> Parquet
    (+ the Synthetic-Persona-Chat export), with every dropped dialogue in dialogues_rejected."""
    d = ctx.config["dialogues"]
    gen = {
        "prompt_template": DIALOGUE_TEMPLATE_ID,
        "candidates": d["candidates"],
        "max_revisions": d["max_revisions"],
        "exemplars": {"iterations": 0, "pilot_fraction": 0.1, "count": 0},
    }
    if d["mode"] == "turns":
        task = TurnByTurnDialogueTask(gen, d["critic"], d["turns"], d["turn_max_tokens"])
    else:
        task = DialogueTask(gen, d["critic"], d["turns"], d["max_tokens"], structured=d["structured_output"])
    specs = (
        personas
        | "PairPersonas" >> PairPersonas(d["pairing"], d["per_persona"], ctx.seed, ctx.scenarios)
        | "DialogueProvenance" >> beam.Map(lambda r, prov: {**r, "provenance": prov}, provenance)
    )
    generated = specs | "DialogueGeneratorCritic" >> GeneratorCritic(
        ctx.llm, task.gen, task.critic, ctx.seed, task=task
    )
    kept = generated | "Dialogues" >> ValidateDedupWrite(
        ctx,
        scope="dialogue",
        text_key="_text",
        schemas=(DIALOGUE_SCHEMA, DIALOGUES_REJECTED_SCHEMA),
        datasets=("dialogues", "dialogues_rejected"),
        count_keys=("pairing",),
    )
    if d["export_spc"]:
        (
            kept
            | "ToSPC" >> beam.Map(spc_row)
            | "WriteSPC" >> WriteCsv(ctx.output, "export/synthetic_persona_chat", SPC_COLUMNS)
        )


def _counters(result) -> dict[str, int]:
    out: dict[str, int] = {}
    try:
        for c in result.metrics().query()["counters"]:
            key = f"{c.key.metric.namespace}.{c.key.metric.name}"
            value = c.committed if c.committed is not None else c.attempted
            out[key] = out.get(key, 0) + int(value or 0)
    except Exception as exc:  # noqa: BLE001 - some runners do not report metrics
        log.warning("could not read pipeline metrics: %s", exc)
    return out


def run(argv: list[str] | None = None, test_pipeline: beam.Pipeline | None = None) -> dict[str, Any]:
    """Run the whole build; returns the manifest."""
    started = time.monotonic()
    args, beam_args = parse_args(argv)
    ctx = prepare_context(args)
    if args.resume and args.overwrite:
        raise InputError(ctx.output, "<folder>", "--resume and --overwrite contradict each other; pass one")
    if prepare_output(ctx.output, args.overwrite, ctx.identity(), resume=args.resume):
        log.info("%s already holds this run, finished: nothing to do", ctx.output)
        return read_manifest(ctx.output)
    if args.resume and ctx.llm.cache_root is None:
        log.warning("resuming without the LLM cache: every request is sent again")
    options = PipelineOptions(beam_args, save_main_session=False)
    if not options.view_as(StandardOptions).runner:
        options.view_as(StandardOptions).runner = DEFAULT_RUNNER
    log.info(
        "building %d personas (%d quota cells) with %s [%s] into %s",
        ctx.plan.total, len(ctx.plan.cells), ctx.llm.served_name, ctx.llm.backend, ctx.output,
    )  # fmt: skip
    p = test_pipeline or beam.Pipeline(options=options)
    build_pipeline(p, ctx)
    try:
        result = p.run()
        result.wait_until_finish()
    finally:
        from pipelines.generation.vllm_server import stop_all

        stop_all()
    pipeline_s = time.monotonic() - started
    counters = _counters(result)
    manifest = build_manifest(
        ctx.output,
        run={
            "name": ctx.config["run"]["name"],
            "num_personas": ctx.plan.total,
            "seed": ctx.seed,
            "runner": str(options.view_as(StandardOptions).runner),
            "output": ctx.output,
        },
        plan_cells=ctx.plan.as_dict(),
        llm={
            "backend": ctx.llm.backend,
            "model": ctx.llm.served_name,
            "base_url": ctx.llm.base_url,
            "prompt_template_id": ctx.config["generation"]["prompt_template"],
            "sampling": ctx.llm.sampling_fingerprint(),
            "judge": None
            if ctx.judge is None
            else {"backend": ctx.judge.backend, "model": ctx.judge.served_name, "base_url": ctx.judge.base_url},
        },
        config=ctx.config.data,
        hashes={
            "taxonomy": ctx.taxonomy.content_hash,
            "config": ctx.config.content_hash,
            "rules": ctx.rules.content_hash,
        },
        counters=counters,
        timing={"wall": round(time.monotonic() - started, 1), "pipeline": round(pipeline_s, 1)},
    )
    path = write_manifest(ctx.output, manifest)
    out_cfg = ctx.config["output"]
    if out_cfg["report"] and "://" not in ctx.output and manifest["counts"]["accepted"]:
        from pipelines.report import write_report

        report = write_report(ctx.output, embeddings=out_cfg["report_embeddings"])
        log.info("quality report: %s; dataset card: %s", report["paths"]["html"], report["paths"]["card"])
    c = manifest["counts"]
    log.info(
        "done in %.0fs: %d accepted, %d rejected %s of %d planned + %d top-up; %d quota cells short; manifest: %s",
        manifest["timing_s"]["wall"],
        c["accepted"],
        c["rejected"],
        json.dumps(c["rejected_by_reason"]),
        c["planned"],
        c["topped_up"],
        c["short_cells"],
        path,
    )
    return manifest


def main(argv: list[str] | None = None) -> int:
    return cli_main(run, argv, lambda m: f"dataset written to {m['run']['output']}")


if __name__ == "__main__":
    sys.exit(main())
