"""Verification: cocotb runner, test benches, model references, stimulus, proofs, benchmarks."""
