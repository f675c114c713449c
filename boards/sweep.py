"""``mmaccel sweep``: build a grid of boards and sizes, then write the table and the plot.

Every point is a real build (:func:`~mmaccel.boards.build.build_board`); a point that does not
fit or fails is recorded with its error rather than stopping the sweep. The results go to
``<out>/boards-sweep.json`` (all figures), ``<out>/boards-sweep.md`` (the Markdown table that
docs/boards.md includes) and ``<out>/boards-sweep.png`` (Fmax and logic cells against the
number of granules, one line per board and TLB size; needs matplotlib).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mmaccel.sw.errors import InvalidArgument, MemoryManagerError

from .targets import BoardTarget

__all__ = ["DEFAULT_CLOCK_MHZ", "markdown_table", "plot_sweep", "run_sweep"]

#: The Fmax targets of the project, used as the nextpnr constraint in a sweep.
DEFAULT_CLOCK_MHZ = {"ice40": 40.0, "ecp5": 100.0}


def run_sweep(
    boards: Sequence[BoardTarget],
    granules: Sequence[int],
    tlb_entries: Sequence[int],
    *,
    out_dir: Path,
    build_root: Path,
    clock_mhz: float | None = None,
    plot: bool = True,
    progress: Callable[[str], None] | None = None,
) -> list[dict[str, Any]]:
    """Build every (board, granules, TLB entries) point and write the results.

    Rows already in ``<out>/boards-sweep.json`` for other points are kept, so sweeps of
    different boards add up; the files are rewritten after every point. Returns all rows of
    the table.
    """
    from .build import build_board

    say = progress or (lambda text: None)
    if not boards or not granules or not tlb_entries:
        raise InvalidArgument("a sweep needs at least one board, granule count and TLB size")
    table: list[dict[str, Any]] = []
    points = [(b, g, t) for b in boards for g in granules for t in tlb_entries if g or t]
    for index, (board, g, t) in enumerate(points, 1):
        mhz = clock_mhz if clock_mhz is not None else DEFAULT_CLOCK_MHZ[board.family]
        row: dict[str, Any] = {
            "board": board.name,
            "granules": g,
            "tlb_entries": t,
            "clock_mhz": mhz,
        }
        say(f"sweep {index}/{len(points)}: {board.name} granules={g} tlb={t} @ {mhz} MHz")
        try:
            config = board.config(granules=g, tlb_entries=t)
            result = build_board(
                board,
                config,
                build_dir=build_root / f"{board.name}-{config.label()}",
                progress=say,
                clock_mhz=mhz,
            )
        except (MemoryManagerError, RuntimeError, ValueError) as error:
            row["error"] = str(error).splitlines()[0]
            say(f"  failed: {row['error']}")
        else:
            row.update(
                fmax_mhz=min(result.fmax_mhz.values()) if result.fmax_mhz else None,
                fmax_per_clock=result.fmax_mhz,
                board_clock_mhz=result.board_clock_mhz,
                luts=result.luts,
                ffs=result.ffs,
                brams=result.brams,
                utilization=result.utilization,
                timing_met=result.timing_met,
                target_met=bool(result.fmax_mhz) and min(result.fmax_mhz.values()) >= mhz,
                ptmem_bytes=config.ptmem_bytes,
                seconds=result.seconds,
            )
        # Written after every point, so an interrupted sweep keeps what it measured.
        table = _write(out_dir, [row])
    say(f"wrote {out_dir / 'boards-sweep.md'} and {out_dir / 'boards-sweep.json'}")
    if plot:
        png = out_dir / "boards-sweep.png"
        plot_sweep(table, png)
        say(f"wrote {png}")
    return table


def _write(out_dir: Path, new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge ``new`` into ``boards-sweep.json`` and rewrite it and ``boards-sweep.md``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = _merge(out_dir / "boards-sweep.json", new)
    (out_dir / "boards-sweep.json").write_text(json.dumps(rows, indent=2) + "\n")
    (out_dir / "boards-sweep.md").write_text(markdown_table(rows))
    return rows


def _merge(path: Path, new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows already in ``path`` with those of ``new`` replacing the same points."""
    old: list[dict[str, Any]] = []
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except ValueError:
            old = []

    def key(r: dict[str, Any]) -> tuple[str, int, int]:
        return (str(r["board"]), int(r["granules"]), int(r["tlb_entries"]))

    fresh = {key(r) for r in new}
    merged = [r for r in old if key(r) not in fresh] + list(new)
    return sorted(merged, key=key)


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """The sweep as a Markdown table (one line per build)."""
    out = [
        "| board | granules | TLB entries | logic cells | FFs | BRAMs | Fmax (MHz) "
        "| constraint (MHz) | meets constraint | meets board clock |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        head = f"| {r['board']} | {r['granules'] or '-'} | {r['tlb_entries'] or '-'} "
        if "error" in r:
            reason = str(r["error"]).split("; log:")[0]
            if "does not fit" in reason:
                reason = "does not fit" + reason.split("does not fit", 1)[1]
            out.append(head + f"| {reason} | | | | {r['clock_mhz']:g} | | |")
            continue
        out.append(
            head + f"| {r['luts']} | {r['ffs']} | {r['brams']} | {r['fmax_mhz']:.1f} "
            f"| {r['clock_mhz']:g} | {'yes' if r['target_met'] else '**no**'} "
            f"| {'yes' if r['timing_met'] else '**no**'} |"
        )
    return "\n".join(out) + "\n"


def plot_sweep(rows: Sequence[dict[str, Any]], path: Path) -> None:
    """Fmax and logic cells against granules, one line per (board, TLB entries).

    Raises
    ------
    MemoryManagerError
        matplotlib is not installed (``pip install matplotlib``, or the ``plot`` extra).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MemoryManagerError(
            "the sweep plot needs matplotlib: pip install matplotlib (or run with --no-plot)"
        ) from None
    fig, axes = plt.subplots(2, 2, figsize=(11, 8))
    ok = [r for r in rows if "error" not in r]
    # Top row: against granules, one line per (board, TLB entries); bottom row: against TLB
    # entries, one line per (board, granules).
    for row_axes, x_key, group_key, x_label in (
        (axes[0], "granules", "tlb_entries", "granules"),
        (axes[1], "tlb_entries", "granules", "TLB entries"),
    ):
        series: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for r in ok:
            if r[x_key]:
                series.setdefault((r["board"], r[group_key]), []).append(r)
        for (board, group), points in sorted(series.items()):
            points.sort(key=lambda r: r[x_key])
            xs = [r[x_key] for r in points]
            if group_key == "tlb_entries":
                label = f"{board}, TLB {group}" if group else f"{board}, no MMU"
            else:
                label = f"{board}, {group} granules" if group else f"{board}, no allocator"
            row_axes[0].plot(xs, [r["fmax_mhz"] for r in points], marker="o", label=label)
            row_axes[1].plot(xs, [r["luts"] for r in points], marker="o", label=label)
        for ax, title in (
            (row_axes[0], "Fmax (MHz, nextpnr)"),
            (row_axes[1], "logic cells (iCE40 LC / ECP5 TRELLIS_COMB)"),
        ):
            ax.set_xscale("log", base=2)
            ax.set_xlabel(x_label)
            ax.set_title(title)
            ax.grid(True, alpha=0.3)
            if ax.lines:
                ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
