"""The taxonomy's text dimensions as the deep-profile stage sees them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dimension:
    path: str  # e.g. profile.lifestyle_and_daily_routine.sleep_patterns.bedtime_ritual
    label: str  # e.g. "Lifestyle and Daily Routine / Sleep Patterns / Bedtime Ritual"
    category: str  # the top-level category's label, e.g. "Lifestyle and Daily Routine"
    hint: str = ""  # the dimension's description, when it has one

    @property
    def key(self) -> str:
        """The item name in the prompt and the answer: the last two parts of the label."""
        return " / ".join(self.label.split(" / ")[-2:])


def dimensions_of(taxonomy) -> tuple[Dimension, ...]:
    """The taxonomy's text dimensions, in file order."""
    return tuple(
        Dimension(
            d.path,
            taxonomy.label_path(d.path),
            taxonomy.category_label(taxonomy.dimension_category(d.path)),
            d.description,
        )
        for d in taxonomy.dimensions
    )
