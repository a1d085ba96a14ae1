"""The local-server handler: `concurrency` requests in flight, every answer counted once on the
progress line as it arrives."""

import threading
import time
from types import SimpleNamespace

from pipelines.common.chat import ChatRequest
from pipelines.generation.llm import ChatModelHandler, LLMSettings
from pipelines.progress import tracking


class CountingClient:
    """Stands in for the OpenAI client of a local vLLM server: records the most requests in
    flight at once; the request whose last message is 'fail' gets an error."""

    def __init__(self):
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak = 0
        self.chat = SimpleNamespace(completions=SimpleNamespace(create=self.create))

    def create(self, **kwargs):
        with self.lock:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
        try:
            time.sleep(0.02)
            if kwargs["messages"][-1]["content"] == "fail":
                raise RuntimeError("server said no")
            message = SimpleNamespace(content=f"answer to {kwargs['messages'][-1]['content']}")
            choice = SimpleNamespace(index=0, message=message, finish_reason="stop")
            return SimpleNamespace(choices=[choice], usage=SimpleNamespace(prompt_tokens=3, completion_tokens=2))
        finally:
            with self.lock:
                self.in_flight -= 1


def test_local_handler_keeps_concurrency_in_flight_and_counts_each_answer(tmp_path):
    settings = LLMSettings(backend="embedded", model="m", served_name="m", concurrency=4, max_retries=0)
    with tracking(str(tmp_path)):
        handler = ChatModelHandler(settings, stage="generate", expected_total=24)
        client = CountingClient()
        endpoint = SimpleNamespace(client=client, server=None)
        batch = [ChatRequest(f"r{i}", (("user", "fail" if i == 5 else f"q{i}"),), seed=i) for i in range(24)]
        results = list(handler.run_inference(batch, endpoint))
        assert [r.example.request_id for r in results] == [f"r{i}" for i in range(24)]  # order kept
        assert results[0].inference.choices[0][0] == "answer to q0"
        assert results[5].inference.error and "server said no" in results[5].inference.error
        assert client.peak == 4  # never more than `concurrency` in flight, and the pool was kept full
        assert (handler.progress.done, handler.progress.failed) == (24, 1)  # each answer counted once


def test_a_prefilled_answer_is_joined_to_its_opening():
    """vLLM continues the prefilled opening and returns only the continuation: the handler puts
    the opening back, with a space between words but none before punctuation or "'s"."""
    settings = LLMSettings(backend="embedded", model="m", served_name="m", max_retries=0)
    handler = ChatModelHandler(settings, stage="generate")
    for continuation, joined in (
        ("loves to swim.", "In her free time, she loves to swim."),
        (" reads.", "In her free time, she reads."),
        ("'s in a choir.", "In her free time, she's in a choir."),
        (", she sings.", "In her free time, she, she sings."),
    ):
        message = SimpleNamespace(content=continuation)
        answer = SimpleNamespace(
            choices=[SimpleNamespace(index=0, message=message, finish_reason="stop")],
            usage=SimpleNamespace(prompt_tokens=3, completion_tokens=2),
        )
        completions = SimpleNamespace(create=lambda answer=answer, **kw: answer)
        client = SimpleNamespace(chat=SimpleNamespace(completions=completions))
        request = ChatRequest("r", (("user", "q"),), seed=0, prefill="In her free time, she")
        response = handler._complete(SimpleNamespace(client=client, server=None), request)
        assert response.choices[0][0] == joined
