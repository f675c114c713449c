"""``mmaccel sweep``: build a grid of boards and sizes, then write the table and the plot.

Every point is a real build (:func:`~mmaccel.boards.build.build_board`); a point that does not
fit or fails is recorded with its error rather than stopping the sweep. The results go to
``<out>/boards-sweep.json`` (all figures), ``<out>/boards-sweep.md`` (the Markdown table that
docs/boards.md includes) and ``<out>/boards-sweep.png`` (Fmax and logic cells against the
number of granules, one column of panels per FPGA family, the targets drawn; needs matplotlib;
``mmaccel plot sweep`` redraws it from the JSON).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mmaccel.sw.errors import InvalidArgument, MemoryManagerError

from .targets import BoardTarget

__all__ = [
    "DEFAULT_CLOCK_MHZ",
    "SWEEP_DPI",
    "SWEEP_FIGSIZE",
    "markdown_table",
    "plot_sweep",
    "read_sweep",
    "run_sweep",
]

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


#: Size (inches) and resolution of the sweep plot; a PNG is exactly their product in pixels.
SWEEP_FIGSIZE = (11.0, 7.5)
SWEEP_DPI = 100

#: The logic-cell resource each family's LUT count is (the units of the bottom row).
CELL_RESOURCE = {"ice40": "ICESTORM_LC", "ecp5": "TRELLIS_COMB"}


def read_sweep(path: Path) -> list[dict[str, Any]]:
    """The rows of a ``boards-sweep.json`` (as :func:`run_sweep` writes it), checked.

    Raises
    ------
    InvalidArgument
        The file cannot be read, is not JSON, or is not a list of sweep points.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidArgument(f"cannot read {path}: {error}") from None
    try:
        rows = json.loads(text)
    except ValueError as error:
        raise InvalidArgument(f"{path} is not JSON ({error})") from None
    if not isinstance(rows, list) or not all(
        isinstance(r, dict) and {"board", "granules", "tlb_entries"} <= r.keys() for r in rows
    ):
        raise InvalidArgument(
            f"{path}: expected a list of sweep points (board, granules, tlb_entries), as "
            "mmaccel sweep writes boards-sweep.json"
        )
    return rows


def _family(board: str) -> str:
    from .targets import BOARDS

    target = BOARDS.get(board)
    return target.family if target is not None else board


def plot_sweep(rows: Sequence[dict[str, Any]], path: Path, *, fmt: str = "png") -> None:
    """Fmax (top) and logic cells (bottom) against granules, one column per FPGA family.

    Logic cells of different families are different units (an iCE40 LC is a LUT4 and a
    flip-flop; ECP5's TRELLIS_COMB a LUT4 slice half), so each family has its own panels. One
    line per (board, TLB entries); builds without the allocator (the MMU alone) sit at the
    left, at "none". The family's Fmax target (:data:`DEFAULT_CLOCK_MHZ`: 40 MHz iCE40, 100
    MHz ECP5) is a dashed line; a point below it is circled in red, a build that failed
    (does not fit, place and route) is an x at 0 MHz. The device's logic cells, when the rows
    have them, are in the bottom titles (and a dotted line when the points come near it).

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
    import math

    families = sorted({_family(str(r["board"])) for r in rows}) or ["ice40"]
    fig, axes = plt.subplots(
        2, len(families), figsize=SWEEP_FIGSIZE, dpi=SWEEP_DPI, squeeze=False, sharex="col"
    )
    for col, family in enumerate(families):
        ax_f, ax_l = axes[0][col], axes[1][col]
        mine = [r for r in rows if _family(str(r["board"])) == family]
        sizes = sorted({int(r["granules"]) for r in mine if r["granules"]})
        low = math.log2(sizes[0]) if sizes else 10.0

        def x_of(g: int, low: float = low) -> float:
            return math.log2(g) if g else low - 2

        target = DEFAULT_CLOCK_MHZ.get(family)
        series: dict[tuple[str, int], list[dict[str, Any]]] = {}
        for r in mine:
            series.setdefault((str(r["board"]), int(r["tlb_entries"])), []).append(r)
        missed = failed = False
        for (board, tlb), points in sorted(series.items()):
            points.sort(key=lambda r: int(r["granules"]))
            ok = [r for r in points if "error" not in r and r.get("fmax_mhz") is not None]
            label = f"{board}, TLB {tlb}" if tlb else f"{board}, no MMU"
            xs = [x_of(int(r["granules"])) for r in ok]
            (line,) = ax_f.plot(xs, [r["fmax_mhz"] for r in ok], marker="o", label=label)
            ax_l.plot(xs, [r["luts"] for r in ok], marker="o", color=line.get_color())
            for r in ok:
                if target is not None and float(r["fmax_mhz"]) < target:
                    ax_f.plot(
                        x_of(int(r["granules"])),
                        r["fmax_mhz"],
                        "o",
                        markersize=14,
                        markerfacecolor="none",
                        markeredgecolor="tab:red",
                        markeredgewidth=2,
                        label=None if missed else "misses the target",
                    )
                    missed = True
            for r in points:
                if "error" in r:
                    ax_f.plot(
                        x_of(int(r["granules"])),
                        0,
                        "x",
                        markersize=10,
                        markeredgewidth=2,
                        color=line.get_color(),
                        label=None if failed else "build failed (x at 0)",
                        clip_on=False,
                    )
                    failed = True
        if target is not None:
            ax_f.axhline(
                target,
                color="tab:red",
                linestyle="--",
                linewidth=1.2,
                label=f"target {target:g} MHz",
            )
        capacities = sorted(
            {
                int(r["utilization"][CELL_RESOURCE[family]]["available"])
                for r in mine
                if CELL_RESOURCE.get(family) in r.get("utilization", {})
            }
        )
        most = max([int(r["luts"]) for r in mine if "error" not in r and r.get("luts")] or [0])
        for cap in capacities:
            if most < cap / 4:  # a line far above the points would flatten them
                continue
            ax_l.axhline(cap, color="grey", linestyle=":", linewidth=1.2)
            ax_l.annotate(
                f"device: {cap} cells",
                (0.01, cap),
                xycoords=("axes fraction", "data"),
                fontsize=7,
                va="top",
                color="grey",
            )
        ticks = ([x_of(0)] if any(not r["granules"] for r in mine) else []) + [
            x_of(g) for g in sizes
        ]
        names = (["none"] if any(not r["granules"] for r in mine) else []) + [str(g) for g in sizes]
        ax_l.set_xticks(ticks, names)
        ax_l.set_xlabel("granules (log scale; none = the MMU alone)")
        ax_f.set_ylim(bottom=0)
        ax_l.set_ylim(bottom=0)
        unit = CELL_RESOURCE.get(family, "cells")
        ax_f.set_title(f"{family}: Fmax (MHz, nextpnr)", fontsize=10)
        of = f", device {'/'.join(str(c) for c in capacities)}" if capacities else ""
        ax_l.set_title(f"{family}: logic cells ({unit}{of})", fontsize=10)
        ax_f.set_ylabel("Fmax (MHz)")
        ax_l.set_ylabel(unit)
        for ax in (ax_f, ax_l):
            ax.grid(True, alpha=0.3)
        ax_f.legend(fontsize=7, loc="lower left")
    fig.suptitle("mmaccel sweep: size and Fmax per FPGA family", fontsize=11)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.08, top=0.91, hspace=0.25, wspace=0.2)
    metadata = {"Date": None} if fmt == "svg" else None
    try:
        fig.savefig(path, format=fmt, dpi=SWEEP_DPI, metadata=metadata)
    finally:
        plt.close(fig)
