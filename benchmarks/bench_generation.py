"""Generation benchmark: the Generator-Critic stage vs the bare engine, same model, same prompts.

    python benchmarks/bench_generation.py [--num_personas 96]

Starts one vLLM server for the embedded model, builds the first-round requests of N personas
(k candidates each, the default config's prompt), then, side by side in one run:
  - bare engine: the same requests sent straight to the server, `concurrency` at a time;
  - pipeline:    the `GeneratorCritic` stage in a Beam pipeline (prompting, RunInference batching,
                 critique and selection included; no revision rounds, no pilot) against the same
                 server.
Prints generated tokens per second for both and their ratio. The pipeline goes through the local
handler a default build uses; neither side reads or writes the answer cache.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import apache_beam as beam  # noqa: E402
from apache_beam.options.pipeline_options import PipelineOptions  # noqa: E402

from pipelines.build_dataset import DEFAULT_RUNNER  # noqa: E402
from pipelines.common.settings import StageSettings, replace  # noqa: E402
from pipelines.config import load_config  # noqa: E402
from pipelines.context import _counters  # noqa: E402
from pipelines.generation.llm import ChatModelHandler, LLMSettings, _Endpoint  # noqa: E402
from pipelines.generation.loop import GeneratorCritic  # noqa: E402
from pipelines.generation.vllm_server import stop_all  # noqa: E402
from pipelines.models.embedded import prepare  # noqa: E402
from pipelines.persona.task import PersonaTask, build_request  # noqa: E402
from pipelines.records import PERSONA  # noqa: E402
from pipelines.sampling import population  # noqa: E402


def specs_for(config, n: int) -> list[dict]:
    pop = population(config)
    block = pop.sampler.sample_block(0, n)
    return [
        {
            "_kind": PERSONA.name,
            "persona_id": f"bench-{i}",
            "persona_index": i,
            "quota_cell": pop.plan.cells[int(block.cells[i])].cell_id,
            "attributes": pop.taxonomy.nest(block.flat(i)),
            "_attrs": block.flat(i),
        }
        for i in range(n)
    ]


def run_pipeline(settings, specs, gen, critic, n: int) -> tuple[float, int]:
    """The GeneratorCritic stage alone on `specs`: (seconds, completion tokens)."""
    options = PipelineOptions([], save_main_session=False)
    options.view_as(beam.options.pipeline_options.StandardOptions).runner = DEFAULT_RUNNER
    t0 = time.perf_counter()
    p = beam.Pipeline(options=options)
    _ = p | beam.Create(specs) | GeneratorCritic(settings, PersonaTask(gen, critic), 0, n)
    result = p.run()
    result.wait_until_finish()
    return time.perf_counter() - t0, _counters(result).get("llm.generate_completion_tokens", 0)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="configs/default.yaml")
    parser.add_argument("--num_personas", type=int, default=96)
    args = parser.parse_args()
    n = args.num_personas

    config = load_config(args.config, {"run": {"num_personas": n}})
    stages = StageSettings.from_config(config.data)
    gen = replace(stages.generation, max_revisions=0, exemplars=replace(stages.generation.exemplars, iterations=0))
    prepare()
    embedded = LLMSettings.from_config({**config["llm"], "backend": "embedded"})
    t0 = time.perf_counter()
    endpoint = _Endpoint(embedded)  # starts the one server both sides use
    start_s = time.perf_counter() - t0
    settings = LLMSettings.from_config(
        {**config["llm"], "backend": "openai", "base_url": endpoint.server.base_url, "model": embedded.served_name,
         "assistant_prefill": True}
    )  # fmt: skip
    specs = specs_for(config, n)
    requests = [build_request(s, gen, 0, settings.prefill) for s in specs]
    try:
        # Warm-up: the first requests pay for graph capture and caches on either side.
        handler = ChatModelHandler(settings, stage="bench")
        list(ThreadPoolExecutor(4).map(lambda r: handler._complete(endpoint, r), requests[:4]))

        t0 = time.perf_counter()
        with ThreadPoolExecutor(settings.concurrency) as pool:
            bare = list(pool.map(lambda r: handler._complete(endpoint, r), requests))
        bare_s = time.perf_counter() - t0
        bare_tokens = sum(r.completion_tokens for r in bare)

        # The pipeline side uses the worker's own server (the one started above: same process,
        # same options) through the local handler a default build uses, without the answer cache
        # (a second run must not be answered from the first one's answers; the bare side's
        # `_complete` never reads it).
        pipe_s, pipe_tokens = run_pipeline(replace(embedded, cache_root=None), specs, gen, stages.critic, n)
    finally:
        stop_all()

    k = gen.candidates
    print(f"\n== generation: {n} personas x {k} candidates, {embedded.served_name} on vLLM ==")
    print(f"vLLM server start               {start_s:8.1f} s   (not counted below)")
    print(
        f"bare engine                     {bare_s:8.1f} s   {bare_tokens:7d} tokens   {bare_tokens / bare_s:8.1f} tok/s"
    )
    print(
        f"GeneratorCritic pipeline        {pipe_s:8.1f} s   {pipe_tokens:7d} tokens   {pipe_tokens / pipe_s:8.1f} tok/s"
    )
    print(f"pipeline / bare throughput      {(pipe_tokens / pipe_s) / (bare_tokens / bare_s):8.2f}   (aim >= 0.8)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
