"""The grounding expert: sentences checked against the persona's facts with sentence embeddings."""

import pickle

import numpy as np
import pytest

from pipelines.common.embedding import SentenceEmbedder
from pipelines.common.settings import CriticSettings
from pipelines.critique.narrative import judge
from pipelines.critique.narrative.grounding import GroundingSettings, grounding
from pipelines.critique.verdicts import load_set
from tests.conftest import REPO

SETS = REPO / "tests" / "fixtures" / "critic_eval"


@pytest.fixture(scope="module")
def embed():
    return SentenceEmbedder("bundled:all-MiniLM-L6-v2")


def _item(name, item_id):
    return next(i for i in load_set(SETS / name) if i["id"] == item_id)


def test_a_narrative_about_the_persona_is_grounded(embed):
    good = next(i for i in load_set(SETS / "narratives_dev.yaml") if i["verdict"] == "accept")
    result = grounding(good["text"], good["attrs"], embed)
    salad = _item("narratives_real_dev.yaml", "n-real-dev-026")
    assert result.findings == () and result.score > grounding(salad["text"], salad["attrs"], embed).score


def test_sentences_about_facts_the_prompt_did_not_show_are_grounded(embed):
    """A capable model's paragraph draws on the mortgage, the shifts, the family it grew up in: those
    are facts of the persona too (a good item of the second dev set, rejected when only the prompted
    facts counted)."""
    good = _item("narratives_dev2.yaml", "n-dev2-027")
    assert good["verdict"] == "accept"
    assert grounding(good["text"], good["attrs"], embed).findings == ()


def test_word_salad_from_the_embedded_model_is_off_persona(embed):
    salad = _item("narratives_real_dev.yaml", "n-real-dev-026")  # the list of words
    result = grounding(salad["text"], salad["attrs"], embed)
    assert [f.code for f in result.findings] == ["off_persona"] and result.score < 0.34


def test_most_sentences_unrelated_to_any_fact_is_off_persona_even_when_one_sentence_is_on_topic():
    """A fake embedder: the first sentence matches a fact exactly, the other three match none."""
    attrs = {"identity.name": "Ann Lee", "demographics.age": 40, "demographics.gender": "Female"}
    text = "Ann Lee is forty. The moon sells bread. Rivers argue loudly. Chairs dream of winter."

    def fake(texts):
        """Unit vectors: the age sentence and the age fact share an axis; every other text has its own."""
        axes: dict[str, int] = {}
        rows = []
        for t in texts:
            key = "age" if ("forty" in t or t.startswith("Age")) else t
            v = np.zeros(16, dtype=np.float32)
            v[axes.setdefault(key, len(axes))] = 1.0
            rows.append(v)
        return np.stack(rows)

    strict = GroundingSettings(min_mean=0.0, max_unrelated_share=0.67)  # only the unrelated share decides
    assert [f.code for f in grounding(text, attrs, fake, strict).findings] == ["off_persona"]
    lenient = GroundingSettings(min_mean=0.0, max_unrelated_share=0.8)
    assert grounding(text, attrs, fake, lenient).findings == ()


def test_the_critic_runs_grounding_only_with_an_embedder_and_the_setting_on(embed):
    salad = _item("narratives_real_dev.yaml", "n-real-dev-026")
    on = CriticSettings.from_config()
    off = CriticSettings.from_config({"grounding": False})
    codes = lambda v: {f.code for f in v.findings}  # noqa: E731
    assert "off_persona" in codes(judge(salad["text"], salad["attrs"], on, embed=embed))
    assert "off_persona" not in codes(judge(salad["text"], salad["attrs"], off, embed=embed))
    assert "off_persona" not in codes(judge(salad["text"], salad["attrs"], on))


def test_the_embedder_pickles_without_its_model_and_caches_repeated_texts(embed):
    a = embed(["Occupation: Cleaner", "She cleans offices at night."])
    assert a.shape == (2, 384) and np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    copy = pickle.loads(pickle.dumps(embed))
    assert copy._cache == {} and copy.spec == embed.spec
    assert np.allclose(copy(["She cleans offices at night."])[0], a[1], atol=1e-6)
    assert "Occupation: Cleaner" in embed._cache


def test_the_critics_embeddings_follow_the_precision_setting_and_agree_with_float32(monkeypatch):
    from pipelines.common import embedding

    texts = ["She works as a nurse in Porto.", "He has never smoked and walks every morning."]
    monkeypatch.setenv(embedding.PRECISION_ENV, "float32")
    ref = embedding.SentenceEmbedder("bundled:all-MiniLM-L6-v2")(texts)
    monkeypatch.setenv(embedding.PRECISION_ENV, "bfloat16")
    low = embedding.SentenceEmbedder("bundled:all-MiniLM-L6-v2")(texts)
    assert not np.array_equal(ref, low)  # computed another way, not the float32 model again
    assert (ref * low).sum(axis=1).min() > 0.999
    monkeypatch.setenv(embedding.PRECISION_ENV, "auto")
    assert embedding.embedding_precision() == ("bfloat16" if embedding.native_bfloat16() else "float32")
    # unset: float32 on every CPU, so that a verdict near a threshold does not depend on the machine
    monkeypatch.delenv(embedding.PRECISION_ENV)
    assert embedding.embedding_precision() == "float32"
    monkeypatch.setenv(embedding.PRECISION_ENV, "half")
    with pytest.raises(ValueError, match="PERSONA_EMBED_PRECISION='half'"):
        embedding.embedding_precision()
    monkeypatch.setenv(embedding.THREADS_ENV, "0")
    with pytest.raises(ValueError, match="PERSONA_EMBED_THREADS='0'"):
        embedding.embedding_threads()
