"""Writing: Parquet shards, per-shard statistics and the run manifest."""
