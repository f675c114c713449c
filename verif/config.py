"""One typed, versioned configuration per simulation run, and one channel back from it.

A run (``mmaccel sim``, ``mmaccel bench``, a pytest wrapper) builds a :class:`GfaSimConfig` or
:class:`MmuSimConfig`; the dataclass checks every field once, when it is made. The cocotb
runner hands it to the test bench inside the simulator as one JSON object in the environment
variable :data:`CONFIG_ENV` (:meth:`SimConfig.to_env`), and the test bench reads it back with
:meth:`SimConfig.from_env`, which refuses another kind, another schema version or an unknown
field instead of guessing.

What the test bench has to say comes back through one channel: an event file of JSON lines
(:class:`EventWriter` in the simulator, :class:`EventReader` in the caller, which reads the
lines as they arrive). Every event has an ``event`` name: ``progress`` (``done``, ``total``,
``mismatches``) while the run goes, ``summary`` (the figures) at its end.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

__all__ = [
    "CONFIG_ENV",
    "GFA_MODES",
    "SCHEMA_VERSION",
    "EventReader",
    "EventWriter",
    "GfaSimConfig",
    "MmuSimConfig",
    "SimConfig",
    "SimConfigError",
]

#: The environment variable that carries the configuration's JSON into the simulator.
CONFIG_ENV = "MMACCEL_SIM_CONFIG"

#: Version of the JSON form; a test bench refuses a configuration of another version.
SCHEMA_VERSION = 1


class SimConfigError(ValueError):
    """A simulation configuration with a bad field, or JSON that is not one of ours."""


@dataclass(frozen=True, kw_only=True)
class SimConfig:
    """Fields every run has.

    Members
    -------
    seed : int
        Seed of the stimulus and of the random back-pressure (same seed, same run).
    events : str
        Path of the event file the test bench appends to; empty for none.
    """

    #: The ``kind`` written into the JSON; each subclass has its own.
    KIND: ClassVar[str] = ""

    seed: int = 1
    events: str = ""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            want = {"int": int, "bool": bool, "str": str}[str(f.type)]
            if type(value) is not want:
                raise SimConfigError(
                    f"{type(self).__name__}.{f.name} must be {want.__name__}, not {value!r}"
                )
        self.check()

    def check(self) -> None:
        """Check the values (the types are checked already); raise :class:`SimConfigError`."""

    def _at_least(self, name: str, low: int) -> None:
        value = getattr(self, name)
        if value < low:
            raise SimConfigError(
                f"{type(self).__name__}.{name} must be at least {low}, not {value}"
            )

    def to_json(self) -> str:
        """The configuration as one JSON object with its ``kind`` and ``version``."""
        return json.dumps(
            {"kind": self.KIND, "version": SCHEMA_VERSION, **dataclasses.asdict(self)},
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> Self:
        """Parse and check what :meth:`to_json` wrote.

        Raises
        ------
        SimConfigError
            Not JSON, another kind or version, a missing or unknown field, or a bad value.
        """
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as error:
            raise SimConfigError(f"{cls.__name__}: not JSON ({error}): {text[:80]!r}") from None
        if not isinstance(raw, dict):
            raise SimConfigError(f"{cls.__name__}: expected a JSON object, not {text[:80]!r}")
        kind, version = raw.pop("kind", None), raw.pop("version", None)
        if kind != cls.KIND:
            raise SimConfigError(f"{cls.__name__}: kind must be {cls.KIND!r}, not {kind!r}")
        if version != SCHEMA_VERSION:
            raise SimConfigError(
                f"{cls.__name__}: schema version {version!r}, this test bench reads "
                f"{SCHEMA_VERSION} (the configuration comes from another mmaccel)"
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise SimConfigError(f"{cls.__name__}: unknown field(s) {', '.join(unknown)}")
        try:
            return cls(**raw)
        except TypeError as error:  # a required field is missing
            raise SimConfigError(f"{cls.__name__}: {error}") from None

    def to_env(self) -> dict[str, str]:
        """The environment entry that carries this configuration into the simulator."""
        return {CONFIG_ENV: self.to_json()}

    @classmethod
    def from_env(cls) -> Self:
        """The configuration the runner passed (see :meth:`to_env`).

        Raises
        ------
        SimConfigError
            :data:`CONFIG_ENV` is not set, or holds a bad configuration.
        """
        text = os.environ.get(CONFIG_ENV)
        if not text:
            raise SimConfigError(
                f"{CONFIG_ENV} is not set: run this test bench through mmaccel "
                "(mmaccel sim, or mmaccel.verif.runner.run_cocotb with config.to_env())"
            )
        return cls.from_json(text)


#: The allocator regression's modes (:attr:`GfaSimConfig.mode`).
GFA_MODES = ("batch", "scoreboard")


@dataclass(frozen=True, kw_only=True)
class GfaSimConfig(SimConfig):
    """A run of the allocator's regression (:mod:`mmaccel.verif.gfa.run`: batch or scoreboard).

    Members
    -------
    granules, log2gran, base, fanout : int
        The allocator's parameters (the design checks them when it is built).
    ops : int
        Random requests of the ``random_ops`` test (at least 1).
    check_every : int
        Compare the whole map through the debug port every this many requests (at least 1).
    errors : bool
        Mix in invalid requests, alignment, RESERVE, INFO and CLEAR (the regression), or plain
        alloc/free churn (the benchmark).
    backpressure : bool
        Random gaps on ``req.valid`` and a random ``resp.ready``.
    fail_fast : bool
        Stop at the first mismatch (the regression) or count them all (the benchmark).
    mode : str
        ``"batch"`` (the fast mode: :mod:`mmaccel.verif.gfa.batch_tb`, the model predicts
        whole batches, the design plays them) or ``"scoreboard"`` (per-operation cocotb
        driver and monitor: :mod:`mmaccel.verif.gfa.streams_tb`); see
        :mod:`mmaccel.verif.gfa.run`.
    """

    KIND: ClassVar[str] = "gfa"

    granules: int
    log2gran: int = 12
    base: int = 0
    fanout: int = 4
    ops: int = 2000
    check_every: int = 500
    errors: bool = True
    backpressure: bool = True
    fail_fast: bool = True
    mode: str = "batch"

    def check(self) -> None:
        if self.mode not in GFA_MODES:
            raise SimConfigError(
                f"GfaSimConfig.mode must be one of {', '.join(GFA_MODES)}, not {self.mode!r}"
            )
        self._at_least("granules", 1)
        self._at_least("ops", 1)
        self._at_least("check_every", 1)


@dataclass(frozen=True, kw_only=True)
class MmuSimConfig(SimConfig):
    """A run of the MMU's test bench (:mod:`mmaccel.verif.mmu.tb`).

    Members
    -------
    entries : int
        TLB entries of the design (for the summary; the design is built by the caller).
    accesses : int
        Translations to check (at least 1).
    """

    KIND: ClassVar[str] = "mmu"

    entries: int = 16
    accesses: int = 20000

    def check(self) -> None:
        self._at_least("entries", 1)
        self._at_least("accesses", 1)


class EventWriter:
    """Appends events to the event file (inside the simulator); a no-op without a path."""

    def __init__(self, path: str) -> None:
        self.path = path

    def emit(self, event: str, **fields: Any) -> None:
        """Append one event: ``{"event": event, "time": <Unix time>, **fields}`` on a line of
        its own (the time lets the reader compute rates however late it reads)."""
        if not self.path:
            return
        with open(self.path, "a") as f:
            f.write(json.dumps({"event": event, "time": time.time(), **fields}) + "\n")


class EventReader:
    """Reads the events of an event file as they arrive (in the caller).

    Only whole lines are returned, so an event being written is read at the next poll.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._offset = 0
        self.events: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        """The events written since the last poll (also kept in :attr:`events`)."""
        if not self.path.exists():
            return []
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1
        self._offset += end
        new = [json.loads(line) for line in chunk[:end].splitlines() if line.strip()]
        self.events.extend(new)
        return new

    def last(self, event: str) -> dict[str, Any] | None:
        """The last event named ``event`` read so far, or None."""
        for item in reversed(self.events):
            if item.get("event") == event:
                return item
        return None
