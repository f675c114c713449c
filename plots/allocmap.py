"""``mmaccel plot map``: the allocation map of a granule allocator as a picture.

One cell per granule, row by row (granule ``k`` at row ``k // cols``, column ``k % cols``);
each live allocation is one colour (by the order it was made, hues a golden angle apart, so
neighbours differ), free granules light grey. With a hardware map (read from the gateware's
debug port), a granule where the hardware and the model disagree is drawn pure red and the
count goes into the title. Over a history, :func:`draw_frames` makes a strip of snapshots and
:func:`draw_animation` an animated GIF (matplotlib's PillowWriter; Pillow comes with
matplotlib).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mmaccel.sw.errors import InvalidArgument

from .figure import DPI, FREE_RGB, pyplot, run_rgb, save
from .replay import GranHistory, Snapshot, free_runs

__all__ = [
    "MAP_FIGSIZE",
    "MISMATCH_RGB",
    "draw_animation",
    "draw_frames",
    "draw_map",
    "frames_figsize",
    "grid_columns",
    "map_rgb",
]

#: Size (inches) of a single map; PNG pixels are this times :data:`~.figure.DPI`.
MAP_FIGSIZE = (10.0, 5.5)

#: Size (inches) of one frame of a strip.
FRAME_SIZE = (4.0, 2.5)

#: Frames per row of a strip.
FRAMES_PER_ROW = 4

#: A granule where the hardware's map differs from the model's.
MISMATCH_RGB = (1.0, 0.0, 0.0)

#: Cells past the last granule (when the count is not a multiple of the columns).
OUTSIDE_RGB = (1.0, 1.0, 1.0)


def grid_columns(ngranules: int) -> int:
    """Columns of the map: the power of two near ``sqrt(2 * ngranules)`` (about 2:1 wide)."""
    if ngranules < 1:
        raise InvalidArgument(f"a map needs at least one granule, not {ngranules}")
    cols = 1 << max(0, math.ceil(math.log2(math.sqrt(2 * ngranules))))
    return min(cols, ngranules)


def frames_figsize(frames: int) -> tuple[float, float]:
    """Size (inches) of a strip of ``frames`` maps."""
    per_row = min(frames, FRAMES_PER_ROW)
    rows = math.ceil(frames / FRAMES_PER_ROW)
    return (FRAME_SIZE[0] * per_row, FRAME_SIZE[1] * rows + 0.6)


def map_rgb(ngranules: int, snap: Snapshot, *, hardware_free: int | None = None) -> tuple[Any, int]:
    """The map as an RGB array (rows x cols x 3) and the number of hardware mismatches."""
    import numpy as np

    cols = grid_columns(ngranules)
    rows = math.ceil(ngranules / cols)
    cells = np.empty((rows * cols, 3))
    cells[:] = OUTSIDE_RGB
    cells[:ngranules] = FREE_RGB
    for run in snap.runs:
        cells[run.index : run.index + run.count] = run_rgb(run.serial)
    bad = 0
    if hardware_free is not None:
        differ = (hardware_free ^ snap.free_map) & ((1 << ngranules) - 1)
        bad = differ.bit_count()
        while differ:
            low = differ & -differ
            cells[low.bit_length() - 1] = MISMATCH_RGB
            differ ^= low
    return cells.reshape(rows, cols, 3), bad


def _title(history: GranHistory, snap: Snapshot, bad: int | None) -> str:
    n = history.ngranules
    used = n - snap.free_map.bit_count()
    text = (
        f"after {snap.step} of {history.steps} operations: {used} of {n} granules used "
        f"({100 * used / n:.0f}%), {free_runs(snap.free_map)} free runs, "
        f"{len(snap.runs)} live allocations"
    )
    if bad is not None:
        text += f"; hardware map: {bad} granules differ" if bad else "; hardware map identical"
    return text


def _draw(ax: Any, history: GranHistory, snap: Snapshot, hardware_free: int | None) -> Any:
    rgb, bad = map_rgb(history.ngranules, snap, hardware_free=hardware_free)
    rows, cols = rgb.shape[0], rgb.shape[1]
    image = ax.imshow(rgb, interpolation="nearest", aspect="auto")
    if history.ngranules <= 1024:
        ax.set_xticks([x - 0.5 for x in range(cols + 1)], minor=True)
        ax.set_yticks([y - 0.5 for y in range(rows + 1)], minor=True)
        ax.grid(which="minor", color="white", linewidth=0.6)
        ax.tick_params(which="minor", length=0)
    step = max(1, rows // 8)
    ax.set_yticks(range(0, rows, step), [str(r * cols) for r in range(0, rows, step)])
    ax.set_ylabel("first granule of the row")
    ax.set_xlabel(f"granule index mod {cols}")
    ax.set_title(_title(history, snap, bad if hardware_free is not None else None), fontsize=8)
    return image


def draw_map(
    history: GranHistory,
    path: str | Path,
    fmt: str,
    *,
    hardware: Mapping[int, int] | None = None,
    hardware_name: str = "gateware in simulation",
) -> Path:
    """The map of the last snapshot of ``history`` (``hardware``: the hardware's free map by
    step, compared cell by cell; ``hardware_name`` says where it comes from)."""
    if not history.snapshots:
        raise InvalidArgument(f"{history.name}: no snapshot to draw")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=MAP_FIGSIZE, dpi=DPI)
    last = history.snapshots[-1]
    _draw(ax, history, last, None if hardware is None else hardware[last.step])
    source = "model" if hardware is None else f"{hardware_name}, against the model"
    fig.suptitle(
        f"allocation map ({source}): {history.name}, {history.ngranules} granules of "
        f"{1 << history.log2gran} bytes"
    )
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.1, top=0.88)
    return save(fig, path, fmt)


def draw_frames(
    history: GranHistory,
    path: str | Path,
    fmt: str,
    *,
    hardware: Mapping[int, int] | None = None,
    hardware_name: str = "gateware in simulation",
) -> Path:
    """The snapshots of ``history`` side by side, :data:`FRAMES_PER_ROW` to a row."""
    snaps: Sequence[Snapshot] = history.snapshots
    if not snaps:
        raise InvalidArgument(f"{history.name}: no snapshot to draw")
    plt = pyplot()
    per_row = min(len(snaps), FRAMES_PER_ROW)
    rows = math.ceil(len(snaps) / FRAMES_PER_ROW)
    fig, axes = plt.subplots(
        rows, per_row, figsize=frames_figsize(len(snaps)), dpi=DPI, squeeze=False
    )
    for k, ax in enumerate(axes.flat):
        if k >= len(snaps):
            ax.axis("off")
            continue
        snap = snaps[k]
        hw = None if hardware is None else hardware[snap.step]
        rgb, bad = map_rgb(history.ngranules, snap, hardware_free=hw)
        ax.imshow(rgb, interpolation="nearest", aspect="auto")
        ax.set_xticks([])
        ax.set_yticks([])
        used = history.ngranules - snap.free_map.bit_count()
        ax.set_title(
            f"op {snap.step}: {100 * used / history.ngranules:.0f}% used, "
            f"{free_runs(snap.free_map)} free runs"
            + ("" if hw is None else f", hardware {'differs: ' + str(bad) if bad else 'same'}"),
            fontsize=8,
        )
    source = "model" if hardware is None else f"{hardware_name} against the model"
    fig.suptitle(
        f"allocation map ({source}) over {history.steps} operations: {history.name}", fontsize=10
    )
    fig.subplots_adjust(
        left=0.02,
        right=0.98,
        bottom=0.03,
        top=1 - 0.6 / fig.get_figheight(),
        hspace=0.3,
        wspace=0.05,
    )
    return save(fig, path, fmt)


def draw_animation(
    history: GranHistory,
    path: str | Path,
    *,
    fps: int = 2,
    hardware: Mapping[int, int] | None = None,
    hardware_name: str = "gateware in simulation",
) -> Path:
    """The snapshots of ``history`` as an animated GIF (one frame per snapshot).

    Raises
    ------
    ImportError
        Pillow is missing (matplotlib's PillowWriter needs it).
    """
    if not history.snapshots:
        raise InvalidArgument(f"{history.name}: no snapshot to draw")
    plt = pyplot()
    import PIL  # noqa: F401  (PillowWriter's dependency: fail early with a clear message)
    from matplotlib.animation import PillowWriter

    fig, ax = plt.subplots(figsize=MAP_FIGSIZE, dpi=DPI)
    source = "model" if hardware is None else f"{hardware_name}, against the model"
    fig.suptitle(f"allocation map ({source}): {history.name}, {history.ngranules} granules")
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.1, top=0.88)
    out = Path(path)
    writer = PillowWriter(fps=fps)
    try:
        with writer.saving(fig, str(out), DPI):
            for snap in history.snapshots:
                ax.clear()
                _draw(ax, history, snap, None if hardware is None else hardware[snap.step])
                writer.grab_frame()
    finally:
        plt.close(fig)
    return out
