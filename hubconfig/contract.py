"""The hub contract: everything JupyterHub and the portal must agree on, in one pure module.

Both `hubconfig/jupyterhub_config.py` (in the JupyterHub process) and `portal/settings.py`
read it, so the two processes can never disagree on a URL, a service name, a scope, a token
or the capacity; `tests/portal/test_z2jh_values.py` holds the Kubernetes values to the same
constants. Pure Python: no Django, no Celery, and no I/O when imported or when the settings
are read (service-token files are made by `service_tokens_ensure`, called by the hub at
start-up and by `scripts/start.sh`, and read by `service_token_read` on first use).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Names both sides use ----------------------------------------------------------------------
PORTAL_SERVICE_NAME = "portal"
CULLER_SERVICE_NAME = "culler"
# JupyterHub names a service's OAuth client "service-<name>" (jupyterhub.app, init_services).
PORTAL_OAUTH_CLIENT_ID = f"service-{PORTAL_SERVICE_NAME}"
PORTAL_CALLBACK_PATH = "/accounts/callback"
PORTAL_TOKEN_FILE = "portal-service-token"  # noqa: S105 - a file name
CULLER_TOKEN_FILE = "culler-service-token"  # noqa: S105 - a file name
# fork: learners' servers forked from a warm fork server (one host); local: started plainly;
# "simple" is the old name of local. HUB_SYSTEM_USERS picks one Linux account per learner.
SPAWNERS = ("fork", "local", "simple", "systemd", "docker", "kubernetes")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}

# --- Role scopes (JupyterHub RBAC: https://jupyterhub.readthedocs.io/en/stable/rbac/scopes.html) -
PORTAL_SCOPES = (
    "list:users",  # admission and the status page count running servers
    "read:users:name",  # know whose server is whose
    "read:users:activity",  # last_activity: the "My server" page and its stop warning
    "read:servers",  # server state, start time and spawn progress
    "servers",  # start a server on Launch, stop it on "Stop my server" (culls: the culler's token)
    # Not granted: admin:users (create / delete users), access:servers (the contents of
    # people's notebooks), tokens, groups, shutdown.
)
CULLER_SCOPES = (
    "list:users",  # walk every user with a ready server (paginated)
    "read:users:name",  # whose server is whose
    "read:users:activity",  # last_activity: the idle time
    "read:servers",  # started (max age), pending (skip), ready
    "delete:servers",  # stop a server; start:servers is deliberately not granted
    # The busy-kernel check. A kernel running a long cell sends no messages, so the server's
    # last_activity (all the hub records) stays old while the learner's work runs: only the
    # single-user server's GET /api/kernels (execution_state) tells. Reaching it through the
    # hub's proxy needs access:servers. The culler calls it for cull candidates only, and only
    # that GET; it is the price of never killing running work, which is why the culler has a
    # token of its own, not the portal's.
    "access:servers",
    # Not granted: servers / start:servers (no launches), admin:users (no user creation or
    # deletion), tokens, groups, shutdown.
)
# Every signed-in person may sign in to the portal through the hub (OAuth).
USER_SCOPES = ("self", f"access:services!service={PORTAL_SERVICE_NAME}")


@dataclass(frozen=True)
class HubSettings:
    """Everything the hub and the portal must agree on, as read from the environment."""

    debug: bool
    hub_url: str
    hub_bind_url: str
    hub_api_url: str
    hub_internal_url: str
    hub_connect_url: str
    hub_db_url: str
    proxy_api_url: str
    proxy_command: str
    portal_url: str
    github_client_id: str
    github_client_secret: str
    github_callback_url: str
    github_url: str
    github_api_url: str
    github_allowed_orgs: tuple[str, ...]
    github_allowed_users: tuple[str, ...]
    github_allow_all: bool
    admin_users: tuple[str, ...]
    portal_service_token: str  # configured, or "" for the generated file in data_dir
    culler_service_token: str  # configured, or "" for the generated file in data_dir
    capacity_configured: int | None
    server_memory_mb: int  # the budget per server (MiB): SERVER_MEMORY_MB, else the spawner's default
    server_memory_set: bool  # True when the operator set SERVER_MEMORY_MB, False for the measured default
    concurrent_spawn_limit_set: int | None  # HUB_CONCURRENT_SPAWN_LIMIT, if the operator set it
    activity_interval: int
    data_dir: Path
    spawner: str
    system_users: bool
    keep_servers_on_restart: bool
    singleuser_cmd: str
    singleuser_image: str
    docker_network_name: str

    @property
    def use_github(self) -> bool:
        """Tell whether GitHub OAuth is configured (else the development sign-in is used)."""
        return bool(self.github_client_id and self.github_client_secret)

    @property
    def portal_oauth_redirect_uri(self) -> str:
        """Return where the hub sends people back to the portal after sign-in."""
        return self.portal_url + PORTAL_CALLBACK_PATH

    @property
    def hub_on_loopback(self) -> bool:
        """Tell whether the hub listens on loopback only (the development sign-in needs it)."""
        return (urlsplit(self.hub_bind_url).hostname or "") in LOOPBACK_HOSTS

    @property
    def capacity(self) -> int:
        """Return how many servers may run at once: configured, else from host memory."""
        return capacity_resolve(
            configured=self.capacity_configured, total_mb=host_memory_mb(), server_mb=self.server_memory_mb
        )

    @property
    def concurrent_spawn_limit(self) -> int:
        """Return how many servers may be starting at once: HUB_CONCURRENT_SPAWN_LIMIT, else the
        capacity. The portal's admission already keeps starts within capacity, and a lower hub
        limit sent learners past it to the waiting list in a launch storm ("click Launch now",
        forty at once: the 11th to the 40th waited under the old default of 10)."""
        return self.concurrent_spawn_limit_set or self.capacity

    @property
    def servers_api_url(self) -> str:
        """Return the hub API URL learners' servers are given (their JUPYTERHUB_API_URL)."""
        # JupyterHub gives servers hub_connect_url when set, else the hub's bind URL (+ /hub/api).
        return (self.hub_connect_url or self.hub_internal_url).rstrip("/") + "/hub/api"

    @property
    def fork_socket(self) -> Path:
        """Return the fork server's control socket for this hub (fork spawner, default settings)."""
        return fork_socket_path(data_dir=self.data_dir)

    @property
    def portal_token_path(self) -> Path:
        """Return the file holding the generated portal token (used when none is configured)."""
        return self.data_dir / PORTAL_TOKEN_FILE

    @property
    def culler_token_path(self) -> Path:
        """Return the file holding the generated culler token (used when none is configured)."""
        return self.data_dir / CULLER_TOKEN_FILE


# --- Reading the environment (one parser for the hub's facts; the portal reads the rest) --------
def _str(env: Mapping[str, str], name: str, default: str = "") -> str:
    return env.get(name, "").strip() or default


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    """Read a boolean the way django-environ does (1/true/yes/on, 0/false/no/off); ValueError names it."""
    value = env.get(name, "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name}={value!r} is not a boolean")


def _int(env: Mapping[str, str], name: str, default: int | None) -> int | None:
    value = env.get(name, "").strip()
    try:
        return int(value) if value else default
    except ValueError:
        raise ValueError(f"{name}={value!r} is not a whole number") from None


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


def github_api_url_default(*, github_url: str) -> str:
    """Return GitHub's API URL for a GitHub base URL (GitHub Enterprise serves it under /api/v3)."""
    if github_url.rstrip("/") == "https://github.com":
        return "https://api.github.com"
    return github_url.rstrip("/") + "/api/v3"


def fork_socket_path(*, data_dir: Path) -> Path:
    """Return a short control-socket path for a hub data folder (Unix socket paths max ~107 bytes).

    One per hub user and data folder, in a private folder of the temporary directory; its path is
    on the fork server's command line (and so on every server forked from it), which is how the
    status page tells this hub's fork server and servers from another hub's on the same host.
    """
    tag = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"nbp-fork-{os.getuid()}-{tag}" / "control.sock"


def var_dir_from_env(env: Mapping[str, str]) -> Path:
    """Return the folder for runtime state (`PORTAL_VAR_DIR`, default `var/` in the checkout)."""
    return Path(_str(env, "PORTAL_VAR_DIR", str(BASE_DIR / "var")))


def hub_settings_from_env(env: Mapping[str, str] | None = None) -> HubSettings:
    """Read the hub contract from the environment (or the given mapping), touching no file.

    Raises ValueError naming the variable when a value cannot be read.
    """
    env = os.environ if env is None else env
    data_dir = Path(_str(env, "HUB_DATA_DIR", str(var_dir_from_env(env) / "hub")))
    hub_url = _str(env, "HUB_URL", "http://127.0.0.1:8001").rstrip("/")
    github_url = _str(env, "GITHUB_URL", "https://github.com").rstrip("/")
    spawner = _str(env, "HUB_SPAWNER", "fork")
    if spawner not in SPAWNERS:
        raise ValueError(f"HUB_SPAWNER={spawner!r}: choose one of {', '.join(SPAWNERS)}")
    # A value of 0 (or an empty one) means "not set": the spawner's measured default applies.
    server_memory_set = _int(env, "SERVER_MEMORY_MB", None) or None
    return HubSettings(
        debug=env_bool(env, "DEBUG", False),  # off unless set: `make start` sets it
        hub_url=hub_url,
        hub_bind_url=_str(env, "HUB_BIND_URL", hub_url).rstrip("/"),
        hub_api_url=_str(env, "HUB_API_URL", hub_url + "/hub/api").rstrip("/"),
        hub_internal_url=_str(env, "HUB_INTERNAL_URL", "http://127.0.0.1:8081").rstrip("/"),
        hub_connect_url=_str(env, "HUB_CONNECT_URL"),
        hub_db_url=_str(env, "HUB_DB_URL", f"sqlite:///{data_dir / 'jupyterhub.sqlite'}"),
        proxy_api_url=_str(env, "HUB_PROXY_API_URL", "http://127.0.0.1:8002").rstrip("/"),
        proxy_command=_str(
            env, "CONFIGURABLE_HTTP_PROXY", str(BASE_DIR / "node_modules" / ".bin" / "configurable-http-proxy")
        ),
        portal_url=_str(env, "PORTAL_URL", "http://127.0.0.1:8000").rstrip("/"),
        github_client_id=_str(env, "GITHUB_CLIENT_ID"),
        github_client_secret=_str(env, "GITHUB_CLIENT_SECRET"),
        github_callback_url=_str(env, "GITHUB_CALLBACK_URL", hub_url + "/hub/oauth_callback"),
        github_url=github_url,
        github_api_url=_str(env, "GITHUB_API_URL", github_api_url_default(github_url=github_url)).rstrip("/"),
        github_allowed_orgs=_list(env, "GITHUB_ALLOWED_ORGS"),
        github_allowed_users=_list(env, "GITHUB_ALLOWED_USERS"),
        github_allow_all=env_bool(env, "GITHUB_ALLOW_ALL", False),
        admin_users=_list(env, "HUB_ADMIN_USERS"),
        # The culler has its own token and role: a leaked portal token cannot read kernels, a
        # leaked culler token cannot start servers.
        portal_service_token=_str(env, "PORTAL_SERVICE_TOKEN"),
        culler_service_token=_str(env, "CULLER_SERVICE_TOKEN"),
        capacity_configured=_int(env, "CAPACITY_MAX_SERVERS", None),
        server_memory_mb=server_memory_set or server_memory_default(spawner),
        server_memory_set=server_memory_set is not None,
        concurrent_spawn_limit_set=_int(env, "HUB_CONCURRENT_SPAWN_LIMIT", None) or None,
        activity_interval=_int(env, "HUB_ACTIVITY_INTERVAL", 60) or 60,
        data_dir=data_dir,
        spawner="local" if spawner == "simple" else spawner,
        system_users=env_bool(env, "HUB_SYSTEM_USERS", False),
        keep_servers_on_restart=env_bool(env, "HUB_KEEP_SERVERS_ON_RESTART", True),
        singleuser_cmd=_str(env, "HUB_SINGLEUSER_CMD"),
        singleuser_image=_str(env, "SINGLEUSER_IMAGE", "quay.io/jupyter/base-notebook:latest"),
        docker_network_name=_str(env, "DOCKER_NETWORK_NAME", "notebooks-portal_default"),
    )


# --- Memory per server (pure) ------------------------------------------------------------------
# The per-server budget capacity is made of, when the operator does not set SERVER_MEMORY_MB.
# Measured by bench/launch_storm.py (README, Benchmarks: 40 learners, 2 cores, 2026-11-30) as
# proportional set size, so pages shared between servers (the fork server's preloaded modules,
# the interpreter) are counted once: a forked server costs 36 MiB idle and 72 MiB with a running
# kernel (the fork server's own share spread over the servers); a plain local one 119 / 155 MiB.
# Capacity is a hard limit (the hub's active_server_limit): a learner admitted must not push
# the host into swap or the OOM killer, so the budget is a server *with* its kernel, not an idle
# one, plus an allowance for the learner's work: data held in the kernel, a package installed
# with %pip, a lab service (an emulator) started beside the server. The allowance is a choice,
# not a measurement: 128 MiB is three and a half times what a running kernel added to a server
# in the benchmark (72 - 36 MiB), and the status page shows the measured mean and maximum per
# server, so an operator can check it on their own host and set SERVER_MEMORY_MB.
LEARNER_WORK_MB = 128
SERVER_PSS_KERNEL_MB = {"fork": 72, "local": 155}  # bench/launch_storm.py, with a running kernel
# With containers the same number is also each container's memory LIMIT (DockerSpawner,
# SystemdSpawner mem_limit): a learner over it is killed, and a container shares no pages with
# its neighbours, so it stays generous there.
CONTAINER_MEMORY_MB = 512
SERVER_MEMORY_MB_MEASURED: dict[str, int] = {
    "fork": SERVER_PSS_KERNEL_MB["fork"] + LEARNER_WORK_MB,  # 200 MiB: 5 seats per GiB
    "local": SERVER_PSS_KERNEL_MB["local"] + LEARNER_WORK_MB,  # 283 MiB: 3.6 seats per GiB
    "simple": SERVER_PSS_KERNEL_MB["local"] + LEARNER_WORK_MB,  # the old name of local
    "systemd": CONTAINER_MEMORY_MB,
    "docker": CONTAINER_MEMORY_MB,
    "kubernetes": CONTAINER_MEMORY_MB,
}


def server_memory_default(spawner: str) -> int:
    """Return the budget per server in MiB for a spawner (SERVER_MEMORY_MB_MEASURED; 512 if unknown)."""
    return SERVER_MEMORY_MB_MEASURED.get(spawner, CONTAINER_MEMORY_MB)


# --- Capacity (pure) ---------------------------------------------------------------------------
def capacity_from_memory(*, total_mb: int, server_mb: int, reserve_mb: int = 1024) -> int:
    """Return how many servers of server_mb MiB fit in total_mb MiB less reserve_mb (at least 1)."""
    if server_mb <= 0:
        raise ValueError("server_mb must be positive")
    return max(1, (total_mb - reserve_mb) // server_mb)


def host_memory_mb() -> int:
    """Return the host's physical memory in MiB (0 when the platform does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024)
    except (ValueError, OSError, AttributeError):
        return 0


def capacity_resolve(*, configured: int | None, total_mb: int, server_mb: int, reserve_mb: int = 1024) -> int:
    """Return the configured capacity, else the one derived from memory (1 when memory is unknown)."""
    if configured is not None and configured > 0:
        return configured
    if total_mb <= 0:
        return 1  # unknown memory: the safe answer
    return capacity_from_memory(total_mb=total_mb, server_mb=server_mb, reserve_mb=reserve_mb)


# --- Service tokens ----------------------------------------------------------------------------
class TokenMissing(RuntimeError):
    """No token is configured and the generated token file does not exist (yet)."""


def token_strong(token: str) -> bool:
    """Tell whether a token looks machine-made (`openssl rand -hex 32`): 32+ characters, varied."""
    # The hub hashes tokens from its config with 16,384 rounds of SHA-512 unless told they are
    # random: that costs ~4 ms of hub CPU on every API request made with them.
    return len(token) >= 32 and len(set(token)) >= 10


def service_token_ensure(*, configured: str, path: Path) -> str:
    """Return the configured token, else the one kept in path, making it (0600) the first time."""
    if configured:
        return configured
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: when the hub and the start script race, exactly one of them writes.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    return service_token_read(configured="", path=path)


def service_token_read(*, configured: str, path: Path) -> str:
    """Return the configured token, else the one kept in path; TokenMissing when there is none."""
    if configured:
        return configured
    for _ in range(50):
        try:
            token = path.read_text().strip()
        except FileNotFoundError:
            raise TokenMissing(
                f"no service token: set it in the environment, or start the hub once so it writes {path}"
            ) from None
        if token:
            return token
        time.sleep(0.02)  # the writer is between open and write
    raise TokenMissing(f"{path} is empty")


def service_tokens_ensure(hs: HubSettings) -> tuple[str, str]:
    """Return (portal token, culler token), generating the missing ones into the hub's data dir."""
    return (
        service_token_ensure(configured=hs.portal_service_token, path=hs.portal_token_path),
        service_token_ensure(configured=hs.culler_service_token, path=hs.culler_token_path),
    )


if __name__ == "__main__":  # `python -m hubconfig.contract`: make the token files before the stack starts
    service_tokens_ensure(hub_settings_from_env())
