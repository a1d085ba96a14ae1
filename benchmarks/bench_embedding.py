"""Embedding throughput of the bundled sentence model on CPU, side by side in one run:

    python benchmarks/bench_embedding.py [--repeat 3]

Texts: the sentences and whole narratives of the critic's evaluation sets
(tests/fixtures/critic_eval), i.e. what the grounding expert and dedup embed. Prints:

- texts/s and texts/s per core for float32 and bfloat16 autocast (bfloat16 is marked "emulated"
  when this CPU has no native bfloat16; `PERSONA_EMBED_PRECISION=auto` then keeps float32), in
  critic-sized calls (10 texts) and dedup-sized batches (64);
- two worker processes embedding at once, each with every core's threads (torch's default)
  against cores / 2 threads each (what the build sets for the multi-process direct runner);
- the agreement of bfloat16 with float32: cosine per text (min, mean), and the grounding
  expert's verdicts on every evaluation narrative under both precisions (how many differ).

Nothing is asserted; the numbers are for the README and the closing notes.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import sys
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipelines.common.embedding import embed_texts, load_embedder, native_bfloat16  # noqa: E402

MODEL = "bundled:all-MiniLM-L6-v2"
EVAL = REPO / "tests" / "fixtures" / "critic_eval"


def eval_items() -> list[dict]:
    items = []
    for path in sorted(EVAL.glob("narratives_*.yaml")):
        items += yaml.safe_load(path.read_text(encoding="utf-8"))["items"]
    return items


def corpus(items: list[dict]) -> list[str]:
    texts = []
    for it in items:
        texts += [s for s in re.split(r"(?<=[.!?])\s+", it["text"]) if len(s.split()) >= 3]
        texts.append(it["text"])
    return texts


def rate(model, texts: list[str], batch: int, repeat: int) -> float:
    embed_texts(model, texts[:batch], batch)  # warm
    best = 0.0
    for _ in range(repeat):
        t0 = time.perf_counter()
        for s in range(0, len(texts), batch):
            embed_texts(model, texts[s : s + batch], batch)
        best = max(best, len(texts) / (time.perf_counter() - t0))
    return best


def _worker(threads: int, texts: list[str], out) -> None:
    import torch

    torch.set_num_threads(threads)
    model = load_embedder(MODEL)
    embed_texts(model, texts[:10], 10)
    out.put(None)  # loaded: wait for the sibling
    t0 = time.perf_counter()
    for s in range(0, len(texts), 10):
        embed_texts(model, texts[s : s + 10], 10)
    out.put(len(texts) / (time.perf_counter() - t0))


def two_processes(threads: int, texts: list[str]) -> float:
    """Texts/s of both processes together, each embedding `texts` in critic-sized calls."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(threads, texts, out)) for _ in range(2)]
    for p in procs:
        p.start()
    rates = [r for r in (out.get() for _ in range(4)) if r is not None]
    for p in procs:
        p.join()
    return sum(rates)


def grounding_verdicts(items: list[dict], precision: str) -> list[bool]:
    from pipelines.common import embedding
    from pipelines.critique.narrative.grounding import grounding

    os.environ[embedding.PRECISION_ENV] = precision
    embed = embedding.SentenceEmbedder(MODEL)
    return [not grounding(it["text"], it["attrs"], embed).findings for it in items]


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    items = eval_items()
    texts = corpus(items)
    native = native_bfloat16()
    print(f"embedding benchmark: {MODEL}, {len(texts)} texts, {cores} cores, torch {torch.__version__}, "
          f"native bfloat16: {'yes' if native else 'no'}")  # fmt: skip
    fp32 = load_embedder(MODEL, "float32")
    bf16 = load_embedder(MODEL, "bfloat16")
    rates = {}
    for name, model in (("float32", fp32), ("bfloat16" if native else "bfloat16 (emulated)", bf16)):
        for batch in (10, 64):
            rates[name, batch] = r = rate(model, texts, batch, args.repeat)
            print(f"  {name:20s} batch {batch:2d}: {r:7.1f} texts/s, {r / cores:6.1f} per core")
    for batch in (10, 64):
        names = list(dict.fromkeys(n for n, _ in rates))
        print(f"  ratio bfloat16 / float32, batch {batch}: {rates[names[1], batch] / rates[names[0], batch]:.2f}")
    ref = embed_texts(fp32, texts)
    low = embed_texts(bf16, texts)
    cos = (ref * low).sum(axis=1)
    print(f"  bfloat16 vs float32 cosine per text: min {cos.min():.5f}, mean {cos.mean():.5f}")
    a = grounding_verdicts(items, "float32")
    b = grounding_verdicts(items, "bfloat16")
    differ = sum(x != y for x, y in zip(a, b, strict=True))
    print(f"  grounding verdicts on {len(items)} evaluation narratives: {differ} differ between the precisions")
    sample = texts[:300]
    full = two_processes(cores, sample)
    shared = two_processes(max(1, cores // 2), sample)
    print(f"two worker processes at once (float32, calls of 10): {cores} threads each {full:.1f} texts/s, "
          f"{max(1, cores // 2)} each {shared:.1f} texts/s, ratio {shared / full:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
