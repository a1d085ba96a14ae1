"""Writing: Parquet and CSV shards with per-shard statistics (shards.py) and the run manifest and
run identity for --resume (manifest.py)."""
