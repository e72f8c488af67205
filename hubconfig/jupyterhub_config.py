"""JupyterHub configuration, driven by the same environment variables as the portal.

Run from the repository root:  jupyterhub -f hubconfig/jupyterhub_config.py
Every value comes from the hub contract, `hubconfig/contract.py` (see .env.example), which
the portal's settings read too. The hub process imports neither Django nor Celery.
"""

import os
import pwd
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # the hub is started from anywhere; hubconfig.* lives beside us

from hubconfig import contract, labhandoff  # noqa: E402

c = get_config()  # noqa: F821 - provided by JupyterHub when it loads this file
hs = contract.hub_settings_from_env()
hs.data_dir.mkdir(parents=True, exist_ok=True)
# The hub is the first to need the service tokens: it makes the ones not configured.
portal_token, culler_token = contract.service_tokens_ensure(hs)

# --- Network: public proxy, hub API, proxy API ------------------------------------------------
c.JupyterHub.bind_url = hs.hub_bind_url
c.JupyterHub.hub_bind_url = hs.hub_internal_url
c.ConfigurableHTTPProxy.api_url = hs.proxy_api_url
c.ConfigurableHTTPProxy.command = [hs.proxy_command]
c.ConfigurableHTTPProxy.pid_file = str(hs.data_dir / "jupyterhub-proxy.pid")
c.JupyterHub.db_url = hs.hub_db_url
c.JupyterHub.cookie_secret_file = str(hs.data_dir / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(hs.data_dir / "jupyterhub.pid")

# --- Look: our templates (refusal page, development flag) ---------------------------------------
c.JupyterHub.template_paths = [str(HERE / "templates")]
c.JupyterHub.template_vars = {"portal_url": hs.portal_url, "dev_signin": not hs.use_github}

# --- Authentication ---------------------------------------------------------------------------
c.Authenticator.admin_users = set(hs.admin_users)
if hs.use_github:
    c.JupyterHub.authenticator_class = "github"
    c.GitHubOAuthenticator.client_id = hs.github_client_id
    c.GitHubOAuthenticator.client_secret = hs.github_client_secret
    c.GitHubOAuthenticator.oauth_callback_url = hs.github_callback_url
    # GitHub Enterprise, or the fake GitHub of the tests.
    c.GitHubOAuthenticator.github_url = hs.github_url
    c.GitHubOAuthenticator.github_api = hs.github_api_url
    # Who may sign in is always explicit: organisations, users, or everyone with a GitHub account.
    c.GitHubOAuthenticator.allowed_organizations = set(hs.github_allowed_orgs)
    c.GitHubOAuthenticator.allowed_users = set(hs.github_allowed_users)
    c.GitHubOAuthenticator.allow_all = hs.github_allow_all
    # read:org lets the organisation check see private memberships too.
    c.GitHubOAuthenticator.scope = ["read:user", "read:org"] if hs.github_allowed_orgs else ["read:user"]
    # People already clicked "Sign in with GitHub" on the portal: no second button on the hub.
    c.Authenticator.auto_login = True
    c.GitHubOAuthenticator.logout_redirect_url = hs.portal_url + "/"
    who = ", ".join(hs.github_allowed_orgs) or "the invited GitHub accounts"
    c.GitHubOAuthenticator.custom_403_message = (
        f"Your GitHub account is not allowed on this hub: it is open to members of {who}. "
        "If you think you should be, ask the workshop organisers to add you, then sign in again."
    )
else:
    if not hs.hub_on_loopback:
        sys.exit(
            f"Refusing the development sign-in on {hs.hub_bind_url}: it accepts any username. "
            "Bind the hub to 127.0.0.1 or set GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET."
        )
    if not hs.debug:
        sys.exit("Refusing the development sign-in with DEBUG off: set the GitHub OAuth settings.")
    c.JupyterHub.authenticator_class = "hubconfig.devauth.DevAuthenticator"
    c.DevAuthenticator.allow_all = True
    c.DevAuthenticator.logout_redirect_url = hs.portal_url + "/"
    # Names look like GitHub logins, so a later switch to GitHub keeps the same accounts.
    c.Authenticator.username_pattern = r"^[a-z0-9](?:[a-z0-9-]{0,38})$"
    c.JupyterHub.template_vars["announcement_login"] = (
        "Development sign-in: no GitHub credentials are configured, so any username is "
        "accepted without a password. For local use only."
    )

# --- Capacity and activity --------------------------------------------------------------------
# The portal admits launches against the same number; this is the hub's backstop.
c.JupyterHub.active_server_limit = hs.capacity
c.JupyterHub.concurrent_spawn_limit = hs.concurrent_spawn_limit
# Idle detection works at minute resolution only if activity is recorded that often.
c.JupyterHub.last_activity_interval = hs.activity_interval
# A direct nbgitpuller link to a stopped server starts it without an extra click.
c.JupyterHub.implicit_spawn_seconds = 0.5
# Answer "starting" at once instead of holding the request up to 10 s: the portal's Launch
# returns immediately and the learner watches the hub's progress page, not a blank wait.
c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0}
# The portal culls idle servers through the API; the hub keeps them when people log out.
c.JupyterHub.shutdown_on_logout = False

# --- Spawner ----------------------------------------------------------------------------------
singleuser = hs.singleuser_cmd or str(Path(sys.executable).parent / "jupyterhub-singleuser")
if hs.spawner in ("fork", "local"):
    # fork: a warm fork server forks each server (hubconfig/spawners.py, forkserver.py);
    # local: a fresh process each. Without system users every server runs as the hub's own
    # user with a home under HUB_DATA_DIR/home: development and tests only, learners are not
    # isolated from each other (see hubconfig/README.md).
    kind = {"fork": "ForkSpawner", "local": "LocalSpawner"}[hs.spawner]
    c.JupyterHub.spawner_class = f"hubconfig.spawners.{kind if hs.system_users else 'Simple' + kind}"
    c.SimpleLocalProcessSpawner.home_dir_template = str(hs.data_dir / "home" / "{username}")
    c.Spawner.cmd = [singleuser if Path(singleuser).exists() else shutil.which("jupyterhub-singleuser")]
    if os.geteuid() == 0 and not hs.system_users:
        c.Spawner.args = ["--allow-root"]  # Jupyter refuses root without it
    # A server with an open JupyterLab tab ignores SIGINT and SIGTERM while its websockets stay
    # open (30 s + 30 s by default): stopping then took a minute and held a capacity slot.
    # Files are on disk already (JupyterLab saves), so a short grace period is enough.
    c.LocalProcessSpawner.interrupt_timeout = 5
    c.LocalProcessSpawner.term_timeout = 3
    # Servers never read the hub's terminal (`make start` in one): with a terminal on stdin,
    # Jupyter swaps the plain SIGINT stop for its interactive "Shutdown?" handler, so stops
    # would take another path than the one the tests and benchmarks exercise.
    c.LocalProcessSpawner.popen_kwargs = {"stdin": subprocess.DEVNULL}
    if hs.spawner == "fork":
        c[c.JupyterHub.spawner_class.rsplit(".", 1)[1]].fork_log = str(hs.data_dir / "forkserver.log")
    # Learners' servers run in sessions of their own: a hub restart (an upgrade, a crash)
    # leaves them running, and the restarted hub finds them again by pid.
    c.JupyterHub.cleanup_servers = not hs.keep_servers_on_restart
elif hs.spawner == "systemd":
    c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
    c.SystemdSpawner.mem_limit = f"{hs.server_memory_mb}M"
elif hs.spawner == "docker":
    c.JupyterHub.spawner_class = "dockerspawner.DockerSpawner"
    c.DockerSpawner.image = hs.singleuser_image
    c.DockerSpawner.mem_limit = f"{hs.server_memory_mb}M"
    # Containers reach the hub by its service name on the compose network, not on loopback.
    c.DockerSpawner.network_name = hs.docker_network_name
    c.DockerSpawner.remove = True  # learners' work lives in the volume below, not the container
    c.DockerSpawner.volumes = {"jupyterhub-user-{username}": "/home/jovyan"}
    if hs.hub_connect_url:
        c.JupyterHub.hub_connect_url = hs.hub_connect_url
elif hs.spawner == "kubernetes":
    c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"  # normally set by Zero to JupyterHub


def learner_packages(spawner) -> str:
    """Return the folder where a learner's `pip install` goes: in their home, never the hub's venv."""
    home = getattr(spawner, "home_dir", "") or pwd.getpwnam(spawner.user.name).pw_dir
    return str(Path(home) / ".local" / "workshop-packages")


c.Spawner.default_url = "/lab"
c.Spawner.environment = {
    "JUPYTERHUB_ACTIVITY_INTERVAL": str(hs.activity_interval),
    # The learner's JupyterLab settings (hubconfig/singleuser), for local spawners.
    "JUPYTER_CONFIG_PATH": str(Path(__file__).resolve().parent / "singleuser"),
}
if hs.spawner in ("fork", "local"):
    # Learners share the hub's Python environment: `%pip install` in a workshop would write into
    # it (the portal's own .venv on the embedded default) and change every other learner's. Their
    # installs go to their home instead, first on their kernels' path.
    c.Spawner.environment.update({"PIP_TARGET": learner_packages, "PYTHONPATH": learner_packages})
    # The project's environment first on the learners' PATH (the hub may be run as .venv/bin/...,
    # with a PATH that lacks it): lab services (sushy-emulator) and terminals find its programs.
    c.Spawner.environment["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
c.Spawner.start_timeout = 120
# From the server process started until it answers: JupyterHub's 30 s default, and the 60 s
# before, failed 18 of 40 plain servers started in the same second on 2 cores (each imports the
# single-user stack: ~3 CPU-seconds; bench/launch_storm.py). A server that is slow but coming is
# worth the wait; a broken one is reported after this all the same.
c.Spawner.http_timeout = 180


_lab_opened = labhandoff.OpenedOnce()


def lab_pre_spawn(spawner) -> None:
    """Put the learner's lab (sealed by the portal in user_options: hubconfig/labhandoff.py) into
    their server's environment; a server started without one (or with one that does not open:
    another user's, expired, already opened once) gets none of a previous start's. The grant is
    removed from the stored user_options once read: JupyterHub reuses them for a start that gives
    none (the hub's own Start button), which must not bring back a lab released since."""
    previous = getattr(spawner, "_portal_lab_names", ())
    environment = {k: v for k, v in spawner.environment.items() if k not in previous}
    options = dict(spawner.user_options or {})
    sealed = options.pop(labhandoff.LAB_OPTION, None)
    lab: dict[str, str] = {}
    if sealed:
        try:
            grant = labhandoff.lab_handoff_open(sealed=sealed, service_token=portal_token, user=spawner.user.name)
            if not _lab_opened.first(grant.get("session"), now=time.monotonic()):
                raise labhandoff.LabHandoffInvalid("the lab grant was opened before (a start that reused it)")
            lab = labhandoff.lab_environment(grant)
        except labhandoff.LabHandoffInvalid as error:
            spawner.log.warning("lab of %s not applied: %s", spawner.user.name, error)
        spawner.user_options = options
        if spawner.orm_spawner is not None:
            spawner.orm_spawner.user_options = options
            spawner.db.commit()
    spawner.environment = {**environment, **lab}
    spawner._portal_lab_names = tuple(lab)


c.Spawner.pre_spawn_hook = lab_pre_spawn

# --- The portal and the culler as hub services (names and scopes: hubconfig/contract.py) -------
c.JupyterHub.services = [
    {
        "name": contract.PORTAL_SERVICE_NAME,
        "api_token": portal_token,
        "oauth_client_id": contract.PORTAL_OAUTH_CLIENT_ID,
        "oauth_redirect_uri": hs.portal_oauth_redirect_uri,
        # Signing in on the portal is the consent: no extra "authorize" page.
        "oauth_no_confirm": True,
        "display": False,
    },
    # The portal's Celery cull task calls the hub with this token (no URL, no OAuth: an API client).
    {"name": contract.CULLER_SERVICE_NAME, "api_token": culler_token, "display": False},
]
# Config tokens are hashed with 16,384 rounds of SHA-512 unless trusted to be random: ~4 ms of
# hub CPU on every request made with them (py-spy: 40% of the hub's time in a cull pass). Ours
# are 64 random hex characters (or checked to look like it; weak ones keep the slow hashing).
c.JupyterHub.trust_user_provided_tokens = contract.token_strong(portal_token) and contract.token_strong(culler_token)
c.JupyterHub.load_roles = [
    {
        "name": contract.PORTAL_SERVICE_NAME,
        "description": "What the portal needs: see servers and activity, start and stop them",
        "services": [contract.PORTAL_SERVICE_NAME],
        "scopes": list(contract.PORTAL_SCOPES),
    },
    {
        "name": contract.CULLER_SERVICE_NAME,
        "description": "What the cull task needs: list servers and activity, stop servers, see busy kernels",
        "services": [contract.CULLER_SERVICE_NAME],
        "scopes": list(contract.CULLER_SCOPES),
    },
    {"name": "user", "scopes": list(contract.USER_SCOPES)},
]
