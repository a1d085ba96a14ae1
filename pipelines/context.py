"""The run context: the resolved config, the population and every stage's settings, checked
before any LLM call (taxonomy, quotas, prompt template, embedding model, rules, scenarios, the
LLM endpoint), plus the command line that makes it and the manifest that records it."""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass
from typing import Any

from pipelines import __version__
from pipelines.common.embedding import resolve_embedding_model
from pipelines.common.settings import StageSettings
from pipelines.config import RunConfig, judge_llm, load_config
from pipelines.deep_profile.dimensions import Dimension, dimensions_of
from pipelines.dialogue.pairing import Scenario, load_scenarios
from pipelines.errors import InputError
from pipelines.generation.llm import LLMSettings
from pipelines.output.manifest import build_manifest
from pipelines.persona.prompts import get_template
from pipelines.sampling import Population, population
from pipelines.taxonomy import QuotaPlan, Taxonomy
from pipelines.validate_dedup_write import Curation
from pipelines.validation.rules import RuleSet, load_rules

log = logging.getLogger("pipelines.build_dataset")
DESCRIPTION = "Build a persona dataset: taxonomy + config -> Parquet shards, rejected records, a manifest and a report."


@dataclass(frozen=True)
class RunContext:
    """Everything the pipeline needs, resolved and checked before any LLM call."""

    config: RunConfig
    population: Population
    llm: LLMSettings
    output: str
    rules: RuleSet
    stages: StageSettings  # every stage's typed settings
    judge: LLMSettings | None = None  # the LLM judge expert's model, when it is on
    scenarios: tuple[Scenario, ...] = ()  # dialogue scenarios, when dialogues are on
    dimensions: tuple[Dimension, ...] = ()  # the taxonomy's text dimensions, when deep profiles are on

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

    def curation(self) -> Curation:
        return Curation(self.rules, self.stages.dedup, self.stages.output, self.output)

    def provenance(self) -> dict[str, Any]:
        return {
            "run_name": self.config["run"]["name"],
            "seed": self.seed,
            "taxonomy_hash": self.taxonomy.content_hash,
            "config_hash": self.config.content_hash,
            "pipeline_version": __version__,
        }


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m pipelines.build_dataset", description=DESCRIPTION)
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
    stages = StageSettings.from_config(config.data)
    pop = population(config)
    try:
        get_template(stages.generation.prompt_template)
    except KeyError as exc:
        raise InputError(config.source, "$.generation.prompt_template", str(exc.args[0])) from None
    try:
        resolve_embedding_model(stages.dedup.embedding_model)
    except (ValueError, ImportError) as exc:
        raise InputError(config.source, "$.dedup.embedding_model", str(exc)) from None
    if config["llm"]["backend"] == "embedded":
        from pipelines.models.embedded import prepare

        prepare()  # before the LLM settings, which point at the prepared model
    rules = load_rules(config.rules_files())
    scenarios: tuple[Scenario, ...] = ()
    if stages.dialogues.enabled:
        scenarios = load_scenarios(config.resolve([stages.dialogues.scenarios])[0])
    llm = LLMSettings.from_config(config["llm"])
    if llm.backend == "openai":
        check_endpoint(llm, config.source, "$.llm")
    judge = None
    if stages.critic.llm_judge.enabled:
        judge = LLMSettings.from_config(judge_llm(config.data))
        if judge.backend == "openai":
            check_endpoint(judge, config.source, "$.critic.llm_judge.llm")
    dimensions: tuple[Dimension, ...] = ()
    if stages.deep_profile.enabled:
        dimensions = dimensions_of(pop.taxonomy)
        if not dimensions:
            raise InputError(
                config.source,
                "$.deep_profile.enabled",
                "the taxonomy has no text dimensions (`type: text`): add an extension to taxonomy.files, "
                "e.g. one made by `python -m pipelines.taxonomy.import_tree TREE.json --output taxonomy/NAME.yaml`",
            )
        try:
            resolve_embedding_model(stages.deep_profile.embedding_model)
        except (ValueError, ImportError) as exc:
            raise InputError(config.source, "$.deep_profile.embedding_model", str(exc)) from None
    elif pop.taxonomy.dimensions:
        log.info("the taxonomy's %d text dimensions are not filled: deep_profile is off", len(pop.taxonomy.dimensions))
    output = args.output or os.path.join("output", config["run"]["name"])
    return RunContext(config, pop, llm, output, rules, stages, judge, scenarios, dimensions)


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


def run_manifest(ctx: RunContext, runner: str, result, timing: dict[str, float]) -> dict[str, Any]:
    """The manifest of a finished run: plan, LLM, config, hashes, the pipeline's counters."""
    return build_manifest(
        ctx.output,
        run={
            "name": ctx.config["run"]["name"],
            "num_personas": ctx.plan.total,
            "seed": ctx.seed,
            "runner": runner,
            "output": ctx.output,
        },
        plan_cells=ctx.plan.as_dict(),
        llm={
            "backend": ctx.llm.backend,
            "model": ctx.llm.served_name,
            "base_url": ctx.llm.base_url,
            "prompt_template_id": ctx.stages.generation.prompt_template,
            "assistant_prefill": ctx.llm.prefill,
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
        counters=_counters(result),
        timing=timing,
    )
