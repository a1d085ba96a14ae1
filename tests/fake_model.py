"""An in-process fake model handler for single-stage tests: Beam's RunInference calls it like any
ModelHandler, and `answer(request, i)` writes candidate i of each ChatRequest. No HTTP, no server."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from apache_beam.ml.inference.base import ModelHandler, PredictionResult

from pipelines.common.chat import ChatRequest, ChatResponse

Answer = Callable[[ChatRequest, int], str | None]  # None: the call fails


class InProcessChatHandler(ModelHandler[ChatRequest, PredictionResult, None]):
    def __init__(self, answer: Answer, stage: str):
        super().__init__()
        self.answer = answer
        self.stage = stage

    def load_model(self) -> None:
        return None

    def run_inference(
        self, batch: Sequence[ChatRequest], model: None, inference_args: dict[str, Any] | None = None
    ) -> list[PredictionResult]:
        out = []
        for req in batch:
            texts = [self.answer(req, i) for i in range(req.n)]
            if any(t is None for t in texts):
                response = ChatResponse((), 0, 0, error="injected failure")
            else:
                words = sum(len(t.split()) for t in texts)
                response = ChatResponse(tuple((t, "stop") for t in texts), 100, words)
            out.append(PredictionResult(req, response, None))
        return out


class InProcessHandlers:
    """A handler factory for `GeneratorCritic(handlers=...)`: every LLM stage gets a fake that
    answers with `answer`; `stages` records which stages were built."""

    def __init__(self, answer: Answer):
        self.answer = answer
        self.stages: list[str] = []

    def __call__(self, settings, stage: str = "generate", expected_total: int | None = None):
        self.stages.append(stage)
        return InProcessChatHandler(self.answer, stage)
