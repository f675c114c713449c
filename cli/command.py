"""What a leaf of the ``mmaccel`` command line is: :class:`Command`, and how it runs.

Each command module of :mod:`mmaccel.cli` lists its leaves in ``COMMANDS``, a list of
:class:`Command`. A leaf's ``configure(parser)`` adds its arguments and sets
``parser.set_defaults(func=run)``, where ``run(args) -> int`` returns the exit status. Run
functions import the heavy parts (Amaranth, cocotb, the verification and board modules) when
they run, so listing the commands needs none of them; :func:`guard` turns a failed import into
``mmaccel WORDS: unavailable: ERROR`` and exit status 2.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Command", "Configure", "Run", "guard", "print_error"]

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


def guard(words: tuple[str, ...], run: Run) -> Run:
    """``run``, with an import that fails in it reported as ``unavailable`` (exit status 2).

    A leaf whose tool (a simulator's Python package, say) is missing stays listed and parses
    its arguments; running it says what is missing instead of printing a traceback.
    """

    @functools.wraps(run)
    def guarded(args: argparse.Namespace) -> int:
        try:
            return int(run(args))
        except ImportError as error:
            print(f"mmaccel {' '.join(words)}: unavailable: {error}", file=sys.stderr)
            return 2

    return guarded


def print_error(text: str) -> None:
    """``mmaccel: TEXT`` on standard error."""
    print(f"mmaccel: {text}", file=sys.stderr)
