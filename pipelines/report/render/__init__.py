"""Render the metrics of `pipelines.report.metrics` as a self-contained HTML report (`page`, with
the plots of `charts`) and a Hugging Face dataset card (`card`, README.md with a YAML header);
`fmt` writes single values for both.

Both are pure functions of the metrics dict (which `quality_report.json` holds), so a report can be
re-rendered without re-reading the shards. Plots are matplotlib figures (Agg backend) inlined as
SVG; there is no external JavaScript, CSS or font. Without matplotlib the report has tables only.
"""

from __future__ import annotations

from pipelines.report.render.card import card_metadata, render_card, size_category
from pipelines.report.render.page import render_html

__all__ = ["card_metadata", "render_card", "render_html", "size_category"]
