"""The Hugging Face dataset card (README.md): a YAML header (license, size, configs, languages),
then what the data is, how it was made, schema, statistics, stereotype audit, limitations and
intended use, all read from the metrics dict."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from pipelines.report.render.fmt import fmt


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
        return fmt(v).replace("|", "\\|").replace("\n", " ")

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


def _schema_table(rows: Sequence[dict[str, Any]]) -> str:
    """The columns of a shard schema (`schema_rows`) with their notes, as a Markdown table."""
    return _md_table(
        [{**r, "notes": COLUMN_NOTES.get(r["column"], "")} for r in rows], ["column", "type", "nullable", "notes"]
    )


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
        f"{(gen.get('exemplars') or {}).get('iterations', 0)} few-shot bootstrap iteration(s)."
        + _opening(template, bool(llm.get("assistant_prefill"))),
        "- **Critic**: faithfulness, degeneration, safety and novelty experts"
        + (f", plus an LLM judge (min score {judge_cfg.get('min_score')})" if judge_cfg.get("enabled") else "")
        + f"; weights {fmt(critic_cfg.get('weights'))}; pass threshold {critic_cfg.get('threshold', '?')}, "
        f"{critic_cfg.get('min_words', '?')}-{critic_cfg.get('max_words', '?')} words.",
        *_dialogue_lines(p, metrics, bool(llm.get("assistant_prefill"))),
        f"- **Validation**: JSON Schema and CEL rules ({rules_files}); "
        "error-level rules reject, warnings are recorded on the row.",
        f"- **Deduplication**: exact (normalised, name-masked text) and near duplicates (cosine >= "
        f"{dedup.get('threshold', '?')} with `{dedup.get('embedding_model', '?')}`) over the whole run.",
        "",
        "## Schema",
        "",
        "Personas (nested attribute fields as dotted paths; `[]` marks list elements):",
        "",
        _schema_table(metrics["schema"]["personas"]),
        "",
    ]
    if metrics["schema"]["rejected"]:
        out += [
            "Rejected:",
            "",
            _schema_table(metrics["schema"]["rejected"]),
            "",
        ]
    stats = [
        {"metric": "accepted / planned", "value": f"{c['accepted']} / {c['planned']} ({fmt(c['acceptance_rate'])})"},
        {"metric": "quota top-up replacements generated", "value": c.get("topped_up", 0)},
        {"metric": "rejected by reason", "value": c["rejected_by_reason"] or "none"},
        {
            "metric": "quota cells met",
            "value": f"{q['cells_met']} of {q['n_cells']}, max deviation {q['max_abs_deviation']}",
        },
        {"metric": "mean attribute coverage", "value": head["mean_attribute_coverage"]},
        *(
            [{"metric": "prompted facts conveyed per narrative (mean)", "value": head["mean_fact_coverage"]}]
            if head.get("mean_fact_coverage") is not None
            else []
        ),
        {"metric": "distinct-1 / distinct-2", "value": f"{fmt(head['distinct_1'])} / {fmt(head['distinct_2'])}"},
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
                f"{fmt(head['near_duplicate_rate_before_dedup'])} / {fmt(head['near_duplicate_rate_after_dedup'])}"
            ),
        }
    )
    out += ["## Statistics", "", _md_table(stats, ["metric", "value"]), ""]
    deep = metrics.get("deep_profile")
    if deep:
        out += [
            "## Deep profiles",
            "",
            f"Each persona also has a `deep_profile` column: free-text values for dimensions chosen from the "
            f"taxonomy's text dimensions (a dimension tree such as DeepPersona's), about {deep['mean_selected']} per "
            f"persona, spread over the top-level categories and leaning towards dimensions related to the persona's "
            f"sampled attributes. The LLM filled them in batches, each seeing the values filled before; a critic "
            f"rejected empty, placeholder, copied, over-long and repeated values and values contradicting a sampled "
            f"attribute, and asked again. Filled per persona: {deep['mean_filled']} on average "
            f"({fmt(deep['filled_share'])} of those selected); what stayed bad is listed in `deep_profile_missing` "
            f"with the reason ({fmt(deep['missing_by_reason'] or 'none')}). The values are the model's invention, "
            "checked only against the sampled attributes, not against each other's meaning.",
            "",
            "```python",
            'pl.read_parquet("personas/*.parquet").explode("deep_profile").unnest("deep_profile")',
            "```",
            "",
            _md_table(deep["by_category"], ["category", "selected", "filled", "filled_share"]),
            "",
        ]
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
                f"- {attr}: {s['flagged']} flagged, {fmt(s['expected_flagged_by_chance'])} expected by chance; "
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


def _dialogue_lines(p: dict[str, Any], metrics: dict[str, Any], prefill: bool) -> list[str]:
    """How the dialogues were written: free turns, whole conversations, or (guided, on a backend
    that continues an assistant prefill) turns framed by the pipeline."""
    d = p.get("dialogues") or {}
    if not (metrics.get("dialogues") or {}).get("accepted") or not d:
        return []
    mode = d.get("mode")
    if mode == "guided" and prefill:
        how = (
            "guided: the pipeline wrote the frame of every turn from the two speakers' sampled facts (their "
            "introductions with job and town, a hobby each and what they usually do for it, their family, a goodbye) "
            "and its questions, and the "
            "model wrote one sentence inside each frame, so the conversations share one shape"
        )
    elif mode == "whole":
        how = "the model wrote each conversation in one answer"
    else:
        how = "the model wrote one turn per call, the pipeline the speaker labels"
    return [f"- **Dialogues**: {d.get('turns', '?')} turns each; {how}."]


def _opening(template_id: str, prefill: bool) -> str:
    """What of each narrative the pipeline wrote itself: the template's prefilled opening, on a
    run whose backend continues an assistant prefill."""
    from pipelines.persona.prompts import TEMPLATES

    template = TEMPLATES.get(template_id)
    if not prefill or template is None or not template.prefill:
        return ""
    activity = (
        ' (`{activity}`: what the persona does for a hobby, e.g. "goes for a bike ride")'
        if "{activity}" in template.prefill
        else ""
    )
    return (
        f" Each narrative opens with words the pipeline wrote from the sampled facts, `{template.prefill}`"
        f"{activity}, and the model continued them."
    )
