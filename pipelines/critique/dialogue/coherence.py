"""Whether a conversation hangs together as one exchange between two people: the coherence expert.

Finding codes (all errors): reply_opening (the first turn answers a turn nobody said),
non_sequitur (a question met with a reaction to news: "What makes your job special?" / "That's
wonderful news"), late_greeting (a speaker greets the other from the third turn on),
many_addressees (one listener spoken to as several: "you both", unless the listener has spoken of
someone with them), formulaic_turns (three or more turns starting with the same two words),
cut_off (a turn stops mid-sentence: the model ran out of tokens; on the last turn the structure
expert's `truncated` warning comes with it), together_alone (a speaker does something "together"
with nobody: "On Saturdays I usually play board games together."), weekly_occasion (a yearly occasion
celebrated every week: "On weekends I always celebrate my life anniversaries."), day_clash (one
habit on two different days: "On Saturdays I usually read a crime novel every Sunday morning."),
childless_them ("I have no children. On weekends I always bring them home."), pastime_as_work ("On
Saturdays I usually go swimming as part of my business."), kids_class ("On weekends I go to a
yoga class for kids."), far_routine (a trip abroad or round the world as a weekly habit: "On Sundays
I usually go for a bike ride around the world."), cant_weekly (a weekly habit said as what one
cannot do: "On weekends I can't be there."), frequency_clash (a habit taken back: "I usually fix
things around the house but not very often."); these nine are the
narrative critic's `phrasing.SENTENCE_CHECKS`. The phrases are data:
`pipelines/critique/lexicons/dialogue.yaml`."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

from pipelines.critique.base import ExpertResult
from pipelines.critique.dialogue.findings import DialogueFinding, Turn, finding, who
from pipelines.critique.dialogue.structure import turn_complete
from pipelines.critique.narrative.phrasing import SENTENCE_CHECKS

EXPERT = "coherence"


@lru_cache(maxsize=1)
def _lexicon() -> dict:
    from pipelines.critique.lexicon import read_lexicon

    doc = read_lexicon("dialogue")

    def alternation(key: str) -> re.Pattern:
        phrases = sorted((str(p).lower() for p in doc[key]), key=len, reverse=True)
        return re.compile(r"(?<![\w'])(?:" + "|".join(re.escape(p) for p in phrases) + r")(?![\w'])")

    return {
        "reply": alternation("reply_openings"),
        "news": alternation("news_reactions"),
        "greeting": alternation("greetings"),
        "many": alternation("many_addressees"),
        "companions": alternation("companions"),
        "formula": int(doc["formula_turns"]),
    }


def _plain(text: str) -> str:
    return text.lower().replace("’", "'").strip().lstrip("\"'*(“ ")


def _first_words(text: str, n: int) -> tuple[str, ...]:
    return tuple(re.findall(r"[\w']+", _plain(text))[:n])


def _opens_with(pattern: re.Pattern, text: str) -> str | None:
    """The phrase `text` opens with, after an optional "oh", "wow" or "well" and, failing that, after
    "that's (a)", "what (a)" or "such (a)" too; or None."""
    body = re.sub(r"^(?:oh|wow|well|ah|aw)\b[,!.]?\s*", "", _plain(text))
    for start in (body, re.sub(r"^(?:that's|that\s+is|what|such)\s+(?:an?\s+)?", "", body)):
        m = pattern.match(start)
        if m:
            return m.group(0)
    return None


def _turn_findings(k: int, spoken: list[tuple[int, int | None, str]], names: tuple[str, str]) -> list[DialogueFinding]:
    """The findings of the k-th spoken turn (`spoken`: (turn number, speaker, text))."""
    lex = _lexicon()
    i, s, text = spoken[k]
    out: list[DialogueFinding] = []

    def add(code: str, message: str, said: str | None = None, ref: int | None = None) -> None:
        message = f"{who(i, s, names)} {message}"
        out.append(finding(EXPERT, code, message, turn=i, speaker=s, evidence=said, ref_turn=ref))

    if k == 0:
        said = _opens_with(lex["reply"], text)
        if said:
            add("reply_opening", f"opens with {said!r}, an answer to something nobody said", said)
    else:
        j, other, before = spoken[k - 1]
        said = _opens_with(lex["news"], text)
        if said and before.rstrip().endswith("?") and other != s:
            add("non_sequitur", f"answers the question of turn {j} with {said!r}", said, j)
    said = _opens_with(lex["greeting"], text) if k >= 2 else None
    if said:
        add("late_greeting", f"greets the other with {said!r} in the middle of the conversation", said)
    m = lex["many"].search(_plain(text))
    if m and not any(lex["companions"].search(_plain(t)) for _, o, t in spoken[:k] if o != s):
        add("many_addressees", f"says {m.group(0)!r} to one listener", m.group(0))
    if not turn_complete(text):
        add("cut_off", "stops mid-sentence")
    for code, check, what in SENTENCE_CHECKS:
        found = check(text)
        if found:
            add(code, f"{what}: {found[-80:]!r}", found)
    return out


def coherence(turns: Sequence[Turn], names: tuple[str, str]) -> ExpertResult:
    """Findings per turn; score 1 - 0.35 per finding (floor 0)."""
    lex = _lexicon()
    spoken = [(i, s, t) for i, (s, t) in enumerate(turns, 1) if t.strip()]
    findings = [f for k in range(len(spoken)) for f in _turn_findings(k, spoken, names)]
    openings = Counter(_first_words(t, 2) for _, _, t in spoken if len(_first_words(t, 2)) == 2)
    for words_, count in openings.most_common(1):
        if count >= lex["formula"]:
            phrase = " ".join(words_)
            findings.append(
                finding(
                    EXPERT,
                    "formulaic_turns",
                    f"{count} turns start with {phrase!r}",
                    evidence=phrase,
                )
            )
    score = max(0.0, 1.0 - 0.35 * len(findings))
    return ExpertResult(EXPERT, round(score, 4), tuple(findings))
