"""Benchmarks of the software model (ops/s, JSON)."""
