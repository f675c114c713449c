"""FPGA board targets for the accelerator (amaranth-boards, YoWASP tools)."""
