"""Critic experts. Each looks at one kind of failure and returns a score in [0, 1] plus findings
(code, message, attribute). Findings with severity `error` reject the candidate; the rest are kept
on the row so a user can see why a narrative scored as it did."""

from __future__ import annotations

import re
import zlib
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

_WORD = re.compile(r"[^\W_]+(?:['’-][^\W_]+)*", re.UNICODE)
_AGE_MENTION = re.compile(
    r"\b(\d{1,3})(?:-|\s)(?:year|yr)s?(?:-|\s)old\b|\baged?\s+(\d{1,3})\b|\b(\d{1,3}) years of age\b",
    re.IGNORECASE,
)
_FEMALE = frozenset({"she", "her", "hers", "herself"})
_MALE = frozenset({"he", "him", "his", "himself"})
_PRONOUNS = {"female": (_FEMALE, _MALE), "male": (_MALE, _FEMALE)}
_LEFTOVERS = (
    "facts:",
    "- name:",
    "write one paragraph",
    "write a paragraph",
    "as an ai",
    "language model",
    "i'm sorry",
    "i cannot",
    "here is a",
    "here's a",
)


@dataclass(frozen=True)
class Finding:
    expert: str
    code: str
    message: str
    attribute: str | None = None
    severity: str = "error"  # error rejects; warning is recorded only


@dataclass(frozen=True)
class ExpertResult:
    expert: str
    score: float
    findings: tuple[Finding, ...]


def words(text: str) -> list[str]:
    return _WORD.findall(text)


def clean_text(text: str, finish_reason: str | None) -> str:
    """Normalise model output: strip markdown and chatter; cut a truncated answer back to its
    last complete sentence so that a length cut-off does not leave half a sentence."""
    text = text.replace("**", "").replace("__", "").strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if lines and re.match(r"^(sure|certainly|here(?:'s| is))\b", lines[0], re.IGNORECASE) and len(lines) > 1:
        lines = lines[1:]
    text = " ".join(lines)
    text = re.sub(r"\s+", " ", text).strip()
    if finish_reason == "length":
        cut = max(text.rfind(". "), text.rfind("! "), text.rfind("? "))
        if text.endswith((".", "!", "?")):
            cut = len(text) - 1
        text = text[: cut + 1] if cut > 0 else text
    return text


def degeneration(text: str, min_words: int, max_words: int) -> ExpertResult:
    """Repetition, compression ratio, length bounds, leftover prompt text."""
    findings: list[Finding] = []
    toks = [t.lower() for t in words(text)]
    n = len(toks)
    if n < min_words:
        findings.append(Finding("degeneration", "too_short", f"{n} words, fewer than {min_words}"))
    if n > max_words:
        findings.append(Finding("degeneration", "too_long", f"{n} words, more than {max_words}"))
    repeated = 0.0
    if n >= 12:
        grams = Counter(zip(toks, toks[1:], toks[2:], strict=False))
        repeated = sum(c - 1 for c in grams.values() if c > 1) / max(1, n - 2)
        if repeated > 0.2:
            findings.append(Finding("degeneration", "repeated_ngrams", f"{repeated:.0%} of 3-grams are repeats"))
    raw = text.encode("utf-8")
    ratio = len(zlib.compress(raw)) / max(1, len(raw))
    if len(raw) > 200 and ratio < 0.3:
        findings.append(Finding("degeneration", "low_compression", f"compression ratio {ratio:.2f} < 0.30"))
    sentences = [s.strip().lower() for s in re.split(r"[.!?]+", text) if s.strip()]
    dup_sentences = len(sentences) - len(set(sentences))
    if dup_sentences:
        findings.append(Finding("degeneration", "repeated_sentence", f"{dup_sentences} sentence(s) repeated"))
    lowered = text.lower()
    for marker in _LEFTOVERS:
        if marker in lowered:
            findings.append(Finding("degeneration", "prompt_leftover", f"contains {marker!r}"))
            break
    if text and not text.rstrip().endswith((".", "!", "?", '"', "”")):
        findings.append(
            Finding("degeneration", "truncated", "does not end with a complete sentence", severity="warning")
        )
    score = max(0.0, 1.0 - 2.0 * repeated - 0.5 * sum(f.severity == "error" for f in findings))
    return ExpertResult("degeneration", round(score, 4), tuple(findings))


def faithfulness(text: str, attrs: dict[str, Any]) -> ExpertResult:
    """Anchor attributes present, none contradicted (name, age, place, occupation)."""
    findings: list[Finding] = []
    lowered = text.lower()
    checks = 0
    hits = 0
    name = attrs.get("identity.name") or ""
    first = name.split()[0] if name else ""
    checks += 1
    if first and first.lower() in lowered:
        hits += 1
    else:
        findings.append(Finding("faithfulness", "name_missing", f"the name {name!r} does not appear", "identity.name"))
    age = attrs.get("demographics.age")
    for m in _AGE_MENTION.finditer(text):
        stated = int(next(g for g in m.groups() if g))
        if age is not None and stated != int(age):
            findings.append(
                Finding(
                    "faithfulness", "age_contradiction", f"states age {stated}, persona is {age}", "demographics.age"
                )
            )
            break
    gender = str(attrs.get("demographics.gender") or "").lower()
    expected, other = _PRONOUNS.get(gender, (None, None))
    if expected:
        toks = [t.lower() for t in words(text)]
        right = sum(t in expected for t in toks)
        wrong = sum(t in other for t in toks)
        if wrong > right:
            findings.append(
                Finding(
                    "faithfulness",
                    "gender_contradiction",
                    f"{wrong} pronoun(s) for the other gender vs {right} matching; persona is {gender}",
                    "demographics.gender",
                )
            )
    for path, code in (
        ("location.residence.city", "place_missing"),
        ("work.employment.occupation", "occupation_missing"),
    ):
        value = attrs.get(path)
        if not value:
            continue
        checks += 1
        key_words = [w.lower() for w in words(value) if len(w) > 3 and w.lower() not in ("retired", "part-time")]
        if value.lower() in lowered or any(w in lowered for w in key_words):
            hits += 1
        else:
            findings.append(Finding("faithfulness", code, f"{value!r} is not mentioned", path, severity="warning"))
    score = hits / checks
    if any(f.severity == "error" for f in findings):
        score = min(score, 0.3)
    return ExpertResult("faithfulness", round(score, 4), tuple(findings))


@dataclass(frozen=True)
class Verdict:
    score: float
    passed: bool
    experts: tuple[ExpertResult, ...]

    @property
    def findings(self) -> list[Finding]:
        return [f for e in self.experts for f in e.findings]

    def as_record(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "passed": self.passed,
            "experts": [{"expert": e.expert, "score": e.score} for e in self.experts],
            "findings": [asdict(f) for f in self.findings],
        }


def judge(text: str, attrs: dict[str, Any], critic: dict[str, Any]) -> Verdict:
    """Run every expert and combine: the mean of expert scores must reach the threshold and no
    finding may have severity `error`."""
    experts = (
        degeneration(text, int(critic["min_words"]), int(critic["max_words"])),
        faithfulness(text, attrs),
    )
    score = round(sum(e.score for e in experts) / len(experts), 4)
    blocking = any(f.severity == "error" for e in experts for f in e.findings)
    return Verdict(score, (not blocking) and score >= float(critic["threshold"]), experts)
