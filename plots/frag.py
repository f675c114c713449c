"""``mmaccel plot frag``: fragmentation over the operations of a trace, on one figure.

For a granule history (a ``gran_*`` trace or a churn): free granules, the longest free run
(what the next allocation can get at most) and the number of free runs, after every operation.
For a heap trace (``heap_*``, ``heaptest_*``): the model heap's ``mallinfo()`` fields of the same
meaning, in bytes and chunks: ``fordblks`` (free bytes), ``mxordblk`` (largest free chunk) and
``ordblks`` (free chunks). Free space and the largest free block share the top panel, so the
gap between the two lines is the free space that a single request cannot use.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .figure import DPI, pyplot, save
from .replay import GranHistory, HeapHistory

__all__ = ["FRAG_FIGSIZE", "draw_frag"]

#: Size (inches) of the fragmentation figure.
FRAG_FIGSIZE = (9.0, 6.5)


def _panels(
    title: str,
    top: Sequence[tuple[str, Sequence[int]]],
    share: tuple[str, Sequence[float]],
    runs: tuple[str, Sequence[int]],
    top_label: str,
    path: str | Path,
    fmt: str,
) -> Path:
    plt = pyplot()
    fig, (ax_top, ax_share, ax_runs) = plt.subplots(
        3, 1, figsize=FRAG_FIGSIZE, dpi=DPI, sharex=True, height_ratios=(2, 1.2, 1.2)
    )
    steps = range(len(share[1]))
    for label, values in top:
        ax_top.plot(steps, values, linewidth=0.9, label=label)
    ax_top.set_ylabel(top_label)
    ax_top.legend(fontsize=8, loc="best")
    ax_share.plot(steps, share[1], linewidth=0.9, color="tab:green")
    ax_share.set_ylabel(share[0])
    ax_share.set_ylim(0, 1.02)
    ax_runs.plot(steps, runs[1], linewidth=0.9, color="tab:red")
    ax_runs.set_ylabel(runs[0])
    ax_runs.set_ylim(bottom=0)
    ax_runs.set_xlabel("operations")
    axes: list[Any] = [ax_top, ax_share, ax_runs]
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.set_xlim(0, max(1, len(share[1]) - 1))
    fig.suptitle(title, fontsize=10)
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.08, top=0.93, hspace=0.12)
    return save(fig, path, fmt)


def _ratio(part: Sequence[int], whole: Sequence[int]) -> list[float]:
    return [p / w if w else 0.0 for p, w in zip(part, whole, strict=True)]


def draw_frag(history: GranHistory | HeapHistory, path: str | Path, fmt: str) -> Path:
    """The fragmentation figure of ``history`` (granule or heap) written to ``path``."""
    if isinstance(history, GranHistory):
        return _panels(
            f"fragmentation: {history.name} ({history.ngranules} granules, model)",
            [("free granules", history.nfree), ("longest free run", history.mxfree)],
            ("longest run / free", _ratio(history.mxfree, history.nfree)),
            ("free runs", history.nruns),
            "granules",
            path,
            fmt,
        )
    info = history.info
    fordblks = [i.fordblks for i in info]
    mxordblk = [i.mxordblk for i in info]
    return _panels(
        f"heap fragmentation: {history.name} (arena {info[-1].arena} bytes, model mallinfo)",
        [("free bytes (fordblks)", fordblks), ("largest free chunk (mxordblk)", mxordblk)],
        ("mxordblk / fordblks", _ratio(mxordblk, fordblks)),
        ("free chunks (ordblks)", [i.ordblks for i in info]),
        "bytes",
        path,
        fmt,
    )
