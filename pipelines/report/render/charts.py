"""The report's plots: matplotlib figures (Agg backend) drawn into inline SVG elements, one per
chart; '' for every chart when matplotlib is not installed."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

from pipelines.report.render.fmt import cell_label


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "persona-report", "font.size": 9})
    return plt


def _svg(draw: Callable[[Any], None], width: float = 7.0, height: float = 3.0) -> str:
    """A matplotlib figure drawn by `draw(ax)` as an inline <svg> element ('' without matplotlib)."""
    plt = _pyplot()
    if plt is None:
        return ""
    fig, ax = plt.subplots(figsize=(width, height))
    try:
        draw(ax)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
    finally:
        plt.close(fig)
    text = buf.getvalue()
    return f"<figure>{text[text.index('<svg') :]}</figure>"


def _barh(
    labels: Sequence[str],
    values: Sequence[float],
    xlabel: str,
    xlim: tuple[float, float] | None = None,
    color: str | Sequence[str] = "#4c78a8",
    vline: float | None = None,
):
    """Horizontal bars, first label on top; `vline`: a dashed vertical line (a threshold)."""

    def draw(ax):
        ys = range(len(labels))
        ax.barh(list(ys), list(values), color=color)
        ax.set_yticks(list(ys), [str(lab) for lab in labels])
        ax.invert_yaxis()
        if vline is not None:
            ax.axvline(vline, color="#555", linestyle="--", linewidth=1)
        ax.set_xlabel(xlabel)
        if xlim:
            ax.set_xlim(*xlim)
        ax.grid(axis="x", alpha=0.3)

    return draw


def _paired_bars(
    labels: Sequence[str],
    rows: Sequence[dict[str, Any]],
    bars: tuple[tuple[str, str], tuple[str, str]],
    tick_style: dict[str, Any] | None = None,
):
    """Two bars per row, side by side: `bars` is ((key, colour), (key, colour)), each key a column
    of `rows` and the bar's legend label."""

    def draw(ax):
        xs = range(len(labels))
        for offset, (key, color) in zip((-0.2, 0.2), bars, strict=True):
            ax.bar([x + offset for x in xs], [r[key] for r in rows], width=0.4, label=key, color=color)
        ax.set_xticks(list(xs), list(labels), **(tick_style or {}))
        ax.set_ylabel("personas")
        ax.legend()
        ax.grid(axis="y", alpha=0.3)

    return draw


def chart_funnel(counts: dict[str, Any]) -> str:
    funnel = counts.get("funnel") or []
    if not funnel:
        return ""
    draw = _paired_bars([f["stage"] for f in funnel], funnel, (("entered", "#9ecae9"), ("passed", "#4c78a8")))
    return _svg(draw, 6, 2.8)


def chart_quotas(quotas: dict[str, Any]) -> str:
    cells = quotas.get("cells") or []
    if not cells:
        return ""
    labels = [cell_label(c) for c in cells]
    draw = _paired_bars(
        labels, cells, (("target", "#bbbbbb"), ("achieved", "#4c78a8")), {"rotation": 60, "ha": "right"}
    )
    return _svg(draw, max(6.0, 0.45 * len(cells)), 3.6)


def chart_coverage(coverage: dict[str, Any]) -> str:
    rows = [r for r in coverage.get("attributes") or [] if r.get("coverage") is not None]
    if not rows:
        return ""
    rows = sorted(rows, key=lambda r: (r["coverage"], r["attribute"]))
    return _svg(
        _barh(
            [r["attribute"] for r in rows], [r["coverage"] for r in rows], "share of taxonomy values present", (0, 1)
        ),
        7,
        max(2.0, 0.17 * len(rows) + 0.8),
    )


def chart_histogram(critic: dict[str, Any]) -> str:
    hist = critic.get("histogram")
    if not hist:
        return ""
    edges, counts = hist["edges"], hist["counts"]

    def draw(ax):
        widths = [b - a for a, b in zip(edges[:-1], edges[1:], strict=True)]
        ax.bar(edges[:-1], counts, width=widths, align="edge", color="#4c78a8", edgecolor="white")
        ax.set_xlim(0, 1)
        ax.set_xlabel("critic score")
        ax.set_ylabel("accepted personas")
        ax.grid(axis="y", alpha=0.3)

    return _svg(draw, 6, 2.6)


def chart_findings(findings: dict[str, int]) -> str:
    if not findings:
        return ""
    items = sorted(findings.items(), key=lambda kv: -kv[1])[:20]
    return _svg(
        _barh([k for k, _ in items], [v for _, v in items], "findings (all candidates)"), 6, 0.22 * len(items) + 0.9
    )


def chart_audit(attribute: str, audit: dict[str, Any], threshold: float) -> str:
    bars: list[tuple[str, float, bool]] = []
    for group, entry in (audit.get("groups") or {}).items():
        for w in (entry.get("top_words") or [])[:5]:
            bars.append((f"{group}: {w['word']}", w["z"], w["flagged"]))
    if not bars:
        return ""
    bars.sort(key=lambda b: -b[1])
    bars = bars[:20]
    draw = _barh(
        [b[0] for b in bars],
        [b[1] for b in bars],
        f"log-odds z-score ({attribute}; dashed: threshold, red: flagged)",
        color=["#d62728" if b[2] else "#4c78a8" for b in bars],
        vline=threshold,
    )
    return _svg(draw, 6.5, 0.22 * len(bars) + 1.0)
