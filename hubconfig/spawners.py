"""Spawners for learners' servers on one host: forked from a warm fork server, or started plainly.

- `ForkSpawner` / `SimpleForkSpawner`: ask the fork server (`hubconfig/forkserver.py`) to fork
  the learner's server from a process that has already imported the single-user stack, so a
  launch costs a fork instead of ~3 CPU-seconds of imports, and the imported modules' pages
  stay shared between learners. When the fork server is not there (or the server command is
  not this environment's `jupyterhub-singleuser`) they start the server plainly and log why.
- `LocalSpawner` / `SimpleLocalSpawner`: JupyterHub's local process spawners.

`Simple*` run every server as the hub's own user with homes under a folder (development and
tests only: learners are not isolated from each other); the others run each server as the
learner's system account (one Linux user per learner, as LocalProcessSpawner does). All four
end everything a learner's server started when it stops: its process group, its descendants
and every process still carrying its environment (kernels, which jupyter_client puts in
sessions of their own, and whatever a notebook left running, such as an emulator holding a
port). Servers survive a hub restart and are found again by their pid.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pwd
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from jupyterhub.spawner import LocalProcessSpawner, SimpleLocalProcessSpawner
from jupyterhub.utils import random_port
from traitlets import Bool, Float, Unicode

from hubconfig import contract, ports, processes

ROOT = Path(__file__).resolve().parent.parent
# Variables the fork server may see: nothing of the hub's configuration, no token.
FORK_SERVER_ENV_KEEP = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "VIRTUAL_ENV", "PYTHONPATH")
# Every process of a learner's server inherits this variable (value: the server's URL prefix).
MARKER = processes.MARKER


_ENSURE_LOCK = threading.Lock()


class ForkServerUnavailable(RuntimeError):
    """The fork server did not answer (and could not be started)."""


def fork_socket_default(*, data_dir: Path) -> Path:
    """Return a short control-socket path for a hub data folder (the contract's: the portal finds it too)."""
    return contract.fork_socket_path(data_dir=data_dir)


def _folder_private(folder: Path) -> None:
    """Make folder (0700, ours) or refuse it: the socket must be reachable by the hub's user only."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = folder.lstat()
    if info.st_uid != os.getuid() or (info.st_mode & 0o077) or not folder.is_dir() or folder.is_symlink():
        raise ForkServerUnavailable(f"{folder} is not a private folder of this user: refusing to use it")


class ForkServerClient:
    """Talk to (and if needed start) the fork server on a Unix socket. Blocking calls."""

    def __init__(self, socket_path: Path, *, log_path: Path, start_timeout: float = 60.0) -> None:
        self.socket_path = socket_path
        self.log_path = log_path
        self.start_timeout = start_timeout

    def request(self, payload: dict, *, timeout: float = 10.0) -> dict:
        """Send one request; return the answer. ForkServerUnavailable when nobody answers."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
                conn.settimeout(timeout)
                conn.connect(str(self.socket_path))
                conn.sendall(json.dumps(payload).encode() + b"\n")
                data = b""
                while not data.endswith(b"\n"):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        except OSError as error:
            raise ForkServerUnavailable(f"fork server at {self.socket_path}: {error}") from None
        if not data:
            raise ForkServerUnavailable(f"fork server at {self.socket_path} closed the connection")
        return json.loads(data)

    def alive(self) -> bool:
        """Tell whether the fork server answers a ping."""
        try:
            return bool(self.request({"op": "ping"}, timeout=2.0).get("ok"))
        except ForkServerUnavailable:
            return False

    def ensure(self) -> None:
        """Start the fork server unless it answers; wait until it is ready (ForkServerUnavailable).

        Serialised (a thread lock, and an flock beside the socket): forty launches at once on a
        cold hub start one fork server, not one each.
        """
        if self.alive():
            return
        _folder_private(self.socket_path.parent)
        with _ENSURE_LOCK, open(self.socket_path.parent / "start.lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            if self.alive():
                return  # another launch started it meanwhile
            self._start()

    def _start(self) -> None:
        env = {key: os.environ[key] for key in FORK_SERVER_ENV_KEEP if key in os.environ}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            subprocess.Popen(  # noqa: S603 - our own module, with this interpreter
                [sys.executable, "-m", "hubconfig.forkserver", "--socket", str(self.socket_path)],
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the hub's Ctrl-C is not the fork server's
            )
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.alive():
                return
            time.sleep(0.1)
        raise ForkServerUnavailable(
            f"the fork server did not start in {self.start_timeout:.0f} s (see {self.log_path})"
        )


def pid_alive(pid: int) -> bool:
    """Tell whether pid runs (a zombie, ended but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, another user's
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


class _LeftoversMixin(LocalProcessSpawner):
    """A port held for the server until it stops; stop ends the server, then everything it left behind."""

    _port_held: socket.socket | None = None

    def _port_reserve(self) -> int:
        """Return a free port for the server, held for it until it stops.

        JupyterHub's random_port() binds port 0 and closes the socket: until the server binds it,
        anything else may take the port (jupyterhub#3005). In a launch storm something did: two
        learners' servers got the same port, and one learner's link led into the other's server
        (a 404). The port stays bound here (SO_REUSEADDR, never listening): the server still binds
        it (Tornado sets SO_REUSEADDR too), while the kernel gives it to nobody else, neither to a
        bind(0) nor to an outgoing connection.
        """
        self._port_release()
        try:
            held = ports.port_hold(self.ip)
        except OSError as error:
            # Not this system's way (SO_REUSEADDR shares a port this way on Linux only), or an
            # address it cannot bind: JupyterHub's own choice, unheld, as before.
            self.log.warning("Port for %s's server not held (%s): chosen unheld", self.user.name, error)
            return random_port()
        self._port_held = held
        return held.getsockname()[1]

    def _port_release(self) -> None:
        """Give the port back (the server stopped); the next start reserves a fresh one (the old one
        may be anyone's by then), unless it was configured (Spawner.port)."""
        if self._port_held is not None:
            self._port_held.close()
            self._port_held = None
            self.port = 0

    async def start(self):
        if self.port == 0:
            self.port = self._port_reserve()
        return await super().start()

    def clear_state(self) -> None:
        # JupyterHub calls this after every stop, and before a start, but calls stop() only for a
        # server that still runs: a server that ended by itself gives its port back here.
        super().clear_state()
        self._port_release()

    async def stop(self, now: bool = False) -> None:
        pid = self.pid
        prefix = self.server.base_url if self.server else None
        await super().stop(now=now)
        self._port_release()
        if pid and prefix:
            left = await asyncio.to_thread(processes.leftovers_end, pid=pid, marker=(MARKER, prefix))
            if left:
                self.log.info("Ended %d process(es) left by %s's server: %s", len(left), self.user.name, left)


class _ForkingMixin(_LeftoversMixin):
    """Start the server by asking the fork server to fork it; fall back to a plain start."""

    fork_socket = Unicode("", config=True, help="The fork server's control socket (default: a private /tmp folder).")
    fork_log = Unicode("", config=True, help="Where the fork server and forked servers write their output.")
    fork_fallback = Bool(True, config=True, help="Start plainly (logged) when the fork server is not there.")
    fork_start_timeout = Float(60.0, config=True, help="Seconds to wait for a fork server to preload.")

    def _fork_client(self) -> ForkServerClient:
        data_dir = Path(self.fork_log).parent if self.fork_log else Path(tempfile.gettempdir())
        path = Path(self.fork_socket) if self.fork_socket else fork_socket_default(data_dir=data_dir)
        log = Path(self.fork_log) if self.fork_log else path.parent / "forkserver.log"
        return ForkServerClient(path, log_path=log, start_timeout=self.fork_start_timeout)

    def _forkable(self, cmd: list[str]) -> bool:
        """Tell whether cmd is this environment's jupyterhub-singleuser (what the fork server preloads)."""
        exe = Path(cmd[0]) if cmd else Path()
        return exe.name == "jupyterhub-singleuser" and exe.parent == Path(sys.executable).parent and not self.shell_cmd

    def _identity(self) -> dict:
        """Return uid, gid, groups and working directory for the child."""
        raise NotImplementedError

    async def start(self):
        if self.port == 0:
            self.port = self._port_reserve()
        cmd = [*self.cmd, *self.get_args()]
        if not self._forkable(cmd):
            self.log.info(
                "Plain start for %s: %s is not this environment's jupyterhub-singleuser", self.user.name, cmd[:1]
            )
            return await super().start()
        client = self._fork_client()
        try:
            await asyncio.to_thread(client.ensure)
            identity = self._identity()
            answer = await asyncio.to_thread(
                client.request,
                {"op": "spawn", "argv": cmd, "env": self.get_env(), **identity, "log": None},
            )
        except ForkServerUnavailable as error:
            if not self.fork_fallback:
                raise
            self.log.warning("Plain start for %s: %s", self.user.name, error)
            return await super().start()
        if not answer.get("ok"):
            raise RuntimeError(f"the fork server could not start {self.user.name}'s server: {answer.get('error')}")
        self.proc = None
        self.pid = int(answer["pid"])
        self.log.info("Forked %s's server as pid %d", self.user.name, self.pid)
        return (self.ip or "127.0.0.1", self.port)

    async def poll(self):
        if self.proc is not None:  # started plainly: JupyterHub's own Popen bookkeeping
            return await super().poll()
        if not self.pid:
            self.clear_state()
            return 0
        try:
            answer = await asyncio.to_thread(
                self._fork_client().request, {"op": "status", "pid": self.pid}, timeout=2.0
            )
        except ForkServerUnavailable:
            answer = {}
        if answer.get("known"):
            if answer.get("running"):
                return None
            self.clear_state()
            return answer.get("exit") or 0
        # Forked by an earlier fork server (restarted since): ask the system.
        if pid_alive(self.pid):
            return None
        self.clear_state()
        return 0


class SimpleLocalSpawner(_LeftoversMixin, SimpleLocalProcessSpawner):
    """JupyterHub's single-account local spawner (development only), with complete stops."""


class LocalSpawner(_LeftoversMixin, LocalProcessSpawner):
    """JupyterHub's local spawner (one system account per learner), with complete stops."""


class SimpleForkSpawner(_ForkingMixin, SimpleLocalProcessSpawner):
    """Fork learners' servers as the hub's own user, homes under home_dir_template (development only)."""

    def _identity(self) -> dict:
        os.makedirs(self.home_dir, 0o755, exist_ok=True)
        return {"uid": None, "gid": None, "groups": [], "cwd": self.home_dir}


class ForkSpawner(_ForkingMixin, LocalProcessSpawner):
    """Fork each learner's server as their own system account (the hub runs as root)."""

    def _identity(self) -> dict:
        account = pwd.getpwnam(self.user.name)
        return {
            "uid": account.pw_uid,
            "gid": account.pw_gid,
            "groups": os.getgrouplist(account.pw_name, account.pw_gid),
            "cwd": account.pw_dir,
        }
