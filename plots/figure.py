"""What every plot shares: loading matplotlib, output formats, colours and saving.

Figures are saved at :data:`DPI` without tight bounding boxes, so a PNG is exactly
``figsize * DPI`` pixels (the tests check that).
"""

from __future__ import annotations

import colorsys
from pathlib import Path
from typing import Any

from mmaccel.sw.errors import InvalidArgument

__all__ = [
    "DPI",
    "FORMATS",
    "FREE_RGB",
    "output_format",
    "pyplot",
    "run_rgb",
    "save",
]

#: Pixels per inch of every figure.
DPI = 100

#: Output formats by file suffix (GIF only for animations).
FORMATS = ("png", "svg", "gif")

#: Colour of a free granule.
FREE_RGB = (0.93, 0.93, 0.93)


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg back end (no display needed).

    Raises
    ------
    ImportError
        matplotlib is not installed (``pip install 'mmaccel[plot]'``).
    """
    try:
        import matplotlib
    except ImportError as error:
        raise ImportError(
            f"plots need matplotlib ({error}): pip install matplotlib, or the plot extra"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def output_format(
    path: str | Path, fmt: str | None = None, *, allowed: tuple[str, ...] = ("png", "svg")
) -> str:
    """The format to write ``path`` in: ``fmt`` if given, else the file's suffix, else PNG.

    Raises
    ------
    InvalidArgument
        ``fmt`` or the suffix names a format that is not in ``allowed``.
    """
    if fmt is not None:
        fmt = fmt.lower()
        if fmt not in allowed:
            raise InvalidArgument(f"unknown format {fmt!r}; use one of {', '.join(allowed)}")
        return fmt
    suffix = Path(path).suffix.lower().lstrip(".")
    if not suffix:
        return "png"
    if suffix not in allowed:
        raise InvalidArgument(
            f"cannot tell the format of {str(path)!r} (suffix .{suffix}); name it "
            f"{' or '.join('.' + a for a in allowed)}, or give --format"
        )
    return suffix


def run_rgb(serial: int) -> tuple[float, float, float]:
    """The colour of allocation number ``serial``: hues a golden angle apart, so that runs
    made one after the other never look alike."""
    hue = (serial * 0.6180339887) % 1.0
    sat = 0.55 + 0.25 * ((serial * 7) % 3) / 2
    val = 0.92 - 0.22 * ((serial * 5) % 4) / 3
    return colorsys.hsv_to_rgb(hue, sat, val)


def save(fig: Any, path: str | Path, fmt: str) -> Path:
    """Save ``fig`` to ``path`` as ``fmt`` at :data:`DPI` and close it."""
    plt = pyplot()
    out = Path(path)
    metadata = {"Date": None} if fmt == "svg" else None
    try:
        fig.savefig(out, format=fmt, dpi=DPI, metadata=metadata)
    finally:
        plt.close(fig)
    return out
