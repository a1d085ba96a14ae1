"""The surface expert: failures visible in the text itself, whatever the persona.

Finding codes (all errors):
  wrong_language  text in another language than the run's: the whole text, or a sentence of at
                  least `MIN_SENTENCE_WORDS` words, that py3langid (a language-identification
                  model shipped in its wheel) gives to another language with probability >=
                  `OTHER_LANGUAGE_P`, or in which the run's language gets < `RUN_LANGUAGE_FLOOR`
                  (romanised Hindi, say, which no label fits well)
  placeholder     template slots left in: {occupation}, [number], <name>, ___
  person_drift    the narrative speaks as "I"/"we" or to "you" outside quotes (it must be in the
                  third person)
  garbled         a run-together "word" of `GARBLED_LETTERS` letters or more, or a word whose
                  letters come from two scripts ("annуmbers" with a Cyrillic у)
  web_artifact    hashtags or @handles
  meta_talk       the model talking about its text ("these edits", "the passage", ...) or signing
                  off as an assistant ("I hope you enjoyed this conversation! Let me know if ...")
  question        a sentence outside quotes ending in "?" (a narrative states; a question in it is
                  the model asking itself or the reader what to write: "On weekends, he does what?")
  invented_word   a word in no word list of the run's language, no gazetteer and none of the
                  persona's facts: a misspelt place or a made-up word (pipelines/critique/vocabulary.py)
Thresholds: see the constants; calibrated on tests/fixtures/critic_eval/*_dev.yaml only.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from pipelines.critique.base import ExpertResult, Finding
from pipelines.critique.text import words
from pipelines.critique.vocabulary import invented_words

EXPERT = "surface"
MIN_SENTENCE_WORDS = 6
OTHER_LANGUAGE_P = 0.9
RUN_LANGUAGE_FLOOR = 0.02
FIRST_PERSON_LIMIT = 2  # first/second-person words outside quotes before it counts as drift
_PLACEHOLDER = re.compile(r"\{[^{}\n]{1,40}\}|\[[^\[\]\n]{1,40}\]|<[A-Za-z_ ]{2,30}>|_{3,}")
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|'[^'\n]{0,200}'(?=\W|$)")
_FIRST_SECOND = frozenset(
    {"i", "me", "my", "mine", "myself", "we", "us", "our", "ours", "you", "your", "yours"}
    | {"i'm", "i've", "i'll", "i'd", "we'll", "we're", "we've", "we'd", "you're", "you'll", "you've", "you'd"}
    | {"i’m", "i’ve", "i’ll", "i’d", "we’ll", "we’re", "we’ve", "you’re", "you’ll", "you’ve"}
)
GARBLED_LETTERS = 25  # a "word" this long is run-together text (no English word in a narrative is)
_WEB = re.compile(r"(?:^|\s)[#@][A-Za-z]\w{2,}")
# the model talking about its own text instead of writing it (seen in real runs: "These edits work
# perfectly to improve the clarity of the text", "The rest remains unchanged throughout the passage")
_META = re.compile(
    r"\b(?:the (?:entire |original |above |following )?(?:passage|text|paragraph)|these (?:edits|changes|revisions)|"
    r"(?:re)?writ(?:ten|ing) (?:version|elsewhere)|previous versions?|no image attached|remains? unchanged|"
    r"here(?:'s|s| is) (?:one|another|a) (?:more |last |final )?(?:sentence|thing|fact|detail|line)|"
    r"(?:this|that|the|my|one) (?:final |last |next |first |previous |extra |more )?sentences?|"
    r"the (?:original|above|following) (?:narrative|story|biography)|"
    # an assistant signing off ("I hope you enjoyed this conversation! Let me know if you would like
    # it to be longer.")
    r"i hope (?:you|this) (?:enjoy(?:ed)?|like[ds]?|found|help(?:s|ed)?) (?:this|the|my) "
    r"(?:conversation|dialogue|narrative|description|profile|persona)|"
    r"let me know if you(?:'d| would) like (?:it|the (?:conversation|dialogue|narrative)) to be|"
    r"let me know if you(?:'d| would) like (?:a|another) (?:longer |shorter |new )?"
    r"(?:version|conversation|dialogue))\b",
    re.IGNORECASE,
)
_SENTENCES = re.compile(r"(?<=[.!?])\s+")


@lru_cache(maxsize=1)
def _identifier():
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_modelpath(MODEL_DIR / MODEL_FILE, norm_probs=True)


def language_of(text: str, language: str) -> tuple[str, float, float]:
    """(most likely language, its probability, the probability of `language`)."""
    ranked = _identifier().rank(text)
    best, p = ranked[0]
    own = next((q for lang, q in ranked if lang == language), 0.0)
    return best, float(p), float(own)


def _foreign(text: str, language: str) -> str | None:
    best, p, own = language_of(text, language)
    if best != language and (p >= OTHER_LANGUAGE_P or own < RUN_LANGUAGE_FLOOR):
        return best
    return None


def _scripts(word: str) -> list[str]:
    """The scripts of a word's letters by their Unicode names: LATIN, CYRILLIC, GREEK, ..."""
    return sorted({unicodedata.name(c, "UNKNOWN").split()[0] for c in word})


def surface(
    text: str,
    language: str = "en",
    person: bool = True,
    known: frozenset[str] | None = None,
    spoken: tuple[str, ...] = (),
) -> ExpertResult:
    """Language, placeholders, made-up words and (with `person`, for third-person narratives)
    person drift. `known`: the persona's own words (`vocabulary.fact_words`), `spoken`: the
    languages it speaks (`vocabulary.persona_languages`); `known` None skips the made-up words."""
    findings: list[Finding] = []
    whole = _foreign(text, language)
    if whole:
        findings.append(Finding(EXPERT, "wrong_language", f"the text reads as {whole!r}, not {language!r}"))
    else:
        for sentence in _SENTENCES.split(text):
            if len(words(sentence)) >= MIN_SENTENCE_WORDS and (lang := _foreign(sentence, language)):
                findings.append(Finding(EXPERT, "wrong_language", f"a sentence reads as {lang!r}: {sentence[:80]!r}"))
                break
    m = _PLACEHOLDER.search(text)
    if m:
        findings.append(Finding(EXPERT, "placeholder", f"template slot left in: {m.group(0)!r}"))
    long_words = [w for w in words(text) if len(w) >= GARBLED_LETTERS]
    if long_words:
        findings.append(Finding(EXPERT, "garbled", f"run-together text: {long_words[0][:40]!r}"))
    mixed = next((w for w in re.findall(r"[^\W\d_]+", text) if len(_scripts(w)) > 1), None)
    if mixed:
        findings.append(Finding(EXPERT, "garbled", f"a word in two scripts: {mixed!r} ({', '.join(_scripts(mixed))})"))
    m = _WEB.search(text)
    if m:
        findings.append(Finding(EXPERT, "web_artifact", f"a hashtag or handle: {m.group(0).strip()!r}"))
    m = _META.search(text)
    if m:
        findings.append(Finding(EXPERT, "meta_talk", f"talks about the text itself: {m.group(0)!r}"))
    invented = invented_words(text, (language, *spoken), known) if known is not None and not whole else []
    if invented:
        findings.append(Finding(EXPERT, "invented_word", f"{invented[0]!r} is a word no reader knows"))
    unquoted = _QUOTED.sub(" ", text)
    drift = [w for w in words(unquoted) if w.lower() in _FIRST_SECOND] if person else []
    if len(drift) >= FIRST_PERSON_LIMIT:
        findings.append(Finding(EXPERT, "person_drift", f"speaks in the first or second person: {drift[:4]}"))
    asked = [q for q in _SENTENCES.split(unquoted) if q.rstrip().endswith("?")] if person else []
    if asked:
        findings.append(Finding(EXPERT, "question", f"asks a question: {asked[0].strip()[-80:]!r}"))
    return ExpertResult(EXPERT, 0.0 if findings else 1.0, tuple(findings))
