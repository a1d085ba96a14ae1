"""A small OpenAI-compatible chat server for tests: fast, deterministic, with fault injection.

It writes a narrative from the facts in the last user message, so the critic sees realistic,
persona-faithful prose. `fault_for(facts)` picks a fault per request (None for a normal answer):
    "error400"  -> HTTP 400 every time (not retried by the client)
    "flaky500"  -> HTTP 500 on the first call for that persona, then a normal answer
    "rate429"   -> HTTP 429 with Retry-After on the first call, then a normal answer
    "empty"     -> an empty answer
    "clone"     -> the same text, but for the name, for every persona given this fault (a
                   vacuous narrative the critic rejects as saying nothing about the persona)
    "copy"      -> the same short text (under 25 words), but for the first name, for every
                   persona given this fault: a fragment the critic lets through, so that dedup
                   is the stage that catches the copies
    "wrong_then_fixed" -> every first-round candidate states a wrong age; a revision is correct
    "always_wrong"     -> every candidate of every round states a wrong age
    "second_best"      -> candidate 0 states a wrong age, candidate 1 is correct
Requests with `n` get n choices; candidate i > 0 adds a sentence of its own so siblings differ.
`faulted` records, per persona name, the fault it was given.

Deep-profile requests ("Fill in these items ...") get `item: value` lines, with the faults of
`deep_fault_for(facts)` (see `deep_profile_answer`).

Requests with a `response_format` are the LLM judge's: the answer grades every "Candidate N:" in
the prompt 4/5, except under the judge faults
    "judge_low"        -> every candidate graded 1/5
    "judge_garbage"    -> an answer that is not JSON
    "judge_prefers_2"  -> candidate 1 graded 1/5, candidate 2 graded 5/5
`outage=N` answers the first N requests of any kind with HTTP 503 (an endpoint that is down).

`chaos=p` fails exactly a share p of distinct requests on their first attempt, taking turns among
the transport faults of CHAOS: a timeout (no answer
within the client's timeout), HTTP 500, HTTP 429 with Retry-After, a body cut off mid-JSON and a
body that is not JSON. The retry of the same request is answered normally, so a run with chaos
must end with exactly the dataset of a run without it. `answered` counts, per request body hash,
the normal answers given (a body answered twice was paid for twice).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PRONOUN = {"Female": ("She", "her"), "Male": ("He", "his")}
CLONE_TEXT = (
    "{name} is a person who lives somewhere and works at something. They like things and do "
    "stuff on weekends with friends and family, and they talk about it often. Every day is much "
    "the same for them, and they are content with a quiet and ordinary life."
)
COPY_TEXT = (
    "{first} keeps a quiet routine at home. Weekends are for long walks, small chores and "
    "calls with friends and family."
)


EXTRA = (
    "",
    " Neighbours know the sound of the old kettle that announces every morning.",
    " A drawer at home is full of letters that were never sent.",
    " Weekends tend to start late and end with a long phone call.",
)


def facts_of(messages: list[dict[str, str]]) -> dict[str, str]:
    """The facts of the persona being written: the last user message that lists facts (a revision
    request comes after it)."""
    for m in reversed(messages):
        if m["role"] == "user":
            found = dict(re.findall(r"^- ([^:]+): (.*)$", m["content"], re.MULTILINE))
            if "Name" in found:
                return found
    return {}


def is_dialogue(messages: list[dict[str, str]]) -> bool:
    return any(m["role"] == "user" and "Situation:" in m["content"] for m in messages[-3:])


def is_revision(messages: list[dict[str, str]]) -> bool:
    return messages[-1]["role"] == "user" and "Fix these problems" in messages[-1]["content"]


def wrong_age(facts: dict[str, str]) -> dict[str, str]:
    return {**facts, "Age": str(int(facts["Age"]) + 10)}


def narrative(facts: dict[str, str]) -> str:
    she, her = PRONOUN.get(facts.get("Gender", ""), ("They", "their"))
    name = facts["Name"]
    return (
        f"{name} is a {facts['Age']}-year-old {facts.get('Occupation', 'worker').split(',')[0].lower()} "
        f"who lives in {facts.get('Lives in', 'a small town').split(' (')[0]}. {she} spends {her} free time on "
        f"{facts.get('Hobbies', 'long walks')}, and friends describe {name.split()[0]} as "
        f"{facts.get('Personality', 'kind')}. {she} values {facts.get('Values', 'honesty')} above most things, "
        f"and {her} way of talking is {facts.get('Way of talking', 'plain')}. Family life: "
        f"{facts.get('Family', 'private')}."
    )


TURN_LINES = (
    (
        "Hi, I'm {first}. I work as a {job}, so my days are long.",
        "Morning! {first}, by the way. I'm a {job} in {city}.",
        "Is this seat taken? I'm {first}, I just finished a shift as a {job}.",
        "You look familiar. I'm {first}, the {job} from the corner building.",
        "Sorry to interrupt, I'm {first}. Being a {job} makes me talk to strangers.",
    ),
    (
        "Nice to meet you, {other}. What do you do when you are not working?",
        "Good to meet you, {other}. Do you live around here?",
        "Hello {other}. I have been in {city} for years, and you?",
        "Pleased to meet you, {other}. Busy week?",
        "Oh hi {other}. I was just thinking about my plans for the evening.",
    ),
    (
        "Mostly {hobby}. It keeps me sane. How about you, any plans for the weekend?",
        "I spend my free time on {hobby}, honestly it is the best part of my week.",
        "When I can, {hobby}. My friends say I talk about it too much.",
        "Whatever time is left goes to {hobby}. What keeps you busy?",
        "I got into {hobby} last year and now I cannot stop.",
    ),
    (
        "Not much. Honestly I have been thinking about changing jobs lately.",
        "I want to visit my family, it has been months since I saw them.",
        "My weekends are quiet, I cook and catch up on sleep.",
        "I am trying to save money, so mostly staying in.",
        "Probably a long walk by the river if the weather holds.",
    ),
    (
        "That sounds like a big step. What would you do instead?",
        "I understand that. Family matters more than anything.",
        "Sleep is underrated. I never get enough of it.",
        "Saving is hard with prices going up like this.",
        "The river path is lovely in the evening light.",
    ),
    (
        "Something closer to home. Anyway, it was good talking to you.",
        "We will see how it goes. Thanks for listening.",
        "I should go, but this was a nice chat.",
        "Exactly. Well, I need to run, take care.",
        "True. Let's talk again some time.",
    ),
)


def _variant(*parts: str) -> int:
    return int(hashlib.sha256("|".join(parts).encode()).hexdigest()[:8], 16)


def dialogue_people(prompt: str) -> list[dict[str, str]]:
    people = []
    for line in re.findall(r"^Person \d: (.*)$", prompt, re.MULTILINE):
        people.append(dict(part.split(": ", 1) for part in line.split("; ") if ": " in part))
    return people


def dialogue_answer(messages: list[dict[str, str]], fault: str | None) -> str:
    """A conversation between the two people of the last "Person 1/2" prompt, with the number of
    turns it asks for; under the fault "dialogue_echo" the third turn repeats the second."""
    prompt = next(m["content"] for m in reversed(messages) if m["role"] == "user" and "Person 1:" in m["content"])
    people = dialogue_people(prompt)
    turns = int(re.search(r"exactly (\d+) turns", messages[-1]["content"]).group(1))
    firsts = [p["Name"].split()[0] for p in people]
    lines = []
    for t in range(turns):
        me, other = people[t % 2], firsts[(t + 1) % 2]
        slot = TURN_LINES[t % len(TURN_LINES)]
        text = slot[_variant(me["Name"], other, str(t)) % len(slot)].format(
            first=firsts[t % 2],
            job=me.get("Occupation", "clerk").split(",")[0].lower(),
            hobby=me.get("Hobbies", "walking").split(" and ")[0],
            city=me.get("Lives in", "town").split(",")[0],
            other=other,
        )
        revised = is_revision(messages) or "avoid them" in messages[-1]["content"]
        if fault == "dialogue_echo" and t == 2 and not revised:
            text = lines[1].split(": ", 1)[1]
        lines.append(f"{firsts[t % 2]}: {text}")
    return "\n".join(lines)


def judge_answer(prompt: str, fault: str | None) -> str:
    if fault == "judge_garbage":
        return "Candidate 1 is quite good, I would say 4 out of 5."
    grades = {}
    for n in map(int, re.findall(r"^Candidate (\d+):", prompt, re.MULTILINE)):
        g = 1 if fault == "judge_low" or (fault == "judge_prefers_2" and n == 1) else 4
        g = 5 if fault == "judge_prefers_2" and n == 2 else g
        grades[f"candidate_{n}"] = {"realism": g, "consistency": g, "depth": g, "issue": f"graded {g}"}
    return json.dumps(grades)


DEEP_ASK = "Fill in these items, one line each"
DEEP_VALUES = (
    "{first} keeps a small routine for {item}, the same most weeks",
    "for {item}, {first} prefers something simple and unhurried",
    "{first} has a firm habit here: {item} done the way {pronoun} likes it",
    "a quiet ritual of {first}'s, {item} without fuss",
)


def is_deep_profile(messages: list[dict[str, str]]) -> bool:
    return messages[-1]["role"] == "user" and DEEP_ASK in messages[-1]["content"]


def deep_profile_answer(messages: list[dict[str, str]], fault: str | None) -> str:
    """`item: value` lines for the items the last message asks for. Faults:
    "deep_malformed"   -> the first item without its `item:` label, one line of chatter
    "deep_contradict"  -> the first item states a wrong age on the first ask; a re-ask is right
    "deep_placeholder" -> every value a placeholder, on every ask (they stay missing)
    "deep_repeat"      -> every item the same value on the first ask"""
    last = messages[-1]["content"]
    facts = facts_of(messages)
    first = facts.get("Name", "Sam").split()[0]
    pronoun = PRONOUN.get(facts.get("Gender", ""), ("they", "their"))[0].lower()
    block = last.split(DEEP_ASK, 1)[1].split("\n", 1)[1].split("\n\n", 1)[0]
    items = re.findall(r"^(.+):$", block, re.MULTILINE)
    reask = "An earlier answer had these problems" in last
    lines = []
    for i, item in enumerate(items):
        leaf = item.rsplit(" / ", 1)[-1].lower()
        value = DEEP_VALUES[_variant(first, item) % len(DEEP_VALUES)].format(first=first, item=leaf, pronoun=pronoun)
        if fault == "deep_placeholder":
            value = "[value]"
        elif fault == "deep_repeat" and not reask:
            value = "likes things simple"
        elif fault == "deep_contradict" and not reask and i == 0:
            value = f"{first} is {int(facts['Age']) + 30} years old and still does it every day"
        if fault == "deep_malformed" and not reask and i == 0:
            lines += ["Sure, here are the details!", value]
        else:
            lines.append(f"{item}: {value}")
    return "\n".join(lines)


def completion(body: dict[str, Any], texts: list[str], attempt: int) -> dict[str, Any]:
    stops = body.get("stop") or ()
    for stop in [stops] if isinstance(stops, str) else stops:  # an answer ends where a stop sequence starts
        texts = [t.split(stop, 1)[0] for t in texts]
    tokens = sum(len(t.split()) for t in texts)
    return {
        "id": f"chatcmpl-{attempt}",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "fake-model"),
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
            for i, t in enumerate(texts)
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": tokens, "total_tokens": 100 + tokens},
    }


CHAOS = ("timeout", "error500", "rate429", "truncated_body", "malformed_body")


def body_key(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


class FakeOpenAI:
    def __init__(
        self,
        fault_for: Callable[[dict[str, str]], str | None] | None = None,
        model: str = "fake-model",
        outage: int = 0,
        chaos: float = 0.0,
        dialogue_fault_for: Callable[[list[dict[str, str]]], str | None] | None = None,
        timeout_s: float = 3.0,
        deep_fault_for: Callable[[dict[str, str]], str | None] | None = None,
    ):
        self.deep_fault_for = deep_fault_for or (lambda facts: None)
        self.deep_requests: list[dict[str, Any]] = []
        self.chaos = chaos
        self.dialogue_fault_for = dialogue_fault_for or (lambda people: None)
        self.dialogue_requests: list[dict[str, Any]] = []
        self.timeout_s = timeout_s  # how long a "timeout" fault stalls before answering
        self.attempts: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()
        self.chaos_faults: Counter[str] = Counter()
        self.fault_for = fault_for or (lambda facts: None)
        self.outage = outage
        self.posts = 0
        self.judge_requests: list[dict[str, Any]] = []
        self.faulted: dict[str, str] = {}
        self.model = model
        self.calls: Counter[str] = Counter()
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _chaos_fault(self, body: dict[str, Any]) -> str | None:
        """The transport fault for this attempt of this request, if any: exactly a share `chaos`
        of distinct requests fail once (every 1/chaos-th in order of arrival)."""
        key = body_key(body)
        with self._lock:
            self.attempts[key] += 1
            if self.attempts[key] > 1 or not self.chaos:
                return None
            i = len(self.attempts) - 1  # ordinal of this distinct request
            if int((i + 1) * self.chaos) == int(i * self.chaos):
                return None
            fault = CHAOS[sum(self.chaos_faults.values()) % len(CHAOS)]  # types take turns: all occur
            self.chaos_faults[fault] += 1
            return fault

    def _answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.posts += 1
            if self.posts <= self.outage:
                return 503, {"error": {"message": "service unavailable (injected outage)"}}, {}
        status, payload, headers = self._answer_normally(body)
        if status == 200:
            with self._lock:
                self.answered[body_key(body)] += 1
        return status, payload, headers

    def _answer_normally(self, body: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
        if is_deep_profile(body["messages"]):
            with self._lock:
                self.deep_requests.append(body)
            fault = self.deep_fault_for(facts_of(body["messages"]))
            return 200, completion(body, [deep_profile_answer(body["messages"], fault)], 1), {}
        if is_dialogue(body["messages"]):
            with self._lock:
                self.dialogue_requests.append(body)
            people = dialogue_people(
                next(m["content"] for m in reversed(body["messages"]) if "Person 1:" in m["content"])
            )
            fault = self.dialogue_fault_for(people)
            n = int(body.get("n") or 1)
            text = dialogue_answer(body["messages"], fault)
            last = body["messages"][-1]["content"]
            if "Write only the next line" in last:  # one turn at a time
                so_far = last.split("Conversation so far:\n", 1)[1].split("\n\nWrite only", 1)[0]
                done = 0 if so_far == "(nothing yet)" else len(so_far.splitlines())
                text = text.splitlines()[done]  # with its label, which the pipeline strips
            elif body.get("response_format"):  # structured: one property per turn, as the schema names them
                keys = body["response_format"]["json_schema"]["schema"]["required"]
                said = [line.split(": ", 1)[1] for line in text.splitlines()]
                text = json.dumps(dict(zip(keys, said, strict=True)))
            return 200, completion(body, [text] * n, 1), {}
        facts = facts_of(body["messages"])
        name = facts.get("Name", "")
        fault = self.fault_for(facts)
        if body.get("response_format"):
            with self._lock:
                self.judge_requests.append(body)
            return 200, completion(body, [judge_answer(body["messages"][-1]["content"], fault)], 1), {}
        with self._lock:
            self.calls[name] += 1
            self.requests.append(body)
            attempt = self.calls[name]
            if fault:
                self.faulted[name] = fault
        if fault == "error400":
            return 400, {"error": {"message": "bad request (injected)", "type": "invalid_request_error"}}, {}
        if fault == "flaky500" and attempt == 1:
            return 500, {"error": {"message": "server error (injected)"}}, {}
        if fault == "rate429" and attempt == 1:
            return 429, {"error": {"message": "slow down (injected)"}}, {"Retry-After": "0"}
        revision = is_revision(body["messages"])
        texts = []
        for i in range(int(body.get("n") or 1)):
            if fault == "empty":
                text = ""
            elif fault == "clone":
                text = CLONE_TEXT.format(name=name)
            elif fault == "copy":
                text = COPY_TEXT.format(first=name.split()[0] if name else "")
            elif (
                fault == "always_wrong"
                or (fault == "wrong_then_fixed" and not revision)
                or (fault == "second_best" and i == 0)
            ):
                text = narrative(wrong_age(facts))
            else:
                text = narrative(facts)
            texts.append(text + (EXTRA[i % len(EXTRA)] if text and fault not in ("clone", "copy") else ""))
        return 200, completion(body, texts, attempt), {}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": fake.model, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": "not found"}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": "not found"}})
                    return
                fault = fake._chaos_fault(body)
                if fault == "timeout":
                    time.sleep(fake.timeout_s)  # the client has given up by now
                    return
                if fault == "error500":
                    self._send(500, {"error": {"message": "server error (injected)"}})
                elif fault == "rate429":
                    self._send(429, {"error": {"message": "slow down (injected)"}}, {"Retry-After": "0"})
                elif fault in ("truncated_body", "malformed_body"):
                    status, payload, _ = fake._answer(body)
                    data = json.dumps(payload).encode()
                    raw = data[: len(data) // 2] if fault == "truncated_body" else b"<html>502 Bad Gateway</html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                else:
                    self._send(*fake._answer(body))

        return Handler
