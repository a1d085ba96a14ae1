"""The novelty expert both critics run, and the text similarity it (and the dialogue echo expert)
measures with. Finding code: too_similar (error).

`similarity` is the cosine of word 1-2-gram counts. The default near-copy threshold
(`novelty_threshold` 0.8 in `pipelines.common.settings.DEFAULTS`) was measured on
tests/fixtures/broken_narratives.yaml: a light paraphrase of a narrative (a few words changed)
scores 0.93, an exemplar copied with the persona's name, age and city put in 0.90; two different
narratives of the same persona 0.43-0.51, unrelated narratives 0.34 on average (max 0.51). Two
rewrites that keep most sentences score 0.76-0.86. On 150 real SmolLM2-135M narratives of different
personas the highest pairwise similarity was 0.42, and 0.30 against the template's example. 0.8 sits
between the groups. (Jaccard over character 5-grams separates worse: the exemplar copy scores only
0.72 there.)
"""

from __future__ import annotations

import math
import re
from collections import Counter

from pipelines.critique.base import ExpertResult, Finding, Others


def _ngram_counts(text: str) -> Counter[tuple[str, ...]]:
    toks = re.sub(r"[^\w\s]", " ", text.lower()).split()
    return Counter((t,) for t in toks) + Counter(zip(toks, toks[1:], strict=False))


def similarity(a: str, b: str) -> float:
    """Cosine similarity of word 1-2-gram counts (lower-cased, punctuation stripped). Chosen over
    character shingles because it needs no model, is order-insensitive enough to see through a
    light paraphrase, and its bigrams still separate texts that merely share function words."""
    va, vb = _ngram_counts(a), _ngram_counts(b)
    dot = sum(c * vb[k] for k, c in va.items())
    norm = math.sqrt(sum(c * c for c in va.values()) * sum(c * c for c in vb.values()))
    return dot / norm if norm else 0.0


def novelty(text: str, others: Others, threshold: float) -> ExpertResult:
    """Similarity to sibling candidates and few-shot exemplars, given as (label, text) pairs; a
    similarity at or above `threshold` is a too_similar finding. Score: 1 - the highest similarity
    (1.0 with nothing to compare)."""
    findings: list[Finding] = []
    best = 0.0
    for label, other in others:
        sim = similarity(text, other)
        best = max(best, sim)
        if sim >= threshold:
            findings.append(Finding("novelty", "too_similar", f"similarity {sim:.2f} to {label} (>= {threshold:.2f})"))
    return ExpertResult("novelty", round(1.0 - best, 4), tuple(findings))
