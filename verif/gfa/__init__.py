"""Verification of the granule allocator: the model reference, stimulus, test benches, runs."""
