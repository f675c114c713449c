"""The UART and the UART-to-Wishbone bridge of the board tops (host link)."""
