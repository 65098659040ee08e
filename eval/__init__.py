"""Evaluation and benchmarks for kontakt (uses `bot` as a library)."""
