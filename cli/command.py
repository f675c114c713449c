"""What a leaf of the ``mmaccel`` command line is: :class:`Command`, and how it runs.

Each command module of :mod:`mmaccel.cli` lists its leaves in ``COMMANDS``, a list of
:class:`Command`. A leaf's ``configure(parser)`` adds its arguments and sets
``parser.set_defaults(func=run)``, where ``run(args) -> int`` returns the exit status. Run
functions import the heavy parts (Amaranth, cocotb, the verification and board modules) when
they run, so listing the commands needs none of them.

Errors look the same in every command: ``mmaccel WORDS: error: TEXT`` on standard error, exit
status 2 for a usage error (bad arguments, a missing file or folder: raise :class:`UsageError`
or use :func:`output_path`), 1 for a command that ran and failed (raise :class:`CommandFailed`
or return 1 after :func:`print_error`). argparse's own errors have the same form and status.
:func:`guard` turns a failed import into ``mmaccel WORDS: error: unavailable: ERROR``, status 2.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Command",
    "CommandFailed",
    "Configure",
    "Run",
    "UsageError",
    "guard",
    "output_path",
    "print_error",
    "write_output",
]

#: Adds a leaf's arguments to its parser and sets ``func`` to its :data:`Run` function.
Configure = Callable[[argparse.ArgumentParser], None]

#: Runs a leaf with its parsed arguments; returns the exit status.
Run = Callable[[argparse.Namespace], int]


@dataclass(frozen=True, slots=True)
class Command:
    """One leaf of the command line.

    Attributes
    ----------
    words : tuple of str
        ``("sim", "gfa")`` for a target of a group, ``("boards",)`` for a command of its own.
    help : str
        One line: what the leaf does, as its group's (or the top level's) ``--help`` lists it.
    configure : Configure
        Adds the leaf's arguments and sets its run function.
    description : str
        The leaf's own ``--help`` text when it says more than ``help`` (default: ``help``).
    """

    words: tuple[str, ...]
    help: str
    configure: Configure
    description: str = ""


class UsageError(Exception):
    """Bad arguments or a missing input: printed as ``mmaccel WORDS: error: ...``, status 2."""


class CommandFailed(Exception):
    """The command ran and failed: printed as ``mmaccel WORDS: error: ...``, status 1."""


#: The words of the leaf that is running (for :func:`print_error`).
_RUNNING: ContextVar[tuple[str, ...]] = ContextVar("_RUNNING", default=())


def guard(words: tuple[str, ...], run: Run) -> Run:
    """``run`` with the common error handling: :class:`UsageError` (status 2),
    :class:`CommandFailed` (status 1) and a failed import (``unavailable``, status 2) are
    printed as ``mmaccel WORDS: error: ...``.

    A leaf whose tool (a simulator's Python package, say) is missing stays listed and parses
    its arguments; running it says what is missing instead of printing a traceback.
    """

    @functools.wraps(run)
    def guarded(args: argparse.Namespace) -> int:
        token = _RUNNING.set(words)
        try:
            return int(run(args))
        except UsageError as error:
            print_error(str(error))
            return 2
        except CommandFailed as error:
            print_error(str(error))
            return 1
        except ImportError as error:
            print_error(f"unavailable: {error}")
            return 2
        finally:
            _RUNNING.reset(token)

    return guarded


def print_error(text: str) -> None:
    """``mmaccel WORDS: error: TEXT`` on standard error (WORDS: the running leaf's)."""
    words = " ".join(_RUNNING.get())
    print(f"mmaccel{' ' + words if words else ''}: error: {text}", file=sys.stderr, flush=True)


def output_path(path: str | Path) -> Path:
    """``path`` as a file to write, or :class:`UsageError` when its folder does not exist or
    it names a folder."""
    out = Path(path)
    folder = out.parent
    if not folder.is_dir():
        raise UsageError(f"cannot write {out}: the folder {folder} does not exist")
    if out.is_dir():
        raise UsageError(f"cannot write {out}: it is a folder")
    return out


def write_output(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` (checked by :func:`output_path`); return the path."""
    out = output_path(path)
    try:
        out.write_text(text)
    except OSError as error:
        raise UsageError(f"cannot write {out}: {error.strerror}") from None
    return out
