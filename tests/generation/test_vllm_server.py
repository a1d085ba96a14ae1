"""The vLLM server's dtype choice: float32 where a CPU would emulate bfloat16."""

import json

import pytest

from pipelines.generation.vllm_server import VLLMServer, resolve_dtype


@pytest.fixture
def bf16_model(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"dtype": "bfloat16"}))
    return str(tmp_path)


def test_bfloat16_model_on_an_avx2_cpu_is_served_in_float32(bf16_model):
    assert resolve_dtype("auto", bf16_model, cpu_flags={"avx2", "fma"}, cuda=False) == "float32"


@pytest.mark.parametrize("flags", [{"avx512f", "avx512_bf16"}, {"amx_bf16", "amx_tile"}])
def test_bfloat16_model_keeps_its_dtype_where_the_cpu_has_bfloat16(bf16_model, flags):
    assert resolve_dtype("auto", bf16_model, cpu_flags=flags, cuda=False) == "auto"


def test_gpu_and_other_models_keep_their_dtype(bf16_model, tmp_path_factory):
    assert resolve_dtype("auto", bf16_model, cpu_flags=set(), cuda=True) == "auto"
    fp16 = tmp_path_factory.mktemp("fp16")
    (fp16 / "config.json").write_text(json.dumps({"torch_dtype": "float16"}))
    assert resolve_dtype("auto", str(fp16), cpu_flags=set(), cuda=False) == "auto"
    assert resolve_dtype("auto", "Qwen/Qwen2.5-7B-Instruct", cpu_flags=set(), cuda=False) == "auto"  # a hub name


def test_an_explicit_dtype_is_passed_to_the_server(bf16_model):
    assert resolve_dtype("bfloat16", bf16_model, cpu_flags=set(), cuda=False) == "bfloat16"
    server = VLLMServer(bf16_model, "m", dtype="float16", cpu_reserved_cores=0)
    assert server.args[server.args.index("--dtype") + 1] == "float16"
    assert "--dtype" not in VLLMServer("Qwen/Qwen2.5-7B-Instruct", "m").args
