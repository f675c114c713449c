"""The block diagrams of docs/: the granule allocator and the MMU, as SVG written by code.

``python -m mmaccel.plots.diagrams [FOLDER]`` (default ``docs``) writes ``gfa-diagram.svg`` and
``mmu-diagram.svg``; the committed files are these outputs, so a change to a diagram is a change
here. The allocator's summary tree is not a sketch: it is computed from the model
(:class:`mmaccel.sw.GranuleAllocator` after a seeded churn of 512 granules), each node showing
its ``pre``/``suf``/``max`` and its bank, and the ALLOC walk drawn is the one that finds the
model's first fit. Plain SVG (no matplotlib), so the files stay small and diff well.
"""

from __future__ import annotations

import random
import sys
from dataclasses import dataclass
from html import escape
from pathlib import Path

from mmaccel.sw.gran import GranuleAllocator

__all__ = ["Svg", "gfa_diagram", "mmu_diagram", "tree_example", "write_diagrams"]

FONT = "DejaVu Sans, Arial, sans-serif"
BANK_FILL = ("#dbeafe", "#dcfce7", "#fef3c7", "#fce7f3")
WALK = "#dc2626"


class Svg:
    """A minimal SVG writer: boxes, text, lines and arrows, in document order."""

    def __init__(self, width: int, height: int, title: str) -> None:
        self.width, self.height = width, height
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" font-family="{FONT}" font-size="13">',
            f"  <title>{escape(title)}</title>",
            "  <defs>",
            '    <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            'fill="#333"/></marker>',
            '    <marker id="walk" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
            f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
            f'fill="{WALK}"/></marker>',
            "  </defs>",
            f'  <rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        ]

    def box(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        *,
        fill: str = "#f3f4f6",
        stroke: str = "#333",
        width: float = 1.2,
        rx: float = 5,
        dash: bool = False,
    ) -> None:
        extra = ' stroke-dasharray="5,3"' if dash else ""
        self.parts.append(
            f'  <rect x="{x:g}" y="{y:g}" width="{w:g}" height="{h:g}" rx="{rx:g}" '
            f'fill="{fill}" stroke="{stroke}" stroke-width="{width:g}"{extra}/>'
        )

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        size: float = 13,
        anchor: str = "start",
        bold: bool = False,
        colour: str = "#111",
        italic: bool = False,
    ) -> None:
        style = (' font-weight="bold"' if bold else "") + (' font-style="italic"' if italic else "")
        self.parts.append(
            f'  <text x="{x:g}" y="{y:g}" font-size="{size:g}" text-anchor="{anchor}" '
            f'fill="{colour}"{style}>{escape(text)}</text>'
        )

    def lines(
        self,
        x: float,
        y: float,
        rows: list[str],
        *,
        size: float = 12,
        gap: float = 15,
        **kw: object,
    ) -> None:
        for i, row in enumerate(rows):
            self.text(x, y + i * gap, row, size=size, **kw)  # type: ignore[arg-type]

    def line(
        self,
        x1: float,
        y1: float,
        x2: float,
        y2: float,
        *,
        arrow: str = "",
        colour: str = "#333",
        width: float = 1.4,
        dash: bool = False,
    ) -> None:
        marker = f' marker-end="url(#{arrow})"' if arrow else ""
        extra = ' stroke-dasharray="5,3"' if dash else ""
        self.parts.append(
            f'  <line x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" stroke="{colour}" '
            f'stroke-width="{width:g}"{marker}{extra}/>'
        )

    def arrow(
        self,
        x1: float,
        y1: float,
        x2: float,
        y2: float,
        label: str = "",
        *,
        below: bool = False,
        colour: str = "#333",
    ) -> None:
        self.line(x1, y1, x2, y2, arrow="walk" if colour == WALK else "arrow", colour=colour)
        if label:
            self.text(
                (x1 + x2) / 2,
                (y1 + y2) / 2 + (14 if below else -5),
                label,
                size=11,
                anchor="middle",
                colour=colour,
            )

    def render(self) -> str:
        return "\n".join([*self.parts, "</svg>"]) + "\n"


# -- the allocator ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Node:
    """One summary node: level, index in its level, granules covered, pre/suf/max."""

    level: int
    index: int
    start: int
    length: int
    pre: int
    suf: int
    max: int


def _summary(free: int, start: int, length: int, level: int, index: int) -> Node:
    bits = [(free >> (start + i)) & 1 for i in range(length)]
    pre = next((i for i, b in enumerate(bits) if not b), length)
    suf = next((i for i, b in enumerate(reversed(bits)) if not b), length)
    best = run = 0
    for b in bits:
        run = run + 1 if b else 0
        best = max(best, run)
    return Node(level, index, start, length, pre, suf, best)


@dataclass(frozen=True, slots=True)
class TreeExample:
    """The example of the diagram: the model's map, its summary tree and one ALLOC walk."""

    gran: GranuleAllocator
    levels: list[list[Node]]  # levels[0] = one node per word, levels[-1] = [root]
    count: int  # granules the ALLOC asks for
    found: int  # the model's first fit
    path: list[Node]  # root first, then the node descended into at each level
    carry_level: int | None  # the level whose group finds the run through the carry, if any


def tree_example(seed: int = 4, count: int = 9, fanout: int = 4, words: int = 16) -> TreeExample:
    """A seeded churn of ``32 * words`` granules, its summary tree and the walk of
    ``ALLOC count``: the nodes holding the model's first fit, from the root down."""
    n = 32 * words
    gran = GranuleAllocator(0, n << 12, 12)
    rng = random.Random(seed)
    live: list[tuple[int, int]] = []
    for _ in range(1500):
        if live and (rng.random() < 0.4 or gran.nfree < n // 6):
            index, size = live.pop(rng.randrange(len(live)))
            gran.free_granules(index, size)
        else:
            size = rng.randint(1, 12)
            got = gran.alloc_granules(size)
            if got is not None:
                live.append((got, size))
    free = gran.free_map
    levels = [[_summary(free, 32 * w, 32, 0, w) for w in range(words)]]
    while len(levels[-1]) > 1:
        below = levels[-1]
        level = len(levels)
        length = below[0].length * fanout
        levels.append(
            [_summary(free, i * length, length, level, i) for i in range(len(below) // fanout)]
        )
    found = gran.find_granules(count)
    if found is None:
        raise AssertionError("the example's map has no run for the walk")
    path = [levels[-1][0]]
    carry_level = None
    for level in range(len(levels) - 2, -1, -1):
        node = levels[level][found // levels[level][0].length]
        if found + count > node.start + node.length:  # the run leaves this child: the carry
            carry_level = level
            break
        path.append(node)
    return TreeExample(gran, levels, count, found, path, carry_level)


def gfa_diagram() -> str:
    """The allocator: its blocks (top) and the summary tree with an ALLOC walk (bottom)."""
    svg = Svg(1200, 830, "mmaccel granule allocator: blocks, summary tree and the ALLOC walk")
    svg.text(
        600,
        28,
        "GranuleFrameAllocator (hdl/gfa/core.py) and GfaWishbone (hdl/gfa/wishbone.py)",
        size=17,
        anchor="middle",
        bold=True,
    )
    # Wishbone front
    svg.box(20, 60, 250, 250, fill="#f3f4f6")
    svg.text(145, 82, "GfaWishbone", anchor="middle", bold=True)
    svg.lines(
        32,
        104,
        [
            "register bank from GFA_REGMAP:",
            "  CMD COUNT ADDR ALIGN",
            "  ALLOC_SIZE FREE_SIZE (byte sizes:",
            "    one write starts the command)",
            "  RESULT (read stalls while BUSY)",
            "  STATUS NFREE LARGEST",
            "  OPS FAILS ERRORS (counters)",
            "  GAT_INDEX GAT_DATA  ID CONFIG",
            "  HEAP_BASE",
            "ack 1 cycle after cyc & stb;",
            "after reset: its own CLEAR",
            "streams=True: a hardware client",
            "  shares the core (bus first)",
        ],
        size=11.5,
    )
    svg.arrow(0, 150, 20, 150)
    svg.text(4, 140, "bus", size=11)
    # the core
    svg.box(330, 50, 850, 270, fill="#fafafa", width=1.6)
    svg.text(345, 72, "GranuleFrameAllocator (gfa_core): one request at a time", bold=True)
    svg.arrow(270, 130, 350, 130, "req")
    svg.arrow(350, 250, 270, 250, "resp", below=True)
    svg.box(350, 90, 170, 70, fill="#fff7ed")
    svg.lines(
        360,
        110,
        ["decode: field checks", "registered, acted on", "next cycle (2 cycles)"],
        size=11.5,
    )
    svg.box(350, 200, 170, 90, fill="#fff7ed")
    svg.lines(
        360,
        220,
        [
            "response: status, addr,",
            "free_count (counter),",
            "largest_run (root)",
            "held until resp.ready",
        ],
        size=11.5,
    )
    svg.box(550, 90, 250, 70, fill="#fee2e2")
    svg.lines(
        560,
        110,
        [
            "root node in registers:",
            "pre, suf, max of the whole heap:",
            "INFO and every response for free",
        ],
        size=11.5,
    )
    svg.box(550, 175, 250, 115, fill="#e0e7ff")
    svg.lines(
        560,
        195,
        [
            "summary banks (block RAM):",
            "bank b holds the nodes with",
            "index = b mod fanout; every level",
            "at its own row offset, so a node's",
            "fanout children are read in 1 cycle",
            "each node: pre, suf, max, full",
        ],
        size=11.5,
    )
    svg.box(830, 90, 170, 200, fill="#dcfce7")
    svg.lines(
        840,
        110,
        [
            "GAT (block RAM):",
            "ceil(granules/32) words,",
            "granule k = bit k % 32",
            "of word k // 32,",
            "1 = in use; padding",
            "bits stored as used",
            "",
            "ALLOC: in-word search",
            "FREE/RESERVE: range",
            "read and checked",
        ],
        size=11.5,
    )
    svg.arrow(520, 125, 550, 125)
    svg.arrow(675, 160, 675, 175)
    svg.arrow(800, 232, 830, 232, "walk")
    svg.arrow(830, 262, 800, 262, "update", below=True)
    svg.box(1020, 130, 150, 90, fill="#f3f4f6", dash=True)
    svg.lines(
        1030,
        150,
        [
            "debug port:",
            "dbg_addr -> dbg_data",
            "1 cycle later,",
            "valid while idle",
            "(plot map --hardware)",
        ],
        size=11.5,
    )
    svg.arrow(1000, 175, 1020, 175)
    svg.text(
        755,
        312,
        "updates: words rewritten, ancestors recomputed one node per cycle per level "
        "(3 cycles a level, levels overlap)",
        size=11,
        anchor="middle",
        italic=True,
    )

    ex = tree_example()
    levels = ex.levels
    top = 360
    svg.text(
        600,
        top,
        f"summary tree (fan-out 4) of a {32 * len(levels[0])}-granule map from the "
        f"model, and ALLOC of {ex.count} granules",
        size=15,
        anchor="middle",
        bold=True,
    )
    svg.text(
        600,
        top + 20,
        "each node: pre / suf / max (free run at its start, at its end, longest);"
        " colour = summary bank (node index mod 4); red = the walk",
        size=11.5,
        anchor="middle",
    )
    leaf_w, gap = 66.0, 6.0
    left = (1200 - len(levels[0]) * (leaf_w + gap) + gap) / 2
    ys = {len(levels) - 1: top + 45, 1: top + 130, 0: top + 215}
    centres: dict[tuple[int, int], float] = {}
    for w in range(len(levels[0])):
        centres[(0, w)] = left + w * (leaf_w + gap) + leaf_w / 2
    for level in range(1, len(levels)):
        for i in range(len(levels[level])):
            kids = [centres[(level - 1, j)] for j in range(4 * i, 4 * i + 4)]
            centres[(level, i)] = sum(kids) / len(kids)
    on_path = {(nd.level, nd.index) for nd in ex.path}
    for level in range(len(levels) - 1, -1, -1):
        for nd in levels[level]:
            cx, y = centres[(level, nd.index)], ys[level]
            width = leaf_w if level == 0 else 120.0
            root = level == len(levels) - 1
            fill = "#fee2e2" if root else BANK_FILL[nd.index % 4]
            hot = (level, nd.index) in on_path
            svg.box(
                cx - width / 2,
                y,
                width,
                40,
                fill=fill,
                stroke=WALK if hot else "#555",
                width=2.6 if hot else 1,
            )
            name = (
                "root (registers)"
                if root
                else (f"word {nd.index}" if level == 0 else f"level {level} node {nd.index}")
            )
            svg.text(cx, y + 15, name, size=10 if level == 0 else 11, anchor="middle")
            svg.text(cx, y + 31, f"{nd.pre}/{nd.suf}/{nd.max}", size=11, anchor="middle", bold=hot)
            if level > 0:
                for j in range(4 * nd.index, 4 * nd.index + 4):
                    child_hot = hot and (level - 1, j) in on_path
                    svg.line(
                        cx,
                        y + 40,
                        centres[(level - 1, j)],
                        ys[level - 1],
                        colour=WALK if child_hot else "#999",
                        width=2.4 if child_hot else 1,
                        arrow="walk" if child_hot else "",
                    )
    # the words' granules, 4 rows of 8
    cell = leaf_w / 8
    gy = ys[0] + 50
    run = range(ex.found, ex.found + ex.count)
    for w in range(len(levels[0])):
        x0 = centres[(0, w)] - leaf_w / 2
        for b in range(32):
            k = 32 * w + b
            colour = WALK if k in run else "#ffffff" if ex.gran.is_free(k) else "#6b7280"
            svg.box(
                x0 + (b % 8) * cell,
                gy + (b // 8) * cell,
                cell,
                cell,
                fill=colour,
                stroke="#d1d5db",
                width=0.5,
                rx=0,
            )
    legend_y = gy + 4 * cell + 22
    svg.text(
        left + 720,
        legend_y,
        "(the GAT: each word's 32 granules in 4 rows of 8)",
        size=11,
        colour="#555",
    )
    svg.box(left, legend_y - 10, 10, 10, fill="#6b7280", rx=0)
    svg.text(left + 14, legend_y, "in use", size=11)
    svg.box(left + 70, legend_y - 10, 10, 10, fill="#ffffff", rx=0)
    svg.text(left + 84, legend_y, "free", size=11)
    svg.box(left + 125, legend_y - 10, 10, 10, fill=WALK, rx=0)
    svg.text(
        left + 139,
        legend_y,
        f"the run ALLOC {ex.count} returns: granules {ex.found}..{ex.found + ex.count - 1} "
        "(the model's first fit)",
        size=11,
    )
    ty = legend_y + 30
    svg.lines(
        40,
        ty,
        [
            "The walk: from the root, one group of fanout siblings per level: read the group "
            "(1 cycle), register, sums and compares, choice: 4 cycles a level.",
            "A carry holds the start of the free run entering the group from the left; the first "
            "child (left to right) whose run through the carry reaches the count",
            "is the answer, else the first child whose max reaches it is the one to descend "
            "into. In the word: runs = D_k & (D_k >> (n - 2^k)) and a lowest-set-bit",
            "tree (5 cycles). Then the words are rewritten and the ancestors updated. Without "
            "alignment: 7 L + 12 cycles, 47 at 32768 granules (fan-out 4, L = 5), 40 at 4096,",
            "whatever the occupancy; with alignment a descent may find no aligned run and the "
            "walk resumes at the next sibling (about 4 L more per rejected descent).",
        ],
        size=11.5,
        gap=16,
    )
    if ex.carry_level is not None:
        svg.text(
            40,
            ty + 86,
            f"(here the run crosses a child's edge: found through the carry "
            f"at level {ex.carry_level + 1}'s group)",
            size=11.5,
            italic=True,
        )
    return svg.render()


# -- the MMU ------------------------------------------------------------------------------------


def mmu_diagram() -> str:
    """The MMU: TLB, walker, satp and flush, the counters, and the Wishbone front."""
    svg = Svg(1100, 560, "mmaccel Sv32 MMU: TLB, page-table walker and the Wishbone front")
    svg.text(
        550,
        28,
        "Mmu (hdl/mmu/mmu.py) and MmuWishbone (hdl/mmu/wishbone.py)",
        size=17,
        anchor="middle",
        bold=True,
    )
    # Wishbone front
    svg.box(20, 50, 1060, 80, fill="#f3f4f6")
    svg.text(
        35,
        72,
        "MmuWishbone: control registers from MMU_REGMAP on a Wishbone slave (ctrl)",
        bold=True,
    )
    svg.lines(
        35,
        94,
        [
            "SATP (MODE, ASID, PPN)   FLUSH_VA  FLUSH_ASID  FLUSH (sfence.vma: all / by VA / "
            "by ASID / by VA and ASID)   CTRL (CLEAR_COUNTERS)",
            "STATUS  LAST_CAUSE  HITS  MISSES  WALKS  FAULTS  ID ('MMU1');  ack 1 cycle after "
            "cyc & stb (2 for STATUS); FLUSH and SATP act from the cycle of ack",
        ],
        size=11.5,
        gap=17,
    )
    svg.arrow(0, 110, 20, 110)
    svg.text(2, 102, "ctrl", size=11)
    svg.arrow(265, 130, 265, 190)
    svg.text(272, 165, "satp, flush + flush_cmd, clear_counters", size=11)
    svg.arrow(735, 190, 735, 130)
    svg.text(742, 165, "hits, misses, walks, faults, busy, last cause", size=11)
    # the Mmu
    svg.box(150, 190, 700, 265, fill="#fafafa", width=1.6)
    svg.text(
        165, 212, "Mmu(entries): request and response streams, answers in request order", bold=True
    )
    svg.box(180, 230, 170, 60, fill="#fef3c7")
    svg.lines(190, 250, ["satp: ASID and root,", "sampled at accept", "(bare: pa = va)"], size=11.5)
    svg.box(380, 230, 230, 140, fill="#dbeafe")
    svg.lines(
        390,
        250,
        [
            "TLB (tlb.py): fully associative,",
            "4..64 entries, ASID + global tags,",
            "4 KiB pages and 4 MiB megapages",
            "together, bit pseudo-LRU (invalid",
            "entries first); hit: the answer and",
            "its permission check 1 cycle after",
            "accept, 1 lookup per cycle",
        ],
        size=11.5,
    )
    svg.box(640, 230, 190, 140, fill="#dcfce7")
    svg.lines(
        650,
        250,
        [
            "PageTableWalker",
            "(walker.py): at most two",
            "PTE reads, fault",
            "classification; 4 KiB miss:",
            "6 cycles, megapage or",
            "root fault: 4;",
            "flush: restart at the root",
        ],
        size=11.5,
    )
    svg.arrow(350, 260, 380, 260)
    svg.arrow(610, 280, 640, 280, "miss")
    svg.arrow(640, 330, 610, 330, "fill", below=True)
    svg.arrow(20, 320, 380, 320)
    svg.text(25, 312, "req: va, access, priv, sum, mxr", size=11)
    svg.arrow(380, 352, 20, 352)
    svg.text(25, 368, "resp: pa (34), fault, cause", size=11)
    svg.box(380, 390, 230, 50, fill="#fee2e2")
    svg.lines(
        390, 410, ["flush + flush_cmd: one sfence.vma", "per cycle, always accepted"], size=11.5
    )
    svg.arrow(495, 390, 495, 370)
    svg.box(640, 390, 190, 50, fill="#f3f4f6")
    svg.lines(650, 410, ["counters: hits, misses,", "walks, faults; tlb_valid"], size=11.5)
    # memory
    svg.box(930, 240, 150, 120, fill="#f3f4f6")
    svg.lines(
        940,
        262,
        [
            "memory holding the",
            "Sv32 page tables",
            "(the SoC's RAM; in",
            "tests the model's",
            "AddressSpace)",
        ],
        size=11.5,
    )
    svg.arrow(830, 300, 930, 300)
    svg.lines(880, 270, ["bus: Wishbone", "master"], size=11, anchor="middle", gap=13)
    svg.lines(880, 318, ["PTE reads,", "adr = addr / 4"], size=11, anchor="middle", gap=13)
    svg.lines(
        35,
        490,
        [
            "A miss answers after the walk (6 cycles for a 4 KiB page with a memory that acks one "
            "cycle after stb); requests wait (req.ready = 0) while a miss is resolved.",
            "The TLB compare is never in series with the bus: the first PTE read is issued from "
            "registers the cycle after acceptance,",
            "the walk's result is registered before the fill.",
        ],
        size=11.5,
        gap=17,
    )
    return svg.render()


def write_diagrams(folder: str | Path = "docs") -> list[Path]:
    """Write ``gfa-diagram.svg`` and ``mmu-diagram.svg`` into ``folder``; return the paths."""
    out = Path(folder)
    paths = [out / "gfa-diagram.svg", out / "mmu-diagram.svg"]
    paths[0].write_text(gfa_diagram())
    paths[1].write_text(mmu_diagram())
    return paths


if __name__ == "__main__":
    for path in write_diagrams(sys.argv[1] if len(sys.argv) > 1 else "docs"):
        print(f"wrote {path}")
