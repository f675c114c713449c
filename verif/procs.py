"""The process table as read from ``/proc`` (Linux): who is whose child.

Used by the simulation runner's watchdog and the formal runner to find and kill the tool
processes they started.
"""

from pathlib import Path

__all__ = ["child_pids"]


def child_pids() -> dict[int, list[int]]:
    """Parent pid -> the pids of its direct children, for every process now running.

    Processes that end while the table is read are left out; without ``/proc`` the table is
    empty.
    """
    children: dict[int, list[int]] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return children
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name is in parentheses and may contain spaces; ppid follows the state
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1:
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children
