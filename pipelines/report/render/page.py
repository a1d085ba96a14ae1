"""The quality report as one self-contained HTML page: a section per metric group, with tables and
the plots of `charts` (no external JavaScript, CSS or font)."""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from typing import Any

from pipelines.report.render.charts import (
    chart_audit,
    chart_coverage,
    chart_findings,
    chart_funnel,
    chart_histogram,
    chart_quotas,
)
from pipelines.report.render.fmt import cell_label, fmt

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
            cells.append(f"<td{cls}>{html.escape(fmt(v))}</td>")
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


def _overview(m: dict[str, Any], head: dict[str, Any]) -> str:
    rows = {k: v for k, v in head.items() if k != "stereotype_flagged"}
    for attr, s in head["stereotype_flagged"].items():
        rows[f"stereotype audit {attr}: flagged (by chance)"] = f"{s['flagged']} ({fmt(s['expected_by_chance'])})"
    notes = []
    if not m["counts"]["consistent_with_manifest"]:
        notes.append(_p("The shards do not match the manifest: " + "; ".join(m["counts"]["mismatches"]), "warn"))
    return _kv(rows, "metric", "value") + "".join(notes)


def _counts(m: dict[str, Any]) -> str:
    c = m["counts"]
    parts = [
        _p(
            f"{c['accepted']} of {c['planned']} planned personas accepted ({fmt(c['acceptance_rate'])}); "
            f"{c['rejected']} rejected, {c['unfinished']} unfinished."
        ),
        "<h3>Acceptance by stage</h3>",
        chart_funnel(c),
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
            "cell": cell_label(c),
            **{k: c[k] for k in ("target", "achieved", "deviation", "target_share", "achieved_share")},
            "lost": fmt(c.get("lost")) if c.get("lost") else "",
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
            f"max share deviation {fmt(q['max_abs_share_deviation'])}, total variation distance "
            f"{fmt(q['total_variation_distance'])}."
        ),
        chart_quotas(q),
        _table(rows),
    ]
    if q["unplanned_cells"]:
        parts.append(_p(f"Cells in the shards but not in the plan: {fmt(q['unplanned_cells'])}", "warn"))
    return "".join(parts)


def _coverage(m: dict[str, Any]) -> str:
    cov = m["coverage"]
    parts = []
    if cov.get("note"):
        parts.append(_p(cov["note"], "warn"))
    parts.append(
        _p(
            f"Mean coverage {fmt(cov['mean_coverage'])} over {cov['scored_attributes']} categorical attributes "
            f"(minimum {fmt(cov['min_coverage'])}; {cov['fully_covered']} fully covered). Coverage = share of the "
            "taxonomy's possible values of an attribute that occur in the accepted personas."
        )
    )
    parts.append(chart_coverage(cov))
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
        "distinct-1 (unique / total unigrams)": f"{fmt(d1['value'])} ({d1['unique']} / {d1['total']})",
        "distinct-2 (unique / total bigrams)": f"{fmt(d2['value'])} ({d2['unique']} / {d2['total']})",
        "words per narrative (mean, min, median, max)": fmt(
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
                f"pairs with cosine >= {fmt(emb['threshold'])} (dedup threshold)": (
                    f"{emb['near_duplicate_pairs']} of {emb['pairs']} ({fmt(emb['near_duplicate_pair_rate'])})"
                ),
                "narratives with a near duplicate after dedup (sample)": (
                    f"{emb['texts_with_near_duplicate']} of {emb['sampled']} "
                    f"({fmt(d['near_duplicate_rate']['after_dedup'])})"
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
    return f"{rate['with_duplicate']} of {rate['reached_dedup']} ({fmt(rate['before_dedup'])})"


def _critic(m: dict[str, Any]) -> str:
    cr = m["critic"]
    if not cr.get("available"):
        return _p("No critic column in this dataset.", "note")
    parts = [
        _p(f"Mean critic score {fmt(cr['mean'])} (sd {fmt(cr['std'])}, min {fmt(cr['min'])}, max {fmt(cr['max'])})."),
        chart_histogram(cr),
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
    claims = (m.get("claims") or {}).get("attributes") or []
    if claims:
        parts += [
            "<h3>Attributes: prompted facts conveyed, contradictions over every candidate</h3>",
            _p(
                "coverage: share of accepted narratives conveying the fact when the prompt gave it; "
                f"contradiction_rate: contradicting candidates over the {m['claims']['candidates_scored']} scored.",
                "note",
            ),
            _table(claims, ["attribute", "prompted", "personas", "coverage", "contradictions", "contradiction_rate"]),
        ]
    if cr.get("findings_by_code_all_candidates"):
        parts += [
            "<h3>Findings over all candidates (manifest)</h3>",
            chart_findings(cr["findings_by_code_all_candidates"]),
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
        _p("Settings: " + fmt(method), "note"),
        "<h3>Summary per attribute</h3>",
        _table(st["summary"]),
    ]
    for attr, audit in st["attributes"].items():
        parts.append(f"<h3>{html.escape(attr)}</h3>")
        if "skipped" in audit:
            parts.append(_p(f"skipped: {audit['skipped']}", "note"))
            continue
        parts.append(chart_audit(attr, audit, method["z_threshold"]))
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


def _deep_profile(m: dict[str, Any]) -> str:
    d = m["deep_profile"]
    summary = {
        "personas": d["personas"],
        "dimensions selected per persona (mean)": d["mean_selected"],
        "dimensions filled per persona (mean)": d["mean_filled"],
        "share filled": d["filled_share"],
        "top-level categories filled": d["categories"],
        "missing after the retries, by reason": json.dumps(d["missing_by_reason"])
        if d["missing_by_reason"]
        else "none",
    }
    return "".join(
        [
            _kv(summary, "metric", "value"),
            "<h3>By top-level category</h3>",
            _table(d["by_category"], ["category", "selected", "filled", "filled_share"]),
        ]
    )


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
    sections = SECTIONS
    if metrics.get("deep_profile"):
        builders["deep_profile"] = lambda: _deep_profile(metrics)
        sections = (*SECTIONS[:-1], ("deep_profile", "Deep profiles"), SECTIONS[-1])
    nav = "".join(f'<a href="#{sid}">{html.escape(title)}</a>' for sid, title in sections)
    body = "".join(
        f'<section id="{sid}"><h2>{html.escape(title)}</h2>{builders[sid]()}</section>' for sid, title in sections
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Quality report: {html.escape(str(name))}</title><style>{CSS}</style></head><body>"
        f"<h1>Quality report: {html.escape(str(name))}</h1>"
        f'<p class="note">Dataset folder {html.escape(metrics["dataset_dir"])}; '
        "numbers also in quality_report.json.</p>"
        f"<nav>{nav}</nav>{body}</body></html>\n"
    )
