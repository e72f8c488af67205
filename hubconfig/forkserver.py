"""The fork server: a warm process that starts learners' servers by forking (a zygote).

Importing jupyter_server, JupyterLab, nbgitpuller and JupyterHub's single-user extension
costs a fresh Python process ~3 CPU-seconds and ~126 MB (measured here); forty learners
clicking Launch at once queue behind each other on a small host. This process pays that once:
it imports the single-user stack, freezes its heap (`gc.freeze()`, so collection in a child
never writes to the shared pages) and then, for each request on its control socket, forks a
child that becomes exactly what `LocalProcessSpawner` would have started: its own session and
process group, the learner's uid/gid/groups, home and working directory, a clean environment
holding only what the spawner sent, stdin from /dev/null, default signal dispositions,
fresh random state. Memory pages of the imported modules stay shared copy-on-write.

It holds no secret: it never reads the hub's or the portal's configuration; a learner's token
passes through one request into one child and is not kept. Its control socket lives in a
folder only its own user can enter (0700), and each connection's peer uid is checked
(SO_PEERCRED), so a learner's process (another uid) cannot reach it. With the single-account
development spawner every server runs as the hub's user: there learners are not isolated.

Protocol: one JSON object per line on a Unix stream socket, one answer line each.
  {"op": "ping"} -> {"ok": true, "pid": <fork server pid>}
  {"op": "spawn", "argv": [...], "env": {...}, "cwd": str, "uid": int|null, "gid": int|null,
   "groups": [int], "log": str|null} -> {"ok": true, "pid": <child pid>} | {"ok": false, "error": str}
  {"op": "status", "pid": int} -> {"ok": true, "known": bool, "running": bool, "exit": int|null}
Run: python -m hubconfig.forkserver --socket PATH
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import gc
import json
import os
import select
import signal
import socket
import struct
import sys
import time
from pathlib import Path

from hubconfig import processes

# What a learner's server imports at start-up. Each is tried: a missing optional extension
# only means less is shared, never a failure.
PRELOAD = (
    "jupyterhub.singleuser",
    "jupyterhub.singleuser.extension",
    "jupyter_server.serverapp",
    "jupyterlab",
    "jupyterlab.labapp",
    "jupyterlab_server",
    "nbgitpuller",
    "nbgitpuller.handlers",
    "jupyter_server_terminals",
    "notebook_shim",
    "notebook_shim.nbserver",
    "jupyter_lsp",
    "jupyter_lsp.virtual_documents_shadow",
    "jupyter_client.manager",
    "jupyter_client.provisioning",
    "jupyter_core.migrate",
    "nbformat",
    "tornado.web",
    "tornado.platform.asyncio",
    "jinja2.ext",
    "httpx",  # the hub API client of the single-user extension
    "IPython",  # jupyter_server's kernel and terminal code import it while starting
    "codeop",
    "getopt",
    "jupyter_server_proxy",  # proxy/<port>/ for lab services' web UIs
    "hubconfig.labext",  # the per-learner lab extension (no side effect on import)
    # Imported lazily by the first file read through anyio and the first kernel start: each
    # child paid for them again (py-spy over a storm: 5.6% and 1.1% of the servers' CPU).
    "anyio._backends._asyncio",
    "psutil",
    "jupyter_client.localinterfaces",
)
MAX_REQUEST_BYTES = 1024 * 1024  # a spawn request is an argv and an environment: small
EXITS_KEPT = 4096  # exit codes remembered for status requests


def preload() -> list[str]:
    """Import the single-user stack; return the modules that could not be imported."""
    missing = []
    names = list(PRELOAD)
    try:
        from jupyter_server.serverapp import JUPYTER_SERVICE_HANDLERS

        # The REST API handlers every server imports while starting.
        names += [module for modules in JUPYTER_SERVICE_HANDLERS.values() for module in modules or ()]
    except ImportError:
        pass
    for name in names:
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - an optional extension that is not installed
            missing.append(name)
    try:
        # The first notebook a server opens builds nbformat's schema validator: ~10 MiB that
        # every child would build for itself (measured); built here, it is shared.
        import nbformat

        nbformat.validate(nbformat.v4.new_notebook())
    except Exception:  # noqa: BLE001 - only a saving, never a reason not to serve
        missing.append("nbformat validator")
    return missing


def _peer_uid(conn: socket.socket) -> int:
    """Return the uid of the process at the other end of a Unix socket (SO_PEERCRED)."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return uid


def _child(request: dict) -> None:
    """Become the learner's server (runs in the forked child; never returns)."""
    code = 1
    try:
        os.setsid()  # own session and process group: Stop ends all of it, signals stay ours
        # Its /proc environment and command line are the fork server's: the name tells it is a
        # learner's server (ps shows it; the status page measures it: processes.servers_group).
        processes.name_set(processes.FORKED_SERVER_NAME)
        for sig in (signal.SIGTERM, signal.SIGCHLD, signal.SIGHUP, signal.SIGPIPE, signal.SIGUSR1):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)  # Python's own: stop on SIGINT
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        log = request.get("log")
        if log:
            out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            os.dup2(out, 1)
            os.dup2(out, 2)
        os.closerange(3, 65536)  # the control socket and anything else of the fork server
        gid, uid = request.get("gid"), request.get("uid")
        if uid is not None and uid != os.getuid():
            os.setgroups(request.get("groups") or [])
            os.setgid(gid)
            os.setuid(uid)
        os.chdir(request.get("cwd") or "/")
        os.environ.clear()
        os.environ.update(request["env"])
        os.umask(0o022)
        # Fresh randomness: `random` reseeds itself after fork (os.register_at_fork) and
        # secrets / os.urandom read the kernel; the hash seed is the zygote's (it cannot
        # change after start-up) and the zygote is restarted with a new one when it dies.
        sys.argv = list(request["argv"])
        sys.stdin = open(0, closefd=False)  # noqa: SIM115 - /dev/null, for the process lifetime
        from jupyterhub.singleuser import main

        result = main()
        code = result if isinstance(result, int) else 0
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except KeyboardInterrupt:
        code = 0  # stopped by the hub's SIGINT before the server's own handler took over
    except BaseException:  # noqa: BLE001 - report and end the child, never the fork server
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        try:
            import atexit

            atexit._run_exitfuncs()  # what a normal interpreter exit runs (logging flushed, ...)
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


class ForkServer:
    """Accept spawn requests on a Unix socket and fork warm children for them."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path
        self.exits: dict[int, int] = {}
        self.children: set[int] = set()

    def _listen(self) -> socket.socket:
        folder = self.socket_path.parent
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(folder, 0o700)  # only the hub's user may reach the socket
        if self.socket_path.exists():
            self.socket_path.unlink()
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(self.socket_path))
        os.chmod(self.socket_path, 0o600)
        server.listen(64)
        return server

    def _reap(self) -> None:
        """Collect ended children, so a stopped server is gone, not a zombie."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            self.exits[pid] = os.waitstatus_to_exitcode(status)
            if len(self.exits) > EXITS_KEPT:
                self.exits.pop(next(iter(self.exits)))

    def _answer(self, request: dict) -> dict:
        op = request.get("op")
        if op == "ping":
            return {"ok": True, "pid": os.getpid()}
        if op == "status":
            pid = int(request["pid"])
            self._reap()
            if pid in self.children:
                return {"ok": True, "known": True, "running": True, "exit": None}
            if pid in self.exits:
                return {"ok": True, "known": True, "running": False, "exit": self.exits[pid]}
            return {"ok": True, "known": False}  # forked by an earlier fork server: ask the system
        if op == "spawn":
            if not isinstance(request.get("argv"), list) or not isinstance(request.get("env"), dict):
                return {"ok": False, "error": "spawn needs argv (a list) and env (an object)"}
            pid = os.fork()
            if pid == 0:
                _child(request)  # never returns
            self.children.add(pid)
            return {"ok": True, "pid": pid}
        return {"ok": False, "error": f"unknown op {op!r}"}

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            if _peer_uid(conn) != os.getuid():
                return  # not the hub's user: no answer at all
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
                if len(data) > MAX_REQUEST_BYTES:
                    conn.sendall(b'{"ok": false, "error": "request too large"}\n')
                    return
            try:
                answer = self._answer(json.loads(data))
            except (ValueError, KeyError, TypeError) as error:
                answer = {"ok": False, "error": f"bad request: {error}"}
            except OSError as error:
                answer = {"ok": False, "error": f"fork failed: {error}"}
            conn.sendall(json.dumps(answer).encode() + b"\n")

    def serve(self) -> None:
        """Serve until SIGTERM; single-threaded, so every fork copies a quiet process."""
        server = self._listen()
        stop = []
        signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
        signal.signal(signal.SIGINT, lambda *_: stop.append(True))
        # SIGCHLD only wakes select up; children are reaped in the loop.
        signal.signal(signal.SIGCHLD, lambda *_: None)
        gc.collect()
        gc.freeze()  # the warm heap moves to the permanent generation: children never touch it
        print(f"fork server {os.getpid()} ready on {self.socket_path}", flush=True)
        parent = os.getppid()
        # The hub that started us is gone: end too (its successor starts a new fork server).
        # Forked servers keep running: they are in sessions of their own.
        while not stop and os.getppid() == parent:
            try:
                ready, _, _ = select.select([server], [], [], 1.0)
            except InterruptedError:
                ready = []
            self._reap()
            if ready:
                try:
                    conn, _ = server.accept()
                except OSError as error:
                    if error.errno in (errno.EINTR, errno.EAGAIN):
                        continue
                    raise
                with contextlib.suppress(OSError):  # the client went away; nothing to keep
                    self._handle(conn)
        server.close()
        self.socket_path.unlink(missing_ok=True)
        self._folder_tidy()

    def _folder_tidy(self) -> None:
        """Remove the control folder (a private folder in /tmp per hub data folder) unless a hub is
        starting a fork server in it right now (it holds start.lock): nothing is left behind."""
        folder = self.socket_path.parent
        lock = folder / "start.lock"
        with contextlib.suppress(OSError):
            with open(lock, "a") as lock_file:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)  # busy: leave it to that hub
                lock.unlink()
            folder.rmdir()  # fails (and stays) if anything else is in it


def main(argv: list[str] | None = None) -> int:
    """Preload the single-user stack and serve spawn requests on --socket."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True, type=Path)
    args = parser.parse_args(argv)
    started = time.monotonic()
    missing = preload()
    print(
        f"fork server preloaded in {time.monotonic() - started:.1f} s"
        + (f" (not installed: {', '.join(missing)})" if missing else ""),
        flush=True,
    )
    ForkServer(args.socket).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
