"""Verification of the MMU: the model reference, workload, test benches, runs."""
