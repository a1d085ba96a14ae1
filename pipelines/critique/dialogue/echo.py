"""The dialogue echo expert: turns that copy an earlier turn (the other speaker's or one's own),
sentences said twice or reused from an earlier turn, and turns that loop.

Finding codes (all errors): echoed_turn, repeated_sentence, repeated_ngrams.

The default echo threshold (`echo_threshold` 0.6 in `pipelines.common.settings.DEFAULTS`) is a
cosine similarity of word 1-2-gram counts (`pipelines.critique.novelty.similarity`). On the
dialogues of tests/fixtures/broken_dialogues.yaml the highest similarity between two turns of one
dialogue that do not repeat each other is 0.39 (an answer that takes up the question's words), and
turns that share one reused sentence 0.51-0.56; a turn copied with a word or two changed scores
0.97-1.0, and the half-copies SmolLM2-135M writes ("Hey, nice to meet you! Just got a new puppy
too!" after "Hey, just got a new puppy! I'm glad to meet you.") 0.63-0.70.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pipelines.critique.base import ExpertResult
from pipelines.critique.dialogue.findings import DialogueFinding, Turn, finding, who
from pipelines.critique.novelty import similarity
from pipelines.critique.text import low_compression, repeated_share, words

# Turns shorter than this (in words) are not compared: "See you on Saturday!" said back is natural.
ECHO_MIN_WORDS = 6
# A sentence reused in another turn only counts when it has at least this many words.
REPEATED_SENTENCE_MIN_WORDS = 6


def _sentences(text: str, statements_only: bool = False) -> list[str]:
    """The sentences of a text as lower-cased words joined by spaces; with statements_only,
    without questions ("And what do you do for a living?" asked back is ordinary conversation)."""
    out = []
    for s in re.split(r"(?<=[.!?…])\s+", text):
        norm = " ".join(w.lower() for w in words(s))
        if norm and not (statements_only and s.rstrip().endswith("?")):
            out.append(norm)
    return out


def _at(
    turns: Sequence[Turn], names: tuple[str, str], j: int, code: str, message: str, **extra: Any
) -> DialogueFinding:
    """An echo finding about turn j (0-based), its message after "turn j+1 (speaker) "."""
    speaker = turns[j][0]
    return finding("echo", code, f"{who(j + 1, speaker, names)} {message}", turn=j + 1, speaker=speaker, **extra)


def echo(turns: Sequence[Turn], names: tuple[str, str], threshold: float) -> ExpertResult:
    """Turns that copy an earlier turn (similarity at or above `threshold`), sentences reused
    across turns, turns that loop."""
    e = "echo"
    findings: list[DialogueFinding] = []
    texts = [t.split(":", 1)[1] if s is None and ":" in t else t for s, t in turns]
    counts = [len(words(t)) for t in texts]
    best = 0.0
    echoed: set[tuple[int, int]] = set()
    for j in range(1, len(texts)):
        if counts[j] < ECHO_MIN_WORDS:
            continue
        hits = []
        for k in range(j):
            if counts[k] < ECHO_MIN_WORDS:
                continue
            sim = similarity(texts[j], texts[k])
            best = max(best, sim)
            if sim >= threshold:
                hits.append((sim, k))
        if hits:
            # the previous turn if it is a copy of it, else the most similar one
            sim, k = next(((si, k) for si, k in hits if k == j - 1), max(hits))
            echoed.add((k, j))
            message = f"repeats {who(k + 1, turns[k][0], names)} (similarity {sim:.2f} >= {threshold:.2f})"
            findings.append(_at(turns, names, j, "echoed_turn", message, ref_turn=k + 1))
    for j, text in enumerate(texts):
        flagged: set[int] = set()
        sentences = _sentences(text)
        within = [x for x, c in Counter(sentences).items() if c > 1 and len(x.split()) >= 3]
        toks = [w.lower() for w in words(text)]
        repeated = repeated_share(toks)
        if repeated > 0.2 or low_compression(text) is not None:
            findings.append(
                _at(turns, names, j, "repeated_ngrams", f"loops: {repeated:.0%} of its 3-grams are repeats")
            )
        if within:
            flagged.add(j)  # one repeated_sentence finding per turn
            message = f"says {within[0]!r} more than once"
            findings.append(_at(turns, names, j, "repeated_sentence", message, evidence=within[0], ref_turn=j + 1))
        # a statement of an earlier turn said again word for word, alone or inside a longer sentence
        here = f" {' '.join(toks)} "
        reused = (
            (k, sentence)
            for k in range(j)
            if (k, j) not in echoed
            for sentence in _sentences(texts[k], statements_only=True)
            if len(sentence.split()) >= REPEATED_SENTENCE_MIN_WORDS and f" {sentence} " in here
        )
        hit = None if j in flagged else next(reused, None)
        if hit:
            k, sentence = hit
            message = f"reuses a sentence of {who(k + 1, turns[k][0], names)}: {sentence!r}"
            findings.append(_at(turns, names, j, "repeated_sentence", message, evidence=sentence, ref_turn=k + 1))
    errors = sum(f.severity == "error" for f in findings)
    score = max(0.0, 1.0 - max(0.0, best - 0.3) - 0.4 * errors)
    return ExpertResult(e, round(score, 4), tuple(findings))
