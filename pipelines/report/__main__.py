"""python -m pipelines.report DATASET_DIR [--no-embeddings] [--sample N]

Writes DATASET_DIR/quality_report.json, quality_report.html and README.md (a Hugging Face dataset
card) and prints their paths and the headline numbers. Exit status 2 on bad input: a missing
folder, no manifest.json, no Parquet shards under personas/.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pipelines.cli import cli_main
from pipelines.report import write_report
from pipelines.report.metrics import DEFAULT_SAMPLE


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines.report", description="Quality report and dataset card for a finished dataset folder."
    )
    parser.add_argument("dataset_dir", metavar="DATASET_DIR", help="a finished dataset folder (with manifest.json)")
    parser.add_argument(
        "--no-embeddings", action="store_true", help="skip the embedding diversity (no sentence-transformers model)"
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=DEFAULT_SAMPLE,
        metavar="N",
        help=f"embed at most N narratives, sampled at random (default {DEFAULT_SAMPLE})",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample and the audit's shuffles (default 0)")
    parser.add_argument("--license", default="apache-2.0", help="license id for the card's header (default apache-2.0)")
    parser.add_argument("--pretty-name", default=None, help="the card's pretty_name (default from the run name)")
    args = parser.parse_args(argv)
    if args.sample < 0:
        parser.error("--sample must be 0 or more")
    return args


def run(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    return write_report(
        args.dataset_dir,
        embeddings=not args.no_embeddings,
        sample=args.sample,
        seed=args.seed,
        license=args.license,
        pretty_name=args.pretty_name,
    )


def summary(result: dict[str, Any]) -> str:
    h = result["headline"]
    lines = [f"wrote {path}" for path in result["paths"].values()]
    lines += [
        f"accepted {h['accepted']} of {h['planned']} planned ({h['acceptance_rate']}), rejected {h['rejected']}",
        f"quota cells met {h['quota_cells_met']}, max |achieved - target| {h['quota_max_abs_deviation']}",
        f"mean attribute coverage {h['mean_attribute_coverage']}",
        f"distinct-1 {h['distinct_1']}, distinct-2 {h['distinct_2']}, mean words {h['mean_words']}",
        f"mean pairwise embedding distance {h['mean_pairwise_embedding_distance']}, "
        f"near-duplicate pair rate {h['near_duplicate_pair_rate']}",
        f"mean critic score {h['mean_critic_score']}",
    ]
    for attr, s in h["stereotype_flagged"].items():
        lines.append(f"stereotype audit {attr}: {s['flagged']} word(s) flagged ({s['expected_by_chance']} by chance)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return cli_main(run, argv, summary)


if __name__ == "__main__":
    sys.exit(main())
