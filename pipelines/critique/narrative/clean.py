"""`clean_text`: the normalisation every model answer gets before the narrative critic sees it
(markdown and chatter stripped, a truncated answer cut back to its last complete sentence)."""

from __future__ import annotations

import re


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
