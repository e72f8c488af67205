"""Per-learner lab: a Jupyter server extension run in every learner's server (issue 13, design §3).

Configured only by the server's environment (the spawner puts the portal's grant there):
- `PORTAL_LAB_SERVICES`: JSON list of granted services, each
  `{"name", "command": [argv], "port": int, "url", "web", "ready": "/path" | null}` (command filled in).
  Each is started when the server starts: no shell, working directory `PORTAL_LAB_DIR` (relative
  to the server's root; the root itself while that folder does not exist), as the server's own
  user and **in the server's process group** (no new session: the spawner's stop, which ends
  the group, ends them too), output to `~/.portal-lab/<name>.log` (bounded), readiness polled
  for at most `PortalLab.ready_timeout` seconds (30) on `ready` (an HTTP answer under 500) or,
  without `ready`, on its port accepting a connection. Every service is stopped (TERM, then
  KILL) when the server exits. A service that cannot start never keeps the server from opening.
- `PORTAL_LAB_VALUES`: JSON object of template values (the learner's own: endpoints, generated
  passwords, pool credentials).
- `PORTAL_LAB_DIR`: the workshop's folder, relative to the server's root.

Handlers (under the server's base URL, authenticated and authorised by jupyter_server, so the
learner or a hub token with access:servers for them):
- `GET portal-lab/status` -> `{"services": [{"name", "port", "state", "reason"}]}`, state one of
  starting / ready / failed. Never a command line or a value.
- `GET portal-lab/fill?dir=<folder>&next=<path>`: fills the templated files of that folder
  (`{{ NAME }}`, `{% if %}`: catalog/templating.py's sandboxed render) with PORTAL_LAB_VALUES,
  then redirects to next, a path on this server. Only files holding `{{` or `{%`, only
  notebooks (Markdown and code cells) and text files by suffix, bounded in files, bytes and
  time; symlinks and paths leaving the root are refused; a file is written (atomically) only
  when its text changed, so a second call, or a file the learner already edited, changes
  nothing. A chunk that still holds template syntax once rendered (a `{% raw %}` block) is
  remembered by hash in `~/.portal-lab/filled.json`, so it is not rendered twice.

Importing this module has no side effect (the fork server preloads it): nothing runs until
jupyter_server loads the extension in a learner's server.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import hashlib
import http.client
import json
import logging
import os
import re
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import nbformat
from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.ioloop import IOLoop
from traitlets import Float
from traitlets.config import LoggingConfigurable

from catalog.templating import template_render
from hubconfig import processes

ENV_SERVICES = "PORTAL_LAB_SERVICES"
ENV_VALUES = "PORTAL_LAB_VALUES"
ENV_DIR = "PORTAL_LAB_DIR"
# Where the services' states are reported (the portal's /lab/report), with the server's own token:
# the portal never sends a token to a learner's server (a learner could read it there).
ENV_REPORT = "PORTAL_LAB_REPORT_URL"
# "0": the workshop's files are not templates (the catalog found no template name in them):
# portal-lab/fill then only moves the services into the folder, and rewrites nothing.
ENV_FILL = "PORTAL_LAB_FILL"
REPORT_TIMEOUT = 5.0
# What a lab service does not inherit from the server's environment: the grant itself and the
# server's hub token (a third-party emulator has no use for them; it may log its environment).
# JUPYTERHUB_SERVICE_PREFIX stays: the spawner's stop finds the learner's processes by it.
SERVICE_ENV_DROP = frozenset({ENV_SERVICES, ENV_VALUES, ENV_REPORT, "JUPYTERHUB_API_TOKEN", "JPY_API_TOKEN"})

MAX_SERVICES = 5
NAME = re.compile(r"[a-z][a-z0-9-]{0,30}")
MAX_ARGS = 50
LOG_DIR = ".portal-lab"
LOG_MAX_BYTES = 1024 * 1024  # then the log moves to <name>.log.1 and starts anew: 2 MiB at most
STOP_GRACE_SECONDS = 3.0  # TERM, then KILL (well under the spawner's 5 s interrupt timeout)
POLL_SECONDS = 0.25

FILL_SUFFIXES = frozenset({".ipynb", ".md", ".py", ".txt", ".sh", ".ps1", ".yml", ".yaml"})
FILL_MAX_FILES = 200  # files of those suffixes looked at
FILL_MAX_ENTRIES = 5000  # folder entries walked
FILL_MAX_DEPTH = 4
FILL_MAX_FILE_BYTES = 2 * 1024 * 1024
FILL_MAX_SECONDS = 10.0
FILLED_RECORD = "filled.json"
FILLED_RECORD_MAX_BYTES = 1024 * 1024
MAX_NEXT_CHARS = 2000

log = logging.getLogger(__name__)


class PortalLab(LoggingConfigurable):
    """The lab's settings from the server's configuration (`--PortalLab.ready_timeout=10`)."""

    ready_timeout = Float(30.0, config=True, help="Seconds a service has to become ready.")


# --- Services -------------------------------------------------------------------------------


def _tags(text: str) -> bool:
    return "{{" in text or "{%" in text


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f"ended by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"ended by signal {-code}"
    return f"exited with code {code}"


def port_problem(port: int) -> str:
    """Return why port cannot be used on 127.0.0.1 ('' when it is free)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "in use"
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                return f"port {port} is already in use by another process"
            return f"port {port} cannot be used: {error.strerror}"
    return ""


@dataclass
class Service:
    """One granted service and what became of it (state: starting, ready, failed)."""

    name: str
    port: int
    command: list[str] = field(default_factory=list)
    ready: str = ""
    state: str = "starting"
    reason: str = ""
    proc: subprocess.Popen | None = None

    def public(self) -> dict[str, Any]:
        """What the status shows: never the command line or the environment."""
        return {"name": self.name, "port": self.port, "state": self.state, "reason": self.reason}


def services_parse(raw: str) -> list[Service]:
    """Read PORTAL_LAB_SERVICES; an invalid entry becomes a failed service (or is skipped, logged)."""
    if not raw.strip():
        return []
    try:
        items = json.loads(raw)
    except ValueError:
        log.error("Portal lab: %s is not JSON: no service started", ENV_SERVICES)
        return []
    if not isinstance(items, list):
        log.error("Portal lab: %s is not a JSON list: no service started", ENV_SERVICES)
        return []
    if len(items) > MAX_SERVICES:
        log.error("Portal lab: %d services granted, only the first %d started", len(items), MAX_SERVICES)
    found: list[Service] = []
    for item in items[:MAX_SERVICES]:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not NAME.fullmatch(name) or any(s.name == name for s in found):
            log.error("Portal lab: a service without a valid, unique name was skipped")
            continue
        port = item.get("port")
        service = Service(name=name, port=port if isinstance(port, int) and not isinstance(port, bool) else 0)
        problem = _service_problem(item)
        if problem:
            service.state, service.reason = "failed", f"invalid service: {problem}"
        else:
            service.command, service.ready = list(item["command"]), item.get("ready") or ""
        found.append(service)
    return found


def _service_problem(item: dict) -> str:
    """Return what is wrong with a granted service's port, command or ready ('' when nothing)."""
    port, command, ready = item.get("port"), item.get("command"), item.get("ready") or ""
    if not isinstance(port, int) or isinstance(port, bool) or not 1024 <= port <= 65535:
        return "port must be a number from 1024 to 65535"
    if not isinstance(command, list) or not 1 <= len(command) <= MAX_ARGS:
        return f"command must be a list of 1 to {MAX_ARGS} strings"
    if not all(isinstance(a, str) and "\0" not in a for a in command) or not command[0]:
        return f"command must be a list of 1 to {MAX_ARGS} strings"
    if not isinstance(ready, str) or (ready and (not ready.startswith("/") or len(ready) > 500)):
        return "ready must be a path starting with /"
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in ready):
        return "ready must be a path without spaces or control characters"
    return ""


class _BoundedLog:
    """Copy a pipe to a file of bounded size (moved to <file>.1 once full, so 2 x max in all)."""

    def __init__(self, path: Path, max_bytes: int = LOG_MAX_BYTES) -> None:
        self.path = path
        self.max_bytes = max_bytes

    def pump(self, fd: int) -> None:
        out = None
        try:
            out = open(self.path, "ab")  # noqa: SIM115 - kept open while the pipe is
            written = out.tell()
            while chunk := os.read(fd, 65536):
                if written + len(chunk) > self.max_bytes:
                    out.close()
                    os.replace(self.path, self.path.with_name(self.path.name + ".1"))
                    out, written = open(self.path, "ab"), 0  # noqa: SIM115
                out.write(chunk)
                out.flush()
                written += len(chunk)
        except OSError:
            pass  # the log is a convenience: a full disk never stops the service or the server
        finally:
            os.close(fd)
            if out is not None:
                out.close()


class Lab:
    """The learner's lab services: start, watch, report, stop."""

    def __init__(self, *, home: Path, cwd: Path, ready_timeout: float, awaited: Path | None = None) -> None:
        self.home = home
        self.cwd = cwd
        self.ready_timeout = ready_timeout
        # The workshop folder when it did not exist yet at start (nbgitpuller pulls it after the
        # server opens, on a first launch): services move there once it is filled (relocate).
        self.awaited = awaited
        self.services: list[Service] = []
        self._lock = threading.Lock()
        self._relocate_lock = threading.Lock()
        self._stopping = False

    def start(self, services: list[Service]) -> None:
        """Start every valid service (each failure recorded on it, never raised)."""
        self.services = services
        env = {key: value for key, value in os.environ.items() if key not in SERVICE_ENV_DROP}
        log_dir = self.home / LOG_DIR
        for service in services:
            if not service.command:  # invalid: failed when read
                log.warning("Portal lab: %s: %s", service.name, service.reason)
                continue
            try:
                self._start_one(service, env, log_dir)
            except Exception as error:  # noqa: BLE001 - one service's trouble never stops the server
                self._fail(service, f"could not start: {type(error).__name__}")
                log.exception("Portal lab: %s could not start", service.name)

    def _start_one(self, service: Service, env: dict[str, str], log_dir: Path) -> None:
        problem = port_problem(service.port)
        if problem:
            self._fail(service, problem)
            return
        log_dir.mkdir(mode=0o700, exist_ok=True)
        fd, write_end = os.pipe()
        try:
            # No start_new_session / process_group: the service stays in the server's group.
            proc = subprocess.Popen(
                service.command,
                cwd=self.cwd,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=write_end,
                stderr=write_end,
                close_fds=True,
            )
        except OSError as error:
            os.close(fd)
            self._fail(service, f"could not start its program: {error.strerror or type(error).__name__}")
            return
        finally:
            os.close(write_end)
        service.proc = proc
        bounded = _BoundedLog(log_dir / f"{service.name}.log")
        threading.Thread(target=bounded.pump, args=(fd,), name=f"portal-lab-log-{service.name}", daemon=True).start()
        threading.Thread(target=self._watch, args=(service,), name=f"portal-lab-{service.name}", daemon=True).start()
        log.info("Portal lab: started %s (pid %d) on port %d", service.name, proc.pid, service.port)

    def _fail(self, service: Service, reason: str, proc: subprocess.Popen | None = None) -> None:
        with self._lock:
            if service.proc is not proc:
                return  # about an earlier run of the service (restarted since)
            service.state, service.reason = "failed", reason
        log.warning("Portal lab: %s failed: %s", service.name, reason)
        self.report()

    def report(self) -> None:
        """Tell the portal the services' states (PORTAL_LAB_REPORT_URL, authenticated with this
        server's own hub token, which the portal checks with the hub), in a thread; best effort:
        a report that does not arrive leaves the portal saying "starting"."""
        url, token = os.environ.get(ENV_REPORT, ""), os.environ.get("JUPYTERHUB_API_TOKEN", "")
        if not url.startswith(("http://", "https://")) or not token or not self.services:
            return
        body = json.dumps({"services": self.status()}).encode()

        def send() -> None:
            request = urllib.request.Request(  # noqa: S310 - http(s) checked above
                url,
                data=body,
                method="POST",
                headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(request, timeout=REPORT_TIMEOUT) as answer:  # noqa: S310 - http(s) checked
                    answer.read(1024)
            except (OSError, ValueError) as error:
                log.warning("Portal lab: the report to the portal failed: %s", type(error).__name__)

        threading.Thread(target=send, name="portal-lab-report", daemon=True).start()

    def _probe(self, service: Service) -> bool:
        try:
            if not service.ready:
                with socket.create_connection(("127.0.0.1", service.port), timeout=1.0):
                    return True
            conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=2.0)
            try:
                conn.request("GET", service.ready, headers={"User-Agent": "portal-lab readiness"})
                return conn.getresponse().status < 500
            finally:
                conn.close()
        except (OSError, http.client.HTTPException):
            return False

    def _watch(self, service: Service) -> None:
        """Poll readiness until ready, exited or out of time (then the service is stopped)."""
        proc = service.proc
        assert proc is not None
        deadline = time.monotonic() + self.ready_timeout
        while not self._stopping:
            code = proc.poll()
            if code is not None:
                reason = f"{_exit_reason(code)} before it was ready (see ~/{LOG_DIR}/{service.name}.log)"
                self._fail(service, reason, proc)
                return
            if self._probe(service):
                with self._lock:
                    if service.proc is proc:
                        service.state, service.reason = "ready", ""
                log.info("Portal lab: %s is ready", service.name)
                self.report()
                return
            if time.monotonic() > deadline:
                what = f"answer on {service.ready}" if service.ready else f"accept connections on port {service.port}"
                self._fail(service, f"did not {what} within {self.ready_timeout:g} s: stopped", proc)
                _end([proc])
                return
            time.sleep(POLL_SECONDS)

    def status(self) -> list[dict[str, Any]]:
        """Return each service's public state (a ready service that has exited since is failed)."""
        with self._lock:
            for service in self.services:
                if service.state == "ready" and service.proc is not None and not self._stopping:
                    code = service.proc.poll()
                    if code is not None:
                        service.state, service.reason = "failed", _exit_reason(code)
            return [service.public() for service in self.services]

    def relocate(self, folder: Path) -> bool:
        """Restart the services in folder if it is the workshop folder they were waiting for.

        On a first launch the server (and so its services) starts before nbgitpuller has pulled
        the workshop: they ran in the root, where a command naming the workshop's files fails.
        nbgitpuller then sends the learner to portal-lab/fill for that folder, which calls this
        once: the services are stopped and started again there, before the learner uses them.
        """
        with self._relocate_lock:
            if self.awaited is None or folder != self.awaited or self._stopping:
                return False
            self.awaited = None
            procs = [s.proc for s in self.services if s.proc is not None and s.proc.poll() is None]
            _end(procs)
            with self._lock:
                for service in self.services:
                    if service.command:
                        service.state, service.reason, service.proc = "starting", "", None
            self.cwd = folder
            log.info("Portal lab: restarting the services in %s, pulled since the server started", folder)
            self.start(self.services)
            return True

    def stop(self) -> None:
        """End every service and what it started: TERM, then KILL after a grace period. Idempotent."""
        if self._stopping:
            return
        self._stopping = True
        # A restart in progress (relocate) finishes first, so what it started is stopped too.
        relocating = self._relocate_lock.acquire(timeout=2 * STOP_GRACE_SECONDS)
        try:
            procs = [s.proc for s in self.services if s.proc is not None and s.proc.poll() is None]
            if procs:
                _end(procs)
                log.info("Portal lab: stopped %d service(s)", len(procs))
        finally:
            if relocating:
                self._relocate_lock.release()


def _end(procs: list[subprocess.Popen], grace: float = STOP_GRACE_SECONDS) -> None:
    """TERM each process and its descendants, wait up to grace, KILL what is left, reap."""
    pids: set[int] = set()
    for proc in procs:
        pids.add(proc.pid)
        with contextlib.suppress(OSError):
            pids.update(processes.descendants(proc.pid))
    pids.discard(os.getpid())
    processes.signal_all(sorted(pids), signal.SIGTERM)
    deadline = time.monotonic() + grace
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=max(deadline - time.monotonic(), 0.01))
    left = [pid for pid in sorted(pids) if _running(pid)]
    processes.signal_all(left, signal.SIGKILL)
    for proc in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=1.0)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return state[state.rindex(")") + 2] != "Z"


# --- Filling templated files ------------------------------------------------------------------


class Refused(ValueError):
    """A request the fill handler refuses (400)."""


def folder_resolve(root: Path, relative: str) -> Path | None:
    """Return root/relative if it is a folder reached without symlinks (None: it does not exist).

    Raises Refused for an absolute path, `..`, a backslash or a symlink on the way.
    """
    if "\\" in relative or "\0" in relative or relative.startswith("/") or len(relative) > 1000:
        raise Refused("dir must be a folder relative to the server's root")
    parts = [part for part in relative.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise Refused("dir may not leave the server's root")
    current = Path(os.path.realpath(root))
    for part in parts:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            return None
        if stat.S_ISLNK(info.st_mode):
            raise Refused("dir may not go through a symbolic link")
        if not stat.S_ISDIR(info.st_mode):
            raise Refused("dir is not a folder")
    return current


def redirect_target(base_url: str, next_url: str) -> str:
    """Return the Location for next: a path under base_url (Refused for anything else)."""
    if not next_url:
        return url_path_join(base_url, "lab")
    if len(next_url) > MAX_NEXT_CHARS or any(ord(c) < 0x20 or c in "\\\x7f" for c in next_url):
        raise Refused("next must be a path on this server")
    parts = urlsplit(next_url)
    if parts.scheme or parts.netloc or next_url.startswith("//"):
        raise Refused("next must be a path on this server")
    path = parts.path if parts.path.startswith("/") else base_url + parts.path
    decoded = unquote(path)
    if (
        decoded.startswith("//")
        or "\\" in decoded
        or any(segment in (".", "..") for segment in decoded.split("/"))
        or not (decoded + "/").startswith(base_url)
        or not (path + "/").startswith(base_url)
    ):
        raise Refused("next must be a path under this server's base URL")
    target = path
    if parts.query:
        target += "?" + parts.query
    if parts.fragment:
        target += "#" + parts.fragment
    return target


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class FillReport:
    """What a fill did (paths relative to the root)."""

    filled: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "path: why"
    warnings: list[str] = field(default_factory=list)  # "path: placeholders / problems" (never values)


class Filler:
    """Fill templated files of a folder with the learner's values (one fill at a time)."""

    def __init__(self, *, root: Path, home: Path, values: dict[str, Any]) -> None:
        self.root = Path(os.path.realpath(root))
        self.record_path = home / LOG_DIR / FILLED_RECORD
        self.values = values
        self._lock = threading.Lock()

    def fill(self, folder: Path, *, clock=time.monotonic) -> FillReport:
        with self._lock:
            report = FillReport()
            record = self._record_read()
            before = json.dumps(record, sort_keys=True)
            deadline = clock() + FILL_MAX_SECONDS
            for path in self._candidates(folder, report):
                if clock() > deadline:
                    report.skipped.append(f"{self._rel(path)}: out of time ({FILL_MAX_SECONDS:g} s)")
                    break
                try:
                    self._fill_file(path, record, report, deadline, clock)
                except (OSError, ValueError) as error:
                    report.skipped.append(f"{self._rel(path)}: {type(error).__name__}")
            if json.dumps(record, sort_keys=True) != before:
                self._record_write(record)
            return report

    def _rel(self, path: Path) -> str:
        return str(path.relative_to(self.root))

    def _candidates(self, folder: Path, report: FillReport) -> list[Path]:
        """Files of the fill suffixes under folder: no hidden entries, no symlinks, bounded."""
        found: list[Path] = []
        todo, entries = [(folder, 0)], 0
        while todo:
            current, depth = todo.pop(0)
            try:
                with os.scandir(current) as listing:
                    items = sorted(listing, key=lambda e: e.name)
            except OSError:
                continue
            for entry in items:
                entries += 1
                if entries > FILL_MAX_ENTRIES or len(found) >= FILL_MAX_FILES:
                    report.skipped.append(f"{self._rel(folder)}: more than the limit of files, rest left")
                    return found
                if entry.name.startswith(".") or entry.is_symlink():
                    continue
                if entry.is_dir(follow_symlinks=False):
                    if depth + 1 < FILL_MAX_DEPTH:
                        todo.append((Path(entry.path), depth + 1))
                elif entry.is_file(follow_symlinks=False) and Path(entry.name).suffix.lower() in FILL_SUFFIXES:
                    found.append(Path(entry.path))
        return found

    def _fill_file(self, path: Path, record: dict, report: FillReport, deadline: float, clock) -> None:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with open(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                return
            if info.st_size > FILL_MAX_FILE_BYTES:
                report.skipped.append(f"{self._rel(path)}: over {FILL_MAX_FILE_BYTES} bytes")
                return
            data = handle.read(FILL_MAX_FILE_BYTES + 1)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return  # not text: left alone
        if not _tags(text):
            return
        rel = self._rel(path)
        kept = set(record.get(rel, []))
        produced: set[str] = set()
        notes: set[str] = set()

        def render(chunk: str) -> str | None:
            if not _tags(chunk) or _digest(chunk) in kept:
                return None
            if clock() > deadline:
                raise TimeoutError
            result = template_render(text=chunk, values=self.values)
            notes.update(f"no value for {name}" for name in result.placeholders)
            if result.problem:
                notes.add(result.problem)
            if _tags(result.text):  # a {% raw %} block's output: not to be rendered again
                produced.add(_digest(result.text))
            return result.text

        try:
            if path.suffix.lower() == ".ipynb":
                new_text = self._notebook_filled(text, render)
            else:
                rendered = render(text)
                new_text = rendered if rendered is not None and rendered != text else None
        except TimeoutError:
            report.skipped.append(f"{rel}: out of time ({FILL_MAX_SECONDS:g} s)")
            return
        if notes:
            report.warnings.append(f"{rel}: {'; '.join(sorted(notes))}")
        if produced:
            record[rel] = sorted(kept | produced)[-50:]
        if new_text is None:
            return
        _write_atomic(path, new_text.encode("utf-8"), mode=stat.S_IMODE(info.st_mode))
        report.filled.append(rel)

    @staticmethod
    def _notebook_filled(text: str, render) -> str | None:
        notebook = nbformat.reads(text, as_version=nbformat.NO_CONVERT)
        if notebook.get("nbformat") != 4:
            raise ValueError("not a version 4 notebook")
        changed = False
        for cell in notebook.cells:
            if cell.get("cell_type") not in ("markdown", "code"):
                continue
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else source
            rendered = render(source)
            if rendered is not None and rendered != source:
                cell.source = rendered
                changed = True
        if not changed:
            return None
        nbformat.validate(notebook)  # raises ValidationError (a ValueError): the file is left alone
        return nbformat.writes(notebook)

    def _record_read(self) -> dict[str, list[str]]:
        try:
            with open(self.record_path, "rb") as handle:
                data = json.loads(handle.read(FILLED_RECORD_MAX_BYTES))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: [h for h in v if isinstance(h, str)] for k, v in data.items() if isinstance(v, list)}

    def _record_write(self, record: dict[str, list[str]]) -> None:
        # The newest 1000 files at most: a bounded record, whatever the learner's folders hold.
        trimmed = dict(list(record.items())[-1000:])
        with contextlib.suppress(OSError):
            self.record_path.parent.mkdir(mode=0o700, exist_ok=True)
            _write_atomic(self.record_path, json.dumps(trimmed, indent=1, sort_keys=True).encode(), mode=0o600)


def _write_atomic(path: Path, data: bytes, *, mode: int) -> None:
    """Replace path's content with data: a temporary file beside it, fsync, rename."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".portal-lab", dir=path.parent)
    try:
        with open(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fchmod(out.fileno(), mode)
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


# --- Handlers and loading -----------------------------------------------------------------------


class StatusHandler(APIHandler):
    """GET portal-lab/status: each granted service's state, nothing secret."""

    auth_resource = "api"

    @web.authenticated
    @authorized(action="read", resource="api")
    def get(self) -> None:
        lab: Lab = self.settings["portal_lab"]
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps({"services": lab.status()}))


class FillHandler(JupyterHandler):
    """GET portal-lab/fill?dir=&next=: fill a folder's templates, then go on to next."""

    auth_resource = "contents"

    @web.authenticated
    @authorized(action="write", resource="contents")
    async def get(self) -> None:
        filler: Filler = self.settings["portal_lab_filler"]
        try:
            target = redirect_target(self.base_url, self.get_query_argument("next", ""))
            folder = folder_resolve(filler.root, self.get_query_argument("dir", ""))
        except Refused as refused:
            raise web.HTTPError(400, str(refused)) from None
        granted = os.environ.get(ENV_DIR, "").strip("/")
        asked = self.get_query_argument("dir", "").strip("/")
        if folder is None:
            self.log.info("Portal lab: nothing to fill, no folder %r", asked)
        elif not granted or asked != granted:
            # Only the folder of the workshop this server was launched for, and only if the
            # launch granted values: a link to another folder (a learner's own project, hidden
            # settings) must never rewrite its files.
            self.log.warning("Portal lab: fill refused for %r (this server's workshop: %r)", asked, granted)
        elif os.environ.get(ENV_FILL, "1") != "1":
            lab: Lab = self.settings["portal_lab"]
            await IOLoop.current().run_in_executor(None, lab.relocate, folder)
        else:
            report = await IOLoop.current().run_in_executor(None, filler.fill, folder)
            for line in report.skipped:
                self.log.warning("Portal lab: fill skipped %s", line)
            for line in report.warnings:
                self.log.warning("Portal lab: fill %s", line)
            self.log.info("Portal lab: filled %d file(s) in %s", len(report.filled), folder)
            lab: Lab = self.settings["portal_lab"]
            await IOLoop.current().run_in_executor(None, lab.relocate, folder)
        self.set_header("Cache-Control", "no-store")
        self.redirect(target)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "hubconfig.labext"}]


def _env_json(name: str, kind: type, default: Any) -> Any:
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    try:
        value = json.loads(raw)
    except ValueError:
        log.error("Portal lab: %s is not JSON: ignored", name)
        return default
    if not isinstance(value, kind):
        log.error("Portal lab: %s is not a JSON %s: ignored", name, kind.__name__)
        return default
    return value


def lab_cwd(root: Path, relative: str) -> tuple[Path, Path | None]:
    """Return where services run and the folder they wait for.

    PORTAL_LAB_DIR under root when it is a folder there (waiting for nothing); else root,
    waiting for PORTAL_LAB_DIR to appear (see Lab.relocate), unless it was refused.
    """
    real_root = Path(os.path.realpath(root))
    if not relative:
        return real_root, None
    try:
        folder = folder_resolve(root, relative)
    except Refused as refused:
        log.error("Portal lab: %s refused (%s): services run in the root", ENV_DIR, refused)
        return real_root, None
    if folder is not None:
        return folder, None
    return real_root, real_root.joinpath(*[part for part in relative.split("/") if part not in ("", ".")])


def _load_jupyter_server_extension(serverapp) -> None:
    """Start the granted services and add the handlers (never raises: the server must open)."""
    settings = PortalLab(parent=serverapp)
    root = Path(serverapp.root_dir)
    home = Path(os.path.expanduser("~"))
    values = _env_json(ENV_VALUES, dict, {})
    cwd, awaited = lab_cwd(root, os.environ.get(ENV_DIR, ""))
    lab = Lab(home=home, cwd=cwd, awaited=awaited, ready_timeout=settings.ready_timeout)
    try:
        lab.start(services_parse(os.environ.get(ENV_SERVICES, "")))
    except Exception:  # noqa: BLE001 - the learner's server opens whatever happens to the lab
        log.exception("Portal lab: services could not be started")
    # The hub stops a server with SIGINT, after which it exits without running the extensions'
    # shutdown hooks (singleuser/jupyter_server_config.py): the interpreter's exit is the hook.
    # Registered after that file's fast exit, so it runs before it.
    atexit.register(lab.stop)
    web_app = serverapp.web_app
    web_app.settings["portal_lab"] = lab
    web_app.settings["portal_lab_filler"] = Filler(root=root, home=home, values=values)
    base_url = web_app.settings["base_url"]
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base_url, "portal-lab/status"), StatusHandler),
            (url_path_join(base_url, "portal-lab/fill"), FillHandler),
        ],
    )
    serverapp.log.info("Portal lab: %d service(s) granted", len(lab.services))
