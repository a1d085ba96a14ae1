"""The degeneration expert: length bounds, loops, prompt leftovers and truncation.

Finding codes: too_short, too_long, repeated_ngrams (over 20% of the word 3-grams are repeats),
low_compression (zlib ratio below 0.30), repeated_sentence, prompt_leftover, and the warning
truncated (no complete last sentence)."""

from __future__ import annotations

import re

from pipelines.critique.base import ExpertResult, Finding
from pipelines.critique.text import PROMPT_LEFTOVERS, ends_complete, low_compression, repeated_share, words


def degeneration(text: str, min_words: int, max_words: int) -> ExpertResult:
    """Repetition, compression ratio, length bounds, leftover prompt text."""
    findings: list[Finding] = []
    toks = [t.lower() for t in words(text)]
    n = len(toks)
    if n < min_words:
        findings.append(Finding("degeneration", "too_short", f"{n} words, fewer than {min_words}"))
    if n > max_words:
        findings.append(Finding("degeneration", "too_long", f"{n} words, more than {max_words}"))
    repeated = repeated_share(toks)
    if repeated > 0.2:
        findings.append(Finding("degeneration", "repeated_ngrams", f"{repeated:.0%} of 3-grams are repeats"))
    ratio = low_compression(text)
    if ratio is not None:
        findings.append(Finding("degeneration", "low_compression", f"compression ratio {ratio:.2f} < 0.30"))
    sentences = [s.strip().lower() for s in re.split(r"[.!?]+", text) if s.strip()]
    dup_sentences = len(sentences) - len(set(sentences))
    if dup_sentences:
        findings.append(Finding("degeneration", "repeated_sentence", f"{dup_sentences} sentence(s) repeated"))
    for marker in PROMPT_LEFTOVERS:
        m = marker.search(text)
        if m:
            findings.append(Finding("degeneration", "prompt_leftover", f"contains {m.group(0).strip()!r}"))
            break
    if text and not ends_complete(text):
        findings.append(
            Finding("degeneration", "truncated", "does not end with a complete sentence", severity="warning")
        )
    score = max(0.0, 1.0 - 2.0 * repeated - 0.5 * sum(f.severity == "error" for f in findings))
    return ExpertResult("degeneration", round(score, 4), tuple(findings))
