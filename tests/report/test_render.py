"""The HTML quality report and the dataset card rendered from the fixture's metrics."""

from __future__ import annotations

from html.parser import HTMLParser

import yaml

from pipelines.report import render_card, render_html


def test_html_report_is_self_contained_with_sections_and_plots(metrics):
    page = render_html(metrics)

    class Collect(HTMLParser):
        def __init__(self):
            super().__init__()
            self.sections, self.tags, self.external = [], [], []

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            self.tags.append(tag)
            if tag == "section":
                self.sections.append(attrs.get("id"))
            for key in ("src", "href"):
                if (attrs.get(key) or "").startswith(("http:", "https:", "//")):
                    self.external.append(attrs[key])

    parser = Collect()
    parser.feed(page)
    parser.close()
    assert parser.sections == [
        "overview", "counts", "quotas", "coverage", "diversity", "critic", "stereotypes", "provenance"
    ]  # fmt: skip
    assert parser.tags.count("svg") >= 4 and "table" in parser.tags
    assert "script" not in parser.tags and "link" not in parser.tags and parser.external == []
    assert "nurturing" in page and "Monroe" in page
    assert "secret" not in page and "token=abc" not in page  # endpoint credentials never shown


def test_dataset_card_header_and_body(metrics):
    card = render_card(metrics)
    assert card.startswith("---\n")
    header = yaml.safe_load(card.split("---\n")[1])
    assert header["license"] == "apache-2.0"
    assert header["task_categories"] == ["text-generation"]
    assert header["language"] == ["en"]
    assert header["size_categories"] == ["n<1K"]
    assert header["pretty_name"] == "Synthetic personas (fixture)"
    configs = {c["config_name"]: c for c in header["configs"]}
    assert configs["personas"]["data_files"] == [{"split": "train", "path": "personas/*.parquet"}]
    assert configs["personas"]["default"] is True
    assert configs["rejected"]["data_files"] == [{"split": "train", "path": "rejected/*.parquet"}]
    headings = ("How it was made", "Schema", "Statistics", "Stereotype audit", "Limitations", "Intended use")
    for heading in (f"## {h}" for h in headings):
        assert heading in card
    assert "| attributes.demographics.gender | string |" in card
    assert "| critic.findings[].code | string |" in card
    assert "fixture-model" in card and "persona_narrative_v1" in card
    assert "secret" not in card and "OPENAI_API_KEY" not in card


def test_the_card_says_which_opening_the_pipeline_wrote(metrics):
    """A run whose backend continued a prefilled opening says so; an endpoint without prefill
    (the fixture's) does not."""
    import copy

    assert "the pipeline wrote from the sampled facts" not in render_card(metrics)
    guided = copy.deepcopy(metrics)
    guided["provenance"]["llm"].update(prompt_template_id="persona_narrative_guided_v1", assistant_prefill=True)
    card = render_card(guided)
    assert "opens with words the pipeline wrote from the sampled facts" in card
    assert "In {poss} free time, {pron}" in card and "{activity}" not in card
    guided["provenance"]["llm"].update(prompt_template_id="persona_narrative_guided_v3")
    card = render_card(guided)
    assert "On weekends, {pron} {activity}` (`{activity}`: what the persona does for a hobby" in card


def test_the_card_says_how_the_dialogues_were_written(metrics):
    """Guided dialogues on a backend that continued the frames say that the pipeline wrote them;
    free turns say what the model wrote."""
    import copy

    run = copy.deepcopy(metrics)
    run["dialogues"] = {**(run.get("dialogues") or {}), "accepted": 3, "planned": 5}
    run["provenance"]["dialogues"] = {"mode": "turns", "turns": 6}
    assert "- **Dialogues**: 6 turns each; the model wrote one turn per call" in render_card(run)
    run["provenance"]["dialogues"]["mode"] = "guided"
    assert "the model wrote one turn per call" in render_card(run)  # the endpoint did not continue prefills
    run["provenance"]["llm"]["assistant_prefill"] = True
    card = render_card(run)
    assert "the pipeline wrote the frame of every turn from the two speakers' sampled facts" in card
    run["dialogues"]["accepted"] = 0
    assert "- **Dialogues**" not in render_card(run)
