"""A learner's processes, read from /proc: find them all, end them all, measure their memory.

Functions over a /proc folder (passed in, so tests can point them at a copy), used by the
spawners (Stop ends everything a learner's server started, including kernels, which
jupyter_client puts in sessions of their own, and anything a notebook left running), by the
launch-storm benchmark and by the portal's status page (proportional set size, where shared
pages count once). The reading is kept to `proc_entries`, `pss_kb` and `servers_memory_read`;
grouping processes into servers and spreading the fork server's memory over them are pure.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
# Every process of a learner's server inherits this variable (value: the server's URL prefix),
# and JUPYTERHUB_API_URL tells which hub the server belongs to.
MARKER = "JUPYTERHUB_SERVICE_PREFIX"
HUB_API_VARIABLE = "JUPYTERHUB_API_URL"
# A server forked by the fork server shows the fork server's environment and command line in
# /proc (Python's os.environ changes the process's variables, not the block /proc/<pid>/environ
# shows), so it is named instead: /proc/<pid>/comm, what ps and top show (at most 15 bytes).
FORKED_SERVER_NAME = "nbp-singleuser"


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


def name_set(name: str, *, proc: Path = PROC) -> None:
    """Name the calling process in /proc/self/comm (15 bytes kept); a failure only leaves the name."""
    with contextlib.suppress(OSError):
        (proc / "self" / "comm").write_text(name[:15])


# --- Learners' servers on this host, and their memory ----------------------------------------
@dataclass(frozen=True)
class ProcEntry:
    """What /proc says of one process; prefix and api_url are None when unset or unreadable."""

    pid: int
    ppid: int
    name: str  # /proc/<pid>/comm
    cmdline: bytes  # NUL-separated arguments
    prefix: str | None  # JUPYTERHUB_SERVICE_PREFIX, e.g. "/user/ada/"
    api_url: str | None  # JUPYTERHUB_API_URL, e.g. "http://127.0.0.1:8081/hub/api"


def _variables(environ: bytes, names: tuple[str, ...]) -> dict[str, str]:
    found = {}
    for item in environ.split(b"\0"):
        key, _, value = item.partition(b"=")
        if key.decode(errors="replace") in names:
            found[key.decode()] = value.decode(errors="replace")
    return found


def proc_entries(*, proc: Path = PROC, deadline: float | None = None) -> tuple[list[ProcEntry], bool]:
    """Read every process's parent, name, command line and server variables in one pass over proc.

    Returns (entries, complete): complete is False when time.monotonic() passed deadline first.
    A process whose environment cannot be read (another user's, without root) is kept without
    variables; one that ended meanwhile is skipped.
    """
    entries = []
    for entry in proc.iterdir():
        if deadline is not None and time.monotonic() > deadline:
            return entries, False
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue  # ended meanwhile
        try:
            variables = _variables((entry / "environ").read_bytes(), (MARKER, HUB_API_VARIABLE))
        except OSError:
            variables = {}  # not ours to read
        # The name (field 2) is in parentheses and may hold spaces or ')'.
        fields = stat[stat.rindex(")") + 2 :].split()
        entries.append(
            ProcEntry(
                pid=int(entry.name),
                ppid=int(fields[1]),
                name=stat[stat.index("(") + 1 : stat.rindex(")")],
                cmdline=cmdline,
                prefix=variables.get(MARKER),
                api_url=variables.get(HUB_API_VARIABLE),
            )
        )
    return entries, True


@dataclass(frozen=True)
class ServerProcesses:
    """Which processes make up each learner's server, and which are fork servers (pids)."""

    servers: dict[str, frozenset[int]]  # server prefix (or "pid:<n>" for an idle forked one) -> pids
    fork_servers: frozenset[int]


def servers_group(entries: Sequence[ProcEntry], *, api_url: str, fork_socket: str) -> ServerProcesses:
    """Group processes into this hub's learners' servers (pure).

    A server is every process carrying its JUPYTERHUB_SERVICE_PREFIX (its kernels, whatever a
    notebook started, the server itself when started plainly) with all their descendants; a
    forked server is also the process named FORKED_SERVER_NAME whose command line holds this
    hub's fork socket, with its descendants (an idle one has no marked process at all). This
    hub's: JUPYTERHUB_API_URL starts with api_url, or the fork socket is on the command line
    (servers of another hub on the host, a test's or a benchmark's, are left out). The fork
    server is the process holding fork_socket on its command line that is not a forked server.
    """
    by_pid = {e.pid: e for e in entries}
    children: dict[int, list[int]] = {}
    for e in entries:
        children.setdefault(e.ppid, []).append(e.pid)

    def below(pid: int) -> set[int]:
        found, todo = {pid}, [pid]
        while todo:
            for child in children.get(todo.pop(), []):
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return found

    socket = fork_socket.encode()

    def forked(e: ProcEntry | None) -> bool:
        return e is not None and bool(socket) and e.name == FORKED_SERVER_NAME and socket in e.cmdline

    def marked(e: ProcEntry) -> bool:
        return bool(e.prefix) and (e.api_url or "").startswith(api_url)

    servers: dict[str, set[int]] = {}
    claimed: set[int] = set()
    for e in entries:
        if forked(e) and not forked(by_pid.get(e.ppid)):
            members = below(e.pid)
            prefixes = sorted({by_pid[p].prefix for p in members if marked(by_pid[p])})  # type: ignore[misc]
            key = prefixes[0] if prefixes else f"pid:{e.pid}"
            servers.setdefault(key, set()).update(members)
            claimed |= members
    for e in entries:
        if marked(e) and e.pid not in claimed:
            members = below(e.pid)
            servers.setdefault(e.prefix, set()).update(members)  # type: ignore[arg-type]
            claimed |= members
    fork_servers = frozenset(
        e.pid for e in entries if socket and socket in e.cmdline and not forked(e) and e.pid not in claimed
    )
    return ServerProcesses(servers={k: frozenset(v) for k, v in servers.items()}, fork_servers=fork_servers)


def pss_spread_mb(servers_kb: Sequence[int], fork_servers_kb: int) -> list[float]:
    """Return each server's PSS in MiB with the fork servers' own PSS spread evenly over them (pure).

    The fork server's memory exists for the servers it forked (its preloaded modules are the
    pages they share), so each carries an equal part of it, as bench/launch_storm.py counts.
    """
    if not servers_kb:
        return []
    share = fork_servers_kb / len(servers_kb)
    return [(kb + share) / 1024 for kb in servers_kb]


@dataclass(frozen=True)
class ServersMemory:
    """Proportional set size of this hub's servers on this host, as read from /proc."""

    servers_kb: dict[str, int]  # server prefix -> KiB (the server with all its descendants)
    fork_servers: int
    fork_servers_kb: int
    complete: bool  # False: the time budget ran out before every process was read
    seconds: float  # how long the reading took

    @property
    def per_server_mb(self) -> list[float]:
        """MiB per server, the fork servers' share included (pss_spread_mb)."""
        return pss_spread_mb(list(self.servers_kb.values()), self.fork_servers_kb)


def servers_memory_read(*, api_url: str, fork_socket: str, budget_s: float = 2.0, proc: Path = PROC) -> ServersMemory:
    """Measure this hub's servers (and fork servers) on this host, within about budget_s seconds."""
    started = time.monotonic()
    deadline = started + budget_s
    entries, complete = proc_entries(proc=proc, deadline=deadline)
    found = servers_group(entries, api_url=api_url, fork_socket=fork_socket)
    servers_kb: dict[str, int] = {}
    for key, pids in found.servers.items():
        if time.monotonic() > deadline:
            complete = False
            break
        servers_kb[key] = sum(pss_kb(pid, proc=proc) for pid in pids)
    return ServersMemory(
        servers_kb=servers_kb,
        fork_servers=len(found.fork_servers),
        fork_servers_kb=sum(pss_kb(pid, proc=proc) for pid in found.fork_servers),
        complete=complete,
        seconds=time.monotonic() - started,
    )
