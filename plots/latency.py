"""``mmaccel plot latency``: the allocator's cycles per operation from ``mmaccel bench gfa --json``.

Left: cycles per operation by kind (allocations and frees, all and those of at most 32
granules, other requests): mean, 99th percentile and maximum, as the bench reports them; when
the JSON also holds per-cycle counts (a ``histograms`` object: kind -> {cycles: count}), a
histogram of them instead. Right: the longest alloc/free of at most 32 granules in each tenth of
occupancy (the fraction of granules in use when the request was made). Both draw the target:
at most :data:`TARGET_CYCLES` cycles for an allocation or a free of up to 32 granules at 32768
granules (README, figures and targets), drawn over the kinds it applies to; a bar of those
over it is hatched and outlined in red.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmaccel.sw.errors import InvalidArgument

from .figure import DPI, pyplot, save

__all__ = ["LATENCY_FIGSIZE", "TARGET_CYCLES", "draw_latency", "read_bench"]

#: Size (inches) of the latency figure.
LATENCY_FIGSIZE = (11.0, 4.8)

#: The allocator's target: alloc/free of at most 32 granules within this many cycles at 32768
#: granules, at any occupancy.
TARGET_CYCLES = 48

#: The kinds of operation of the bench's JSON (key, label).
KINDS = (
    ("alloc_cycles", "alloc"),
    ("free_cycles", "free"),
    ("alloc_upto32_cycles", "alloc <= 32"),
    ("free_upto32_cycles", "free <= 32"),
    ("other_cycles", "other"),
)

#: The keys :func:`read_bench` requires.
REQUIRED = ("granules", "alloc_cycles", "free_cycles", "alloc_free_upto32_max_by_occupancy")


def read_bench(path: str | Path) -> dict[str, Any]:
    """The JSON object of ``mmaccel bench gfa --json`` in ``path``, checked.

    Raises
    ------
    InvalidArgument
        The file cannot be read, is not JSON, or is not a ``bench gfa`` result.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidArgument(f"cannot read {path}: {error}") from None
    try:
        data = json.loads(text)
    except ValueError as error:
        raise InvalidArgument(f"{path} is not JSON ({error})") from None
    if not isinstance(data, dict):
        raise InvalidArgument(f"{path}: expected the JSON object of mmaccel bench gfa --json")
    missing = [k for k in REQUIRED if k not in data]
    if missing:
        raise InvalidArgument(
            f"{path}: not a mmaccel bench gfa --json result (no {', '.join(missing)})"
        )
    for key, _ in KINDS:
        stats = data.get(key, {"mean": 0, "p99": 0, "max": 0})
        if not isinstance(stats, dict) or not all(
            isinstance(stats.get(s), int | float) for s in ("mean", "p99", "max")
        ):
            raise InvalidArgument(f"{path}: {key} must hold mean, p99 and max, not {stats!r}")
    if not isinstance(data["alloc_free_upto32_max_by_occupancy"], dict):
        raise InvalidArgument(f"{path}: alloc_free_upto32_max_by_occupancy must be an object")
    return data


def _target(ax: Any, x: tuple[float, float] | None = None) -> None:
    """The target as a dashed line (over ``x`` only, when given: the kinds it applies to)."""
    label = f"target {TARGET_CYCLES} cycles (<= 32 granules, at 32768 granules)"
    style = {"color": "tab:red", "linestyle": "--", "linewidth": 1.2, "label": label}
    if x is None:
        ax.axhline(TARGET_CYCLES, **style)
    else:
        ax.hlines(TARGET_CYCLES, x[0], x[1], **style)


def _mark(bar: Any, value: float) -> None:
    """Hatch and outline in red a bar over the target."""
    if value > TARGET_CYCLES:
        bar.set_hatch("//")
        bar.set_edgecolor("tab:red")
        bar.set_linewidth(1.5)


#: The kinds the target applies to.
TARGETED = ("alloc_upto32_cycles", "free_upto32_cycles")


def _stats_panel(ax: Any, data: Mapping[str, Any]) -> None:
    kinds = [(k, label) for k, label in KINDS if data.get(k, {}).get("max", 0)]
    width = 0.26
    for offset, (stat, colour) in enumerate(
        (("mean", "tab:blue"), ("p99", "tab:orange"), ("max", "tab:purple"))
    ):
        for i, (key, _) in enumerate(kinds):
            value = float(data[key][stat])
            (bar,) = ax.bar(
                i + (offset - 1) * width,
                value,
                width,
                color=colour,
                label=stat if i == 0 else None,
            )
            if key in TARGETED:
                _mark(bar, value)
    ax.set_xticks(range(len(kinds)), [label for _, label in kinds])
    ax.set_ylabel("cycles (request accepted -> response)")
    ax.set_title(
        "cycles per operation: mean, p99, max (the target is for <= 32 granules)", fontsize=9
    )
    targeted = [i for i, (k, _) in enumerate(kinds) if k in TARGETED]
    if targeted:
        _target(ax, (min(targeted) - 0.5, max(targeted) + 0.5))


def _histogram_panel(ax: Any, histograms: Mapping[str, Mapping[str, int]]) -> None:
    for kind, counts in histograms.items():
        cycles = sorted(int(c) for c in counts)
        ax.step(cycles, [counts[str(c)] for c in cycles], where="mid", label=kind)
    ax.axvline(TARGET_CYCLES, color="tab:red", linestyle="--", linewidth=1.2, label="target")
    ax.set_xlabel("cycles (request accepted -> response)")
    ax.set_ylabel("operations")
    ax.set_title("cycles per operation (histogram)", fontsize=9)


def draw_latency(data: Mapping[str, Any], path: str | Path, fmt: str, *, name: str = "") -> Path:
    """The latency figure of a ``bench gfa`` result (see :func:`read_bench`)."""
    plt = pyplot()
    fig, (ax_ops, ax_occ) = plt.subplots(1, 2, figsize=LATENCY_FIGSIZE, dpi=DPI)
    granules = int(data["granules"])
    histograms = data.get("histograms")
    if isinstance(histograms, dict) and histograms:
        _histogram_panel(ax_ops, histograms)
    else:
        _stats_panel(ax_ops, data)
    by_occ: Mapping[str, Any] = data["alloc_free_upto32_max_by_occupancy"]
    labels = list(by_occ)
    values = [float(by_occ[k]) for k in labels]
    bars = ax_occ.bar(range(len(labels)), values, color="tab:purple", label="max cycles")
    for bar, value in zip(bars, values, strict=True):
        _mark(bar, value)
    _target(ax_occ)
    ax_occ.set_xticks(range(len(labels)), labels, rotation=45, fontsize=7)
    ax_occ.set_xlabel("occupancy when the request was made")
    ax_occ.set_ylabel("max cycles, alloc/free <= 32 granules")
    ax_occ.set_title("latency against occupancy", fontsize=9)
    ops_top = max([TARGET_CYCLES, *(float(data[k]["max"]) for k, _ in KINDS if k in data)])
    if not histograms:
        ax_ops.set_ylim(0, ops_top * 1.4)
    ax_occ.set_ylim(0, max([TARGET_CYCLES, *values]) * 1.4)
    for ax in (ax_ops, ax_occ):
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(fontsize=7, loc="upper center", ncols=2)
    mismatches = data.get("mismatches", "?")
    fig.suptitle(
        f"allocator latency{': ' + name if name else ''} ({granules} granules, fan-out "
        f"{data.get('fanout', '?')}, {data.get('ops', '?')} requests, {mismatches} mismatches)",
        fontsize=10,
    )
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.2, top=0.88, wspace=0.22)
    return save(fig, path, fmt)
