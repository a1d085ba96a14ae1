"""The persona facts a narrative or a dialogue turn is written from and checked against, from
the flat attribute paths of a sampled persona, and the name helpers the stages share."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from typing import Any

import yaml

PRONOUNS = {"female": "she/her", "male": "he/him", "non-binary": "they/them"}
NOUNS = {"female": "woman", "male": "man"}
# "zero" to "nineteen"
SMALL_NUMBER_WORDS = (
    *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    *("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"),
)
# subject, possessive, "to be", "to have"
_GRAMMAR = {"female": ("she", "her", "is", "has"), "male": ("he", "his", "is", "has")}
_THEY = ("they", "their", "are", "have")


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def persona_facts(attrs: dict[str, Any]) -> list[tuple[str, str]]:
    """The anchor facts a narrative must carry, as (label, text), from flat attribute paths."""
    g = attrs.get
    facts: list[tuple[str, str]] = [("Name", g("identity.name")), ("Age", str(g("demographics.age")))]
    gender = g("demographics.gender")
    pronouns = PRONOUNS.get(str(gender).lower())
    facts.append(("Gender", f"{gender} ({pronouns})" if pronouns else gender))
    place = ", ".join(x for x in (g("location.residence.city"), g("location.residence.country")) if x)
    if place:
        setting = g("location.residence.setting")
        facts.append(("Lives in", f"{place}" + (f" ({setting})" if setting else "")))
    if g("work.employment.occupation"):
        arrangement = g("work.employment.work_arrangement")
        facts.append(("Occupation", g("work.employment.occupation") + (f", {arrangement}" if arrangement else "")))
    if g("education.level"):
        field = g("education.field")
        facts.append(("Education", g("education.level") + (f" in {field}" if field else "")))
    family = [x for x in (g("household.marital_status"),) if x]
    kids = g("household.children")
    if kids is not None:
        family.append("no children" if kids == 0 else f"{kids} child" + ("ren" if kids > 1 else ""))
    if g("household.living_with"):
        family.append(
            f"lives with {g('household.living_with')}" if g("household.living_with") != "alone" else "lives alone"
        )
    if family:
        facts.append(("Family", ", ".join(family)))
    for label, path in (
        ("Personality", "personality.traits"),
        ("Hobbies", "interests.hobbies"),
        ("Values", "values.core_values"),
    ):
        if g(path):
            facts.append((label, _join(list(g(path)))))
    if g("communication.style"):
        facts.append(("Way of talking", g("communication.style")))
    for label, path in (
        ("Health", "health.physical.chronic_condition"),
        ("Shaped by", "life_history.formative_events"),
        ("Goals", "goals_and_fears.goals"),
        ("Fears", "goals_and_fears.fears"),
    ):
        value = g(path)
        if value:
            facts.append((label, _join(list(value)) if isinstance(value, list) else value))
    return [(k, v) for k, v in facts if v not in (None, "", "None")]


@cache
def hobby_activities() -> dict[str, str]:
    """What a persona does on a free day for each hobby value (`activities.yaml`), third person
    singular, `{poss}` for the possessive."""
    text = resources.files("pipelines.common").joinpath("activities.yaml").read_text(encoding="utf-8")
    return {str(k): str(v) for k, v in yaml.safe_load(text).items()}


_PLURAL_VERBS = {"goes": "go", "does": "do", "has": "have"}


def _plural(phrase: str) -> str:
    """The phrase's first verb for "they": "goes fishing" -> "go fishing", "watches" -> "watch"."""
    verb, _, rest = phrase.partition(" ")
    if verb in _PLURAL_VERBS:
        verb = _PLURAL_VERBS[verb]
    elif verb.endswith(("ches", "shes", "sses", "xes")):
        verb = verb[:-2]
    elif verb.endswith("ies"):
        verb = verb[:-3] + "y"
    elif verb.endswith("s"):
        verb = verb[:-1]
    return f"{verb} {rest}".strip()


def hobby_activity(hobby: str, poss: str, plural: bool = False) -> str:
    """What someone does for `hobby` ("goes fishing", with `plural` "go fishing" for "they" or
    "I"), `poss` filling the possessive; "" for a hobby `activities.yaml` lacks."""
    activity = hobby_activities().get(hobby, "").format(poss=poss)
    return _plural(activity) if plural and activity else activity


def prefill_fields(attrs: dict[str, Any]) -> dict[str, str]:
    """The words a narrative's opening, written by the pipeline from the facts, is formatted with:
    name, age, a_age ("an 80"), noun, pronouns (pron, Pron, poss), be, has, enjoys, occupation,
    city, country, marital, children ("two children"), hobby (the first) and activity (what the
    persona does for the second hobby, or the first where there is one: "goes fishing", from
    `activities.yaml`). Fields whose attribute or activity is missing are absent."""
    g = attrs.get
    gender = str(g("demographics.gender")).lower()
    pron, poss, be, has = _GRAMMAR.get(gender, _THEY)
    age = g("demographics.age")
    # "an 8-year-old", "an 11-", "an 18-", "an 80-..."; "a" before every other number
    article = "an" if str(age).startswith("8") or str(age) in ("11", "18") else "a"
    fields = {
        "name": g("identity.name"),
        "age": age,
        "a_age": f"{article} {age}",
        "noun": NOUNS.get(gender, "person"),
        "pron": pron,
        "Pron": pron.capitalize(),
        "poss": poss,
        "be": be,
        "has": has,
        "enjoys": "enjoy" if pron == "they" else "enjoys",
        "city": g("location.residence.city"),
        "country": g("location.residence.country"),
    }
    occupation = g("work.employment.occupation")
    if occupation:
        # "Retired truck driver" -> "retired truck driver"; "IT consultant" stays
        fields["occupation"] = occupation[0].lower() + occupation[1:] if occupation[1:2].islower() else occupation
    if g("household.marital_status"):
        fields["marital"] = str(g("household.marital_status")).lower()
    hobbies = g("interests.hobbies")
    hobbies = hobbies if isinstance(hobbies, list) else [hobbies] if hobbies else []
    if hobbies:
        fields["hobby"] = str(hobbies[0])
        activity = hobby_activity(str(hobbies[1] if len(hobbies) > 1 else hobbies[0]), poss, plural=pron == "they")
        if activity:
            fields["activity"] = activity
    kids = g("household.children")
    if kids is not None:
        kids = int(kids)
        count = SMALL_NUMBER_WORDS[kids] if kids < len(SMALL_NUMBER_WORDS) else str(kids)
        fields["children"] = "no children" if kids == 0 else f"{count} child" + ("ren" if kids > 1 else "")
    return {k: str(v) for k, v in fields.items() if v not in (None, "")}


# The attribute paths behind each field of `prefill_fields` (what an opening using it states).
_GENDER = ("demographics.gender",)
PREFILL_FIELD_PATHS: dict[str, tuple[str, ...]] = {
    "name": ("identity.name",),
    "age": ("demographics.age",),
    "a_age": ("demographics.age",),
    **{f: _GENDER for f in ("noun", "pron", "Pron", "poss", "be", "has", "enjoys")},
    "occupation": ("work.employment.occupation",),
    "city": ("location.residence.city",),
    "country": ("location.residence.country",),
    "marital": ("household.marital_status",),
    "children": ("household.children",),
    "hobby": ("interests.hobbies",),
    "activity": ("interests.hobbies",),
}


# The attribute paths behind each label of `persona_facts`.
FACT_LABEL_PATHS: dict[str, tuple[str, ...]] = {
    "Name": ("identity.name",),
    "Age": ("demographics.age",),
    "Gender": ("demographics.gender",),
    "Lives in": ("location.residence.city", "location.residence.country"),
    "Occupation": ("work.employment.occupation",),
    "Education": ("education.level",),
    "Family": ("household.marital_status", "household.children", "household.living_with"),
    "Personality": ("personality.traits",),
    "Hobbies": ("interests.hobbies",),
    "Values": ("values.core_values",),
    "Way of talking": ("communication.style",),
    "Health": ("health.physical.chronic_condition",),
    "Shaped by": ("life_history.formative_events",),
    "Goals": ("goals_and_fears.goals",),
    "Fears": ("goals_and_fears.fears",),
}


# The attribute paths `persona_facts` shows a model (the prompted facts whose coverage is measured).
FACT_PATHS = tuple(p for paths in FACT_LABEL_PATHS.values() for p in paths)


def prompted_paths(labels: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The attribute paths a prompt showing the facts `labels` (all of them when empty) conveys."""
    if not labels:
        return FACT_PATHS
    return tuple(p for label in labels for p in FACT_LABEL_PATHS[label])


def first_name(name: str) -> str:
    """The first word of a full name (the name itself when it has no spaces)."""
    return name.split()[0] if name.split() else name


def mask_names(text: str, names: dict[str, str], flags: int = 0) -> str:
    """`text` with every part of each name (and runs of such parts) replaced by its placeholder:
    `names` maps a full name to the placeholder that stands for it."""
    for name, placeholder in names.items():
        parts = sorted({p for p in re.split(r"[\s-]+", name) if len(p) > 1}, key=len, reverse=True)
        if parts:
            pattern = r"\b(?:" + "|".join(re.escape(p) for p in parts) + r")\b"
            text = re.sub(pattern, placeholder, text, flags=flags)
            text = re.sub(rf"{placeholder}(?:\s+{placeholder})+", placeholder, text)
    return text
