"""The Synthetic-Persona-Chat export: each accepted dialogue as a CSV row with both users'
first-person persona sentences and the conversation as `User 1:` / `User 2:` lines."""

from __future__ import annotations

from typing import Any

SPC_COLUMNS = ("dialogue_id", "user 1 personas", "user 2 personas", "Best Generated Conversation")


def spc_row(record: dict[str, Any]) -> dict[str, Any]:
    """Synthetic-Persona-Chat columns: each user's persona sentences, then the conversation with
    `User 1:` / `User 2:` labels (a record that still carries its speakers' attributes)."""
    ids = record["persona_ids"]
    out = {"dialogue_id": record["dialogue_id"], "dialogue_index": record["dialogue_index"]}
    for n, speaker in enumerate(record["_speakers"], start=1):
        out[f"user {n} personas"] = "\n".join(persona_sentences(speaker["_attrs"]))
    out["Best Generated Conversation"] = "\n".join(
        f"User {ids.index(t['speaker']) + 1 if t['speaker'] in ids else '?'}: {t['text']}" for t in record["turns"]
    )
    return out


def persona_sentences(attrs: dict[str, Any]) -> list[str]:
    """First-person persona sentences from sampled attributes, as in Persona-Chat."""
    g = attrs.get
    out = [f"My name is {g('identity.name')}.", f"I am {g('demographics.age')} years old."]
    if g("work.employment.occupation"):
        out.append(f"I work as a {str(g('work.employment.occupation')).lower()}.")
    if g("location.residence.city"):
        out.append(f"I live in {g('location.residence.city')}, {g('location.residence.country')}.")
    kids = g("household.children")
    if kids is not None:
        out.append("I have no children." if kids == 0 else f"I have {kids} {'child' if kids == 1 else 'children'}.")
    hobbies = g("interests.hobbies") or []
    if hobbies:
        out.append(f"I enjoy {' and '.join(hobbies[:2])}.")
    traits = g("personality.traits") or []
    if traits:
        out.append(f"I am {' and '.join(traits[:2])}.")
    return out
