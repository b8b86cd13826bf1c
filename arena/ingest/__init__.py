"""Data coming in: the record reader shared by every importer (JSONL, CSV, Parquet, one-line errors naming the
record), importers of prompts, replies, votes (LMArena schema) and model-level EQ scores, EQ-Bench 4
transcripts, the catalog that finds or makes models, prompts and replies, and the demo bank. Every import is all
or nothing and idempotent. It may import arena.models, arena.db and arena.taxonomy only: it is the bottom layer
the other capability packages build on."""
