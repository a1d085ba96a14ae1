"""Attribute sampling benchmark: personas per second for the shipped taxonomy, and quota accuracy.

    python benchmarks/bench_sampling.py [--num_personas 1000000]

Prints, side by side in one run: the bare vectorised sampler in this process, and the
`sample_attributes` Beam pipeline (2 worker processes) writing Parquet; the quota accuracy (maximum
absolute deviation between planned and sampled counts over all cells, which must be 0) and the KL
divergence of sampled vs target marginals per categorical attribute.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pipelines import sample_attributes  # noqa: E402
from pipelines.config import load_config  # noqa: E402
from pipelines.sampling import population  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", default="configs/default.yaml")
    parser.add_argument("--num_personas", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    n = args.num_personas

    config = load_config(args.config, {"run": {"num_personas": n}})
    t0 = time.perf_counter()
    pop = population(config)
    plan_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for start in range(0, n, 50_000):
        pop.sampler.sample_block(start, min(start + 50_000, n))
    core_s = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as out:
        t0 = time.perf_counter()
        manifest = sample_attributes.run(
            [
                "--config", args.config, "--num_personas", str(n), "--output", out,
                "--rows_per_shard", str(max(1, n // (4 * args.workers))),
                "--direct_running_mode=multi_processing", f"--direct_num_workers={args.workers}",
            ]
        )  # fmt: skip
        pipe_s = time.perf_counter() - t0

    attrs = len(pop.taxonomy.attributes)
    print(f"\n== attribute sampling: {n:,} personas, {attrs} attributes, {len(pop.plan.cells)} quota cells ==")
    print(f"plan + feasibility probe        {plan_s:8.2f} s")
    print(f"bare sampler (1 process)        {core_s:8.2f} s   {n / core_s:12,.0f} personas/s")
    print(f"sample_attributes pipeline      {pipe_s:8.2f} s   {n / pipe_s:12,.0f} personas/s "
          f"({args.workers} workers, Parquet written)")  # fmt: skip
    print(f"pipeline / bare sampler rate    {core_s / pipe_s:8.2f}")
    print(f"quota max |planned - sampled|   {manifest['quota_max_abs_deviation']:8d}   (must be 0)")
    kl = manifest["kl_divergence"]
    print(f"KL(sampled || target), max      {max(kl.values()):8.2e}   over {len(kl)} categorical attributes")
    for path, value in sorted(kl.items(), key=lambda kv: -kv[1]):
        print(f"    {path:45s} {value:.2e}")
    return 0 if manifest["quota_max_abs_deviation"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
