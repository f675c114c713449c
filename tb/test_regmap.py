"""Register maps as data (mmaccel.hdl.bus.regmap), the generated C header / Markdown / CLI, and the
Wishbone RegisterBank decode in Amaranth's simulator."""

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In
from amaranth.sim import Simulator
from hypothesis import given
from hypothesis import strategies as st

from mmaccel.cli import main
from mmaccel.cli.regmap import load_regmap, render
from mmaccel.hdl.bus.regmap import Field, Register, RegisterBank, RegisterMap
from mmaccel.hdl.bus.wishbone import WishboneSignature
from mmaccel.hdl.gfa import GfaOp, GfaStatus
from mmaccel.hdl.gfa.regs import GFA_REGMAP
from mmaccel.verif.wishbone import WishboneBusError, wb_read, wb_write

ROOT = Path(__file__).resolve().parent.parent

TEST_MAP = RegisterMap(
    "T",
    (
        Register("CTRL", 0x00, "rw", (Field("EN", 0, 1), Field("MODE", 4, 3, "m", {"A": 2})), "c"),
        Register("DATA", 0x04, "rw", (), "Plain 32-bit data."),
        Register("STAT", 0x08, "ro", (), "Read-only status."),
        Register("KICK", 0x10, "wo", (), "Write-only kick (0x0c is a hole)."),
        Register("SLOW", 0x14, "ro", (), "Read that stalls while the block is not ready."),
    ),
    "A test map.",
)


# -- data -----------------------------------------------------------------------------------------


def test_field_and_register_validation() -> None:
    with pytest.raises(ValueError, match=r"lsb must be in 0..31, not 32"):
        Field("X", 32, 1)
    with pytest.raises(ValueError, match=r"width must be in 1..4, not 5"):
        Field("X", 28, 5)
    with pytest.raises(TypeError, match="lsb must be an int, not '1'"):
        Field("X", "1", 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="C identifier, not '1X'"):
        Field("1X", 0, 1)
    with pytest.raises(ValueError, match="value BIG=4 does not fit 2 bits"):
        Field("X", 0, 2, "", {"BIG": 4})
    with pytest.raises(ValueError, match="multiple of 4, not 0x6"):
        Register("R", 6, "rw")
    with pytest.raises(ValueError, match=r"access must be one of .* not 'rx'"):
        Register("R", 0, "rx")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="field B overlaps"):
        Register("R", 0, "rw", (Field("A", 0, 4), Field("B", 3, 2)))
    with pytest.raises(ValueError, match="register name R appears twice"):
        RegisterMap("M", (Register("R", 0, "rw"), Register("R", 4, "rw")))
    with pytest.raises(ValueError, match="registers A and B share offset 0x4"):
        RegisterMap("M", (Register("A", 4, "rw"), Register("B", 4, "ro")))
    with pytest.raises(ValueError, match="has no registers"):
        RegisterMap("M", ())


def test_lookups() -> None:
    assert TEST_MAP["DATA"].offset == 4 and TEST_MAP["DATA"].word == 1
    assert "KICK" in TEST_MAP and "NOPE" not in TEST_MAP
    with pytest.raises(KeyError, match="no register 'NOPE'"):
        TEST_MAP["NOPE"]
    assert TEST_MAP.at_offset(0x0C) is None
    assert TEST_MAP.at_offset(0x10) is TEST_MAP["KICK"]
    assert [r.name for r in TEST_MAP] == ["CTRL", "DATA", "STAT", "KICK", "SLOW"]
    assert TEST_MAP.size == 0x18 and TEST_MAP.addr_width == 3
    assert TEST_MAP["CTRL"].field("MODE").value_of("A") == 2
    with pytest.raises(KeyError, match="no field 'NOPE'"):
        TEST_MAP["CTRL"].field("NOPE")
    # every map in the project declares offsets the bank can decode
    for block in ("gfa", "mmu"):
        regmap = load_regmap(block)
        assert all(r.offset % 4 == 0 for r in regmap)
    with pytest.raises(KeyError, match="no register map for block 'cpu'"):
        load_regmap("cpu")


@given(en=st.integers(0, 1), mode=st.integers(0, 7))
def test_pack_unpack_roundtrip(en: int, mode: int) -> None:
    reg = TEST_MAP["CTRL"]
    word = reg.pack(en=en, mode=mode)
    assert word == en | mode << 4
    assert reg.unpack(word) == {"EN": en, "MODE": mode}


def test_pack_refuses_bad_values() -> None:
    reg = TEST_MAP["CTRL"]
    with pytest.raises(ValueError, match="3 bits wide; 8 does not fit"):
        reg.pack(mode=8)
    with pytest.raises(KeyError, match="no field 'SPEED'"):
        reg.pack(speed=1)
    with pytest.raises(ValueError, match=r"0..0xffffffff"):
        reg.unpack(1 << 32)


def test_gfa_codes_are_the_cores() -> None:
    ops: Any = GfaOp  # Amaranth has no type information: iterate the enums untyped
    codes: Any = GfaStatus
    assert dict(GFA_REGMAP["CMD"].field("OP").values) == {m.name: m.value for m in ops}
    assert dict(GFA_REGMAP["STATUS"].field("CODE").values) == {m.name: m.value for m in codes}


# -- generated text ------------------------------------------------------------------------------


def _c_check_program(regmap: RegisterMap) -> str:
    """C11 source that includes the header and checks every offset against the struct."""
    p = regmap.name
    lines = [regmap.c_header(), "#include <stddef.h>"]
    for r in regmap:
        lines.append(
            f"_Static_assert(offsetof({p.lower()}_regs_t, {r.name.lower()}) == "
            f'{p}_{r.name}_OFFSET, "{r.name}");'
        )
        for f in r.fields:
            fp = f"{p}_{r.name}_{f.name}"
            lines.append(f'_Static_assert({fp}_GET({fp}({fp}_MASK)) == {fp}_MASK, "{fp}");')
            lines.append(f'_Static_assert({fp}({fp}_MASK) == {f.mask}u, "{fp} mask");')
    lines.append(f'_Static_assert(sizeof({p.lower()}_regs_t) == {p}_REGMAP_SIZE, "size");')
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("block", ["gfa", "mmu"])
def test_c_header_compiles(block: str, tmp_path: Path) -> None:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler (cc/gcc) on PATH")
    regmap = load_regmap(block)
    header = tmp_path / f"{block}.h"
    header.write_text(render(block, "c-header"))
    flags = ["-Wall", "-Wextra", "-Werror", "-pedantic", "-fsyntax-only"]
    subprocess.run([cc, "-std=c99", *flags, "-x", "c", str(header)], check=True)
    check = tmp_path / "check.c"
    check.write_text(_c_check_program(regmap))
    proc = subprocess.run([cc, "-std=c11", *flags, str(check)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_c_header_and_markdown_content() -> None:
    header = GFA_REGMAP.c_header()
    assert "#define GFA_STATUS_BUSY_MASK 0x1u" in header
    assert "#define GFA_CMD_OP_ALLOC 0u" in header
    assert "#define GFA_STATUS_CODE_NO_SPACE 1u" in header
    assert "stalled" in header  # the command protocol is documented in the header
    md = GFA_REGMAP.markdown()
    for r in GFA_REGMAP:
        assert f"| 0x{r.offset:02x} | {r.name} | {r.access} |" in md
    assert "| 7:4 | CODE |" in md


def test_docs_are_generated_from_the_map() -> None:
    doc = ROOT / "docs" / "regmap-gfa.md"
    assert doc.read_text() == render("gfa", "markdown"), (
        "docs/regmap-gfa.md is stale: run `mmaccel regmap gfa --markdown -o docs/regmap-gfa.md`"
    )


def test_cli(capsys: Any, tmp_path: Path) -> None:
    assert main(["regmap", "gfa", "--c-header"]) == 0
    assert "#define GFA_CMD_OFFSET 0x0cu" in capsys.readouterr().out
    assert main(["regmap", "mmu", "--markdown"]) == 0
    assert "# MMU registers" in capsys.readouterr().out
    out = tmp_path / "gfa.md"
    assert main(["regmap", "gfa", "--markdown", "-o", str(out)]) == 0
    assert out.read_text() == render("gfa", "markdown")
    with pytest.raises(SystemExit):
        main(["regmap", "gfa", "--c-header", "--markdown"])
    with pytest.raises(ValueError, match="'html'"):
        render("gfa", "html")


# -- the bank in Amaranth's simulator ------------------------------------------------------------


class BankHarness(wiring.Component):
    """TEST_MAP's bank with storage for CTRL and DATA, a counter for KICK, SLOW gated by ``go``."""

    def __init__(self) -> None:
        super().__init__({"bus": In(WishboneSignature(3)), "go": In(1)})
        self.ctrl = Signal(32)
        self.data = Signal(32)
        self.kicks = Signal(8)
        self.last_kick = Signal(32)
        self.slow_reads = Signal(8)

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        m.submodules.bank = bank = RegisterBank(TEST_MAP)
        wiring.connect(m, wiring.flipped(self.bus), bank.bus)
        r = bank.regs
        m.d.comb += [
            r.ctrl.r_data.eq(self.ctrl),
            r.data.r_data.eq(self.data),
            r.stat.r_data.eq(0x5A5A_0000 | self.kicks),
            r.slow.r_data.eq(0xC0DE),
            r.slow.ready.eq(self.go),
        ]
        with m.If(r.ctrl.w_stb):
            m.d.sync += self.ctrl.eq(r.ctrl.w_data & 0x71)
        with m.If(r.data.w_stb):
            m.d.sync += self.data.eq(r.data.w_data)
        with m.If(r.kick.w_stb):
            m.d.sync += [self.kicks.eq(self.kicks + 1), self.last_kick.eq(r.kick.w_data)]
        with m.If(r.slow.r_stb):
            m.d.sync += self.slow_reads.eq(self.slow_reads + 1)
        return m


def _simulate(dut: Any, bench: Any) -> None:
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def test_bank_accesses() -> None:
    dut = BankHarness()

    async def bench(ctx: Any) -> None:
        bus = dut.bus
        await wb_write(ctx, bus, 1, 0x1234_5678)
        assert await wb_read(ctx, bus, 1) == 0x1234_5678
        # byte lanes: only lanes 1 and 3 change
        await wb_write(ctx, bus, 1, 0xAABB_CCDD, sel=0b1010)
        assert await wb_read(ctx, bus, 1) == 0xAA34_CC78
        await wb_write(ctx, bus, 0, 0xFFFF_FFFF)
        assert await wb_read(ctx, bus, 0) == 0x71
        await wb_write(ctx, bus, 4, 7)
        await wb_write(ctx, bus, 4, 9)
        assert ctx.get(dut.kicks) == 2 and ctx.get(dut.last_kick) == 9
        assert await wb_read(ctx, bus, 2) == 0x5A5A_0002

    _simulate(dut, bench)


def test_bank_err_leaves_state() -> None:
    dut = BankHarness()

    async def bench(ctx: Any) -> None:
        bus = dut.bus
        await wb_write(ctx, bus, 1, 0xCAFE)
        before = (ctx.get(dut.ctrl), ctx.get(dut.data), ctx.get(dut.kicks))
        for adr, data in ((3, None), (3, 1), (6, None), (7, 5), (2, 1), (4, None)):
            with pytest.raises(WishboneBusError, match=f"at word address {adr:#x}"):
                if data is None:
                    await wb_read(ctx, bus, adr)
                else:
                    await wb_write(ctx, bus, adr, data)
        after = (ctx.get(dut.ctrl), ctx.get(dut.data), ctx.get(dut.kicks))
        assert after == before
        assert await wb_read(ctx, bus, 1) == 0xCAFE  # the bus still works after ERR

    _simulate(dut, bench)


def test_bank_stall_and_timing() -> None:
    dut = BankHarness()

    async def bench(ctx: Any) -> None:
        bus = dut.bus
        # registered ack: one cycle after cyc & stb
        ctx.set(bus.adr, 1)
        ctx.set(bus.cyc, 1)
        ctx.set(bus.stb, 1)
        ctx.set(bus.sel, 0xF)
        assert ctx.get(bus.ack) == 0
        await ctx.tick()
        assert ctx.get(bus.ack) == 1
        ctx.set(bus.cyc, 0)
        ctx.set(bus.stb, 0)
        await ctx.tick()
        # SLOW stalls until go
        ctx.set(bus.adr, 5)
        ctx.set(bus.cyc, 1)
        ctx.set(bus.stb, 1)
        for _ in range(5):
            await ctx.tick()
            assert ctx.get(bus.ack) == 0 and ctx.get(bus.err) == 0
        assert ctx.get(dut.slow_reads) == 0
        ctx.set(dut.go, 1)
        await ctx.tick()
        assert ctx.get(bus.ack) == 1 and ctx.get(bus.dat_r) == 0xC0DE
        ctx.set(bus.cyc, 0)
        ctx.set(bus.stb, 0)
        await ctx.tick()
        assert ctx.get(dut.slow_reads) == 1

    _simulate(dut, bench)


def test_bank_parameters() -> None:
    with pytest.raises(TypeError, match="regmap must be a RegisterMap, not 3"):
        RegisterBank(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"addr_width must be in 3..32 for map T, not 2"):
        RegisterBank(TEST_MAP, addr_width=2)
    bank = RegisterBank(TEST_MAP, addr_width=8)
    bank._MustUse__silence = True
    assert bank.bus.adr.shape().width == 8
    assert set(bank.regs.kick.signature.members.keys()) == {"req", "we", "ready", "w_data", "w_stb"}


def test_no_register_makes_a_c_hostile_struct_member() -> None:
    """Leak checkers #define free, malloc, ...: a register may not become such a member."""
    for regmap in (GFA_REGMAP, load_regmap("mmu")):
        assert not {r.name.lower() for r in regmap} & {"free", "malloc", "realloc", "calloc"}
    with pytest.raises(ValueError, match="'free'"):
        RegisterMap("X", (Register("FREE", 0, "ro", (), "Free granules."),), "A map.")


@pytest.mark.parametrize(("block", "base"), [("gfa", "0x80010000"), ("mmu", "0x80020000")])
def test_c_header_shows_an_example_base_and_defines_none(block: str, base: str) -> None:
    header = render(block, "c-header")
    prefix = block.upper()
    assert f"#define MY_{prefix}_BASE {base}u" in header  # inside the usage comment
    assert f"\n#define MY_{prefix}_BASE" not in header and f"{prefix}_BASE_OFFSET" not in header
    assert "HEAP_BASE_OFFSET" in header or block == "mmu"
