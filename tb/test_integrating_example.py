"""docs/integrating.md against the code: the port tables against the Verilog that
``mmaccel verilog`` writes, the instantiation templates against those ports, the payload tables
against the layouts, the reset table against the allocator (formula and simulation), the
address table against the register map, and the Amaranth example: it is taken from the guide,
elaborated, converted to Verilog and driven through its decoder at the guide's addresses."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from amaranth.hdl import ClockDomain, Module
from amaranth.lib import data
from amaranth.sim import Simulator

from mmaccel.cli import main
from mmaccel.hdl.gfa import GfaRequest, GfaResponse, GranuleFrameAllocator
from mmaccel.hdl.gfa.regs import GFA_ID, GFA_REGMAP
from mmaccel.hdl.gfa.wishbone import GfaWishbone
from mmaccel.hdl.mmu import FlushCommand, Satp, TranslationRequest, TranslationResponse
from mmaccel.hdl.mmu.regs import MMU_REGMAP
from mmaccel.hdl.soc import memory_map
from mmaccel.hdl.verilog import to_verilog
from mmaccel.verif.wishbone import WishboneBusError, wb_read, wb_write

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "integrating.md"

#: The forms of ``mmaccel verilog`` the guide lists: (arguments, top module).
FORMS: dict[str, tuple[list[str], str]] = {
    "gfa": (["verilog", "gfa"], "mmaccel_gfa"),
    "gfa --core": (["verilog", "gfa", "--core"], "mmaccel_gfa"),
    "mmu": (["verilog", "mmu"], "mmaccel_mmu_wb"),
    "mmu --bare": (["verilog", "mmu", "--bare"], "mmaccel_mmu"),
}


# -- reading the guide ------------------------------------------------------------------------


def _after(marker: str) -> str:
    text = DOC.read_text()
    tag = f"<!-- {marker} -->"
    assert text.count(tag) == 1, f"docs/integrating.md must hold {tag!r} once"
    return text.split(tag, 1)[1]


def _table(marker: str) -> list[list[str]]:
    """The rows of the first Markdown table after ``marker`` (header and rule left out)."""
    rows: list[list[str]] = []
    started = False
    for line in _after(marker).splitlines():
        line = line.strip()
        if line.startswith("|"):
            started = True
            rows.append([cell.strip() for cell in line.strip("|").split("|")])
        elif started:
            break
    assert len(rows) > 2, f"no table after {marker!r}"
    return rows[2:]


def _code(marker: str, lang: str) -> str:
    match = re.search(rf"```{lang}\n(.*?)```", _after(marker), re.S)
    assert match, f"no {lang} block after {marker!r}"
    return match.group(1)


def _name(cell: str) -> str:
    return cell.strip("`")


# -- the Verilog ------------------------------------------------------------------------------


def _ports(text: str, top: str) -> dict[str, tuple[str, int]]:
    """Direction and width of every port of module ``top``."""
    match = re.search(rf"^module {re.escape(top)}\((.*?)\);(.*?)^endmodule", text, re.M | re.S)
    assert match, f"module {top} not found"
    names = [p.strip() for p in match.group(1).split(",")]
    decl: dict[str, tuple[str, int]] = {}
    for line in match.group(2).splitlines():
        d = re.match(r"\s*(input|output)\s+(?:wire\s+|reg\s+)?(?:\[(\d+):(\d+)\]\s+)?(\w+)", line)
        if d:
            width = int(d.group(2)) - int(d.group(3)) + 1 if d.group(2) else 1
            decl[d.group(4)] = ("in" if d.group(1) == "input" else "out", width)
    assert sorted(decl) == sorted(names)
    return decl


@pytest.fixture(scope="module")
def verilog(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, tuple[str, int]]]:
    """The ports of each form, from the files ``mmaccel verilog`` writes."""
    folder = tmp_path_factory.mktemp("verilog")
    out: dict[str, dict[str, tuple[str, int]]] = {}
    for i, (form, (args, top)) in enumerate(FORMS.items()):
        path = folder / f"form{i}.v"
        assert main([*args, "-o", str(path)]) == 0
        out[form] = _ports(path.read_text(), top)
    return out


@pytest.mark.parametrize("form", list(FORMS))
def test_port_table(form: str, verilog: dict[str, dict[str, tuple[str, int]]]) -> None:
    table = {_name(row[0]): (row[1], int(row[2])) for row in _table(f"ports: {form}")}
    assert table == verilog[form]


@pytest.mark.parametrize("form", ["gfa", "mmu"])
def test_verilog_template(form: str, verilog: dict[str, dict[str, tuple[str, int]]]) -> None:
    code = _code(f"template: {form}", "verilog")
    top = FORMS[form][1]
    assert re.search(rf"^{top} \w+ \(", code, re.M), f"the template instantiates {top}"
    connected = re.findall(r"^\s*\.(\w+)\s*\(", code, re.M)
    assert len(connected) == len(set(connected))
    assert sorted(connected) == sorted(verilog[form])


# -- payloads ---------------------------------------------------------------------------------

LAYOUTS: dict[str, Any] = {
    "GfaRequest": GfaRequest,
    "GfaResponse": GfaResponse,
    "TranslationRequest": TranslationRequest,
    "TranslationResponse": TranslationResponse,
    "FlushCommand": FlushCommand,
    "Satp": Satp,
}


@pytest.mark.parametrize("name", list(LAYOUTS))
def test_payload_table(name: str) -> None:
    layout = data.Layout.cast(LAYOUTS[name])
    expected = []
    for field_name, field in layout:
        hi, lo = field.offset + field.width - 1, field.offset
        expected.append((f"[{hi}:{lo}]" if hi != lo else f"[{lo}]", field_name))
    assert [(row[0], _name(row[1])) for row in _table(f"layout: {name}")] == expected


# -- reset ------------------------------------------------------------------------------------


def _clear_latency(granules: int, fanout: int) -> tuple[int, int, int]:
    """(words, levels, CLEAR latency) by the guide's formula, from the core's tree shape."""
    core = GranuleFrameAllocator(granules=granules, fanout=fanout)
    core._MustUse__silence = True  # only its tree shape is used, never elaborated
    counts = core.level_counts
    latency = core.words + 8 + sum(counts[level] + 2 for level in range(1, core.levels + 1))
    return core.words, core.levels, latency


def _reset_rows() -> list[tuple[int, int, int, int, int, int]]:
    return [
        (int(a), int(b), int(c), int(d), int(e), int(f))
        for a, b, c, d, e, f in _table("reset: gfa")
    ]


def test_reset_table_formula() -> None:
    rows = _reset_rows()
    for granules, fanout, words, levels, latency, ready in rows:
        assert (words, levels, latency) == _clear_latency(granules, fanout), granules
        assert ready == latency + 1
    assert {65536, 4096} <= {row[0] for row in rows}


def _measure_boot(granules: int, fanout: int) -> dict[str, int]:
    """Cycles after reset (cycle 0 = the first with ``rst`` low) until the stream is ready and
    until a RESULT read started in cycle 0 is acknowledged; an ID read during the CLEAR; a
    second reset later gives the same count."""
    dut = GfaWishbone(granules=granules, fanout=fanout, streams=True)
    top = Module()
    top.domains.sync = cd = ClockDomain()
    top.submodules.dut = dut
    got: dict[str, int] = {}

    async def ready_cycle(ctx: Any) -> int:
        n = 0
        while not ctx.get(dut.req.ready):
            await ctx.tick()
            n += 1
            assert n < 10_000
        return n

    async def bench(ctx: Any) -> None:
        ctx.set(dut.req.valid, 1)  # an INFO waits on the stream from cycle 0
        ctx.set(dut.req.payload.op, 3)
        got["ready"] = await ready_cycle(ctx)
        ctx.set(dut.req.valid, 0)
        ctx.set(dut.resp.ready, 1)
        await ctx.tick().repeat(20)
        # a reset later on: the same CLEAR again; RESULT stalls until it ends, ID does not
        ctx.set(cd.rst, 1)
        await ctx.tick()
        ctx.set(cd.rst, 0)
        ctx.set(dut.bus.adr, GFA_REGMAP["ID"].word)
        ctx.set(dut.bus.sel, 0xF)
        ctx.set(dut.bus.cyc, 1)
        ctx.set(dut.bus.stb, 1)
        await ctx.tick()
        assert ctx.get(dut.bus.ack) and ctx.get(dut.bus.dat_r) == GFA_ID
        ctx.set(dut.bus.stb, 0)
        await ctx.tick()
        ctx.set(dut.bus.adr, GFA_REGMAP["RESULT"].word)
        ctx.set(dut.bus.stb, 1)
        n = 2
        while not ctx.get(dut.bus.ack):
            await ctx.tick()
            n += 1
            assert n < 10_000
        got["result_ack"] = n
        got["result"] = ctx.get(dut.bus.dat_r)

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return got


@pytest.mark.parametrize("granules,fanout", [(256, 4), (4096, 4), (4096, 2)])
def test_reset_table_simulated(granules: int, fanout: int) -> None:
    rows = {(row[0], row[1]): row for row in _reset_rows()}
    _, _, _, _, latency, ready = rows[granules, fanout]
    got = _measure_boot(granules, fanout)
    assert got["ready"] == ready
    assert got["result_ack"] == latency + 2
    assert got["result"] == 0


# -- addresses --------------------------------------------------------------------------------


def _hex(cell: str) -> int:
    return int(cell.replace("_", ""), 16)


def test_address_table() -> None:
    base = 0x8001_0000
    assert base == memory_map.GFA_BASE
    rows = _table("addresses: gfa 0x80010000")
    for name, offset, byte, word, adr in rows:
        reg = GFA_REGMAP[name]
        assert _hex(offset) == reg.offset
        assert _hex(byte) == base + reg.offset
        assert _hex(word) == (base + reg.offset) >> 2
        assert _hex(adr) == reg.word == ((base + reg.offset) >> 2) % (1 << GFA_REGMAP.addr_width)
    assert {"ALLOC_SIZE", "FREE_SIZE", "RESULT"} <= {row[0] for row in rows}


def test_picture() -> None:
    svg = ROOT / "docs" / "integrating-soc.svg"
    assert ET.parse(svg).getroot().tag.endswith("svg")
    assert "(integrating-soc.svg)" in DOC.read_text()


# -- the Amaranth example ---------------------------------------------------------------------


def _example() -> Any:
    namespace: dict[str, Any] = {"__name__": "integrating_example"}
    # dont_inherit: this file's ``from __future__ import annotations`` would turn the
    # example's port annotations into strings, which ``wiring.Component`` cannot read
    code = compile(
        _code("example: amaranth", "python"), "integrating.md", "exec", dont_inherit=True
    )
    exec(code, namespace)
    return namespace


def test_amaranth_example_verilog() -> None:
    ns = _example()
    text = to_verilog(ns["Accelerators"](), "accelerators")
    ports = _ports(text, "accelerators")
    assert ports["cpu__adr"] == ("in", 30)
    assert ports["walker__adr"] == ("out", 32)
    assert ports["xlate_req__payload"] == ("in", 37)
    assert ports["xlate_resp__payload"] == ("out", 39)


def test_amaranth_example_addresses() -> None:
    ns = _example()
    dut = ns["Accelerators"]()
    gfa, mmu = ns["GFA_BASE"], ns["MMU_BASE"]
    assert (gfa, mmu) == (memory_map.GFA_BASE, memory_map.MMU_BASE)
    got: dict[str, Any] = {}

    async def bench(ctx: Any) -> None:
        cpu = dut.cpu
        got["mmu_ready_at_0"] = ctx.get(dut.xlate_req.ready)

        async def read(byte: int) -> int:
            return await wb_read(ctx, cpu, byte >> 2)

        async def write(byte: int, value: int) -> None:
            await wb_write(ctx, cpu, byte >> 2, value)

        got["id"] = await read(gfa + GFA_REGMAP["ID"].offset)
        got["base"] = await read(gfa + GFA_REGMAP["HEAP_BASE"].offset)
        await write(gfa + GFA_REGMAP["ALLOC_SIZE"].offset, 5000)  # 2 granules of 4 KiB
        got["first"] = await read(gfa + GFA_REGMAP["RESULT"].offset)
        await write(gfa + GFA_REGMAP["ALLOC_SIZE"].offset, 1)
        got["second"] = await read(gfa + GFA_REGMAP["RESULT"].offset)
        status = await read(mmu + MMU_REGMAP["STATUS"].offset)
        got["entries"] = MMU_REGMAP["STATUS"].field("ENTRIES").decode(status)
        got["valid"] = MMU_REGMAP["STATUS"].field("VALID").decode(status)
        got["satp"] = await read(mmu + MMU_REGMAP["SATP"].offset)
        try:
            await read(0x8004_0000)
        except WishboneBusError:
            got["unmapped"] = "err"

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert got == {
        "id": GFA_ID,
        "base": 0x1000_0000,
        "first": 0x1000_0000,
        "second": 0x1000_0000 + 2 * 4096,
        "mmu_ready_at_0": 1,
        "entries": 16,
        "valid": 0,
        "satp": 0,
        "unmapped": "err",
    }
