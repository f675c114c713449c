"""Firmware for the blocks: the C driver that ships with mmaccel, the SoC's firmware, and the
PyPI-only RISC-V toolchain that builds them (``ziglang``).

The C sources are package data (``include/``, ``driver/``, ``soc/``); nothing here is a
committed binary: every image is compiled from source at test or build time.
"""
