"""How a dialogue reads beyond its facts: the naturalness expert (turn length variety,
questions), the safety expert run on every turn with that speaker's attributes, and the novelty
expert on the whole conversation against exemplars and earlier siblings.

Finding codes: naturalness uniform_turns*, no_questions* (warnings); safety slur,
explicit_content, stereotype (a stereotype about the other speaker's group on theirs); novelty
too_similar."""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence

from pipelines.critique.base import ExpertResult, Others
from pipelines.critique.dialogue.findings import DialogueFinding, Speakers, Turn, finding, names_of, who
from pipelines.critique.narrative.safety import safety
from pipelines.critique.novelty import novelty
from pipelines.critique.text import words

# Coefficient of variation of words per turn below which the turns are suspiciously uniform. The
# clean dialogues of the fixture range from 0.09 to 0.40; a dialogue whose turns all have 11 or 12
# words scores 0.04.
UNIFORM_CV = 0.07


def naturalness(turns: Sequence[Turn], names: tuple[str, str]) -> ExpertResult:
    """Variety of turn lengths and whether the two ask each other anything. Abstains (score None)
    below four non-empty turns, where neither signal means much."""
    e = "naturalness"
    spoken = [(s, t) for s, t in turns if words(t)]
    if len(spoken) < 4:
        return ExpertResult(e, None, ())
    counts = [len(words(t)) for _, t in spoken]
    cv = statistics.pstdev(counts) / statistics.mean(counts)
    findings: list[DialogueFinding] = []
    if cv < UNIFORM_CV:
        findings.append(
            finding(
                e,
                "uniform_turns",
                f"every turn has about the same length ({min(counts)}-{max(counts)} words, variation {cv:.2f})",
                evidence=f"{cv:.2f}",
            )
        )
    asking = [i for i, (_, t) in enumerate(spoken) if "?" in t]
    if not asking:
        findings.append(finding(e, "no_questions", f"neither {names[0]} nor {names[1]} asks a question"))
    answered = sum(1 for i in asking if i + 1 < len(spoken) and spoken[i + 1][0] != spoken[i][0])
    q_score = 0.0 if not asking else 0.5 + 0.5 * min(1.0, answered / max(1, len(asking)))
    score = 0.5 * min(1.0, cv / 0.35) + 0.5 * q_score
    return ExpertResult(e, round(score, 4), tuple(findings))


def dialogue_safety(turns: Sequence[Turn], speakers: Speakers) -> ExpertResult:
    """The narrative safety expert on every turn with its speaker's attributes. A stereotype about the other
    speaker's group is reported on the other speaker's attribute."""
    names = names_of(speakers)
    findings: list[DialogueFinding] = []
    for i, (s, text) in enumerate(turns, 1):
        me = speakers[s] if s is not None else {}
        result = safety(text, me)
        for f in result.findings:
            attribute, message = f.attribute, f.message
            if s is not None:
                message = message.replace("the persona's own group", f"{names[s]}'s own group")
            if f.code == "stereotype" and attribute is None and s is not None:
                for g in safety(text, speakers[1 - s]).findings:
                    if g.code == "stereotype" and g.attribute and g.message.startswith(f.message):
                        attribute = g.attribute
                        message = g.message.replace("the persona's own group", f"{names[1 - s]}'s own group")
                        break
            findings.append(
                finding(
                    "safety",
                    f.code,
                    f"{who(i, s, names)}: {message}",
                    attribute,
                    turn=i,
                    speaker=s,
                    evidence=quoted.group(1) if (quoted := re.search(r"'(.+?)'(?=\s|$)", f.message)) else None,
                )
            )
    return ExpertResult("safety", 0.0 if findings else 1.0, tuple(findings))


def dialogue_novelty(text: str, others: Others, threshold: float) -> ExpertResult:
    """The novelty expert on the whole conversation, its findings as DialogueFindings."""
    result = novelty(text, others, threshold)
    findings = tuple(finding("novelty", f.code, f.message, f.attribute) for f in result.findings)
    return ExpertResult("novelty", result.score, findings)
