"""Render the metrics of `pipelines.report.metrics` as a self-contained HTML report and a Hugging Face
dataset card (README.md with a YAML header).

Both are pure functions of the metrics dict (which `quality_report.json` holds), so a report can be
re-rendered without re-reading the shards. Plots are matplotlib figures (Agg backend) inlined as
SVG; there is no external JavaScript, CSS or font. Without matplotlib the report has tables only.
"""

from __future__ import annotations

import html
import io
import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import yaml

log = logging.getLogger("pipelines.report")

SECTIONS = (
    ("overview", "Overview"),
    ("counts", "Counts and acceptance"),
    ("quotas", "Quotas"),
    ("coverage", "Attribute coverage"),
    ("diversity", "Narrative diversity"),
    ("critic", "Critic scores and findings"),
    ("stereotypes", "Stereotype audit"),
    ("provenance", "Provenance"),
)

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em auto;max-width:1100px;
color:#222;padding:0 1em;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}h3{margin-top:1.4em}
table{border-collapse:collapse;margin:.6em 0 1em;font-size:.9em}
th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right;font-variant-numeric:tabular-nums}
nav a{margin-right:1em}.note{color:#555;font-size:.9em}.warn{color:#a33}
figure{margin:1em 0}figure svg{max-width:100%;height:auto}code{background:#f5f5f5;padding:0 .2em}
"""


# ------------------------------------------------------------------------------------------------
# Plots


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


def _barh(labels: Sequence[str], values: Sequence[float], xlabel: str, xlim: tuple[float, float] | None = None):
    def draw(ax):
        ys = range(len(labels))
        ax.barh(list(ys), list(values), color="#4c78a8")
        ax.set_yticks(list(ys), [str(lab) for lab in labels])
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        if xlim:
            ax.set_xlim(*xlim)
        ax.grid(axis="x", alpha=0.3)

    return draw


def _chart_funnel(counts: dict[str, Any]) -> str:
    funnel = counts.get("funnel") or []
    if not funnel:
        return ""

    def draw(ax):
        xs = range(len(funnel))
        ax.bar([x - 0.2 for x in xs], [f["entered"] for f in funnel], width=0.4, label="entered", color="#9ecae9")
        ax.bar([x + 0.2 for x in xs], [f["passed"] for f in funnel], width=0.4, label="passed", color="#4c78a8")
        ax.set_xticks(list(xs), [f["stage"] for f in funnel])
        ax.set_ylabel("personas")
        ax.legend()
        ax.grid(axis="y", alpha=0.3)

    return _svg(draw, 6, 2.8)


def _cell_label(cell: dict[str, Any]) -> str:
    values = cell.get("values") or {}
    return " / ".join(str(v) for v in values.values()) or str(cell.get("cell_id"))


def _chart_quotas(quotas: dict[str, Any]) -> str:
    cells = quotas.get("cells") or []
    if not cells:
        return ""

    def draw(ax):
        xs = range(len(cells))
        ax.bar([x - 0.2 for x in xs], [c["target"] for c in cells], width=0.4, label="target", color="#bbbbbb")
        ax.bar([x + 0.2 for x in xs], [c["achieved"] for c in cells], width=0.4, label="achieved", color="#4c78a8")
        ax.set_xticks(list(xs), [_cell_label(c) for c in cells], rotation=60, ha="right")
        ax.set_ylabel("personas")
        ax.legend()
        ax.grid(axis="y", alpha=0.3)

    return _svg(draw, max(6.0, 0.45 * len(cells)), 3.6)


def _chart_coverage(coverage: dict[str, Any]) -> str:
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


def _chart_histogram(critic: dict[str, Any]) -> str:
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


def _chart_findings(findings: dict[str, int]) -> str:
    if not findings:
        return ""
    items = sorted(findings.items(), key=lambda kv: -kv[1])[:20]
    return _svg(
        _barh([k for k, _ in items], [v for _, v in items], "findings (all candidates)"), 6, 0.22 * len(items) + 0.9
    )


def _chart_audit(attribute: str, audit: dict[str, Any], threshold: float) -> str:
    bars: list[tuple[str, float, bool]] = []
    for group, entry in (audit.get("groups") or {}).items():
        for w in (entry.get("top_words") or [])[:5]:
            bars.append((f"{group}: {w['word']}", w["z"], w["flagged"]))
    if not bars:
        return ""
    bars.sort(key=lambda b: -b[1])
    bars = bars[:20]

    def draw(ax):
        ys = range(len(bars))
        ax.barh(list(ys), [b[1] for b in bars], color=["#d62728" if b[2] else "#4c78a8" for b in bars])
        ax.set_yticks(list(ys), [b[0] for b in bars])
        ax.invert_yaxis()
        ax.axvline(threshold, color="#555", linestyle="--", linewidth=1)
        ax.set_xlabel(f"log-odds z-score ({attribute}; dashed: threshold, red: flagged)")
        ax.grid(axis="x", alpha=0.3)

    return _svg(draw, 6.5, 0.22 * len(bars) + 1.0)


# ------------------------------------------------------------------------------------------------
# HTML helpers


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    return str(value)


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None, limit: int | None = None) -> str:
    if not rows:
        return '<p class="note">none</p>'
    columns = list(columns or rows[0].keys())
    shown = rows if limit is None else rows[:limit]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in shown:
        cells = []
        for c in columns:
            v = row.get(c)
            cls = ' class="num"' if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
            cells.append(f"<td{cls}>{html.escape(_fmt(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = (
        f'<p class="note">{len(rows) - len(shown)} more rows in quality_report.json</p>'
        if len(shown) < len(rows)
        else ""
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>{more}"


def _kv(mapping: dict[str, Any], key: str = "key", value: str = "value") -> str:
    return _table([{key: k, value: v} for k, v in mapping.items()], [key, value])


def _p(text: str, cls: str | None = None) -> str:
    return f"<p{f' class={chr(34)}{cls}{chr(34)}' if cls else ''}>{html.escape(text)}</p>"


# ------------------------------------------------------------------------------------------------
# HTML sections


def _overview(m: dict[str, Any], head: dict[str, Any]) -> str:
    rows = {k: v for k, v in head.items() if k != "stereotype_flagged"}
    for attr, s in head["stereotype_flagged"].items():
        rows[f"stereotype audit {attr}: flagged (by chance)"] = f"{s['flagged']} ({_fmt(s['expected_by_chance'])})"
    notes = []
    if not m["counts"]["consistent_with_manifest"]:
        notes.append(_p("The shards do not match the manifest: " + "; ".join(m["counts"]["mismatches"]), "warn"))
    return _kv(rows, "metric", "value") + "".join(notes)


def _counts(m: dict[str, Any]) -> str:
    c = m["counts"]
    parts = [
        _p(
            f"{c['accepted']} of {c['planned']} planned personas accepted ({_fmt(c['acceptance_rate'])}); "
            f"{c['rejected']} rejected, {c['unfinished']} unfinished."
        ),
        "<h3>Acceptance by stage</h3>",
        _chart_funnel(c),
        _table(c["funnel"]),
        "<h3>Rejected by stage and reason</h3>",
        _table(c["rejected_by_stage_and_reason"]),
        "<h3>Rejected by rule</h3>",
        _kv(c["rejected_by_rule"], "rule", "rows") if c["rejected_by_rule"] else _p("none", "note"),
    ]
    if c.get("generation_iterations"):
        parts += ["<h3>Generator-Critic by bootstrap iteration</h3>", _table(c["generation_iterations"])]
    return "".join(parts)


def _quotas(m: dict[str, Any]) -> str:
    q = m["quotas"]
    rows = [
        {
            "cell": _cell_label(c),
            **{k: c[k] for k in ("target", "achieved", "deviation", "target_share", "achieved_share")},
            "lost": _fmt(c.get("lost")) if c.get("lost") else "",
            "top-up (accepted / generated)": (
                f"{c['top_up'].get('accepted', 0)} / {c['top_up'].get('generated', 0)}" if c.get("top_up") else ""
            ),
            "short because": c.get("short_because") or "",
        }
        for c in q["cells"]
    ]
    parts = [
        _p(
            f"Stratified by {', '.join(q['stratify_by']) or '–'}: {q['cells_met']} of {q['n_cells']} cells met, "
            f"max |achieved - target| = {q['max_abs_deviation']}, total shortfall {q['total_shortfall']}, "
            f"max share deviation {_fmt(q['max_abs_share_deviation'])}, total variation distance "
            f"{_fmt(q['total_variation_distance'])}."
        ),
        _chart_quotas(q),
        _table(rows),
    ]
    if q["unplanned_cells"]:
        parts.append(_p(f"Cells in the shards but not in the plan: {_fmt(q['unplanned_cells'])}", "warn"))
    return "".join(parts)


def _coverage(m: dict[str, Any]) -> str:
    cov = m["coverage"]
    parts = []
    if cov.get("note"):
        parts.append(_p(cov["note"], "warn"))
    parts.append(
        _p(
            f"Mean coverage {_fmt(cov['mean_coverage'])} over {cov['scored_attributes']} categorical attributes "
            f"(minimum {_fmt(cov['min_coverage'])}; {cov['fully_covered']} fully covered). Coverage = share of the "
            "taxonomy's possible values of an attribute that occur in the accepted personas."
        )
    )
    parts.append(_chart_coverage(cov))
    rows = [
        {
            **{k: r.get(k) for k in ("attribute", "type", "present", "distinct", "domain", "covered", "coverage")},
            "missing (first 8)": (r.get("missing") or [])[:8],
            "unexpected": r.get("unexpected") or [],
        }
        for r in cov["attributes"]
    ]
    parts += [_table(rows), "<h3>Numeric attributes</h3>", _table(cov["numeric"])]
    return "".join(parts)


def _diversity(m: dict[str, Any]) -> str:
    d = m["diversity"]
    emb = d.get("embeddings") or {}
    d1, d2, words = d["distinct_1"], d["distinct_2"], d["words"]
    rows = {
        "narratives": d["narratives"],
        "distinct-1 (unique / total unigrams)": f"{_fmt(d1['value'])} ({d1['unique']} / {d1['total']})",
        "distinct-2 (unique / total bigrams)": f"{_fmt(d2['value'])} ({d2['unique']} / {d2['total']})",
        "words per narrative (mean, min, median, max)": _fmt(
            [words["mean"], words["min"], words.get("p50"), words["max"]]
        ),
        "exact duplicates among accepted (name-masked)": d["exact_duplicates_among_accepted"],
        "rejected as exact duplicates": d["rejected_duplicates"]["duplicate_exact"],
        "rejected as near duplicates": d["rejected_duplicates"]["duplicate_near"],
        "narratives with a duplicate before dedup": _rate_of(d["near_duplicate_rate"]),
        "languages (guessed)": d["languages"]["shares"],
    }
    if emb.get("computed"):
        rows.update(
            {
                "embedding model": emb["model"],
                "narratives embedded (sample)": emb["sampled"],
                "mean pairwise cosine distance": emb["mean_pairwise_distance"],
                "max pair similarity": emb["max_pair_similarity"],
                f"pairs with cosine >= {_fmt(emb['threshold'])} (dedup threshold)": (
                    f"{emb['near_duplicate_pairs']} of {emb['pairs']} ({_fmt(emb['near_duplicate_pair_rate'])})"
                ),
                "narratives with a near duplicate after dedup (sample)": (
                    f"{emb['texts_with_near_duplicate']} of {emb['sampled']} "
                    f"({_fmt(d['near_duplicate_rate']['after_dedup'])})"
                ),
            }
        )
    else:
        rows["embedding diversity"] = f"not computed: {emb.get('reason', '')}"
    note = _p(
        "distinct-n: unique n-grams / all n-grams over every narrative (lowercased word tokens, n-grams within a "
        "narrative). Embeddings compare the name-masked text the dedup stage compares.",
        "note",
    )
    examples = ["<h3>At the dedup threshold</h3>"]
    above = d.get("near_duplicates_just_above_threshold") or []
    examples.append(_p("Removed as near duplicates, lowest similarity first (just above the threshold):"))
    examples.append(
        _table(above, ["similarity", "removed", "removed_text", "kept", "kept_text"])
        if above
        else _p("none removed", "note")
    )
    below = emb.get("closest_pairs_below_threshold") or []
    examples.append(_p("Most similar pairs that were both kept (just below the threshold, embedded sample):"))
    examples.append(
        _table(below, ["similarity", "a", "a_text", "b", "b_text"]) if below else _p("not computed", "note")
    )
    return _kv(rows, "metric", "value") + note + "".join(examples)


def _rate_of(rate: dict[str, Any]) -> str:
    if not rate.get("reached_dedup"):
        return "n/a"
    return f"{rate['with_duplicate']} of {rate['reached_dedup']} ({_fmt(rate['before_dedup'])})"


def _critic(m: dict[str, Any]) -> str:
    cr = m["critic"]
    if not cr.get("available"):
        return _p("No critic column in this dataset.", "note")
    parts = [
        _p(
            f"Mean critic score {_fmt(cr['mean'])} (sd {_fmt(cr['std'])}, "
            f"min {_fmt(cr['min'])}, max {_fmt(cr['max'])})."
        ),
        _chart_histogram(cr),
        "<h3>Quantiles</h3>",
        _kv(cr["quantiles"], "quantile", "score"),
        "<h3>Histogram</h3>",
        _table(
            [
                {"bin": f"[{a:.1f}, {b:.1f})", "personas": n}
                for a, b, n in zip(
                    cr["histogram"]["edges"][:-1], cr["histogram"]["edges"][1:], cr["histogram"]["counts"], strict=True
                )
            ]
        ),
    ]
    if cr.get("experts"):
        parts += ["<h3>Mean score per expert</h3>", _table([{"expert": e, **v} for e, v in cr["experts"].items()])]
    parts += ["<h3>Findings on accepted personas</h3>", _table(cr.get("findings_accepted") or [])]
    if cr.get("findings_by_code_all_candidates"):
        parts += [
            "<h3>Findings over all candidates (manifest)</h3>",
            _chart_findings(cr["findings_by_code_all_candidates"]),
            _kv(cr["findings_by_code_all_candidates"], "code", "findings"),
        ]
    for key, title in (
        ("revision_count", "Revision rounds"),
        ("finish_reason", "Finish reason"),
        ("validation_warnings", "Validation warnings (rules)"),
    ):
        if cr.get(key):
            parts += [f"<h3>{title}</h3>", _kv(cr[key], key, "personas")]
    return "".join(parts)


AUDIT_METHOD = (
    "Each narrative is reduced to the set of its content words (lowercased, 3+ letters, no function words); the "
    "unit is the narrative: does it use the word. A word that occurs in the persona's own sampled attributes "
    "(occupation, hobbies, city, name, ... with naive plural/singular forms) is implied by the facts: that "
    "persona's narrative is not counted for that word at all, neither as a use nor in the denominator. So "
    "'nurse' is compared among narratives of personas who are not nurses. Words that name the groups themselves "
    "(woman/mother for gender, young/elderly for age, country names and demonyms for country) are left out of "
    "that attribute's audit. For each group against all other personas, the share of narratives using a word is "
    "compared as a log-odds ratio with an informative prior centred on the word's overall rate (Monroe, Colaresi "
    "and Quinn 2008), giving a z-score; a word is flagged when z >= the threshold and at least min_count "
    "narratives of the group use it. Group labels are then shuffled to count how many words chance alone flags: "
    "excess_flagged = flagged - expected by chance is the summary number per attribute, and p_max_z is the share "
    "of shuffles whose strongest word is at least as strong as the observed strongest."
)


def _stereotypes(m: dict[str, Any]) -> str:
    st = m["stereotypes"]
    method = st["method"]
    parts = [
        _p(AUDIT_METHOD),
        _p("Settings: " + _fmt(method), "note"),
        "<h3>Summary per attribute</h3>",
        _table(st["summary"]),
    ]
    for attr, audit in st["attributes"].items():
        parts.append(f"<h3>{html.escape(attr)}</h3>")
        if "skipped" in audit:
            parts.append(_p(f"skipped: {audit['skipped']}", "note"))
            continue
        parts.append(_chart_audit(attr, audit, method["z_threshold"]))
        for group, entry in audit["groups"].items():
            if not entry.get("tested"):
                continue
            parts.append(f"<h4>{html.escape(group)} ({entry['personas']} personas, {entry['flagged']} flagged)</h4>")
            parts.append(_table(entry.get("top_words") or []))
        untested = [f"{g} ({e['personas']})" for g, e in audit["groups"].items() if not e.get("tested")]
        if untested:
            parts.append(_p(f"Too few personas to test: {', '.join(untested)}", "note"))
    parts += ["<h3>Words most often excluded as implied by the attributes</h3>", _table(st["implied_words_excluded"])]
    return "".join(parts)


def _provenance(m: dict[str, Any]) -> str:
    p = m["provenance"]
    rows = {
        "run": p["run"],
        "schema version": p["schema_version"],
        "taxonomy files": p["taxonomy_files"],
        "hashes": p["hashes"],
        "LLM": {k: v for k, v in p["llm"].items() if not k.startswith("llm.")},
        "LLM requests and tokens": {k: v for k, v in p["llm"].items() if k.startswith("llm.")},
        "per accepted persona": p["generation_per_accepted"],
        "timing (s)": p["timing_s"],
        "versions": p["versions"],
    }
    return _kv(
        {k: json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v for k, v in rows.items()}, "item", "value"
    )


def render_html(metrics: dict[str, Any]) -> str:
    """The quality report as one self-contained HTML page."""
    from pipelines.report.metrics import headline

    head = headline(metrics)
    name = (metrics["provenance"]["run"] or {}).get("name") or metrics["dataset_dir"]
    builders = {
        "overview": lambda: _overview(metrics, head),
        "counts": lambda: _counts(metrics),
        "quotas": lambda: _quotas(metrics),
        "coverage": lambda: _coverage(metrics),
        "diversity": lambda: _diversity(metrics),
        "critic": lambda: _critic(metrics),
        "stereotypes": lambda: _stereotypes(metrics),
        "provenance": lambda: _provenance(metrics),
    }
    nav = "".join(f'<a href="#{sid}">{html.escape(title)}</a>' for sid, title in SECTIONS)
    body = "".join(
        f'<section id="{sid}"><h2>{html.escape(title)}</h2>{builders[sid]()}</section>' for sid, title in SECTIONS
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Quality report: {html.escape(str(name))}</title><style>{CSS}</style></head><body>"
        f"<h1>Quality report: {html.escape(str(name))}</h1>"
        f'<p class="note">Dataset folder {html.escape(metrics["dataset_dir"])}; '
        "numbers also in quality_report.json.</p>"
        f"<nav>{nav}</nav>{body}</body></html>\n"
    )


# ------------------------------------------------------------------------------------------------
# Dataset card


def size_category(n: int) -> str:
    """The Hugging Face `size_categories` bucket for n rows."""
    bounds = [(1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
              (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B")]  # fmt: skip
    for bound, label in bounds:
        if n < bound:
            return label
    return "n>1B"


def card_metadata(
    metrics: dict[str, Any], license: str = "apache-2.0", pretty_name: str | None = None
) -> dict[str, Any]:
    """The YAML header of the dataset card."""
    run = metrics["provenance"]["run"] or {}
    has_rejected = bool(metrics["schema"]["rejected"])
    configs: list[dict[str, Any]] = [
        {"config_name": "personas", "data_files": [{"split": "train", "path": "personas/*.parquet"}], "default": True}
    ]
    if has_rejected:
        configs.append({"config_name": "rejected", "data_files": [{"split": "train", "path": "rejected/*.parquet"}]})
    if (metrics.get("dialogues") or {}).get("accepted"):
        configs.append({"config_name": "dialogues", "data_files": [{"split": "train", "path": "dialogues/*.parquet"}]})
    meta: dict[str, Any] = {
        "license": license,
        "pretty_name": pretty_name or f"Synthetic personas ({run.get('name') or 'persona-pipelines'})",
        "task_categories": ["text-generation"],
        "tags": ["synthetic", "personas", "persona-pipelines"],
        "size_categories": [size_category(metrics["counts"]["accepted"])],
        "configs": configs,
    }
    langs = metrics["diversity"]["languages"]["languages"]
    if langs:
        meta = {"language": langs, **meta}
    return meta


def _md_table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    def cell(v: Any) -> str:
        return _fmt(v).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


COLUMN_NOTES = {
    "persona_id": "`p-<seed>-<index>`, unique",
    "persona_index": "index of the persona in the run's plan",
    "quota_cell": "the quota cell (stratum) the persona was planned in",
    "top_up_round": "0: planned; r >= 1: a replacement generated in quota top-up round r",
    "attributes": "sampled structured attributes, nested like the taxonomy",
    "narrative": "the LLM-written prose about the persona",
    "critic": "critic score, pass flag, per-expert scores, findings",
    "generation": "model, prompt template, finish reason, tokens, revisions, LLM calls, exemplars",
    "validation": "rules files' sha256 and the warning-level rules this row did not pass",
    "provenance": "run name, seed, taxonomy and config hashes, pipeline version",
    "stage": "pipeline stage that dropped the record",
    "reason": "rejection reason code",
    "message": "why, in words",
    "rule": "the failed rule's id or the schema path",
    "duplicate_of": "the kept persona this one duplicates",
    "similarity": "cosine similarity to that persona",
    "record_json": "the rejected record as JSON",
}


def render_card(metrics: dict[str, Any], license: str = "apache-2.0", pretty_name: str | None = None) -> str:
    """The dataset card (README.md): YAML header, then what the data is, how it was made, schema,
    statistics, stereotype audit, limitations and intended use. Reads only the metrics dict."""
    from pipelines.report.metrics import headline

    meta = card_metadata(metrics, license, pretty_name)
    head = headline(metrics)
    p, c, q, cov, d, cr, st = (
        metrics[k] for k in ("provenance", "counts", "quotas", "coverage", "diversity", "critic", "stereotypes")
    )
    run, llm, gen, critic_cfg, dedup = p["run"] or {}, p["llm"], p["generation"], p["critic"], p["dedup"]
    sampling = llm.get("sampling") or {}
    judge_cfg = critic_cfg.get("llm_judge") or {}
    emb = d.get("embeddings") or {}
    version = p["versions"].get("persona-pipelines", "?")
    taxonomy_files = ", ".join(str(f).rsplit("/", 1)[-1] for f in p["taxonomy_files"]) or "?"
    template = llm.get("prompt_template_id") or gen.get("prompt_template", "?")
    rules_files = ", ".join(map(str, p["validation"]["rules"])) or "as configured"
    out: list[str] = ["---", yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).rstrip(), "---", ""]
    out += [
        f"# {meta['pretty_name']}",
        "",
        f"{c['accepted']} synthetic personas: structured attributes sampled from a hierarchical taxonomy under exact "
        f"quota targets, each with a short prose narrative written by an LLM ({llm.get('model') or 'unknown model'}) "
        "and checked by a critic against the attributes. Every person here is fictional; names are generated by "
        "Faker. Rejected candidates are kept, with the reason, in a separate configuration.",
        "",
        "## Files",
        "",
        _md_table(
            [
                {"path": "personas/*.parquet", "what": f"accepted personas ({c['accepted']} rows), config `personas`"},
                *(
                    [
                        {
                            "path": "rejected/*.parquet",
                            "what": f"rejected personas with stage and reason ({c['rejected']} rows), "
                            "config `rejected`",
                        }
                    ]
                    if metrics["schema"]["rejected"]
                    else []
                ),
                *(
                    [
                        {
                            "path": "dialogues/*.parquet",
                            "what": f"persona-grounded dialogues between the personas above "
                            f"({metrics['dialogues']['accepted']} rows, {metrics['dialogues']['planned']} planned), "
                            "config `dialogues`; export/*.csv has them in the Synthetic-Persona-Chat format",
                        }
                    ]
                    if (metrics.get("dialogues") or {}).get("accepted")
                    else []
                ),
                {
                    "path": "manifest.json",
                    "what": "counts, quotas, shards with sha256, LLM usage, versions, resolved config",
                },
                {"path": "quality_report.html / .json", "what": "the quality report this card summarises"},
            ],
            ["path", "what"],
        ),
        "",
        "```python",
        "from datasets import load_dataset",
        'ds = load_dataset("parquet", data_files="personas/*.parquet")',
        "",
        "import polars as pl",
        'df = pl.read_parquet("personas/*.parquet")',
        "```",
        "",
        "## How it was made",
        "",
        f"Built with the persona-pipelines Apache Beam pipeline (version {version}), "
        f"run `{run.get('name', '?')}`, seed {run.get('seed', '?')}, {c['planned']} personas planned.",
        "",
        f"- **Attributes**: sampled from the taxonomy ({taxonomy_files}, "
        f"hash `{str(p['hashes'].get('taxonomy', '?'))[:12]}`); quotas stratified by "
        f"{', '.join(q['stratify_by']) or 'nothing'} with exact per-cell targets; hard constraints hold for every "
        "persona.",
        f"- **Generation**: {llm.get('backend', '?')} backend, model `{llm.get('model', '?')}`, prompt template "
        f"`{template}`, temperature {sampling.get('temperature', '?')}, "
        f"top_p {sampling.get('top_p', '?')}, max {sampling.get('max_tokens', '?')} tokens; "
        f"{gen.get('candidates', '?')} "
        f"candidate(s) per round, up to {gen.get('max_revisions', '?')} revision round(s); "
        f"{(gen.get('exemplars') or {}).get('iterations', 0)} few-shot bootstrap iteration(s).",
        "- **Critic**: faithfulness, degeneration, safety and novelty experts"
        + (f", plus an LLM judge (min score {judge_cfg.get('min_score')})" if judge_cfg.get("enabled") else "")
        + f"; weights {_fmt(critic_cfg.get('weights'))}; pass threshold {critic_cfg.get('threshold', '?')}, "
        f"{critic_cfg.get('min_words', '?')}-{critic_cfg.get('max_words', '?')} words.",
        f"- **Validation**: JSON Schema and CEL rules ({rules_files}); "
        "error-level rules reject, warnings are recorded on the row.",
        f"- **Deduplication**: exact (normalised, name-masked text) and near duplicates (cosine >= "
        f"{dedup.get('threshold', '?')} with `{dedup.get('embedding_model', '?')}`) over the whole run.",
        "",
        "## Schema",
        "",
        "Personas (nested attribute fields as dotted paths; `[]` marks list elements):",
        "",
        _md_table(
            [{**r, "notes": COLUMN_NOTES.get(r["column"], "")} for r in metrics["schema"]["personas"]],
            ["column", "type", "nullable", "notes"],
        ),
        "",
    ]
    if metrics["schema"]["rejected"]:
        out += [
            "Rejected:",
            "",
            _md_table(
                [{**r, "notes": COLUMN_NOTES.get(r["column"], "")} for r in metrics["schema"]["rejected"]],
                ["column", "type", "nullable", "notes"],
            ),
            "",
        ]
    stats = [
        {"metric": "accepted / planned", "value": f"{c['accepted']} / {c['planned']} ({_fmt(c['acceptance_rate'])})"},
        {"metric": "quota top-up replacements generated", "value": c.get("topped_up", 0)},
        {"metric": "rejected by reason", "value": c["rejected_by_reason"] or "none"},
        {
            "metric": "quota cells met",
            "value": f"{q['cells_met']} of {q['n_cells']}, max deviation {q['max_abs_deviation']}",
        },
        {"metric": "mean attribute coverage", "value": head["mean_attribute_coverage"]},
        {"metric": "distinct-1 / distinct-2", "value": f"{_fmt(head['distinct_1'])} / {_fmt(head['distinct_2'])}"},
        {"metric": "words per narrative (mean)", "value": head["mean_words"]},
        {"metric": "mean critic score", "value": head["mean_critic_score"]},
    ]
    if emb.get("computed"):
        stats.append(
            {
                "metric": f"mean pairwise embedding distance ({emb['sampled']} narratives)",
                "value": emb["mean_pairwise_distance"],
            }
        )
        stats.append({"metric": "near-duplicate pair rate", "value": emb["near_duplicate_pair_rate"]})
    stats.append(
        {
            "metric": "share of narratives with a near duplicate, before / after dedup",
            "value": (
                f"{_fmt(head['near_duplicate_rate_before_dedup'])} / {_fmt(head['near_duplicate_rate_after_dedup'])}"
            ),
        }
    )
    out += ["## Statistics", "", _md_table(stats, ["metric", "value"]), ""]
    audit_rows = [
        {
            k: s[k]
            for k in (
                "attribute",
                "groups_tested",
                "flagged",
                "expected_flagged_by_chance",
                "excess_flagged",
                "max_z",
                "max_z_word",
                "max_z_group",
                "p_max_z",
            )
        }
        for s in st["summary"]
    ]
    flagged_lines = []
    for attr, audit in st["attributes"].items():
        words = sorted(
            (
                (w["z"], w["word"], group)
                for group, entry in (audit.get("groups") or {}).items()
                for w in entry.get("top_words") or []
                if w["flagged"]
            ),
            reverse=True,
        )
        if words:
            s = audit["summary"]
            strongest = ", ".join(f"{word} ({group}, z={z})" for z, word, group in words[:5])
            flagged_lines.append(
                f"- {attr}: {s['flagged']} flagged, {_fmt(s['expected_flagged_by_chance'])} expected by chance; "
                f"strongest: {strongest}"
            )
    out += [
        "## Stereotype audit",
        "",
        "Which narrative words go with a gender, age band or country more than the personas' own attributes imply "
        "(share of narratives using each word, group vs the rest, as a log-odds ratio with an informative Dirichlet "
        "prior, Monroe et al. 2008; a narrative is not counted for a word its persona's attributes contain, and words "
        "naming the group are left out; chance level from shuffled group labels). `excess_flagged` = flagged - "
        "expected by chance. Details in quality_report.html.",
        "",
        _md_table(audit_rows, list(audit_rows[0]) if audit_rows else ["attribute"]),
        "",
        "\n".join(flagged_lines) if flagged_lines else "No word was flagged.",
        "",
        "## Limitations",
        "",
        "- Synthetic: every persona is invented. Attribute distributions follow the taxonomy's weights, which are "
        "rough and partly hand-set; the marginals are approximate and, outside the stratified quota attributes, are "
        "not matched exactly. Acceptance differs by cell, so the accepted set can deviate from the plan "
        f"(here up to {q['max_abs_deviation']} personas in a cell).",
        f"- The narratives come from `{llm.get('model', '?')}`"
        + (
            ", a small model: expect awkward, generic or partly inconsistent prose"
            if "135M" in str(llm.get("model"))
            else ""
        )
        + "; the critic checks key facts (name, age, gender, children, occupation) but not every attribute.",
        "- The stereotype audit is a word-association screen on this sample, not a proof of absence: associations "
        "carried by phrasing, or by words shared across groups, are not measured, and small groups are not tested.",
        "- English-centric: the critic's lexicons, the stopwords and the audit are written for English.",
        "",
        "## Intended use",
        "",
        "Testing and prototyping of persona-conditioned systems (dialogue agents, recommendation, survey simulation), "
        "evaluation fixtures and data-pipeline development. Not for drawing conclusions about real populations, "
        "not as a source of facts about any country or group, and not for training models that make decisions about "
        "people.",
        "",
        "## Provenance",
        "",
        _md_table(
            [
                {"item": "taxonomy hash", "value": p["hashes"].get("taxonomy")},
                {"item": "config hash", "value": p["hashes"].get("config")},
                {"item": "schema version", "value": p["schema_version"]},
                {"item": "versions", "value": p["versions"]},
            ],
            ["item", "value"],
        ),
        "",
    ]
    return "\n".join(out)
