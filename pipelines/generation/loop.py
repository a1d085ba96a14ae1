"""The Generator-Critic loop: records -> Filtered(accepted, rejected), for any task that
implements the contract in `pipelines/generation/contract.py`.

For each record the generator asks for `k` candidates in one call (OpenAI/vLLM `n`, so the engine
batches them). The task's critic scores every candidate (siblings and exemplars feed its novelty
expert) and the best passing one is kept. If none passes, the best one goes back to the generator
with the critic's findings as concrete instructions, up to `max_revisions` rounds; after that the
record is rejected with every finding recorded.

Bootstrapped exemplars: with `exemplars.iterations` = I > 0, the records are split into I pilot
iterations (every `1/pilot_fraction`-th index, so each pilot spans all groups) and a final
iteration with the rest. The best accepted texts of an iteration, from different exemplar groups,
become the few-shot examples of the next. Rounds and iterations are unrolled in the Beam graph;
the exemplars travel as side inputs, so the graph stays a plain batch pipeline on any runner.

Keys: reads the spec (any `_kind`); writes `generation`, `critic` and the task's text keys on
every record, `critic_history` on rejected ones; `_gen` and `_scored` live only inside the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import PredictionResult

from pipelines.common.chat import ChatRequest, ChatResponse
from pipelines.common.settings import CriticSettings, JudgeSettings
from pipelines.critique.base import ExpertResult, best_candidate, combine
from pipelines.critique.llm_judge import EXPERT as JUDGE_EXPERT
from pipelines.critique.llm_judge import judge_request, parse_grades
from pipelines.generation.contract import GeneratorCriticTask
from pipelines.generation.llm import Infer, LLMSettings, chat_handler
from pipelines.records import REASON_CRITIC, REASON_LLM_ERROR, Filtered, record_id, record_index, rejection

REJECTED = "rejected"
REVISE = "revise"


def iteration_of(index: int, iterations: int, pilot_fraction: float) -> int:
    """Which bootstrap iteration persona `index` belongs to: pilots take every stride-th index."""
    if iterations <= 0:
        return 0
    stride = max(iterations + 1, round(1.0 / pilot_fraction))
    return index % stride if index % stride < iterations else iterations


_NEW_STATE = {"round": 0, "prompt_tokens": 0, "completion_tokens": 0, "calls": 0}


def _account(spec: dict[str, Any], response: ChatResponse) -> dict[str, Any]:
    """The record's running generation state with this answer's LLM calls and tokens counted."""
    state = dict(spec.get("_gen") or _NEW_STATE)
    state["calls"] += response.calls
    state["prompt_tokens"] += response.prompt_tokens
    state["completion_tokens"] += response.completion_tokens
    return state


class ScoreCandidates(beam.DoFn):
    """PredictionResult -> the record with its candidates scored by the rule-based experts
    (`_scored`: [(text, finish_reason, verdict)]), or a rejection when the call failed (a task
    that `keeps_unpassed` gets its earlier draft, or an empty text, scored instead)."""

    def __init__(self, model_name: str, task: GeneratorCriticTask, iteration: int):
        self.model_name = model_name
        self.task = task
        self.gen = task.gen
        self.iteration = iteration
        self._personas = Metrics.counter(task.metrics_ns, f"iter{iteration}_personas")
        self._rejected = Metrics.counter(task.metrics_ns, f"iter{iteration}_rejected")

    def process(self, result: PredictionResult, exemplars: list[dict[str, Any]] | None = None) -> Iterator[Any]:
        request: ChatRequest = result.example
        response: ChatResponse = result.inference
        spec = dict(request.payload)
        state = _account(spec, response)
        if state["round"] == 0:
            self._personas.inc()
        spec["_gen"] = state
        spec["generation"] = generation_record(
            self.model_name, self.gen, self.iteration, response.finish_reason, state, exemplars
        )
        keeps = getattr(self.task, "keeps_unpassed", False)
        if response.error and not keeps:
            self._rejected.inc()
            yield beam.pvalue.TaggedOutput(REJECTED, rejection(spec, "generate", REASON_LLM_ERROR, response.error))
            return
        texts = [self.task.clean(text or "", reason) for text, reason in response.choices]
        kept = [(t, reason) for t, (_, reason) in zip(texts, response.choices, strict=True) if t]
        if not kept and keeps:  # the critic judges what there is: the earlier draft, or nothing
            kept = [(state.get("draft", ""), response.finish_reason or "error")]
        if not kept:
            self._rejected.inc()
            reasons = sorted({str(r) for _, r in response.choices})
            message = f"empty answer (finish_reason={','.join(reasons)}, {response.completion_tokens} tokens)"
            yield beam.pvalue.TaggedOutput(REJECTED, rejection(spec, "generate", REASON_LLM_ERROR, message))
            return
        verdicts = self.task.critique([t for t, _ in kept], spec, exemplars)
        spec["_scored"] = [(t, reason, v) for (t, reason), v in zip(kept, verdicts, strict=True)]
        yield spec


def judge_request_for(spec: dict[str, Any], judge: JudgeSettings, seed: int) -> ChatRequest:
    """The LLM judge's request for the candidates that the rule-based experts passed."""
    numbers = [i + 1 for i, (_, _, v) in enumerate(spec["_scored"]) if v.passed]
    texts = [spec["_scored"][n - 1][0] for n in numbers]
    return judge_request(spec, texts, numbers, seed, judge.max_tokens)


class ApplyJudgement(beam.DoFn):
    """The judge's answer joins each judged candidate's verdict as one more expert."""

    def __init__(self, critic: CriticSettings):
        self.critic = critic
        self._unusable = Metrics.counter("llm", "judge_unusable_answers")

    def process(self, result: PredictionResult) -> Iterator[dict[str, Any]]:
        response: ChatResponse = result.inference
        spec = dict(result.example.payload)
        spec["_gen"] = _account(spec, response)
        scored = list(spec["_scored"])
        numbers = [i + 1 for i, (_, _, v) in enumerate(scored) if v.passed]
        grades = parse_grades(response, numbers, self.critic.llm_judge.min_score)
        if not isinstance(grades, dict):
            self._unusable.inc()
        for n in numbers:
            text, reason, verdict = scored[n - 1]
            extra = grades[n] if isinstance(grades, dict) else ExpertResult(JUDGE_EXPERT, None, (grades,))
            scored[n - 1] = (text, reason, combine((*verdict.experts, extra), self.critic))
        spec["_scored"] = scored
        yield spec


class Decide(beam.DoFn):
    """A record's scored candidates -> accepted record | revision request | rejection. A task
    with `keeps_unpassed` (deep-profile batches) has its best candidate accepted after the last
    round even when it did not pass; the task records what stayed bad."""

    def __init__(self, model_name: str, task: GeneratorCriticTask, iteration: int, final: bool):
        self.model_name = model_name
        self.task = task
        self.gen = task.gen
        self.critic = task.critic
        self.iteration = iteration
        self.final = final
        ns = task.metrics_ns
        self._candidates = Metrics.counter(ns, f"iter{iteration}_candidates")
        self._candidates_passed = Metrics.counter(ns, f"iter{iteration}_candidates_passed")
        self._score_milli = Metrics.counter(ns, f"iter{iteration}_candidate_score_milli")
        self._rejected = Metrics.counter(ns, f"iter{iteration}_rejected")

    def process(self, spec: dict[str, Any], exemplars: list[dict[str, Any]] | None = None) -> Iterator[Any]:
        spec = dict(spec)
        scored = spec.pop("_scored")
        state = dict(spec["_gen"])
        round_ = int(state["round"])
        verdicts = [v for _, _, v in scored]
        if round_ == 0:
            self._candidates.inc(len(verdicts))
            self._candidates_passed.inc(sum(v.passed for v in verdicts))
            self._score_milli.inc(int(round(1000 * sum(v.score for v in verdicts))))
        Metrics.counter(self.task.metrics_ns, "candidates_scored").inc(len(verdicts))
        for v in verdicts:
            for f in v.findings:
                if f.severity == "info":
                    continue  # measurements (facts not conveyed), not faults
                Metrics.counter(self.task.critic_ns, f"{f.code}").inc()
                if f.attribute:
                    Metrics.counter(self.task.critic_ns, f"{f.code}@{f.attribute}").inc()
        best = best_candidate(verdicts)
        text, finish_reason, verdict = scored[best]
        spec["generation"] = generation_record(
            self.model_name, self.gen, self.iteration, finish_reason, state, exemplars, candidates=len(scored)
        )
        spec["critic"] = verdict.as_record()
        if verdict.passed:
            Metrics.counter(self.task.metrics_ns, f"iter{self.iteration}_accepted_round{round_}").inc()
            self.task.accept(spec, text)
            spec.pop("_gen", None)
            yield spec
            return
        history = [*state.get("history", []), verdict.as_record()]
        if self.final and getattr(self.task, "keeps_unpassed", False):
            self.task.accept(spec, text)  # the task records what stayed bad
            spec.pop("_gen", None)
            yield spec
            return
        if self.final:
            self._rejected.inc()
            errors = [f for f in verdict.findings if f.severity == "error"]
            detail = "; ".join(f"{f.expert}/{f.code}: {f.message}" for f in errors) or (
                f"score {verdict.score:.2f} below threshold {self.critic.threshold}"
            )
            self.task.accept(spec, text)
            spec["critic_history"] = history
            spec.pop("_gen", None)
            message = f"no candidate passed after {round_} revision(s); best: {detail}"
            yield beam.pvalue.TaggedOutput(REJECTED, rejection(spec, "critique", REASON_CRITIC, message))
            return
        state.update(
            round=round_ + 1,
            draft=text,
            instructions=self.task.instructions(verdict, spec),
            history=history,
        )
        spec["_gen"] = state
        yield beam.pvalue.TaggedOutput(REVISE, spec)


def generation_record(
    model_name: str,
    gen,
    iteration: int,
    finish_reason: str | None,
    state: dict[str, Any],
    exemplars: list[dict[str, Any]] | None,
    candidates: int = 0,
) -> dict[str, Any]:
    return {
        "model": model_name,
        "prompt_template_id": gen.prompt_template,
        "finish_reason": finish_reason,
        "prompt_tokens": int(state["prompt_tokens"]),
        "completion_tokens": int(state["completion_tokens"]),
        "revision_count": int(state["round"]),
        "llm_calls": int(state["calls"]),
        "candidates": int(candidates),
        "iteration": iteration,
        "exemplar_ids": [record_id(e) for e in exemplars or ()],
    }


def _exemplar_key(record: dict[str, Any]) -> tuple[float, int]:
    return (float(record["critic"]["score"]), -record_index(record))


def pick_exemplars(best_per_group: list[dict[str, Any]], count: int, task: GeneratorCriticTask) -> list[dict[str, Any]]:
    """The `count` highest-scoring accepted records, at most one per exemplar group (ties: lower index)."""
    chosen = sorted(best_per_group, key=_exemplar_key, reverse=True)[:count]
    return [task.exemplar(r) for r in chosen]


class SelectExemplars(beam.PTransform):
    """accepted records -> a singleton list of few-shot exemplars, spread over the task's groups."""

    def __init__(self, count: int, task: GeneratorCriticTask):
        super().__init__()
        self.count = count
        self.task = task

    def expand(self, accepted):
        return (
            accepted
            | "ByCell" >> beam.Map(lambda r: (self.task.exemplar_group(r), r))
            | "BestPerCell" >> beam.CombinePerKey(lambda rs: max(rs, key=_exemplar_key, default=None))
            | "Records" >> beam.Values()
            | "All" >> beam.combiners.ToList()
            # a closure, not side arguments: Beam would type-check the task against the
            # GeneratorCriticTask protocol, which issubclass cannot do (it has data members)
            | "Pick" >> beam.Map(lambda best: pick_exemplars(best, self.count, self.task))
        )


HandlerFactory = Callable[..., Any]  # (settings, stage=..., expected_total=...) -> ModelHandler


class GeneratorCritic(beam.PTransform):
    """specs -> Filtered(accepted, rejected), through candidates, critique, revision and
    bootstrapped exemplars. `exemplars`: a singleton of exemplars chosen elsewhere (quota top-up:
    from the personas already kept); every spec is then generated with them, in one iteration
    numbered like the last one. `handlers` builds each LLM stage's model handler (default:
    `chat_handler`; tests pass an in-process fake)."""

    def __init__(
        self,
        settings: LLMSettings,
        task: GeneratorCriticTask,
        seed: int,
        expected_total: int | None = None,
        judge_settings: LLMSettings | None = None,
        exemplars=None,
        handlers: HandlerFactory = chat_handler,
    ):
        super().__init__()
        self.settings = settings
        self.task = task
        self.gen = task.gen
        self.critic = task.critic
        self.seed = seed
        self.expected_total = expected_total
        self.judge_settings = judge_settings  # None: the LLM judge is off
        self.exemplars = exemplars
        self.handlers = handlers

    def expand(self, specs):
        ex = self.gen.exemplars
        if self.exemplars is not None:
            return self._iteration(specs, ex.iterations, self.exemplars)
        parts = specs | "SplitIterations" >> beam.Partition(
            lambda spec, n: iteration_of(record_index(spec), ex.iterations, ex.pilot_fraction), ex.iterations + 1
        )
        accepted, rejected = [], []
        exemplars = None
        for t, part in enumerate(parts):
            acc, rej = self._iteration(part, t, exemplars)
            accepted.append(acc)
            rejected.append(rej)
            if t < ex.iterations:
                exemplars = acc | f"Exemplars{t}" >> SelectExemplars(ex.count, self.task)
        return Filtered(
            accepted | "AllAccepted" >> beam.Flatten(),
            rejected | "AllRejected" >> beam.Flatten(),
        )

    def _iteration(self, specs, t: int, exemplars) -> Filtered:
        side = [beam.pvalue.AsSingleton(exemplars)] if exemplars is not None else []
        rounds = self.gen.max_revisions + 1
        pending = specs
        accepted, rejected = [], []
        for r in range(rounds):
            stage = self.task.stage_prefix + ("generate" if r == 0 else "revise")
            handler = self.handlers(self.settings, stage=stage, expected_total=self.expected_total if r == 0 else None)
            label = f"Iter{t}Round{r}"
            name = self.settings.served_name
            answers = self.task.generate(pending, handler, self.seed, self.settings.prefill, label, side)
            scored = answers | f"{label}Score" >> beam.ParDo(ScoreCandidates(name, self.task, t), *side).with_outputs(
                REJECTED, main="scored"
            )
            rejected.append(scored[REJECTED])
            candidates = scored.scored
            if self.judge_settings is not None:
                candidates = candidates | f"{label}Judge" >> JudgeCandidates(
                    self.judge_settings, self.critic, self.seed, self.handlers
                )
            out = candidates | f"{label}Decide" >> beam.ParDo(
                Decide(name, self.task, t, final=r == rounds - 1), *side
            ).with_outputs(REJECTED, REVISE, main="accepted")
            accepted.append(out.accepted)
            rejected.append(out[REJECTED])
            pending = out[REVISE]
        return Filtered(
            accepted | f"Iter{t}Accepted" >> beam.Flatten(),
            rejected | f"Iter{t}Rejected" >> beam.Flatten(),
        )


class JudgeCandidates(beam.PTransform):
    """Scored personas -> the same, with the LLM judge's grades on every candidate the rule-based
    experts passed. Personas with no such candidate skip the judge (and its cost)."""

    def __init__(self, settings: LLMSettings, critic: CriticSettings, seed: int, handlers: HandlerFactory):
        super().__init__()
        self.settings = settings
        self.critic = critic
        self.seed = seed
        self.handlers = handlers

    def expand(self, scored):
        judged, skipped = scored | "NeedsJudge" >> beam.Partition(
            lambda spec, n: 0 if any(v.passed for _, _, v in spec["_scored"]) else 1, 2
        )
        answers = (
            judged
            | "Requests" >> beam.Map(judge_request_for, self.critic.llm_judge, self.seed)
            | "LLM" >> Infer(self.handlers(self.settings, stage="judge"))
            | "Apply" >> beam.ParDo(ApplyJudgement(self.critic))
        )
        return (answers, skipped) | "Merge" >> beam.Flatten()
