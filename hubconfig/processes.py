"""A learner's processes, read from /proc: find them all, end them all, measure their memory.

Pure functions over a /proc folder (passed in, so tests can point them at a copy), used by
the spawners (Stop ends everything a learner's server started, including kernels, which
jupyter_client puts in sessions of their own, and anything a notebook left running) and by
the launch-storm benchmark (proportional set size, where shared pages count once).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable
from pathlib import Path

PROC = Path("/proc")


def _ppids(proc: Path) -> dict[int, int]:
    """Return {pid: parent pid} for every process visible in proc."""
    parents = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # ended meanwhile
        # The command name (field 2) is in parentheses and may hold spaces or ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def descendants(pid: int, *, proc: Path = PROC) -> list[int]:
    """Return the pids of every process below pid (children, their children, ...)."""
    children: dict[int, list[int]] = {}
    for child, parent in _ppids(proc).items():
        children.setdefault(parent, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def marked(name: str, value: str, *, proc: Path = PROC) -> list[int]:
    """Return the pids whose environment has name=value (a learner's processes inherit it).

    Kernels and background jobs a notebook started inherit the server's environment even when
    they leave its session or are re-parented; processes that cannot be read are skipped.
    """
    needle = f"{name}={value}".encode()
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def signal_all(pids: Iterable[int], sig: int) -> list[int]:
    """Send sig to each pid; return those that still existed."""
    alive = []
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            continue
        except PermissionError:
            continue  # not ours to end (another user's process that happened to match)
        alive.append(pid)
    return alive


def group_signal(pgid: int, sig: int) -> bool:
    """Send sig to process group pgid; return whether the group still existed."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def leftovers_end(*, pid: int, marker: tuple[str, str], proc: Path = PROC) -> list[int]:
    """End (SIGKILL) what a stopped server left behind: its group, its descendants, its marked processes.

    Returns the pids that were still there. Called once the server itself has ended, or after
    the spawner's own SIGINT / SIGTERM / SIGKILL steps gave up.
    """
    targets = set(descendants(pid, proc=proc)) | set(marked(*marker, proc=proc))
    targets.discard(os.getpid())
    group_signal(pid, signal.SIGKILL)
    return signal_all(sorted(targets), signal.SIGKILL)


def pss_kb(pid: int, *, proc: Path = PROC) -> int:
    """Return a process's proportional set size in KiB (shared pages divided among sharers).

    From /proc/<pid>/smaps_rollup (Linux 4.14+); 0 when the process is gone or unreadable.
    """
    try:
        for line in (proc / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0
