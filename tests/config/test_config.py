import pytest

from pipelines.config import load_config
from pipelines.errors import InputError
from tests.conftest import write


def test_default_config_is_valid_and_hash_is_stable():
    a = load_config()
    b = load_config()
    assert a["llm"]["backend"] == "embedded"
    assert a.content_hash == b.content_hash
    assert load_config(overrides={"run": {"seed": 1}}).content_hash != a.content_hash


def test_requests_in_flight_do_not_change_the_config_hash():
    a = load_config()
    assert load_config(overrides={"llm": {"concurrency": 5}}).content_hash == a.content_hash
    assert load_config(overrides={"dialogues": {"concurrency": 7}}).content_hash == a.content_hash
    assert load_config(overrides={"llm": {"vllm": {"cpu_reserved_cores": 0}}}).content_hash == a.content_hash


def test_the_served_dtype_is_part_of_the_run_only_where_a_server_of_ours_runs():
    embedded = load_config()
    assert load_config(overrides={"llm": {"vllm": {"dtype": "float32"}}}).content_hash != embedded.content_hash
    endpoint = {"backend": "openai", "base_url": "http://localhost:1/v1", "model": "m"}
    a = load_config(overrides={"llm": endpoint})
    b = load_config(overrides={"llm": {**endpoint, "vllm": {"dtype": "float32"}}})
    assert a.content_hash == b.content_hash


@pytest.mark.parametrize(
    "text, location, problem",
    [
        ("run: {num_personas: 0}\ntaxonomy: {files: [x.yaml]}\n", "$.run.num_personas", "less than the minimum"),
        (
            "run: {num_personas: 5}\ntaxonomy: {files: [x.yaml]}\nllm: {backend: gpt}\n",
            "$.llm.backend",
            "is not one of",
        ),
        ("run: {num_personas: 5}\ntaxonomy: {files: [x.yaml]}\nllm: {backend: openai}\n", "$.llm", "base_url"),
        ("run: {num_personas: 5}\ntaxonomy: {files: [x.yaml]}\ndedupe: {}\n", "$", "Additional properties"),
        ("- a list\n", "$", "must be a mapping"),
    ],
)
def test_bad_config_fails_with_file_and_path(tmp_path, text, location, problem):
    path = write(tmp_path, "run.yaml", text)
    with pytest.raises(InputError) as err:
        load_config(path)
    assert err.value.file == str(path)
    assert err.value.location == location
    assert problem in err.value.problem


def test_missing_config_file_is_reported(tmp_path):
    with pytest.raises(InputError, match="file not found"):
        load_config(tmp_path / "nope.yaml")
