"""UART, UART-to-Wishbone bridge and interconnect, in Amaranth's simulator.

The bridge is checked against a dictionary of what each RAM word must hold, with random reads
and writes, unmapped and misaligned addresses, a responder that never answers, bad commands and
dropped frames; the UART level runs the host driver's own BridgeLink through a fake serial port.
"""

from __future__ import annotations

import queue
import random
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from amaranth.hdl import Elaboratable, Module
from amaranth.lib import wiring
from amaranth.sim import Simulator

from mmaccel.boards.host.link import BridgeLink
from mmaccel.hdl.bus.interconnect import (
    Window,
    WishboneArbiter,
    WishboneBuffer,
    WishboneDecoder,
    WishboneRAM,
)
from mmaccel.hdl.bus.wishbone import WishboneSignature
from mmaccel.hdl.uart.bridge import (
    PING_MAGIC,
    BridgeCommand,
    BridgeStatus,
    StreamWishboneBridge,
    UARTWishboneBridge,
)
from mmaccel.hdl.uart.transceiver import UARTReceiver, UARTTransmitter, baud_divisor
from mmaccel.sw.errors import BoardLinkError, InvalidArgument

Testbench = Callable[[Any], Coroutine[Any, Any, None]]


def run(dut: Elaboratable, bench: Testbench, *background: Testbench) -> None:
    """Run ``bench`` to its end (with ``background`` testbenches alongside)."""
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    for other in background:
        sim.add_testbench(other, background=True)
    sim.run()


# -- UART ------------------------------------------------------------------------------------


def test_baud_divisor() -> None:
    assert baud_divisor(12e6, 115200) == 104
    assert baud_divisor(48e6, 115200) == 417
    with pytest.raises(ValueError, match="too fast"):
        baud_divisor(12e6, 6_000_000)
    with pytest.raises(ValueError, match="off by"):
        baud_divisor(12e6, 2_600_000)  # 12e6 / 2.6e6 = 4.6 -> 5 -> 15% off
    with pytest.raises(ValueError, match="positive"):
        baud_divisor(12e6, 0)
    with pytest.raises(TypeError):
        baud_divisor(12e6, 115200.0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 4"):
        UARTTransmitter(divisor=3)
    with pytest.raises(ValueError, match="addr_width"):
        StreamWishboneBridge(addr_width=31)


class _Loopback(Elaboratable):
    def __init__(self, divisor: int) -> None:
        self.tx = UARTTransmitter(divisor=divisor)
        self.rx = UARTReceiver(divisor=divisor)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.tx = self.tx
        m.submodules.rx = self.rx
        m.d.comb += self.rx.rx.eq(self.tx.tx)
        return m


@pytest.mark.parametrize("divisor", [4, 7, 16])
def test_uart_loopback(divisor: int) -> None:
    rng = random.Random(divisor)
    sent = [rng.randrange(256) for _ in range(40)] + [0x00, 0xFF, 0x55]
    got: list[int] = []
    dut = _Loopback(divisor)

    async def bench(ctx: Any) -> None:
        for byte in sent:
            ctx.set(dut.tx.data.payload, byte)
            ctx.set(dut.tx.data.valid, 1)
            await ctx.tick().until(dut.tx.data.ready)
            ctx.set(dut.tx.data.valid, 0)
            # wait for the byte to arrive, then take it after a random delay
            (value,) = await ctx.tick().sample(dut.rx.data.payload).until(dut.rx.data.valid)
            await ctx.tick().repeat(rng.randrange(1, divisor))
            ctx.set(dut.rx.data.ready, 1)
            await ctx.tick()
            ctx.set(dut.rx.data.ready, 0)
            assert ctx.get(dut.rx.overrun) == 0
            got.append(value)

    run(dut, bench)
    assert got == sent


def test_uart_framing_error() -> None:
    divisor = 8
    dut = UARTReceiver(divisor=divisor)
    seen = {"framing": 0, "valid": 0}

    async def bench(ctx: Any) -> None:
        ctx.set(dut.data.ready, 1)

        async def send_bits(bits: list[int]) -> None:
            for bit in bits:
                ctx.set(dut.rx, bit)
                for _ in range(divisor):
                    await ctx.tick()
                    seen["framing"] += ctx.get(dut.framing_error)
                    seen["valid"] += ctx.get(dut.data.valid)

        await send_bits([1, 1])
        await send_bits([0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0])  # stop bit low: a break
        assert seen == {"framing": 1, "valid": 0}
        await send_bits([1] * 3 + [0] + [0, 1, 1, 0, 0, 1, 1, 0] + [1] + [1])  # a good 0x66
        assert seen["framing"] == 1 and seen["valid"] >= 1
        assert ctx.get(dut.data.payload) == 0x66

    run(dut, bench)


# -- bridge over byte streams -------------------------------------------------------------------


class _Silent(wiring.Component):
    """A responder that never answers (for the bus timeout)."""

    def __init__(self) -> None:
        super().__init__({"bus": wiring.In(WishboneSignature(4))})

    def elaborate(self, platform: object) -> Module:
        return Module()


class _StreamSystem(Elaboratable):
    """Bridge -> decoder -> {ram at 0, silent at 0x1000, ram2 at 0x2000}."""

    def __init__(self) -> None:
        self.bridge = StreamWishboneBridge(addr_width=30, frame_timeout=60, bus_timeout=20)
        self.ram = WishboneRAM(depth=64)
        self.ram2 = WishboneRAM(depth=12, init=[0x1234_5678])
        self.silent = _Silent()
        self.decoder = WishboneDecoder(
            addr_width=30,
            windows=[
                Window("ram", 0x0, self.ram.bus.signature.addr_width),
                Window("silent", 0x1000, 4),
                Window("ram2", 0x2000, self.ram2.bus.signature.addr_width),
            ],
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.bridge = self.bridge
        m.submodules.decoder = self.decoder
        m.submodules.ram = self.ram
        m.submodules.ram2 = self.ram2
        m.submodules.silent = self.silent
        wiring.connect(m, self.bridge.bus, self.decoder.bus)
        wiring.connect(m, self.decoder.ram, self.ram.bus)
        wiring.connect(m, self.decoder.ram2, self.ram2.bus)
        wiring.connect(m, self.decoder.silent, self.silent.bus)
        return m


async def _send(ctx: Any, port: Any, data: bytes) -> None:
    for byte in data:
        ctx.set(port.payload, byte)
        ctx.set(port.valid, 1)
        await ctx.tick().until(port.ready)
    ctx.set(port.valid, 0)


async def _recv(ctx: Any, port: Any, n: int, limit: int = 200) -> bytes:
    out = bytearray()
    ctx.set(port.ready, 1)
    waited = 0
    while len(out) < n:
        await ctx.tick()
        waited += 1
        assert waited < limit * n, f"no answer after {waited} cycles, got {out.hex()}"
        # a transfer happened at the edge just passed if valid was high (ready is always high)
        if ctx.get(port.valid):
            out.append(ctx.get(port.payload))
    ctx.set(port.ready, 0)
    return bytes(out)


def test_bridge_random_accesses() -> None:
    rng = random.Random(7)
    dut = _StreamSystem()
    b = dut.bridge
    shadow = {0x2000: 0x1234_5678}
    checked = {"ok": 0, "err": 0}

    async def recv(n: int) -> bytes:
        out = bytearray()
        for _ in range(n):
            ctx_value = await ctx_ref["ctx"].tick().sample(b.tx.payload).until(b.tx.valid)
            out.append(ctx_value[0])
        return bytes(out)

    ctx_ref: dict[str, Any] = {}

    async def bench(ctx: Any) -> None:
        ctx_ref["ctx"] = ctx
        ctx.set(b.tx.ready, 1)
        for _ in range(300):
            kind = rng.random()
            if kind < 0.4:
                region = rng.choice([0x0, 0x2000])
                depth = 64 if region == 0 else 12
                addr = region + 4 * rng.randrange(depth)
                value = rng.getrandbits(32)
                await _send(ctx, b.rx, BridgeLink.write_frame(addr, value))
                assert await recv(1) == bytes([BridgeStatus.OK])
                shadow[addr] = value
                checked["ok"] += 1
            elif kind < 0.8:
                region = rng.choice([0x0, 0x2000])
                depth = 64 if region == 0 else 12
                addr = region + 4 * rng.randrange(depth)
                await _send(ctx, b.rx, BridgeLink.read_frame(addr))
                reply = await recv(5)
                assert reply[0] == BridgeStatus.OK
                assert int.from_bytes(reply[1:], "little") == shadow.get(addr, 0), hex(addr)
                checked["ok"] += 1
            elif kind < 0.88:
                # unmapped: past ram2's 12 words, between windows, or far away
                addr = rng.choice([0x2000 + 4 * 13, 0x800, 0x3000, 0xFFFF_FFFC])
                frame = (
                    BridgeLink.read_frame(addr)
                    if rng.random() < 0.5
                    else BridgeLink.write_frame(addr, 0xDEAD_BEEF)
                )
                await _send(ctx, b.rx, frame)
                reply = await recv(5 if frame[0] == BridgeCommand.READ else 1)
                assert reply[0] == BridgeStatus.BUS_ERROR, (hex(addr), reply.hex())
                if frame[0] == BridgeCommand.READ:
                    assert reply[1:] == bytes(4)
                checked["err"] += 1
            elif kind < 0.92:
                addr = 4 * rng.randrange(64) + rng.randrange(1, 4)
                frame = bytes([BridgeCommand.READ]) + addr.to_bytes(4, "little")
                await _send(ctx, b.rx, frame)
                assert (await recv(5))[0] == BridgeStatus.MISALIGNED
                checked["err"] += 1
            elif kind < 0.95:
                await _send(ctx, b.rx, bytes([BridgeCommand.READ]) + (0x1000).to_bytes(4, "little"))
                assert (await recv(5))[0] == BridgeStatus.TIMEOUT
                checked["err"] += 1
            elif kind < 0.98:
                await _send(ctx, b.rx, bytes([0x00]))
                assert await recv(1) == bytes([BridgeStatus.BAD_COMMAND])
                checked["err"] += 1
            else:
                # a frame that stops half way is dropped after the frame timeout; no answer
                await _send(ctx, b.rx, BridgeLink.write_frame(0x10, 0xFFFF_FFFF)[:5])
                for _ in range(80):
                    await ctx.tick()
                    assert not ctx.get(b.tx.valid)
                await _send(ctx, b.rx, bytes([BridgeCommand.PING]))
                reply = await recv(5)
                assert reply == bytes([BridgeStatus.OK]) + PING_MAGIC.to_bytes(4, "little")
        # every word ends as the shadow says
        for addr in [4 * i for i in range(64)] + [0x2000 + 4 * i for i in range(12)]:
            await _send(ctx, b.rx, BridgeLink.read_frame(addr))
            reply = await recv(5)
            assert int.from_bytes(reply[1:], "little") == shadow.get(addr, 0)

    run(dut, bench)
    assert checked["ok"] > 150 and checked["err"] > 20


# -- decoder and arbiter ------------------------------------------------------------------------


def test_decoder_rejects_bad_windows() -> None:
    with pytest.raises(ValueError, match="not a multiple"):
        WishboneDecoder(addr_width=20, windows=[Window("a", 0x10, 4)])
    with pytest.raises(ValueError, match="overlaps"):
        WishboneDecoder(addr_width=20, windows=[Window("a", 0, 8), Window("b", 0x40, 4)])
    with pytest.raises(ValueError, match="used twice"):
        WishboneDecoder(addr_width=20, windows=[Window("a", 0, 4), Window("a", 0x40, 4)])
    with pytest.raises(ValueError, match="leaves"):
        WishboneDecoder(addr_width=4, windows=[Window("a", 0x40, 4)])
    with pytest.raises(ValueError, match="port name"):
        WishboneDecoder(addr_width=20, windows=[Window("bus", 0, 4)])
    with pytest.raises(ValueError, match="at least 1"):
        WishboneRAM(depth=0)
    with pytest.raises(ValueError, match="at least 1"):
        WishboneArbiter(addr_width=4, count=0)


class _ArbiterSystem(Elaboratable):
    """Initiator 0 straight into the arbiter, initiator 1 through a WishboneBuffer."""

    def __init__(self) -> None:
        self.arbiter = WishboneArbiter(addr_width=5, count=2)
        self.buffer = WishboneBuffer(addr_width=5)
        self.ram = WishboneRAM(depth=32)
        self.ports = [self.arbiter.initiators[0], self.buffer.initiator]

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.arbiter = self.arbiter
        m.submodules.buffer = self.buffer
        m.submodules.ram = self.ram
        wiring.connect(m, self.arbiter.bus, self.ram.bus)
        wiring.connect(m, self.buffer.responder, self.arbiter.initiators[1])
        return m


def test_arbiter_two_initiators() -> None:
    """Two initiators (one behind a register stage) write their own halves and read them back."""
    dut = _ArbiterSystem()
    done = {0: 0, 1: 0}

    async def master(ctx: Any, index: int) -> None:
        rng = random.Random(index)
        port = dut.ports[index]
        mine: dict[int, int] = {}
        for _ in range(60):
            word = 16 * index + rng.randrange(16)
            write = rng.random() < 0.5
            value = rng.getrandbits(32)
            ctx.set(port.adr, word)
            ctx.set(port.we, write)
            ctx.set(port.dat_w, value)
            ctx.set(port.sel, 0xF)
            ctx.set(port.cyc, 1)
            ctx.set(port.stb, 1)
            (data,) = await ctx.tick().sample(port.dat_r).until(port.ack)
            ctx.set(port.cyc, 0)
            ctx.set(port.stb, 0)
            if write:
                mine[word] = value
            else:
                assert data == mine.get(word, 0)
            done[index] += 1
            await ctx.tick().repeat(rng.randrange(1, 4))

    async def master0(ctx: Any) -> None:
        await master(ctx, 0)

    async def master1(ctx: Any) -> None:
        await master(ctx, 1)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(master0)
    sim.add_testbench(master1)
    sim.run()
    assert done == {0: 60, 1: 60}


# -- the host driver through the real UART ------------------------------------------------------


class _ThreadPort:
    """A pyserial-like port whose bytes a simulation testbench carries to and from the UART."""

    def __init__(self) -> None:
        self.to_device: queue.Queue[int] = queue.Queue()
        self.from_device: queue.Queue[int] = queue.Queue()
        self.timeout = 5.0

    def write(self, data: bytes) -> int:
        for byte in data:
            self.to_device.put(byte)
        return len(data)

    def read(self, size: int = 1) -> bytes:
        out = bytearray()
        try:
            while len(out) < size:
                out.append(self.from_device.get(timeout=self.timeout))
        except queue.Empty:
            pass
        return bytes(out)


class _UartSystem(Elaboratable):
    def __init__(self, divisor: int) -> None:
        self.divisor = divisor
        self.bridge = UARTWishboneBridge(divisor=divisor, addr_width=8)
        self.ram = WishboneRAM(depth=256)

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.submodules.bridge = self.bridge
        m.submodules.ram = self.ram
        wiring.connect(m, self.bridge.bus, self.ram.bus)
        return m


def test_driver_over_uart() -> None:
    """BridgeLink in a thread; the testbench is the wire (8N1 bit timing at divisor 6)."""
    divisor = 6
    dut = _UartSystem(divisor)
    port = _ThreadPort()
    link = BridgeLink(port, retries=0)
    rng = random.Random(3)
    result: dict[str, object] = {}

    def host() -> None:
        try:
            shadow: dict[int, int] = {}
            link.ping()
            for _ in range(60):
                addr = 4 * rng.randrange(256)
                if rng.random() < 0.5:
                    value = rng.getrandbits(32)
                    link.write32(addr, value)
                    shadow[addr] = value
                else:
                    assert link.read32(addr) == shadow.get(addr, 0)
            with pytest.raises(BoardLinkError, match="BUS_ERROR") as info:
                link.read32(0x400)  # beyond the 8-bit word address: refused by the bridge
            assert info.value.status == BridgeStatus.BUS_ERROR
            before = (link.reads, link.writes)
            with pytest.raises(InvalidArgument, match="0x3"):
                link.read32(3)
            assert (link.reads, link.writes) == before
            result["ok"] = True
        except BaseException as error:  # reported by the test below
            result["error"] = error
        finally:
            result["done"] = True

    bridge = dut.bridge

    async def sender(ctx: Any) -> None:
        ctx.set(bridge.rx, 1)
        thread = threading.Thread(target=host, daemon=True)
        thread.start()
        while not result.get("done"):
            try:
                byte = port.to_device.get_nowait()
            except queue.Empty:
                await ctx.tick().repeat(divisor)
                continue
            for bit in [0, *((byte >> i) & 1 for i in range(8)), 1]:
                ctx.set(bridge.rx, bit)
                await ctx.tick().repeat(divisor)
        thread.join()

    async def receiver(ctx: Any) -> None:
        while True:
            await ctx.tick()
            if ctx.get(bridge.tx):  # (not tick().until: an abandoned until() warns at exit)
                continue
            await ctx.tick().repeat(divisor // 2)
            assert ctx.get(bridge.tx) == 0, "start bit too short"
            value = 0
            for i in range(8):
                await ctx.tick().repeat(divisor)
                value |= ctx.get(bridge.tx) << i
            await ctx.tick().repeat(divisor)
            assert ctx.get(bridge.tx) == 1, "stop bit low"
            port.from_device.put(value)

    run(dut, sender, receiver)
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    assert result.get("ok")


# -- host driver pieces without a board -------------------------------------------------------


class _RegisterFile:
    """Stands in for BridgeLink: a dict of words, counting the accesses."""

    def __init__(self) -> None:
        self.words: dict[int, int] = {}
        self.writes = 0

    def read32(self, addr: int) -> int:
        return self.words.get(addr, 0)

    def write32(self, addr: int, value: int) -> None:
        from mmaccel.boards.top import BOARD_MAP, BOARD_REGMAP

        if addr != BOARD_MAP["info"] + BOARD_REGMAP["PTMEM_CLEAR"].offset:  # done at once
            self.words[addr] = value
        self.writes += 1


def test_serial_mmu_load_sends_only_changes() -> None:
    from typing import cast

    from mmaccel.boards.host.mmu import SerialMmu
    from mmaccel.boards.top import BOARD_MAP
    from mmaccel.sw.memory import PhysicalMemory

    regs = _RegisterFile()
    mmu = SerialMmu(cast(BridgeLink, regs), 8192)
    mem = PhysicalMemory(8192)
    mem.write_u32(0x10, 0xABCD)
    mem.write_u32(0x1FFC, 7)
    mmu.clear_memory()  # the fake clears at once: PTMEM_CLEAR reads 0
    writes = regs.writes
    assert mmu.load(mem) == 2 and regs.writes == writes + 2
    assert regs.words[BOARD_MAP["ptmem"] + 0x10] == 0xABCD
    assert mmu.load(mem) == 0  # nothing changed
    mem.write_u32(0x10, 0)
    assert mmu.load(mem, pages=[0]) == 1 and regs.words[BOARD_MAP["ptmem"] + 0x10] == 0
    # bad input: nothing is written
    writes = regs.writes
    with pytest.raises(InvalidArgument, match="does not fit"):
        mmu.load(PhysicalMemory(16384))
    with pytest.raises(InvalidArgument, match="0x800"):
        mmu.load(mem, pages=[0, 0x800])
    assert regs.writes == writes
