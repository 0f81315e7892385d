"""CPU accounting from /proc: user+system seconds of a process tree, sampled before and after
a run, so each scenario reports CPU-ms per transfer for the hub, the database and the generator."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int) -> float | None:
    """utime + stime of one process (all its threads), or None when it is gone."""
    fields = _stat_fields(pid)
    if fields is None:
        return None
    # After the name: state(3) ppid(4) ... utime(14) stime(15) → indexes 11 and 12 here.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def parent_of(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return None if fields is None else int(fields[1])


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (scans /proc once)."""
    children: dict[int, list[int]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        ppid = parent_of(int(entry.name))
        if ppid is not None:
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


class CpuMeter:
    """CPU used by a set of processes between ``start()`` and ``stop()``.

    ``discover`` is called at start and at stop, so a process that appears during the run counts
    from zero; one that exits during the run loses its last interval (reported as is)."""

    def __init__(self, discover: Callable[[], Iterable[int]]) -> None:
        self._discover = discover
        self._before: dict[int, float] = {}

    def _sample(self) -> dict[int, float]:
        out: dict[int, float] = {}
        for pid in self._discover():
            value = cpu_seconds(pid)
            if value is not None:
                out[pid] = value
        return out

    def start(self) -> None:
        self._before = self._sample()

    def stop(self) -> float:
        """CPU seconds used since ``start``."""
        after = self._sample()
        return sum(value - self._before.get(pid, 0.0) for pid, value in after.items())
