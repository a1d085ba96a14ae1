"""Build a persona dataset: taxonomy + config -> plan -> sample -> generate -> critique ->
validate -> embed + deduplicate -> quota top-up -> Parquet shards, rejected records, a manifest
and a quality report; then dialogues between the accepted personas.

    python -m pipelines.build_dataset --config configs/default.yaml --output out/default
    python -m pipelines.build_dataset --runner=DataflowRunner --project=... --output gs://...

Unknown flags are Beam pipeline options. Without --runner the local in-process runner is used.
This module only wires the stages; each lives in its own module (see the README's layout).
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import time
from typing import Any

import apache_beam as beam
from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions, PortableOptions, StandardOptions

from pipelines.cli import cli_main
from pipelines.common.embedding import SentenceEmbedder, shared_cores
from pipelines.context import RunContext, parse_args, prepare_context, run_manifest
from pipelines.deep_profile.stage import DeepProfile
from pipelines.deep_profile.summary import summarize as summarize_deep_profiles
from pipelines.dialogue.stage import Dialogues
from pipelines.errors import InputError
from pipelines.generation.llm import chat_handler
from pipelines.generation.loop import GeneratorCritic, SelectExemplars
from pipelines.output.manifest import read_manifest, write_manifest
from pipelines.output.shards import prepare_output
from pipelines.persona.prompts import get_template
from pipelines.persona.task import PersonaTask, taxonomy_claim_book
from pipelines.progress import tracking
from pipelines.records import PERSONA, REJECTED_SCHEMA, Filtered, persona_schema
from pipelines.sampling import QuotaTopUp, SampleAttributes, index_ranges
from pipelines.validate_dedup_write import Datasets, ValidateDedupWrite

log = logging.getLogger("pipelines.build_dataset")
DEFAULT_RUNNER = "FnApiRunner"
# Beam's portable runner uses job_server_timeout (300 s by default) as the deadline of the whole
# job's state stream too: a longer build fails with DEADLINE_EXCEEDED while it still runs.
PORTABLE_JOB_TIMEOUT_S = 7 * 24 * 3600


def pipeline_options(beam_args: list[str]) -> PipelineOptions:
    """The Beam options for a build: the local runner unless one is named, and on the portable
    runner a job deadline of a week unless `--job_server_timeout` is given."""
    options = PipelineOptions(beam_args, save_main_session=False)
    if not options.view_as(StandardOptions).runner:
        options.view_as(StandardOptions).runner = DEFAULT_RUNNER
    if not any(a.startswith("--job_server_timeout") for a in beam_args):
        portable = options.view_as(PortableOptions)
        portable.job_server_timeout = PORTABLE_JOB_TIMEOUT_S
        # the same timeout bounds Beam's wait for the job service: check it answers, so a wrong
        # endpoint fails now instead of after a week
        if portable.job_endpoint and portable.job_endpoint != "embed":
            check_job_endpoint(portable.job_endpoint)
    return options


def check_job_endpoint(endpoint: str, timeout_s: float = 30.0) -> None:
    host, _, port = endpoint.rpartition(":")
    try:
        with socket.create_connection((host or "localhost", int(port)), timeout=timeout_s):
            return
    except (OSError, ValueError) as e:
        raise ConnectionError(f"Beam job service at --job_endpoint={endpoint} does not answer: {e}") from None


def persona_datasets(ctx: RunContext) -> Datasets:
    deep = ctx.stages.deep_profile.enabled
    return Datasets(
        kind=PERSONA,
        text_key="narrative",
        schemas=(persona_schema(ctx.taxonomy, deep_profile=deep), REJECTED_SCHEMA),
        names=("personas", "rejected"),
        count_keys=("quota_cell", "top_up_round", ("quota_cell", "top_up_round")),
        rejected_count_keys=(("quota_cell", "reason"), ("quota_cell", "top_up_round")),
        summarize=summarize_deep_profiles if deep else None,
    )


def build_pipeline(p: beam.Pipeline, ctx: RunContext, handlers=chat_handler) -> None:
    """Wire the stages. `handlers` builds each LLM stage's model handler (tests pass a fake)."""
    s = ctx.stages
    n = ctx.plan.total
    provenance = ctx.provenance()
    deep = s.deep_profile
    # every sampled attribute, checked by both critics; coverage of the facts the prompt shows and
    # the model has to write (not those a prefilled opening states)
    book = taxonomy_claim_book(ctx.taxonomy, get_template(s.generation.prompt_template).model_paths(ctx.llm.prefill))
    embed = SentenceEmbedder(s.dedup.embedding_model) if s.critic.grounding else None
    task = PersonaTask(s.generation, s.critic, deep.in_narrative if deep.enabled else 0, book, embed, ctx.llm.prefill)

    def generator_critic(specs, label: str, expected_total=None, exemplars=None):
        """Deep profiles first (when on), then the narratives; their rejections meet."""
        deep_rejected = []
        if deep.enabled:
            specs, dropped = specs | f"{label}DeepProfile" >> DeepProfile(
                ctx.llm, ctx.dimensions, deep, ctx.seed, handlers
            )
            deep_rejected.append(dropped)
        kept, rejected = specs | f"{label}GeneratorCritic" >> GeneratorCritic(
            ctx.llm, task, ctx.seed, expected_total, ctx.judge, exemplars, handlers
        )
        if deep_rejected:
            rejected = [rejected, *deep_rejected] | f"{label}AllRejected" >> beam.Flatten()
        return Filtered(kept, rejected)

    def refill(specs, kept, label: str, requests=None):
        """Top-up replacements through the Generator-Critic, with exemplars from the kept personas."""
        exemplars = None
        if s.generation.exemplars.iterations > 0:
            exemplars = kept | f"{label}Exemplars" >> SelectExemplars(s.generation.exemplars.count, task)
        return generator_critic(specs, label, expected_total=requests, exemplars=exemplars)

    specs = (
        p
        | "PlanIndexRanges" >> beam.Create(index_ranges(n))
        | "SampleAttributes" >> beam.ParDo(SampleAttributes(ctx.population.sampler))
        | "AttachProvenance" >> beam.Map(lambda r, prov: {**r, "provenance": prov}, provenance)
    )
    top_up = QuotaTopUp(ctx.population, s.top_up, provenance, refill) if s.top_up.rounds > 0 else None
    kept = generator_critic(specs, "", expected_total=n) | "Personas" >> ValidateDedupWrite(
        ctx.curation(), persona_datasets(ctx), expected_total=n, refill=top_up
    )
    if s.dialogues.enabled:
        kept | "Dialogues" >> Dialogues(
            ctx.llm, s.dialogues, ctx.seed, ctx.scenarios, provenance, ctx.curation(), handlers, book
        )


def run(
    argv: list[str] | None = None, test_pipeline: beam.Pipeline | None = None, handlers=chat_handler
) -> dict[str, Any]:
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
    options = pipeline_options(beam_args)
    log.info(
        "building %d personas (%d quota cells) with %s [%s] into %s",
        ctx.plan.total, len(ctx.plan.cells), ctx.llm.served_name, ctx.llm.backend, ctx.output,
    )  # fmt: skip
    p = test_pipeline or beam.Pipeline(options=options)
    # one progress folder for this run (closing lines for stages without a total); embedding threads
    direct = options.view_as(DirectOptions)
    with tracking(), shared_cores(direct.direct_running_mode == "multi_processing", direct.direct_num_workers or 1):
        build_pipeline(p, ctx, handlers)
        try:
            result = p.run()
            result.wait_until_finish()
        finally:
            from pipelines.generation.vllm_server import stop_all

            stop_all()
    pipeline_s = time.monotonic() - started
    timing = {"wall": round(time.monotonic() - started, 1), "pipeline": round(pipeline_s, 1)}
    manifest = run_manifest(ctx, str(options.view_as(StandardOptions).runner), result, timing)
    path = write_manifest(ctx.output, manifest)
    out = ctx.stages.output
    if out.report and "://" not in ctx.output and manifest["counts"]["accepted"]:
        from pipelines.report import write_report

        report = write_report(ctx.output, embeddings=out.report_embeddings)
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
