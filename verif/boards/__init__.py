"""Verification of the board tops: a simulated serial port for the real host driver."""
