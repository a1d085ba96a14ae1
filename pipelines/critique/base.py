"""The types every critic expert speaks in and the rules that turn expert results into a verdict.

An expert looks at one kind of failure and returns an `ExpertResult`: a score in [0, 1] (or None
when it abstains) and `Finding`s (code, message, attribute, severity). `combine` weighs the scores
into a `Verdict`; a finding with severity `error` rejects the candidate, the rest are kept on the
row so a user can see why a text scored as it did. `critique_in_order` judges a record's
candidates against each other, `best_candidate` picks one, and `ordered_instructions` turns a
failed candidate's findings into the generator's revision instructions. The narrative critic
(`pipelines.critique.narrative`) and the dialogue critic (`pipelines.critique.dialogue`) share all
of it, so weights, threshold and severities mean the same in both.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pipelines.common.settings import CriticSettings, DialogueCriticSettings

Others = Sequence[tuple[str, str]]  # (label, text) pairs a candidate is compared with


@dataclass(frozen=True)
class Finding:
    expert: str
    code: str
    message: str
    attribute: str | None = None
    severity: str = "error"  # error rejects; warning is recorded only


FINDING_FIELDS = ("expert", "code", "message", "attribute", "severity")


@dataclass(frozen=True)
class ExpertResult:
    expert: str
    score: float | None  # None: the expert abstained (its findings say why); not in the mean
    findings: tuple[Finding, ...]


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
            "experts": [{"expert": e.expert, "score": e.score} for e in self.experts if e.score is not None],
            # the fields every finding has (subclasses may carry more, e.g. a turn number)
            "findings": [{k: getattr(f, k) for k in FINDING_FIELDS} for f in self.findings],
        }


def combine(experts: Sequence[ExpertResult], critic: CriticSettings | DialogueCriticSettings) -> Verdict:
    """The verdict of a set of expert results: the weighted mean of their scores (`critic.weights`,
    over the experts present; an expert without a weight counts 0) must reach `critic.threshold`
    and no finding may have severity `error`."""
    weights = critic.weights
    scored = [e for e in experts if e.score is not None]
    total = sum(max(0.0, float(weights.get(e.expert, 0.0))) for e in scored)
    if total > 0:
        score = sum(max(0.0, float(weights.get(e.expert, 0.0))) * e.score for e in scored) / total
    else:
        score = sum(e.score for e in scored) / len(scored)
    score = round(score, 4)
    blocking = any(f.severity == "error" for e in experts for f in e.findings)
    return Verdict(score, (not blocking) and score >= float(critic.threshold), tuple(experts))


def critique_in_order(
    texts: Sequence[str], judge_one: Callable[[int, Others], Verdict], shown: Others = ()
) -> list[Verdict]:
    """One verdict per candidate, in order: `judge_one(i, others)` judges candidate i, where
    `others` are the earlier candidates that passed, as ("candidate:j", texts[j]), followed by
    `shown` (the exemplars the prompt showed). Of two near-identical siblings the first is judged
    on its merits and the repeat is flagged (instead of both failing), and a fix of a failed
    sibling is not."""
    verdicts: list[Verdict] = []
    for i in range(len(texts)):
        siblings = [(f"candidate:{j}", texts[j]) for j in range(i) if verdicts[j].passed]
        verdicts.append(judge_one(i, [*siblings, *shown]))
    return verdicts


def best_candidate(verdicts: Sequence[Verdict]) -> int:
    """The passing candidate with the highest score; if none passes, the highest score. Ties go
    to the lower candidate number, so the choice is deterministic."""
    return min(range(len(verdicts)), key=lambda i: (not verdicts[i].passed, -verdicts[i].score, i))


def ordered_instructions(
    findings: Iterable[Finding], instruction: Callable[[Finding], str], fallback: str
) -> list[str]:
    """The revision instructions of a failed candidate: `instruction(f)` for each finding, errors
    first, each line once; `[fallback]` when there is none."""
    ordered = sorted(findings, key=lambda f: f.severity != "error")
    return list(dict.fromkeys(instruction(f) for f in ordered)) or [fallback]
