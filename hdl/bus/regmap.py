"""Register maps declared once as data, and the Wishbone register bank generated from them.

A :class:`RegisterMap` is a list of :class:`Register` (name, byte offset, access, fields, doc),
each made of :class:`Field` (name, bit position, width, doc, named values). From that one
declaration come:

- the gateware decode: :class:`RegisterBank` answers a Wishbone bus (``ack`` for a mapped
  register, ``err`` for an unmapped word or an access the register does not allow) and hands
  each register's accesses to the block through a small port;
- the C header for firmware (:meth:`RegisterMap.c_header`) and the Markdown table for the docs
  (:meth:`RegisterMap.markdown`);
- packing and unpacking of register words in Python (:meth:`Register.pack`,
  :meth:`Register.unpack`) for test benches and software drivers.

Offsets are byte offsets (multiples of 4); the bus's ``adr`` is the word address ``offset // 4``.
"""

from __future__ import annotations

import enum
import keyword
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from mmaccel.hdl.bus.wishbone import WishboneSignature

__all__ = [
    "Access",
    "Field",
    "Register",
    "RegisterBank",
    "RegisterMap",
    "RegisterPortSignature",
    "id_config_registers",
]

Access = Literal["rw", "ro", "wo"]
_ACCESS = ("rw", "ro", "wo")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _check_ident(kind: str, name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{kind} name must be a str, not {name!r}")
    if not _IDENT.match(name) or keyword.iskeyword(name.lower()):
        raise ValueError(f"{kind} name must be a C identifier, not {name!r}")
    return name


def _check_int(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {value!r}")
    return value


def _c_comment(text: str) -> str:
    return " ".join(text.replace("*/", "* /").split())


def _md_cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


@dataclass(frozen=True, slots=True)
class Field:
    """A bit field of a register.

    Parameters
    ----------
    name : str
        Upper-case C identifier, unique in its register.
    lsb : int
        Lowest bit, 0..31.
    width : int
        Width in bits, 1..32 - lsb.
    doc : str
        One-line description.
    values : mapping of str to int, or an enum class, optional
        Named values of the field (an ``enum.Enum`` class contributes its members).

    Raises
    ------
    TypeError, ValueError
        A parameter of the wrong type or outside the ranges above; a named value that does
        not fit the field.
    """

    name: str
    lsb: int
    width: int
    doc: str = ""
    values: Any = ()

    def __post_init__(self) -> None:
        _check_ident("field", self.name)
        _check_int("lsb", self.lsb)
        _check_int("width", self.width)
        if not 0 <= self.lsb < 32:
            raise ValueError(f"field {self.name}: lsb must be in 0..31, not {self.lsb}")
        if not 1 <= self.width <= 32 - self.lsb:
            raise ValueError(
                f"field {self.name}: width must be in 1..{32 - self.lsb}, not {self.width}"
            )
        raw = self.values
        pairs: list[tuple[str, int]]
        if isinstance(raw, type) and issubclass(raw, enum.Enum):
            pairs = [(m.name, int(m.value)) for m in raw]
        elif isinstance(raw, Mapping):
            pairs = [(str(k), v) for k, v in raw.items()]
        else:
            pairs = [(str(k), v) for k, v in raw]
        for vname, value in pairs:
            _check_ident("value", vname)
            _check_int(f"value {vname}", value)
            if not 0 <= value < (1 << self.width):
                raise ValueError(
                    f"field {self.name}: value {vname}={value} does not fit {self.width} bits"
                )
        object.__setattr__(self, "values", tuple(pairs))

    @property
    def msb(self) -> int:
        """Highest bit of the field."""
        return self.lsb + self.width - 1

    @property
    def mask(self) -> int:
        """The field's bits in place in the register word."""
        return ((1 << self.width) - 1) << self.lsb

    def encode(self, value: int) -> int:
        """``value`` shifted into place; ValueError if it does not fit the field."""
        _check_int(f"field {self.name} value", value)
        if not 0 <= value < (1 << self.width):
            raise ValueError(f"field {self.name} is {self.width} bits wide; {value} does not fit")
        return value << self.lsb

    def decode(self, word: int) -> int:
        """The field's value in register word ``word``."""
        return (word >> self.lsb) & ((1 << self.width) - 1)

    def value_of(self, vname: str) -> int:
        """The number of named value ``vname``; KeyError naming it if there is none."""
        for name, value in self.values:
            if name == vname:
                return value
        raise KeyError(f"field {self.name} has no value named {vname!r}")


@dataclass(frozen=True, slots=True)
class Register:
    """One 32-bit register of a map.

    Parameters
    ----------
    name : str
        Upper-case C identifier, unique in its map.
    offset : int
        Byte offset, a multiple of 4.
    access : {"rw", "ro", "wo"}
        What the bus may do; any other access is answered with ``err``.
    fields : iterable of Field
        Non-overlapping fields. None means the whole word is one value.
    doc : str
        Description (the first sentence is used in tables).

    Raises
    ------
    TypeError, ValueError
        A parameter of the wrong type or outside the ranges above, or overlapping fields.
    """

    name: str
    offset: int
    access: Access
    fields: tuple[Field, ...] = ()
    doc: str = ""

    def __post_init__(self) -> None:
        _check_ident("register", self.name)
        _check_int("offset", self.offset)
        if self.offset < 0 or self.offset % 4:
            raise ValueError(
                f"register {self.name}: offset must be a non-negative multiple of 4, "
                f"not {self.offset:#x}"
            )
        if self.access not in _ACCESS:
            raise ValueError(
                f"register {self.name}: access must be one of {_ACCESS}, not {self.access!r}"
            )
        fields = tuple(self.fields)
        used = 0
        names: set[str] = set()
        for f in fields:
            if not isinstance(f, Field):
                raise TypeError(f"register {self.name}: fields must be Field, not {f!r}")
            if f.name in names:
                raise ValueError(f"register {self.name}: field name {f.name} appears twice")
            if used & f.mask:
                raise ValueError(f"register {self.name}: field {f.name} overlaps another field")
            used |= f.mask
            names.add(f.name)
        object.__setattr__(self, "fields", fields)

    @property
    def word(self) -> int:
        """Word address on the bus (``offset // 4``)."""
        return self.offset // 4

    @property
    def readable(self) -> bool:
        """The bus may read it ("rw", "ro")."""
        return self.access in ("rw", "ro")

    @property
    def writable(self) -> bool:
        """The bus may write it ("rw", "wo")."""
        return self.access in ("rw", "wo")

    @property
    def all_fields(self) -> tuple[Field, ...]:
        """The fields, or one 32-bit field named like the register when it has none."""
        return self.fields or (Field(self.name, 0, 32, self.doc),)

    def field(self, name: str) -> Field:
        """The field called ``name``; KeyError naming it if there is none."""
        for f in self.all_fields:
            if f.name == name:
                return f
        raise KeyError(f"register {self.name} has no field {name!r}")

    def pack(self, **values: int) -> int:
        """A register word from field values (missing fields are 0).

        Field names are given in any case: ``STATUS.pack(busy=1, code=3)``.
        """
        word = 0
        for key, value in values.items():
            word |= self.field(key.upper()).encode(value)
        return word

    def unpack(self, word: int) -> dict[str, int]:
        """Field values of a register word, keyed by field name."""
        _check_int("word", word)
        if not 0 <= word < (1 << 32):
            raise ValueError(f"register word must be in 0..0xffffffff, not {word:#x}")
        return {f.name: f.decode(word) for f in self.all_fields}


#: C struct member names that standard or leak-checker headers may ``#define`` (a register
#: named FREE would give ``free``, which dmalloc, mtrace-style checkers and others redefine).
_C_HOSTILE_MEMBERS = frozenset(
    {"free", "malloc", "calloc", "realloc", "new", "delete", "errno", "assert", "exit", "main"}
)


@dataclass(frozen=True, slots=True)
class RegisterMap:
    """A block's registers, declared once as data.

    Parameters
    ----------
    name : str
        Upper-case C identifier, the prefix of every generated C name (``GFA``).
    registers : iterable of Register
        Registers with unique names and offsets.
    doc : str
        Description of the block and of how a CPU uses it; copied into the C header and the
        Markdown.

    Raises
    ------
    TypeError, ValueError
        A duplicated register name or offset, or a register that is not a Register.
    """

    name: str
    registers: tuple[Register, ...]
    doc: str = ""

    def __post_init__(self) -> None:
        _check_ident("map", self.name)
        regs = tuple(sorted(self.registers, key=lambda r: r.offset))
        if not regs:
            raise ValueError(f"register map {self.name} has no registers")
        seen_names: set[str] = set()
        seen_offsets: dict[int, str] = {}
        for r in regs:
            if not isinstance(r, Register):
                raise TypeError(f"map {self.name}: registers must be Register, not {r!r}")
            if r.name in seen_names:
                raise ValueError(f"map {self.name}: register name {r.name} appears twice")
            if r.name.lower() in _C_HOSTILE_MEMBERS:
                raise ValueError(
                    f"map {self.name}: register name {r.name} makes a C struct member "
                    f"{r.name.lower()!r}, which C library and leak-checker headers #define"
                )
            if r.offset in seen_offsets:
                raise ValueError(
                    f"map {self.name}: registers {seen_offsets[r.offset]} and {r.name} "
                    f"share offset {r.offset:#x}"
                )
            seen_names.add(r.name)
            seen_offsets[r.offset] = r.name
        object.__setattr__(self, "registers", regs)

    # -- lookups --------------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Register]:
        return iter(self.registers)

    def __len__(self) -> int:
        return len(self.registers)

    def __contains__(self, name: object) -> bool:
        return any(r.name == name for r in self.registers)

    def __getitem__(self, name: str) -> Register:
        for r in self.registers:
            if r.name == name:
                return r
        raise KeyError(f"register map {self.name} has no register {name!r}")

    def at_offset(self, offset: int) -> Register | None:
        """The register at byte ``offset``, or None."""
        for r in self.registers:
            if r.offset == offset:
                return r
        return None

    @property
    def size(self) -> int:
        """Bytes spanned from offset 0 to the end of the last register."""
        return self.registers[-1].offset + 4

    @property
    def addr_width(self) -> int:
        """Fewest ``adr`` bits (word address) that reach every register."""
        return max(1, (self.size // 4 - 1).bit_length())

    # -- generated text -------------------------------------------------------------------------

    def c_header(self, *, command: str | None = None, example_base: int | None = None) -> str:
        """A C header (C99, ``stdint.h``) with offsets, field shifts/masks/values and a struct.

        Every name starts with ``<map name>_``. ``command`` names the command that generated
        it, for the "do not edit" line. ``example_base`` is a byte address where the block may
        sit on a bus (mmaccel's SoC's), shown in a usage comment; the header defines no base
        address of its own (it is the integrator's choice).
        """
        p = self.name
        guard = f"MMACCEL_{p}_REGS_H"
        out: list[str] = []
        origin = f" by `{command}`" if command else " from mmaccel.hdl's register map"
        out.append(f"/* {p} register map. Generated{origin}; do not edit. */")
        if self.doc:
            out.append("/*")
            for para in self.doc.strip().split("\n\n"):
                for line in _wrap(_c_comment(para), 94):
                    out.append(f" * {line}".rstrip())
                out.append(" *")
            out[-1] = " */"
        if example_base is not None:
            reg0 = self.registers[0]
            lower = p.lower()
            out += [
                "/*",
                " * The header gives offsets from the block's base address, which the integrator",
                f" * chooses. Example with the block at 0x{example_base:08x} (mmaccel's SoC):",
                " *",
                f" *   #define MY_{p}_BASE 0x{example_base:08x}u",
                f" *   volatile {lower}_regs_t *const {lower} = ({lower}_regs_t *)MY_{p}_BASE;",
                f" *   uint32_t {reg0.name.lower()} = {lower}->{reg0.name.lower()};",
                f" *   uint32_t same = *(volatile uint32_t *)"
                f"(MY_{p}_BASE + {p}_{reg0.name}_OFFSET);",
                " */",
            ]
        out += [f"#ifndef {guard}", f"#define {guard}", "", "#include <stdint.h>", ""]
        out.append(f"#define {p}_REGMAP_SIZE 0x{self.size:x}u")
        out.append("")
        for r in self.registers:
            rp = f"{p}_{r.name}"
            first = _first_sentence(r.doc)
            out.append(f"/* {r.name} ({r.access}, offset 0x{r.offset:02x}): {_c_comment(first)} */")
            out.append(f"#define {rp}_OFFSET 0x{r.offset:02x}u")
            out.append(f"#define {rp}_WORD {r.word}u")
            for f in r.fields:
                fp = f"{rp}_{f.name}"
                out.append(f"#define {fp}_SHIFT {f.lsb}u")
                out.append(f"#define {fp}_WIDTH {f.width}u")
                out.append(f"#define {fp}_MASK 0x{(1 << f.width) - 1:x}u")
                out.append(f"#define {fp}_GET(reg) (((uint32_t)(reg) >> {fp}_SHIFT) & {fp}_MASK)")
                out.append(f"#define {fp}(val) (((uint32_t)(val) & {fp}_MASK) << {fp}_SHIFT)")
                for vname, value in f.values:
                    out.append(f"#define {fp}_{vname} {value}u")
            out.append("")
        # A struct overlay for memory-mapped access, with reserved words in the gaps.
        out.append(f"typedef struct {p.lower()}_regs {{")
        pos = 0
        for r in self.registers:
            if r.offset > pos:
                out.append(f"    uint32_t reserved_{pos:02x}[{(r.offset - pos) // 4}];")
            qual = "const volatile" if r.access == "ro" else "volatile"
            out.append(f"    {qual} uint32_t {r.name.lower()}; /* 0x{r.offset:02x} */")
            pos = r.offset + 4
        out.append(f"}} {p.lower()}_regs_t;")
        out.append("")
        out.append("#endif")
        return "\n".join(out) + "\n"

    def markdown(self, *, level: int = 2) -> str:
        """The register table and per-register field tables as Markdown.

        ``level`` is the heading level of the map's title.
        """
        h = "#" * level
        out = [f"{h} {self.name} registers", ""]
        if self.doc:
            out += [self.doc.strip(), ""]
        out += ["| Offset | Name | Access | Description |", "|---|---|---|---|"]
        for r in self.registers:
            out.append(
                f"| 0x{r.offset:02x} | {r.name} | {r.access} | {_md_cell(_first_sentence(r.doc))} |"
            )
        out.append("")
        for r in self.registers:
            out += [f"{h}# {r.name} (0x{r.offset:02x}, {r.access})", ""]
            if r.doc:
                out += [" ".join(r.doc.split()), ""]
            if r.fields:
                out += ["| Bits | Field | Description | Values |", "|---|---|---|---|"]
                for f in r.fields:
                    bits = f"{f.lsb}" if f.width == 1 else f"{f.msb}:{f.lsb}"
                    vals = ", ".join(f"{n}={v}" for n, v in f.values)
                    out.append(f"| {bits} | {f.name} | {_md_cell(f.doc)} | {vals} |")
                out.append("")
        return "\n".join(out).rstrip("\n") + "\n"


def id_config_registers(
    id_doc: str, config_fields: Iterable[Field], config_doc: str
) -> tuple[Register, Register]:
    """The two registers a block's map starts with: ``ID`` at 0x00 and ``CONFIG`` at 0x04.

    Both are read-only. ``ID`` is one 32-bit constant naming the block (its value is the
    block's, served by its gateware); ``CONFIG`` holds the build-time parameters in fields.

    Parameters
    ----------
    id_doc : str
        Description of ``ID``, naming its value.
    config_fields : iterable of Field
        The fields of ``CONFIG``.
    config_doc : str
        Description of ``CONFIG``.

    Returns
    -------
    tuple of Register
        ``(ID, CONFIG)``, to be listed first in the map's registers.
    """
    return (
        Register("ID", 0x00, "ro", (), id_doc),
        Register("CONFIG", 0x04, "ro", tuple(config_fields), config_doc),
    )


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    m = re.match(r"(.+?\.)(\s|$)", text)
    return m.group(1) if m else text


def _wrap(text: str, width: int) -> Iterable[str]:
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            yield line
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        yield line


class RegisterPortSignature(wiring.Signature):
    """One register's side of a :class:`RegisterBank`, seen from the bank.

    Parameters
    ----------
    access : {"rw", "ro", "wo"}
        Decides which members exist.

    Members
    -------
    req : Out(1)
        A bus access to this register is waiting (this cycle); ``we`` tells which kind.
    we : Out(1)
        The waiting access is a write.
    ready : In(1), init 1
        The block accepts the waiting access now; hold it low to stall the bus (``ack`` waits).
    r_data : In(32)
        (readable) The value a read returns, sampled in the cycle the read is accepted.
    r_stb : Out(1)
        (readable) Pulses in the cycle a read is accepted (``ack`` follows next cycle).
    w_data : Out(32)
        (writable) The word to store: ``dat_w`` on the lanes of ``sel``, ``r_data`` (0 for a
        write-only register) on the others.
    w_stb : Out(1)
        (writable) Pulses in the cycle a write is accepted; store ``w_data`` on that edge.
    """

    def __init__(self, access: Access) -> None:
        if access not in _ACCESS:
            raise ValueError(f"access must be one of {_ACCESS}, not {access!r}")
        self._access = access
        members: dict[str, Any] = {"req": Out(1), "we": Out(1), "ready": In(1, init=1)}
        if access in ("rw", "ro"):
            members["r_data"] = In(32)
            members["r_stb"] = Out(1)
        if access in ("rw", "wo"):
            members["w_data"] = Out(32)
            members["w_stb"] = Out(1)
        super().__init__(members)

    @property
    def access(self) -> Access:
        """The register's access mode."""
        return self._access

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RegisterPortSignature) and other.access == self.access

    def __hash__(self) -> int:
        return hash((RegisterPortSignature, self._access))

    def __repr__(self) -> str:
        return f"RegisterPortSignature({self._access!r})"


class RegisterBank(wiring.Component):
    """Wishbone decode of a :class:`RegisterMap`: one port per register for the block.

    An access to a word with no register, a write to an ``ro`` register or a read of a ``wo``
    register is answered with ``err``; any other access waits for the register port's
    ``ready`` and is then answered with ``ack``. ``dat_r`` is valid with ``ack``. Writes honour
    ``sel`` (see ``w_data``).

    Latency: ``ack``/``err`` one cycle after ``cyc & stb`` when ``ready`` is high (registered
    termination). Throughput: one access every 2 cycles (classic Wishbone, ``stb`` must drop or
    be re-sampled after ``ack``).

    Parameters
    ----------
    regmap : RegisterMap
        The registers.
    addr_width : int, optional
        Width of the bus's word address; at least ``regmap.addr_width`` (the default).

    Members
    -------
    bus : In(WishboneSignature(addr_width))
        The responder port.
    regs : Out(Signature({name.lower(): Out(RegisterPortSignature(access))}))
        One port per register, named by the register's lower-case name.
    """

    def __init__(self, regmap: RegisterMap, *, addr_width: int | None = None) -> None:
        self._MustUse__silence = True  # no "never used" warning if the arguments are refused
        if not isinstance(regmap, RegisterMap):
            raise TypeError(f"regmap must be a RegisterMap, not {regmap!r}")
        if addr_width is None:
            addr_width = regmap.addr_width
        _check_int("addr_width", addr_width)
        if not regmap.addr_width <= addr_width <= 32:
            raise ValueError(
                f"addr_width must be in {regmap.addr_width}..32 for map {regmap.name}, "
                f"not {addr_width}"
            )
        self._regmap = regmap
        self._MustUse__silence = False
        ports = wiring.Signature(
            {r.name.lower(): Out(RegisterPortSignature(r.access)) for r in regmap}
        )
        super().__init__({"bus": In(WishboneSignature(addr_width)), "regs": Out(ports)})

    @property
    def regmap(self) -> RegisterMap:
        """The map this bank decodes."""
        return self._regmap

    def elaborate(self, platform: Any) -> Module:
        m = Module()
        bus = self.bus
        ack = Signal()
        err = Signal()
        dat_r = Signal(32)
        m.d.comb += [bus.ack.eq(ack), bus.err.eq(err), bus.dat_r.eq(dat_r)]
        m.d.sync += [ack.eq(0), err.eq(0)]
        active = Signal()
        m.d.comb += active.eq(bus.cyc & bus.stb & ~ack & ~err)
        lane_mask = Signal(32)
        m.d.comb += lane_mask.eq(Cat(*(bus.sel[i].replicate(8) for i in range(4))))

        for r in self._regmap:
            port = getattr(self.regs, r.name.lower())
            m.d.comb += port.we.eq(bus.we)
            if r.writable:
                old = port.r_data if r.readable else 0
                m.d.comb += port.w_data.eq((old & ~lane_mask) | (bus.dat_w & lane_mask))

        with m.If(active), m.Switch(bus.adr):
            for r in self._regmap:
                port = getattr(self.regs, r.name.lower())
                with m.Case(r.word):
                    m.d.comb += port.req.eq(1)
                    with m.If(bus.we):
                        if r.writable:
                            with m.If(port.ready):
                                m.d.comb += port.w_stb.eq(1)
                                m.d.sync += ack.eq(1)
                        else:
                            m.d.sync += err.eq(1)
                    with m.Else():
                        if r.readable:
                            with m.If(port.ready):
                                m.d.comb += port.r_stb.eq(1)
                                m.d.sync += [ack.eq(1), dat_r.eq(port.r_data)]
                        else:
                            m.d.sync += err.eq(1)
            with m.Default():
                m.d.sync += err.eq(1)
        return m
