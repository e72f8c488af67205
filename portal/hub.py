"""A small client for the JupyterHub REST API, built from settings by `hub_client_build()`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from hubconfig.contract import TokenMissing, service_token_read

# Without this header the hub silently truncates user lists at its page size.
PAGINATION = "application/jupyterhub-pagination+json"


class HubError(RuntimeError):
    """The hub answered, but not as expected."""


class HubUnavailable(HubError):
    """The hub could not be reached or failed on its side."""


class HubSlow(HubUnavailable):
    """The hub took the client's whole timeout without answering (a read or write timeout): it
    may still be doing what it was asked, a start included (its event loop is busy, not down)."""


class HubFull(HubError):
    """The hub refused to start one more server (active_server_limit or spawn limit)."""


class HubSkipped(HubUnavailable):
    """The circuit breaker answered for the hub without asking it (it failed just before, or too
    many requests are already waiting on it)."""


class HubBusy(HubSkipped):
    """Every slot with the hub is taken and its queue is full, while the hub is healthy (a
    launch storm): a moment's wait, not a failure."""


class HubBreaker:
    """A circuit breaker and bulkhead for the hub calls a page makes, shared by a process's threads.

    A hub that hangs must not hold the portal's request threads: after `failures` failures in a
    row (timeouts, refused connections, 5xx) calls are skipped for `cooldown` seconds and fail at
    once (HubSkipped); then one trial call goes through, and its success closes the breaker.

    A bulkhead too: at most `concurrency` calls are with the hub at a time. While the hub is
    healthy (no failure since the last success) up to `queue` more wait for a slot, `wait` seconds
    at most (a launch storm is served); any other call fails at once. So at most concurrency +
    queue request threads ever wait on the hub, and the server's other threads serve the catalog
    whatever the hub does. `clock` is injected for tests (monotonic seconds).
    """

    def __init__(
        self,
        *,
        failures: int,
        cooldown: float,
        concurrency: int,
        queue: int = 0,
        wait: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failures_allowed = max(1, failures)
        self.cooldown = cooldown
        self.queue = max(0, queue)
        self.wait = wait
        self.clock = clock
        self._slots = threading.BoundedSemaphore(max(1, concurrency))
        self._lock = threading.Lock()
        self._waiting = 0
        self._failures = 0
        self._open_until = 0.0  # clock value before which calls are skipped
        self._trial = False  # a trial call is in flight after a cool-down

    def is_open(self) -> bool:
        """Tell whether calls are being skipped now (no I/O: pages may ask on every request)."""
        with self._lock:
            return self._failures >= self.failures_allowed and (self.clock() < self._open_until or self._trial)

    def seconds_left(self) -> float:
        """Return how long calls are still skipped (0 when the breaker is closed)."""
        with self._lock:
            if self._failures < self.failures_allowed:
                return 0.0
            return max(0.0, self._open_until - self.clock())

    def _admit(self) -> bool:
        """Raise HubSkipped unless a call may go to the hub now; return True for the trial call."""
        with self._lock:
            if self._failures < self.failures_allowed:
                return False
            if self.clock() < self._open_until or self._trial:
                raise HubSkipped(
                    f"The hub failed {self._failures} times in a row; not asking it for "
                    f"{max(0.0, self._open_until - self.clock()):.0f} s."
                )
            self._trial = True  # cool-down over: this call is the trial
            return True

    def _slot_take(self, *, wait: float | None = None, queue: int | None = None) -> bool:
        """Take a slot: at once, or after waiting in the bounded queue while the hub is healthy."""
        if self._slots.acquire(blocking=False):
            return True
        wait = self.wait if wait is None else wait
        queue = self.queue if queue is None else queue
        with self._lock:
            if self._failures or self._waiting >= queue or wait <= 0:
                return False
            self._waiting += 1
        try:
            taken = self._slots.acquire(timeout=wait)
        finally:
            with self._lock:
                self._waiting -= 1
        with self._lock:
            failed = self._failures > 0
        if taken and failed:  # a call ahead failed meanwhile: do not send one more to a sick hub
            self._slots.release()
            return False
        return taken

    def _record(self, *, ok: bool) -> None:
        with self._lock:
            self._trial = False
            if ok:
                self._failures = 0
                return
            self._failures += 1
            if self._failures >= self.failures_allowed:
                self._open_until = self.clock() + self.cooldown

    @contextmanager
    def guard(self, *, wait: float | None = None, queue: int | None = None, patient: bool = False) -> Iterator[None]:
        """Run one hub call: skip it while open or when every slot is taken; record its outcome.

        wait: seconds a queued call waits for a slot; queue: how many calls may be waiting for
        one when this one arrives (defaults: the breaker's own). HubUnavailable
        raised inside counts as a failure; any other outcome (a 4xx HubError too: the hub
        answered) counts as a success. patient: a call with a long timeout (a launch) whose
        HubSlow counts as neither, unless it was the trial call: in a launch storm the hub's
        event loop answers starts late while it works, and such launches must not shut every
        page out for the cool-down (the page calls' short timeouts still open the breaker
        for a hub that hangs). The slots bound how many threads wait on it either way.
        """
        trial = self._admit()
        if not self._slot_take(wait=wait, queue=queue):
            if trial:
                with self._lock:
                    self._trial = False
            raise HubBusy("Too many requests are already waiting on the hub.")
        try:
            yield
        except HubSlow:
            if not patient or trial:
                self._record(ok=False)
            raise
        except HubUnavailable:
            self._record(ok=False)
            raise
        except Exception:
            self._record(ok=True)
            raise
        else:
            self._record(ok=True)
        finally:
            self._slots.release()

    def reset(self) -> None:
        """Close the breaker (tests, or an operator who knows the hub is back)."""
        with self._lock:
            self._failures, self._open_until, self._trial = 0, 0.0, False


_breakers: dict[str, HubBreaker] = {}
_breakers_lock = threading.Lock()


def hub_breaker(
    *, api_url: str, failures: int = 3, cooldown: float = 30.0, concurrency: int = 8, queue: int = 4, wait: float = 2.0
) -> HubBreaker:
    """Return the process's breaker for the hub at api_url (made with these limits on first use)."""
    key = api_url.rstrip("/")
    with _breakers_lock:
        if key not in _breakers:
            _breakers[key] = HubBreaker(
                failures=failures, cooldown=cooldown, concurrency=concurrency, queue=queue, wait=wait
            )
        return _breakers[key]


def _when(value: str | None) -> datetime | None:
    """Parse the hub's ISO 8601 timestamps (they end in Z)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@dataclass(frozen=True)
class HubServer:
    """A user's server as the hub reports it."""

    name: str
    ready: bool
    pending: str | None
    started: datetime | None
    last_activity: datetime | None

    @classmethod
    def from_model(cls, model: dict[str, Any]) -> HubServer:
        """Build from the hub's server model."""
        return cls(
            name=model.get("name", ""),
            ready=bool(model.get("ready")),
            pending=model.get("pending"),
            started=_when(model.get("started")),
            last_activity=_when(model.get("last_activity")),
        )


@dataclass(frozen=True)
class HubUser:
    """A hub user with their servers ("" is the default server)."""

    name: str
    last_activity: datetime | None
    servers: dict[str, HubServer]

    @classmethod
    def from_model(cls, model: dict[str, Any]) -> HubUser:
        """Build from the hub's user model."""
        return cls(
            name=model["name"],
            last_activity=_when(model.get("last_activity")),
            servers={k: HubServer.from_model(v) for k, v in (model.get("servers") or {}).items()},
        )

    @property
    def server(self) -> HubServer | None:
        """Return the default server, if it exists (running or starting)."""
        return self.servers.get("")


class HubClient:
    """JupyterHub REST API calls the portal and the culler make, with one service token."""

    def __init__(
        self,
        *,
        api_url: str,
        token: str,
        timeout: float = 10.0,
        page_size: int = 200,
        public_url: str = "",
        breaker: HubBreaker | None = None,
        breaker_wait: float | None = None,
        breaker_queue: int | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.breaker = breaker
        self.breaker_wait = breaker_wait
        self.breaker_queue = breaker_queue
        # The proxy's address, for requests to single-user servers (the busy-kernel check).
        self.public_url = (public_url or self.api_url.removesuffix("/hub/api")).rstrip("/")
        self.page_size = page_size
        self.requests = 0  # every request sent, for the "never flood the hub" checks
        self._timeout = timeout
        self._http = httpx.Client(
            base_url=self.api_url,
            headers={"Authorization": f"token {token}", "Accept": PAGINATION},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
        )

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send a request; raise HubUnavailable for network failures and 5xx answers (HubSkipped,
        without sending anything, while this client's breaker is open)."""
        if self.breaker is None:
            return self._send(method, path, **kwargs)
        # A launch's calls (breaker_wait set) are patient ones: their slowness is not a failure.
        patient = self.breaker_wait is not None
        with self.breaker.guard(wait=self.breaker_wait, queue=self.breaker_queue, patient=patient):
            return self._send(method, path, **kwargs)

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self.requests += 1
        try:
            response = self._http.request(method, path, **kwargs)
        except (httpx.ReadTimeout, httpx.WriteTimeout) as error:
            # Connected, and the request may have reached it: slow, not gone (a refused or
            # timed-out connection is HubUnavailable).
            raise HubSlow(f"The hub at {self.api_url} did not answer in {self._timeout:.0f} s") from error
        except httpx.HTTPError as error:
            raise HubUnavailable(f"The hub at {self.api_url} did not answer: {error}") from error
        if response.status_code >= 500:
            raise HubUnavailable(f"The hub failed: {response.status_code} {response.text[:200]}")
        return response

    def version(self) -> str:
        """Return the hub's version (its API root answers without a token: a liveness probe)."""
        response = self._request("GET", "/")
        try:
            body = response.json() if response.status_code == 200 else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise HubError(f"GET /: {response.status_code}, not the hub's API")
        return str(body.get("version", ""))

    @staticmethod
    def _user_path(name: str) -> str:
        return f"/users/{quote(name, safe='')}"

    def user_get(self, *, name: str) -> HubUser | None:
        """Return a user with their servers, or None if the hub does not know them."""
        response = self._request("GET", self._user_path(name))
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise HubError(f"GET user {name}: {response.status_code} {response.text[:200]}")
        return HubUser.from_model(response.json())

    def users_list(self, *, state: str = "") -> Iterator[HubUser]:
        """Yield every user, page by page (state="active" or "ready": only those with servers)."""
        params: dict[str, Any] = {"offset": 0, "limit": self.page_size}
        if state:
            params["state"] = state
        while True:
            response = self._request("GET", "/users", params=params)
            if response.status_code != 200:
                raise HubError(f"GET users: {response.status_code} {response.text[:200]}")
            body = response.json()
            items = body["items"] if isinstance(body, dict) else body
            for model in items:
                yield HubUser.from_model(model)
            following = body.get("_pagination", {}).get("next") if isinstance(body, dict) else None
            if not following or not items:
                return
            params["offset"] = following["offset"]
            params["limit"] = following.get("limit", self.page_size)

    def server_start(self, *, name: str, user_options: dict[str, Any] | None = None) -> str:
        """Ask the hub to start a user's server (with user_options for its spawner, if given);
        return "started", "pending" or "running"."""
        kwargs = {"json": user_options} if user_options else {}
        response = self._request("POST", f"{self._user_path(name)}/server", **kwargs)
        if response.status_code == 201:
            return "started"
        if response.status_code == 202:
            return "pending"
        if response.status_code == 400 and "already running" in response.text:
            return "running"
        if response.status_code == 429:
            raise HubFull(response.json().get("message", "The hub is at capacity."))
        raise HubError(f"start {name}: {response.status_code} {response.text[:200]}")

    def server_delete(self, *, name: str, server: str = "") -> str:
        """Stop a server (the default one unless named); return "stopped" (204), "stopping" (202) or
        "gone" (404 / not running)."""
        path = self._user_path(name) + (f"/servers/{quote(server, safe='')}" if server else "/server")
        response = self._request("DELETE", path)
        if response.status_code == 204:
            return "stopped"
        if response.status_code == 202:
            return "stopping"
        if response.status_code == 404 or (response.status_code == 400 and "not running" in response.text):
            return "gone"
        raise HubError(f"stop {name}/{server}: {response.status_code} {response.text[:200]}")

    def kernels_busy(self, *, name: str, server: str = "") -> bool:
        """Tell whether any kernel of a server is busy (GET /api/kernels through the hub's proxy)."""
        base = f"{self.public_url}/user/{quote(name, safe='')}/"
        if server:
            base += f"{quote(server, safe='')}/"
        response = self._request("GET", base + "api/kernels")
        if response.status_code != 200:
            raise HubError(f"kernels of {name}/{server}: {response.status_code}")
        return any(k.get("execution_state") == "busy" for k in response.json())

    def whoami(self) -> str:
        """Return the name of the user this client's token belongs to (any token may ask:
        GET /hub/api/user); HubError when the hub does not accept the token."""
        response = self._request("GET", "/user")
        if response.status_code != 200:
            raise HubError(f"GET /user: {response.status_code}")
        name = response.json().get("name")
        if not isinstance(name, str) or not name:
            raise HubError("GET /user: no name")
        return name


class _ServerState(Protocol):
    ready: bool
    pending: str | None


def servers_count(servers: Iterable[_ServerState]) -> tuple[int, int]:
    """Return (running, starting): a server runs once ready with nothing pending; the rest are
    starting or stopping, and hold a slot all the same."""
    states = [bool(s.ready and not s.pending) for s in servers]
    running = sum(states)
    return running, len(states) - running


def servers_occupied(*, hub: HubClient) -> set[str]:
    """Return who holds a slot: a running, starting or stopping server ("user" or "user/name")."""
    return {f"{u.name}/{n}" if n else u.name for u in hub.users_list(state="active") for n in u.servers}


def service_token(*, configured: str, path) -> str:
    """Return a hub service token: the configured one, else the hub's generated file.

    Read on first use, not when the settings are imported; HubUnavailable when neither exists
    yet (the hub writes the file when it starts, as does `manage.py local_setup`).
    """
    try:
        return service_token_read(configured=configured, path=path)
    except TokenMissing as error:
        raise HubUnavailable(str(error)) from None


def hub_page_breaker() -> HubBreaker:
    """Return the process's breaker for the configured hub, with the limits from Django settings."""
    from django.conf import settings  # as in hub_client_build: only the factories need Django

    return hub_breaker(
        api_url=settings.HUB_API_URL,
        failures=settings.HUB_BREAKER_FAILURES,
        cooldown=settings.HUB_BREAKER_COOLDOWN,
        concurrency=settings.HUB_PAGE_CONCURRENCY,
        queue=settings.HUB_PAGE_QUEUE,
        wait=settings.HUB_TIMEOUT,
    )


def hub_client_build(
    *, token: str | None = None, timeout: float | None = None, public_url: str = "", launch: bool = False
) -> HubClient:
    """Build the hub client from Django settings: the portal's service token and timeout unless told.

    With neither token nor timeout told (the calls a page makes: "My server", the stop warning,
    the status page) the client uses HUB_TIMEOUT (short) and the process's circuit breaker for
    the hub. launch=True is a Launch: the same breaker, but HUB_LAUNCH_TIMEOUT both for the answer
    and for a place in the breaker's queue, which holds HUB_LAUNCH_QUEUE launches (in a launch
    storm the hub answers a start in seconds, not milliseconds, and forty learners share its
    slots). The culler passes its own token and timeout and keeps its own back-off instead.
    public_url is the proxy's address, for the busy-kernel check (derived from the API URL if empty).
    """
    # Imported here: only this factory needs Django; the client and its types work without settings.
    from django.conf import settings

    breaker = hub_page_breaker() if token is None and timeout is None else None
    if breaker is not None and breaker.is_open():
        # Skipped before reading the token or opening a connection pool.
        raise HubSkipped(f"The hub is not being asked for {breaker.seconds_left():.0f} s after failing.")
    if timeout is None:
        timeout = settings.HUB_LAUNCH_TIMEOUT if launch else settings.HUB_TIMEOUT
    return HubClient(
        api_url=settings.HUB_API_URL,
        token=token or service_token(configured=settings.HUB_SERVICE_TOKEN, path=settings.HUB_SERVICE_TOKEN_FILE),
        timeout=timeout,
        public_url=public_url,
        breaker=breaker,
        breaker_wait=settings.HUB_LAUNCH_TIMEOUT if launch and breaker is not None else None,
        breaker_queue=settings.HUB_LAUNCH_QUEUE if launch and breaker is not None else None,
    )
