"""Chat-completion backends behind one Beam ModelHandler.

- `embedded`: the bundled SmolLM2-135M-Instruct, served by vLLM on this machine;
- `vllm`: any model name or path, served by vLLM on the worker (CPU or GPU);
- `openai`: any OpenAI-compatible endpoint; the API key is read from an environment variable
  whose *name* is in the config, so the key itself never enters configs, manifests or logs.

Requests in a batch run concurrently (the server batches them on the accelerator). A failed
request becomes a response with `error` set, never an exception that would drop the whole batch.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.ml.inference.base import ModelHandler, PredictionResult, RemoteModelHandler, RunInference

from pipelines.common.chat import ChatRequest, ChatResponse, join_continuation
from pipelines.common.settings import DEFAULTS, merged
from pipelines.progress import Progress, Total

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LLMSettings:
    backend: str  # embedded | vllm | openai
    model: str  # what is served: a path (embedded, vllm) or a name (openai, vllm)
    served_name: str  # the model name recorded on rows and sent in requests
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    max_tokens: int = 150
    temperature: float = 0.7
    top_p: float = 0.9
    repetition_penalty: float | None = None
    concurrency: int = 32
    request_timeout_s: float = 180.0
    max_retries: int = 4
    batch_retries: int = 3
    throttle_delay_s: int = 5
    send_seed: bool = True
    prefill: bool = False
    vllm: dict[str, Any] = field(default_factory=dict)
    cache_root: str | None = None  # durable answer cache (pipelines/generation/cache.py); None: off

    @classmethod
    def from_config(cls, llm: dict[str, Any]) -> LLMSettings:
        """From an `llm` config block; keys it lacks take the defaults of `settings.DEFAULTS`."""
        llm = merged(DEFAULTS["llm"], llm)
        backend = llm["backend"]
        if backend == "embedded":
            from pipelines.models.embedded import EMBEDDED_MODEL_NAME, embedded_model_dir

            model, served = str(embedded_model_dir()), EMBEDDED_MODEL_NAME
        else:
            model = llm["model"]
            served = os.path.basename(model.rstrip("/")) if os.path.isdir(model) else model
        return cls(
            backend=backend,
            model=model,
            served_name=served,
            base_url=llm["base_url"],
            api_key_env=llm["api_key_env"],
            max_tokens=int(llm["max_tokens"]),
            temperature=float(llm["temperature"]),
            top_p=float(llm["top_p"]),
            repetition_penalty=llm["repetition_penalty"] if backend != "openai" else None,
            concurrency=int(llm["concurrency"]),
            request_timeout_s=float(llm["request_timeout_s"]),
            max_retries=int(llm["max_retries"]),
            batch_retries=int(llm["batch_retries"]),
            throttle_delay_s=int(llm["throttle_delay_s"]),
            send_seed=bool(llm["request_seed"]),
            # Assistant prefill is a vLLM chat extension; other endpoints opt in explicitly.
            prefill=backend != "openai" if llm["assistant_prefill"] is None else bool(llm["assistant_prefill"]),
            vllm=dict(llm["vllm"]),
            cache_root=_cache_root(llm["cache"]),
        )

    def api_key(self) -> str:
        """Read at call time from the environment; local servers accept any key."""
        return os.environ.get(self.api_key_env) or "not-needed"

    @property
    def starts_server(self) -> bool:
        return self.backend in ("embedded", "vllm")

    def sampling_fingerprint(self) -> dict[str, Any]:
        return {
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "repetition_penalty": self.repetition_penalty,
        }


def _cache_root(cache: dict[str, Any]) -> str | None:
    if not cache.get("enabled", False):
        return None
    from pipelines.generation.cache import default_root

    return cache.get("path") or default_root()


class _Endpoint:
    """What `load_model` returns: an OpenAI client plus the server it talks to, if any."""

    def __init__(self, settings: LLMSettings):
        from openai import OpenAI

        self.server = None
        base_url = settings.base_url
        if settings.starts_server:
            from pipelines.generation.vllm_server import shared_server

            model = settings.model
            if settings.backend == "embedded":
                # On a remote worker the launcher's cache is not there: convert the bundled model
                # here (idempotent, and a no-op where it is ready).
                from pipelines.models.embedded import prepare

                model = str(prepare())
            v = merged(DEFAULTS["llm"]["vllm"], settings.vllm)
            # One server per worker process, shared by every stage (generate, revise, ...).
            self.server = shared_server(
                model,
                settings.served_name,
                gpu_memory_utilization=v["gpu_memory_utilization"],
                max_model_len=v["max_model_len"],
                enforce_eager=v["enforce_eager"],
                extra_args=v["extra_args"],
                startup_timeout_s=v["startup_timeout_s"],
                dtype=v["dtype"],
                cpu_reserved_cores=v["cpu_reserved_cores"],
            )
            base_url = self.server.base_url
        self.client = OpenAI(
            base_url=base_url,
            api_key=settings.api_key(),
            timeout=settings.request_timeout_s,
            max_retries=settings.max_retries,
        )


class _ChatCalls:
    """Request building, response parsing and accounting shared by the local and remote handlers.
    A failed request becomes a ChatResponse with `error` set: one bad request never drops its batch."""

    settings: LLMSettings
    stage: str

    def _init_accounting(self, settings: LLMSettings, stage: str, expected_total: int | Total | None) -> None:
        self.settings = settings
        self.stage = stage
        # The whole run's progress of this stage (every worker's requests): `expected_total` is the
        # number of requests, known when the pipeline is built (an int) or declared while it runs
        # (a Total, e.g. planned dialogues x turns); None: the line says the total is unknown.
        # The handlers of one stage (one per exemplar iteration, per top-up round) share the line.
        self._progress = Progress(f"LLM {stage}", expected_total, join=True)
        self._requests = Metrics.counter("llm", f"{stage}_requests")
        self._errors = Metrics.counter("llm", f"{stage}_errors")
        self._prompt_tokens = Metrics.counter("llm", f"{stage}_prompt_tokens")
        self._completion_tokens = Metrics.counter("llm", f"{stage}_completion_tokens")
        self._cache_hits = Metrics.counter("llm", f"{stage}_cache_hits")
        self._cache = None

    @property
    def progress(self) -> Progress:
        """This stage's progress line (the whole run's): a step that knows planned requests will
        not be sent (the later turns of a failed dialogue) calls `progress.skip(n)`."""
        return self._progress

    def _response_cache(self):
        if self.settings.cache_root and self._cache is None:
            from pipelines.generation.cache import ResponseCache

            self._cache = ResponseCache(self.settings.cache_root)
        return self._cache

    def _cache_key(self, req: ChatRequest) -> str:
        from pipelines.generation.cache import cache_key

        s = self.settings
        return cache_key(
            s.served_name,
            {"temperature": s.temperature, "top_p": s.top_p, "repetition_penalty": s.repetition_penalty},
            {
                "messages": req.messages,
                "prefill": req.prefill,
                "n": req.n,
                "seed": req.seed,
                "response_format": req.response_format,
                "max_tokens": req.max_tokens or s.max_tokens,
                "stop": list(req.stop),
            },
        )

    def _answer(self, endpoint: _Endpoint, req: ChatRequest) -> ChatResponse:
        """From the cache when this exact request was answered before; else from the endpoint,
        and the answer is cached at once (failures never are)."""
        cache = self._response_cache()
        if cache is None:
            return self._complete(endpoint, req)
        key = self._cache_key(req)
        hit = cache.get(key)
        if hit is not None:
            return ChatResponse(
                choices=tuple((text, reason) for text, reason in hit["choices"]),
                prompt_tokens=int(hit["prompt_tokens"]),
                completion_tokens=int(hit["completion_tokens"]),
                cached=True,
            )
        response = self._complete(endpoint, req)
        if response.error is None:
            cache.put(
                key,
                {
                    "choices": [list(c) for c in response.choices],
                    "prompt_tokens": response.prompt_tokens,
                    "completion_tokens": response.completion_tokens,
                },
            )
        return response

    def batch_elements_kwargs(self) -> dict[str, Any]:
        # A fixed batch as wide as the allowed concurrency keeps the server's batch full.
        n = self.settings.concurrency
        return {"min_batch_size": n, "max_batch_size": n}

    def get_metrics_namespace(self) -> str:
        return f"llm_{self.stage}"

    def _complete(self, endpoint: _Endpoint, req: ChatRequest) -> ChatResponse:
        s = self.settings
        kwargs: dict[str, Any] = {
            "model": s.served_name,
            "messages": [{"role": r, "content": c} for r, c in req.messages],
            "max_tokens": req.max_tokens or s.max_tokens,
            "temperature": s.temperature,
            "top_p": s.top_p,
        }
        if req.n > 1:
            kwargs["n"] = req.n
        if s.send_seed:
            kwargs["seed"] = req.seed
        if req.response_format:
            kwargs["response_format"] = req.response_format
        if req.stop:
            kwargs["stop"] = list(req.stop)
        extra: dict[str, Any] = {}
        if s.repetition_penalty:
            extra["repetition_penalty"] = s.repetition_penalty
        if req.prefill:
            # vLLM's chat API continues a trailing assistant message instead of opening a new one.
            kwargs["messages"].append({"role": "assistant", "content": req.prefill})
            extra.update(continue_final_message=True, add_generation_prompt=False)
        if extra:
            kwargs["extra_body"] = extra
        out, error = self._create(endpoint, kwargs)
        if out is None:
            return ChatResponse((), 0, 0, error=error)
        choices = []
        for choice in sorted(out.choices, key=lambda c: c.index or 0):
            content = (choice.message.content if choice.message else None) or ""
            if req.prefill and not content.startswith(req.prefill):
                content = join_continuation(req.prefill, content)
            choices.append((content, choice.finish_reason))
        usage = out.usage
        return ChatResponse(
            choices=tuple(choices),
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
        )

    def _create(self, endpoint: _Endpoint, kwargs: dict[str, Any]) -> tuple[Any, str | None]:
        """One chat completion. Timeouts, connection errors, 429 and 5xx are retried inside the
        OpenAI client (backoff, Retry-After); a body that is cut off or not JSON, or an answer
        without choices, is retried here, with backoff and jitter, up to `max_retries` times.
        Returns (completion, None) or (None, the last error)."""
        error = "no attempt made"
        for attempt in range(self.settings.max_retries + 1):
            if attempt:
                time.sleep(min(8.0, 0.25 * 2**attempt) * (0.5 + random.random()))
            try:
                out = endpoint.client.chat.completions.create(**kwargs)
            except ValueError as exc:  # JSONDecodeError: the body was truncated or is not JSON
                error = f"malformed response body ({type(exc).__name__}: {exc})"
                continue
            except Exception as exc:  # noqa: BLE001 - every failure becomes a reasoned rejection
                return None, f"{type(exc).__name__}: {exc}"[:500]
            if getattr(out, "choices", None):
                return out, None
            error = "malformed response: no choices"
        return None, f"{error} after {self.settings.max_retries + 1} attempt(s)"[:500]

    def _complete_batch(
        self, batch: Sequence[ChatRequest], endpoint: _Endpoint, count_each: bool = False
    ) -> list[PredictionResult]:
        """The batch's answers, `concurrency` requests in flight at a time. `count_each`: the
        progress line counts every answer as it arrives (for handlers whose batches are never
        retried as a whole), not the whole batch when its slowest answer is in."""
        self._progress.begin()

        def answer(req: ChatRequest) -> ChatResponse:
            response = self._answer(endpoint, req)
            if count_each:
                self._progress.update(1, failed=1 if response.error else 0)
            return response

        with ThreadPoolExecutor(max_workers=max(1, min(len(batch), self.settings.concurrency))) as pool:
            responses = list(pool.map(answer, batch))
        failed = sum(1 for r in responses if r.error)
        sent = [r for r in responses if not r.cached]  # tokens and requests this run paid for
        self._requests.inc(len(sent))
        self._cache_hits.inc(len(responses) - len(sent))
        self._errors.inc(failed)
        self._prompt_tokens.inc(sum(r.prompt_tokens for r in sent))
        self._completion_tokens.inc(sum(r.completion_tokens for r in sent))
        return [
            PredictionResult(req, resp, self.settings.served_name) for req, resp in zip(batch, responses, strict=True)
        ]

    def _count_done(self, results: Sequence[PredictionResult]) -> None:
        """Requests finished, for the progress line: only once per request, so a batch Beam is
        about to retry is not counted (its retry is; one it gives up on is counted by Infer)."""
        self._progress.update(len(results), failed=sum(1 for r in results if r.inference.error))


class EndpointUnavailable(RuntimeError):
    """Every request of a batch failed with a retryable error (rate limit, 5xx, timeout, connection)."""


_RETRYABLE = ("RateLimitError", "InternalServerError", "APITimeoutError", "APIConnectionError", "ServiceUnavailable")


def _retryable(error: str | None) -> bool:
    return bool(error) and error.split(":", 1)[0] in _RETRYABLE


class ChatModelHandler(_ChatCalls, ModelHandler[ChatRequest, PredictionResult, _Endpoint]):
    """RunInference handler for a vLLM server started on the worker (embedded model or vLLM)."""

    def __init__(self, settings: LLMSettings, stage: str = "generate", expected_total: int | Total | None = None):
        super().__init__()
        self._init_accounting(settings, stage, expected_total)

    def load_model(self) -> _Endpoint:
        return _Endpoint(self.settings)

    def model_copies(self) -> int:
        return 1

    def share_model_across_processes(self) -> bool:
        return False

    def run_inference(
        self,
        batch: Sequence[ChatRequest],
        model: _Endpoint,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[PredictionResult]:
        # Answers never raise here (a failed request is a failed answer), so Beam never retries
        # a batch of this handler and each answer is counted once, as it arrives.
        return self._complete_batch(batch, model, count_each=True)


class RemoteChatModelHandler(_ChatCalls, RemoteModelHandler[ChatRequest, PredictionResult, _Endpoint]):
    """RunInference handler for an OpenAI-compatible endpoint, on Beam's RemoteModelHandler.

    Each request is retried by the OpenAI client (exponential backoff, honouring Retry-After on
    429). When a whole batch still fails with retryable errors, Beam's client-side throttler
    (adaptive, per worker) slows the worker down and the batch is retried with backoff up to
    `batch_retries` times; after that RunInference's dead-letter output turns it into rejections."""

    def __init__(self, settings: LLMSettings, stage: str = "generate", expected_total: int | Total | None = None):
        super().__init__(
            namespace=f"llm_{stage}",
            num_retries=settings.batch_retries,
            throttle_delay_secs=settings.throttle_delay_s,
            retry_filter=lambda exc: isinstance(exc, EndpointUnavailable),
        )
        self._init_accounting(settings, stage, expected_total)

    def create_client(self) -> _Endpoint:
        return _Endpoint(self.settings)

    def request(
        self,
        batch: Sequence[ChatRequest],
        model: _Endpoint,
        inference_args: dict[str, Any] | None = None,
    ) -> Iterable[PredictionResult]:
        results = self._complete_batch(batch, model)
        errors = [r.inference.error for r in results]
        if all(_retryable(e) for e in errors):
            # The whole batch hit overload or an outage: raising lets the throttler back off and
            # Beam retry the batch (no answered request is thrown away, since none was answered).
            raise EndpointUnavailable(f"all {len(errors)} requests failed; first: {errors[0]}")
        self._count_done(results)
        return results


def chat_handler(settings: LLMSettings, stage: str = "generate", expected_total: int | Total | None = None):
    """The RunInference handler for a backend: remote for endpoints, local for a worker's vLLM."""
    cls = RemoteChatModelHandler if settings.backend == "openai" else ChatModelHandler
    return cls(settings, stage, expected_total)


def _error_text(error: Any) -> str:
    """'Type: message' for what RunInference's dead-letter output carries: the exception itself
    (Beam 2.77 and earlier) or a (type, message, traceback lines) tuple (Beam 2.78 on)."""
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}"
    if isinstance(error, tuple) and len(error) >= 2:
        kind, message = error[0], error[1]
        name = kind.__name__ if isinstance(kind, type) else str(kind)
        return f"{name}: {message}"
    return str(error)


def _failed_batch(item: tuple[Any, Any], progress: Progress | None = None) -> list[PredictionResult]:
    """A batch RunInference gave up on (after the handler's retries) -> one failed answer per
    request, so each persona is rejected with the error instead of being lost."""
    batch, exc = item
    if progress is not None:
        progress.update(len(batch), failed=len(batch))
    error = _error_text(exc)[:500]
    return [PredictionResult(req, ChatResponse((), 0, 0, error=error), None) for req in batch]


class Infer(beam.PTransform):
    """RunInference with its dead-letter output folded back in as failed answers."""

    def __init__(self, handler):
        super().__init__()
        self.handler = handler

    def expand(self, requests):
        main, dead = requests | "RunInference" >> RunInference(self.handler).with_exception_handling()
        progress = getattr(self.handler, "_progress", None)  # None for handlers other than ours (test fakes)
        failed = dead.failed_inferences | "FailedBatches" >> beam.FlatMap(_failed_batch, progress)
        return (main, failed) | "All" >> beam.Flatten()
