"""The hub's and the portal's shared settings, read from the environment in one place.

Pure Python (no Django): `hubconfig/jupyterhub_config.py` and `portal/settings.py` both
call `hub_settings_from_env()`, so the two processes can never disagree on a URL or token.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from portal.capacity import capacity_resolve, host_memory_mb

BASE_DIR = Path(__file__).resolve().parent.parent
PORTAL_CALLBACK_PATH = "/accounts/callback"
PORTAL_SERVICE_NAME = "portal"
CULLER_SERVICE_NAME = "culler"
SPAWNERS = ("simple", "systemd", "docker", "kubernetes")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}


@dataclass(frozen=True)
class HubSettings:
    """Everything the hub and the portal must agree on."""

    debug: bool
    hub_url: str
    hub_bind_url: str
    hub_api_url: str
    hub_internal_url: str
    proxy_api_url: str
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
    portal_service_token: str
    culler_service_token: str
    capacity: int
    server_memory_mb: int
    concurrent_spawn_limit: int
    activity_interval: int
    data_dir: Path
    spawner: str

    @property
    def tokens_trusted(self) -> bool:
        """Tell whether both service tokens are strong enough to skip the hub's extra hashing."""
        return token_strong(self.portal_service_token) and token_strong(self.culler_service_token)

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


def _str(env: Mapping[str, str], name: str, default: str = "") -> str:
    return env.get(name, "").strip() or default


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
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
    return int(value) if value else default


def _list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


def github_api_url_default(*, github_url: str) -> str:
    """Return GitHub's API URL for a GitHub base URL (GitHub Enterprise serves it under /api/v3)."""
    if github_url.rstrip("/") == "https://github.com":
        return "https://api.github.com"
    return github_url.rstrip("/") + "/api/v3"


def token_strong(token: str) -> bool:
    """Tell whether a token looks machine-made (`openssl rand -hex 32`): 32+ characters, varied."""
    # The hub hashes tokens from its config with 16,384 rounds of SHA-512 unless told they are
    # random: that costs ~4 ms of hub CPU on every API request made with them.
    return len(token) >= 32 and len(set(token)) >= 10


def service_token_resolve(*, configured: str, path: Path) -> str:
    """Return the configured token, else one kept in path (made once, shared by hub and portal)."""
    if configured:
        return configured
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: when the hub and the portal start together, exactly one of them writes.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(32))
    for _ in range(50):
        token = path.read_text().strip()
        if token:
            return token
        time.sleep(0.02)  # the other process is between open and write
    raise RuntimeError(f"{path} is empty")


def hub_settings_from_env(env: Mapping[str, str] | None = None) -> HubSettings:
    """Read the hub settings from the environment (or the given mapping)."""
    env = os.environ if env is None else env
    var_dir = Path(_str(env, "PORTAL_VAR_DIR", str(BASE_DIR / "var")))
    data_dir = Path(_str(env, "HUB_DATA_DIR", str(var_dir / "hub")))
    hub_url = _str(env, "HUB_URL", "http://127.0.0.1:8001").rstrip("/")
    github_url = _str(env, "GITHUB_URL", "https://github.com").rstrip("/")
    server_mb = _int(env, "SERVER_MEMORY_MB", 512) or 512
    spawner = _str(env, "HUB_SPAWNER", "simple")
    if spawner not in SPAWNERS:
        raise ValueError(f"HUB_SPAWNER={spawner!r}: choose one of {', '.join(SPAWNERS)}")
    return HubSettings(
        debug=_bool(env, "DEBUG", True),
        hub_url=hub_url,
        hub_bind_url=_str(env, "HUB_BIND_URL", hub_url).rstrip("/"),
        hub_api_url=_str(env, "HUB_API_URL", hub_url + "/hub/api").rstrip("/"),
        hub_internal_url=_str(env, "HUB_INTERNAL_URL", "http://127.0.0.1:8081").rstrip("/"),
        proxy_api_url=_str(env, "HUB_PROXY_API_URL", "http://127.0.0.1:8002").rstrip("/"),
        portal_url=_str(env, "PORTAL_URL", "http://127.0.0.1:8000").rstrip("/"),
        github_client_id=_str(env, "GITHUB_CLIENT_ID"),
        github_client_secret=_str(env, "GITHUB_CLIENT_SECRET"),
        github_callback_url=_str(env, "GITHUB_CALLBACK_URL", hub_url + "/hub/oauth_callback"),
        github_url=github_url,
        github_api_url=_str(
            env, "GITHUB_API_URL", github_api_url_default(github_url=github_url)
        ).rstrip("/"),
        github_allowed_orgs=_list(env, "GITHUB_ALLOWED_ORGS"),
        github_allowed_users=_list(env, "GITHUB_ALLOWED_USERS"),
        github_allow_all=_bool(env, "GITHUB_ALLOW_ALL", False),
        admin_users=_list(env, "HUB_ADMIN_USERS"),
        portal_service_token=service_token_resolve(
            configured=_str(env, "PORTAL_SERVICE_TOKEN"), path=data_dir / "portal-service-token"
        ),
        # The culler has its own token and role: a leaked portal token cannot read kernels,
        # a leaked culler token cannot start servers.
        culler_service_token=service_token_resolve(
            configured=_str(env, "CULLER_SERVICE_TOKEN"), path=data_dir / "culler-service-token"
        ),
        capacity=capacity_resolve(
            configured=_int(env, "CAPACITY_MAX_SERVERS", None),
            total_mb=host_memory_mb(),
            server_mb=server_mb,
        ),
        server_memory_mb=server_mb,
        concurrent_spawn_limit=_int(env, "HUB_CONCURRENT_SPAWN_LIMIT", 10) or 10,
        activity_interval=_int(env, "HUB_ACTIVITY_INTERVAL", 60) or 60,
        data_dir=data_dir,
        spawner=spawner,
    )
