"""Simulation of the SoC: the image loader, trace reader and the test benches of its firmware."""
