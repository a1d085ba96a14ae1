"""The dataset as a product: a quality report and a dataset card for a finished dataset folder.

    python -m pipelines.report DATASET_DIR [--no-embeddings] [--sample N]

writes DATASET_DIR/quality_report.json (every metric), DATASET_DIR/quality_report.html (the same as a
self-contained page with plots) and DATASET_DIR/README.md (a Hugging Face dataset card).

`metrics` computes every number (a module per metric group), `render` turns them into the page
and the card, `lexicon` holds the word lists of the language guess and the stereotype audit; this
module writes the three files (`write_report`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipelines.report.metrics import DEFAULT_SAMPLE, compute_metrics, headline, load_dataset, stereotype_audit
from pipelines.report.render import render_card, render_html

REPORT_JSON = "quality_report.json"
REPORT_HTML = "quality_report.html"
CARD = "README.md"

__all__ = [
    "CARD",
    "REPORT_HTML",
    "REPORT_JSON",
    "compute_metrics",
    "headline",
    "load_dataset",
    "render_card",
    "render_html",
    "stereotype_audit",
    "write_report",
]


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_report(
    dataset_dir: str | Path,
    *,
    embeddings: bool = True,
    sample: int = DEFAULT_SAMPLE,
    seed: int = 0,
    license: str = "apache-2.0",
    pretty_name: str | None = None,
    **metric_options: Any,
) -> dict[str, Any]:
    """Compute the metrics of a finished (local) dataset folder and write quality_report.json,
    quality_report.html and README.md into it. Returns {"metrics", "headline", "paths"}."""
    root = Path(dataset_dir)
    metrics = compute_metrics(root, embeddings=embeddings, sample=sample, seed=seed, **metric_options)
    paths = {"json": root / REPORT_JSON, "html": root / REPORT_HTML, "card": root / CARD}
    _write(paths["json"], json.dumps(metrics, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    _write(paths["html"], render_html(metrics))
    _write(paths["card"], render_card(metrics, license=license, pretty_name=pretty_name))
    return {"metrics": metrics, "headline": headline(metrics), "paths": {k: str(v) for k, v in paths.items()}}
