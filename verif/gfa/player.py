"""A batch player around :class:`~mmaccel.hdl.gfa.GranuleFrameAllocator`: the fast test bench.

The per-operation stream bench (:mod:`mmaccel.verif.gfa.streams_tb`) wakes Python on every
handshake. Here the simulated design does the handshakes itself and Python only loads, starts
and compares whole batches:

- :class:`GfaPlayer` (Amaranth) holds the allocator and plays up to ``depth`` requests read
  from a stimulus memory: it presents each with a random gap on ``req.valid`` and takes the
  responses with a random ``resp.ready`` pattern, both from a 32-bit LFSR seeded per batch
  (back-pressure generated in hardware). For every response it writes the payload and the
  cycle it first became valid into the response memories; for every accepted request the
  cycle it was accepted. After the batch it can copy the whole allocation map through the
  debug port into a map memory. Then it raises ``done``.
- :func:`sim_wrapper` is the Verilog top ``gfa_batch_sim`` around the player's Verilog: the
  memories, a clock generated in the simulation (no Python callback per clock edge, one time
  step per cycle), and the bulk transfers: at the rising edge of ``start`` the stimulus memory
  is loaded from :data:`STIM_FILE` with ``$readmemh``, at its falling edge the batch's entries
  of the response and time memories (and the map memory after a map check) are written with
  ``$writememh`` (files in the simulator's working folder).

Throughput of the whole loop at 32768 granules: about 21,000 checked requests per CPU second
(Python, the model and Verilator share one thread), about 40 simulated cycles per request.

Timing of the player (cycle counts are the player's free-running ``cycle`` counter): a request
accepted in the cycle ``a`` (``req.valid & req.ready`` high) whose response is first valid in
cycle ``v`` has latency ``v - a - 1`` cycles, counted as the stream bench counts it (from the
accepting clock edge to the edge after which the response is valid). The player adds no cycle
of its own: with back-pressure off a request is presented in the cycle the previous response is
taken, so the allocator runs at its own throughput.

A request not accepted or a response not given within ``watchdog`` cycles of the last handshake
(the allocator's documented latency bound plus a margin) ends the batch with ``stuck`` high, so
a design that hangs fails fast instead of running to a timeout.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from amaranth.hdl import Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from mmaccel.hdl.gfa import GfaRequest, GfaResponse, GranuleFrameAllocator

__all__ = [
    "ACC_FILE",
    "MAP_FILE",
    "PERIOD_NS",
    "REQ_WIDTH",
    "RESP_FILE",
    "RESP_WIDTH",
    "SIM_TOPLEVEL",
    "STIM_FILE",
    "VALID_FILE",
    "GfaPlayer",
    "read_hex",
    "sim_wrapper",
    "stimulus_text",
]

#: Bits of one packed :class:`GfaRequest` / :class:`GfaResponse`.
REQ_WIDTH = data.Layout.cast(GfaRequest).size
RESP_WIDTH = data.Layout.cast(GfaResponse).size

#: Name of the Verilog simulation top made by :func:`sim_wrapper`.
SIM_TOPLEVEL = "gfa_batch_sim"
#: Name of the player's own Verilog module.
PLAYER_TOPLEVEL = "gfa_player"

#: Files of the bulk transfers, in the simulator's working folder.
STIM_FILE = "gfa_stim.hex"
RESP_FILE = "gfa_resp.hex"
ACC_FILE = "gfa_acc.hex"
VALID_FILE = "gfa_valid.hex"
MAP_FILE = "gfa_map.hex"

#: The generated clock's period in ns: one simulation time step per clock cycle (see
#: :func:`sim_wrapper`).
PERIOD_NS = 10

#: Gap (cycles without ``req.valid``) after an accepted request, by 3 LFSR bits: mean 1.5.
_GAPS = (0, 0, 0, 0, 1, 2, 3, 6)


class GfaPlayer(wiring.Component):
    """Plays a batch of allocator requests with hardware back-pressure (see the module text).

    Parameters
    ----------
    granules, log2gran, base, fanout : int
        The allocator's parameters.
    depth : int
        Requests per batch, at most (the memories' depth).
    watchdog : int
        Cycles without a handshake after which the batch ends with ``stuck``.
    core : callable, optional
        Makes the allocator (default :class:`GranuleFrameAllocator`; a mutant's class in
        mutation tests); called with the four parameters as keywords.

    Members
    -------
    start : In(1)
        Rising: play ``count`` requests (stimulus entries 0..count-1). Falling: back to idle.
    count : In(range(depth + 1))
    seed : In(32)
        LFSR seed of this batch (0 is taken as 1).
    backpressure : In(1)
        Random gaps on ``req.valid`` and a random ``resp.ready`` (5/8 ready per cycle); else
        requests back to back and ``resp.ready`` always high.
    map_check : In(1)
        After the batch, copy the allocation map (debug port) into the map memory.
    done, stuck : Out(1)
        The batch has ended; it ended because the watchdog fired.
    issued, taken : Out(range(depth + 1))
        Requests accepted and responses taken in this batch.
    stim_addr : Out(range(depth)), stim_data : In(REQ_WIDTH)
        Asynchronous read port of the stimulus memory.
    resp_we, resp_addr, resp_data, valid_time : Out
        Write port of the response memories (payload, cycle first valid).
    acc_we, acc_addr, acc_time : Out
        Write port of the accept-time memory.
    map_we, map_addr, map_data : Out
        Write port of the map memory (one GAT word per entry).
    """

    def __init__(
        self,
        *,
        granules: int,
        log2gran: int = 12,
        base: int = 0,
        fanout: int = 4,
        depth: int = 4096,
        watchdog: int = 1 << 16,
        core: Any = None,
    ) -> None:
        if not isinstance(depth, int) or depth < 1:
            raise ValueError(f"depth must be a positive int, not {depth!r}")
        if not isinstance(watchdog, int) or watchdog < 16:
            raise ValueError(f"watchdog must be an int of at least 16 cycles, not {watchdog!r}")
        make = core if core is not None else GranuleFrameAllocator
        self.core = make(granules=granules, log2gran=log2gran, base=base, fanout=fanout)
        self.depth = depth
        self.watchdog = watchdog
        self.words = (granules + 31) // 32
        super().__init__(
            {
                "start": In(1),
                "count": In(range(depth + 1)),
                "seed": In(32),
                "backpressure": In(1),
                "map_check": In(1),
                "done": Out(1),
                "stuck": Out(1),
                "issued": Out(range(depth + 1)),
                "taken": Out(range(depth + 1)),
                "stim_addr": Out(range(depth)),
                "stim_data": In(REQ_WIDTH),
                "resp_we": Out(1),
                "resp_addr": Out(range(depth)),
                "resp_data": Out(RESP_WIDTH),
                "valid_time": Out(32),
                "acc_we": Out(1),
                "acc_addr": Out(range(depth)),
                "acc_time": Out(32),
                "map_we": Out(1),
                "map_addr": Out(range(max(self.words, 2))),
                "map_data": Out(32),
            }
        )

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        m.submodules.core = core = self.core
        cycle = Signal(32)
        m.d.sync += cycle.eq(cycle + 1)

        lfsr = Signal(32, init=1)
        m.d.sync += lfsr.eq(Mux(lfsr[0], (lfsr >> 1) ^ 0x80200003, lfsr >> 1))
        gap = Signal(3)
        idle = Signal(range(self.watchdog + 1))
        seen = Signal()  # the current response has been valid before this cycle
        seen_at = Signal(32)
        running = Signal()
        words = self.words
        mk = Signal(range(words + 1))  # next map word to present
        mpend = Signal()  # the word presented last cycle is on dbg_data now
        mword = Signal(range(max(words, 2)))

        fire = Signal()
        take = Signal()
        more = self.issued < self.count
        m.d.comb += [
            self.stim_addr.eq(self.issued),
            core.req.payload.eq(self.stim_data),
            core.req.valid.eq(running & more & (gap == 0)),
            core.resp.ready.eq(running & (~self.backpressure | (lfsr[0:3] < 5))),
            fire.eq(core.req.valid & core.req.ready),
            take.eq(core.resp.valid & core.resp.ready),
            self.acc_we.eq(fire),
            self.acc_addr.eq(self.issued),
            self.acc_time.eq(cycle),
            self.resp_we.eq(take),
            self.resp_addr.eq(self.taken),
            self.resp_data.eq(core.resp.payload),
            self.valid_time.eq(Mux(seen, seen_at, cycle)),
            self.map_we.eq(mpend),
            self.map_addr.eq(mword),
            self.map_data.eq(core.dbg_data),
            core.dbg_addr.eq(Mux(mk < words, mk, 0)),
        ]
        with m.If(fire):
            gaps = Const(int("".join(f"{g:03b}" for g in reversed(_GAPS)), 3 * len(_GAPS)))
            m.d.sync += gap.eq(Mux(self.backpressure, gaps.word_select(lfsr[8:11], 3), 0))
            m.d.sync += self.issued.eq(self.issued + 1)
        with m.Elif(gap != 0):
            m.d.sync += gap.eq(gap - 1)
        with m.If(take):
            m.d.sync += [self.taken.eq(self.taken + 1), seen.eq(0)]
        with m.Elif(core.resp.valid & ~seen):
            m.d.sync += [seen.eq(1), seen_at.eq(cycle)]

        with m.FSM():
            with m.State("Idle"), m.If(self.start):
                m.d.sync += [
                    self.issued.eq(0),
                    self.taken.eq(0),
                    self.stuck.eq(0),
                    gap.eq(0),
                    idle.eq(0),
                    lfsr.eq(Mux(self.seed == 0, 1, self.seed)),
                    running.eq(1),
                ]
                m.next = "Run"
            with m.State("Run"):
                m.d.sync += idle.eq(Mux(fire | take, 0, idle + 1))
                with m.If((self.taken == self.count) & ~more):
                    m.d.sync += running.eq(0)
                    with m.If(self.map_check):
                        m.next = "MapWait"
                    with m.Else():
                        m.next = "Done"
                with m.Elif(idle == self.watchdog):
                    m.d.sync += [running.eq(0), self.stuck.eq(1)]
                    m.next = "Done"
            with m.State("MapWait"):
                m.d.sync += [idle.eq(idle + 1), mk.eq(0), mpend.eq(0)]
                with m.If(~core.busy & ~core.resp.valid):
                    m.next = "Map"
                with m.Elif(idle == self.watchdog):
                    m.d.sync += self.stuck.eq(1)
                    m.next = "Done"
            with m.State("Map"):
                # dbg_data answers one cycle after dbg_addr: word mk - 1 is written as mk is read
                m.d.sync += [mpend.eq(mk < words), mword.eq(mk), mk.eq(mk + 1)]
                with m.If(mk == words):
                    m.next = "Done"
            with m.State("Done"):
                m.d.comb += self.done.eq(1)
                m.d.sync += mpend.eq(0)
                with m.If(~self.start):
                    m.next = "Idle"
        return m


def _ports(verilog: str, module: str) -> list[tuple[str, str, str]]:
    body = verilog[verilog.index(f"module {module}(") :]
    body = body[: body.index("endmodule")]
    return re.findall(
        r"^\s*(input|output)\s+(?:wire\s+|reg\s+)?(\[\d+:\d+\]\s*)?(\w+);", body, re.M
    )


def _width(text: str) -> int:
    if not text:
        return 1
    hi, lo = (int(x) for x in text.strip()[1:-1].split(":"))
    return hi - lo + 1


#: The player's ports driven by the Verilog top's memories, not by the bench.
_INTERNAL = {
    "stim_addr",
    "stim_data",
    "resp_we",
    "resp_addr",
    "resp_data",
    "valid_time",
    "acc_we",
    "acc_addr",
    "acc_time",
    "map_we",
    "map_addr",
    "map_data",
}


def sim_wrapper(player_verilog: str, *, depth: int, words: int) -> tuple[str, list[str]]:
    """The Verilog top :data:`SIM_TOPLEVEL` around ``player_verilog`` (module
    :data:`PLAYER_TOPLEVEL`) and the names of its ports (for a Verilator ``.vlt`` file).

    The top has the player's control ports (``rst``, ``start``, ``count``, ``seed``,
    ``backpressure``, ``map_check``, ``done``, ``stuck``, ``issued``, ``taken``) and a
    generated ``clk`` output; the memories and their file transfers are inside. The inputs
    reach the player through a register (one cycle later).

    The clock is a pulse: every :data:`PERIOD_NS` the top sets ``clk`` (a rising edge, which
    clocks the design) and clears it again with a non-blocking assignment in the same time
    step, so each cycle costs the simulator one time step instead of two (the falling edge
    clocks nothing). A VPI edge trigger on ``clk`` never sees it: the bench waits for time.
    """
    ports = _ports(player_verilog, PLAYER_TOPLEVEL)
    widths = {name: _width(width) for _, width, name in ports}
    decls = ["  output reg clk"]
    names = ["clk"]
    wires = []
    conns = []
    for direction, width, name in ports:
        if name == "clk":
            conns.append("    .clk(clk)")
            continue
        if name in _INTERNAL:
            conns.append(f"    .{name}({name})")
            wires.append(f"  wire {width or ''}{name};")
            continue
        decls.append(f"  {direction} {width or ''}{name}")
        names.append(name)
        if direction == "input":
            # registered here, so no logic of the player depends on a top-level input: that
            # logic would be evaluated at every time step (Verilator's input-combo region)
            wires.append(f"  reg {width or ''}{name}_q;")
            wires.append(f"  always @(posedge clk) {name}_q <= {name};")
            conns.append(f"    .{name}({name}_q)")
        else:
            conns.append(f"    .{name}({name})")
    mwords = max(words, 2)
    text = (
        "`timescale 1ns/1ps\n"
        f"module {SIM_TOPLEVEL}(\n" + ",\n".join(decls) + "\n);\n" + "\n".join(wires) + "\n"
        f"  reg [{widths['stim_data'] - 1}:0] stim [0:{depth - 1}];\n"
        f"  reg [{widths['resp_data'] - 1}:0] resp [0:{depth - 1}];\n"
        f"  reg [31:0] vtime [0:{depth - 1}];\n"
        f"  reg [31:0] atime [0:{depth - 1}];\n"
        f"  reg [31:0] gat [0:{mwords - 1}];\n"
        "  initial clk = 1'b0;\n"
        f"  always begin #{PERIOD_NS} clk = 1'b1; clk <= 1'b0; end\n"
        "  assign stim_data = stim[stim_addr];\n"
        "  always @(posedge clk) begin\n"
        "    if (resp_we) begin\n"
        "      resp[resp_addr] <= resp_data;\n"
        "      vtime[resp_addr] <= valid_time;\n"
        "    end\n"
        "    if (acc_we) atime[acc_addr] <= acc_time;\n"
        "    if (map_we) gat[map_addr] <= map_data;\n"
        "  end\n"
        f'  always @(posedge start) $readmemh("{STIM_FILE}", stim);\n'
        "  always @(negedge start) begin\n"
        "    if (count != 0) begin\n"
        f'      $writememh("{RESP_FILE}", resp, 0, count - 1);\n'
        f'      $writememh("{VALID_FILE}", vtime, 0, count - 1);\n'
        f'      $writememh("{ACC_FILE}", atime, 0, count - 1);\n'
        "    end\n"
        f'    if (map_check) $writememh("{MAP_FILE}", gat);\n'
        "  end\n"
        f"  {PLAYER_TOPLEVEL} player (\n" + ",\n".join(conns) + "\n  );\n"
        "endmodule\n"
    )
    return text, names


def read_hex(path: str | Path, count: int) -> list[int]:
    """The first ``count`` values of a ``$writememh`` file (comments and ``@`` lines skipped)."""
    out: list[int] = []
    with open(path) as f:
        for line in f:
            text = line.strip()
            if not text or text.startswith(("//", "@")):
                continue
            out.append(int(text, 16) if "x" not in text.lower() else 0)
            if len(out) == count:
                break
    return out


def stimulus_text(packed: list[int]) -> str:
    """``$readmemh`` text of packed requests (one per line)."""
    digits = (REQ_WIDTH + 3) // 4
    return "".join(f"{v:0{digits}x}\n" for v in packed)
