"""The stereotype audit: which narrative words go with a protected group beyond what the personas'
own attributes imply (informative-prior log-odds z-scores, chance level from shuffled labels)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import polars as pl

from pipelines.report.lexicon import AGE_WORDS, COUNTRY_WORDS, GENDER_WORDS, STOPWORDS, TRAIT_ROLE_WORDS
from pipelines.report.metrics.dataset import Dataset
from pipelines.report.metrics.stats import rounded

PROTECTED = ("demographics.gender", "demographics.age_band", "location.residence.country")
LETTERS = re.compile(r"[^\W\d_]+")  # a token for the audit: a run of letters


def _audit_tokens(text: str) -> list[str]:
    return LETTERS.findall(text.lower())


def _variants(word: str) -> set[str]:
    """The word and its naive plural / singular forms (nurse, nurses; city, cities; box, boxes)."""
    out = {word, word + "s", word + "es"}
    if word.endswith("ies"):
        out.add(word[:-3] + "y")
    if word.endswith("y"):
        out.add(word[:-1] + "ies")
    if word.endswith("es"):
        out.add(word[:-2])
    if word.endswith("s"):
        out.add(word[:-1])
    return out


def _value_words(value: Any) -> set[str]:
    items = value if isinstance(value, list) else [value]
    out: set[str] = set()
    for item in items:
        if isinstance(item, str):
            for token in _audit_tokens(item):
                out |= _variants(token)
    return out


def _definitional(path: str, groups: Iterable[str]) -> frozenset[str]:
    leaf = path.rsplit(".", 1)[-1]
    words: set[str] = set()
    for g in groups:
        words |= _value_words(g)
    if "gender" in leaf or leaf == "sex":
        words |= GENDER_WORDS
    elif "age" in leaf:
        words |= AGE_WORDS
    elif "country" in leaf or "nationality" in leaf:
        words |= COUNTRY_WORDS
    return frozenset(words)


def _protected_paths(flat: pl.DataFrame, protected: Sequence[str] | None) -> list[str]:
    if protected is not None:
        return [p for p in protected if p in flat.columns]
    extra = [c for c in flat.columns if re.search(r"ethnic|(^|\.)race$", c)]
    return [p for p in PROTECTED if p in flat.columns] + [c for c in extra if c not in PROTECTED]


def log_odds_z(used: np.ndarray, eligible: np.ndarray, prior_strength: float) -> tuple[np.ndarray, np.ndarray]:
    """Log-odds ratio with an informative Dirichlet prior (Monroe, Colaresi and Quinn 2008, in its
    two-outcome form: "this narrative uses the word" or not), each group against all other groups.

    `used[g, w]`: narratives of group g that use word w; `eligible[g, w]`: narratives of group g for
    which w is not implied by the persona's attributes. The prior is Beta(a_w, b_w) centred on the
    word's overall rate p_w = sum_g used / sum_g eligible, worth `prior_strength` narratives:
    a_w = s * p_w, b_w = s * (1 - p_w). With y, n for group g and y', n' for all other groups:

        delta = log((y + a) / (n - y + b)) - log((y' + a) / (n' - y' + b))
        z     = delta / sqrt(1/(y + a) + 1/(n - y + b) + 1/(y' + a) + 1/(n' - y' + b))

    Returns (delta, z), groups x words; 0 where a word gives nothing to compare.
    """
    used = used.astype(np.float64)
    eligible = eligible.astype(np.float64)
    used_all, eligible_all = used.sum(axis=0), eligible.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(eligible_all > 0, used_all / eligible_all, 0.0)
        a, b = prior_strength * p, prior_strength * (1.0 - p)
        y, n = used, eligible
        y_r, n_r = used_all - used, eligible_all - eligible
        delta = np.log((y + a) / (n - y + b)) - np.log((y_r + a) / (n_r - y_r + b))
        var = 1.0 / (y + a) + 1.0 / (n - y + b) + 1.0 / (y_r + a) + 1.0 / (n_r - y_r + b)
        z = delta / np.sqrt(var)
    return np.nan_to_num(delta, nan=0.0, posinf=0.0, neginf=0.0), np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)


def stereotype_audit(
    ds: Dataset,
    *,
    protected: Sequence[str] | None = None,
    vocabulary: str = "content",
    prior_strength: float = 10.0,
    z_threshold: float = 1.96,
    min_count: int = 5,
    min_group_size: int = 5,
    top_k: int = 10,
    permutations: int = 50,
    seed: int = 0,
) -> dict[str, Any]:
    """Which narrative words go with a protected group beyond what the personas' facts imply.

    Method, for each protected attribute A (gender, age band, country; ethnicity / race when the
    taxonomy has one):

    1. Words. Each narrative becomes the set of its content words: lowercased runs of letters, at
       least 3 long, not an English function word. The unit is the narrative ("does it use the
       word"), so one repetitive narrative cannot make a word look group-specific. With
       ``vocabulary="lexicon"`` only the built-in trait and role words (``TRAIT_ROLE_WORDS``) count.
    2. What the facts imply is set aside. A word that occurs in the persona's own sampled attributes
       (any value: occupation, hobbies, city, name, ...; naive plural / singular forms too) is
       implied for that persona: its narrative is not counted for that word at all, neither as a
       use nor in the denominator. A nurse's narrative saying "nurse" is faithful, not a stereotype,
       even if the taxonomy makes women nurses more often; what is compared is how often narratives
       use "nurse" when the persona is not one. Words that name A's groups themselves ("woman",
       "mother" for gender; "young", "elderly" for age; country names and demonyms for country;
       the group values' own words) are definitional and left out of A's audit.
    3. Association. For each group g of A with at least ``min_group_size`` personas, and each word,
       the share of g's (eligible) narratives that use it against the share among all other
       personas' narratives, as a log-odds ratio with an informative prior centred on the word's
       overall rate (Monroe, Colaresi and Quinn 2008; see ``log_odds_z``), and its z-score. Rare
       words are shrunk towards no association. A word is *flagged* for g when z >= ``z_threshold``
       and at least ``min_count`` narratives of g use it.
    4. Chance. Many words are tested, so some are flagged by chance alone. The group labels are
       shuffled ``permutations`` times and the audit repeated: ``expected_flagged_by_chance`` is
       the mean number flagged, ``p_max_z`` the share of shuffles whose strongest word is at least
       as strong as the observed strongest. The summary number per attribute is
       ``excess_flagged`` = flagged - expected by chance: about 0 means no more word-group
       association than chance; clearly above 0, read the flagged words.
    """
    flat = ds.flat
    texts = ds.personas["narrative"].fill_null("").to_list()
    paths = _protected_paths(flat, protected)
    attr_rows = flat.rows(named=True) if flat.width else [{} for _ in texts]
    kept_sets: list[set[str]] = []
    implied_sets: list[set[str]] = []
    used_implied = Counter()
    for text, attrs in zip(texts, attr_rows, strict=True):
        words = {w for w in _audit_tokens(text) if len(w) >= 3 and w not in STOPWORDS}
        if vocabulary == "lexicon":
            words &= TRAIT_ROLE_WORDS
        implied: set[str] = set()
        for value in attrs.values():
            implied |= _value_words(value)
        kept_sets.append(words - implied)
        implied_sets.append(implied)
        used_implied.update(words & implied)
    vocab = sorted(set().union(*kept_sets)) if texts else []
    index = {w: i for i, w in enumerate(vocab)}
    method = {
        "unit": "narrative (does it use the word)",
        "vocabulary": vocabulary,
        "implied": "narratives whose persona's attributes contain the word are not counted for it",
        "prior": "informative Beta/Dirichlet centred on the word's overall rate, worth prior_strength narratives",
        "prior_strength": prior_strength,
        "z_threshold": z_threshold,
        "min_count": min_count,
        "min_group_size": min_group_size,
        "permutations": permutations,
        "seed": seed,
    }
    result: dict[str, Any] = {
        "method": method,
        "attributes": {},
        "summary": [],
        "implied_words_excluded": [{"word": w, "narratives": n} for w, n in used_implied.most_common(20)],
    }
    if not vocab:
        return result
    from scipy import sparse

    def matrix(sets: list[set[str]]) -> sparse.csr_matrix:
        rows, cols = [], []
        for i, s in enumerate(sets):
            for w in s:
                j = index.get(w)
                if j is not None:
                    rows.append(i)
                    cols.append(j)
        data = np.ones(len(rows), dtype=np.float64)
        return sparse.csr_matrix((data, (rows, cols)), shape=(len(sets), len(vocab)))

    used_m, implied_m = matrix(kept_sets), matrix(implied_sets)
    rng = np.random.default_rng(seed)
    for path in paths:
        labels = flat[path].cast(pl.String).to_list()
        groups = sorted({lab for lab in labels if lab is not None})
        if len(groups) < 2:
            result["attributes"][path] = {"skipped": f"{len(groups)} group(s): nothing to compare"}
            continue
        definitional = _definitional(path, groups)
        keep_cols = np.flatnonzero([w not in definitional for w in vocab])
        rows = np.flatnonzero([lab is not None for lab in labels])
        x = used_m[rows][:, keep_cols]
        e = implied_m[rows][:, keep_cols]
        words = [vocab[j] for j in keep_cols]
        lab = np.array([groups.index(labels[i]) for i in rows])
        sizes = np.bincount(lab, minlength=len(groups))
        tested = sizes >= min_group_size
        k = len(groups)

        def audit(lab_vec: np.ndarray, x=x, e=e, sizes=sizes, tested=tested, k=k):
            onehot = sparse.csr_matrix(
                (np.ones(len(lab_vec)), (np.arange(len(lab_vec)), lab_vec)), shape=(len(lab_vec), k)
            )
            used = np.asarray((onehot.T @ x).todense())
            eligible = sizes[:, None] - np.asarray((onehot.T @ e).todense())
            delta, z = log_odds_z(used, eligible, prior_strength)
            ok = (used >= min_count) & tested[:, None]  # only these are ranked, flagged and maximised
            return used, eligible, delta, np.where(ok, z, -np.inf), (z >= z_threshold) & ok

        used, eligible, delta, z, flagged = audit(lab)
        null_flagged, null_max = [], []
        for _ in range(permutations):
            *_, zp, fp = audit(rng.permutation(lab))
            null_flagged.append(int(fp.sum()))
            null_max.append(float(zp.max()) if np.isfinite(zp).any() else 0.0)
        has_any = bool(np.isfinite(z).any())
        observed_max = float(z.max()) if has_any else 0.0
        per_group = {}
        for g, name in enumerate(groups):
            entry: dict[str, Any] = {"personas": int(sizes[g]), "tested": bool(tested[g])}
            if tested[g]:
                ranked = np.flatnonzero(np.isfinite(z[g]) & (z[g] > 0))
                order = ranked[np.argsort(-z[g, ranked], kind="stable")][:top_k]
                entry["flagged"] = int(flagged[g].sum())
                entry["top_words"] = []
                for j in order:
                    y_r, n_r = used[:, j].sum() - used[g, j], eligible[:, j].sum() - eligible[g, j]
                    entry["top_words"].append(
                        {
                            "word": words[j],
                            "z": rounded(z[g, j], 3),
                            "log_odds": rounded(delta[g, j], 3),
                            "narratives_in_group": int(used[g, j]),
                            "eligible_in_group": int(eligible[g, j]),
                            "narratives_elsewhere": int(y_r),
                            "eligible_elsewhere": int(n_r),
                            "rate_in_group": rounded(used[g, j] / eligible[g, j]) if eligible[g, j] else None,
                            "rate_elsewhere": rounded(y_r / n_r) if n_r else None,
                            "implied_in_group": int(sizes[g] - eligible[g, j]),
                            "trait_or_role": words[j] in TRAIT_ROLE_WORDS,
                            "flagged": bool(flagged[g, j]),
                        }
                    )
            per_group[name] = entry
        n_flagged = int(flagged.sum())
        expected = float(np.mean(null_flagged)) if null_flagged else None
        best = np.unravel_index(int(np.argmax(z)), z.shape) if has_any else None
        flagged_words = flagged.any(axis=0)
        summary = {
            "attribute": path,
            "groups": len(groups),
            "groups_tested": int(tested.sum()),
            "personas": len(rows),
            "vocabulary": len(words),
            "definitional_words_excluded": len(vocab) - len(words),
            "flagged": n_flagged,
            "flagged_trait_or_role": int(sum(flagged_words[j] for j, w in enumerate(words) if w in TRAIT_ROLE_WORDS)),
            "expected_flagged_by_chance": rounded(expected, 2),
            "excess_flagged": rounded(n_flagged - expected, 2) if expected is not None else None,
            "max_z": rounded(observed_max, 3) if has_any else None,
            "max_z_word": words[best[1]] if best is not None else None,
            "max_z_group": groups[best[0]] if best is not None else None,
            "p_max_z": rounded((1 + sum(m >= observed_max for m in null_max)) / (1 + len(null_max)), 4)
            if null_max and has_any
            else None,
        }
        result["attributes"][path] = {"summary": summary, "groups": per_group}
        result["summary"].append(summary)
    return result
