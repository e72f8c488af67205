"""Settings for the portal, read from environment variables (every one is in .env.example).

Two readers, one place per fact: what the hub must agree on (URLs, tokens, capacity, DEBUG,
GitHub's API host) comes from the hub contract, `hubconfig/contract.py`; the portal's own
decisions are read here with django-environ. Internal tuning is named constants (bottom of
the file), not environment variables. Importing this module does no I/O beyond reading an
optional `.env`: folders and token files are made by `scripts/start.sh` and the hub, and the
Celery broker is chosen there too.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from hubconfig import contract

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env is a convenience for development; real deployments set the environment.
if (BASE_DIR / ".env").is_file() and not os.environ.get("PORTAL_IGNORE_DOTENV"):
    env.read_env(BASE_DIR / ".env")

# The hub contract, read once from the same environment the hub reads (no file is touched).
HUB = contract.hub_settings_from_env()
VAR_DIR = contract.var_dir_from_env(os.environ)

# Off unless DEBUG is set (the one default lives in the hub contract); `make start` sets it on.
DEBUG = HUB.debug
# The embedded default runs with a development key; a system check refuses it when DEBUG is off.
DEV_SECRET_KEY = "dev-only-insecure-key-change-me"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)

PORTAL_URL = HUB.portal_url
HUB_URL = HUB.hub_url
ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[urlsplit(PORTAL_URL).hostname or "127.0.0.1", "localhost", "127.0.0.1"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[PORTAL_URL])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "axes",  # rate-limits the admin's password login
    "portal",
    "catalog",
]

MIDDLEWARE = [
    # Health probes first: they answer on any Host and over plain HTTP (the container's own probe).
    "portal.middleware.HealthProbeMiddleware",
    # A NUL byte or broken encoding in a URL is a 400 before any view or database sees it.
    "portal.middleware.MalformedRequestMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes asks
]
# django-axes' backend first: it refuses a locked-out login before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "portal" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "portal.context_processors.site",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'portal.sqlite3'}"),
}
# Persistent connections: a request reuses its worker's connection for up to a minute.
DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # An unreachable database fails a request (and /healthz) in seconds, not at the TCP timeout.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
# In the checkout (or the image), not in PORTAL_VAR_DIR: the image's collectstatic runs before
# the state volume is mounted, and static files are code, not state.
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Serve static files from the app folders without collectstatic in development.
WHITENOISE_USE_FINDERS = DEBUG

# Card images from other sites: off by default, because every visitor's browser would fetch
# them from that site (it learns who browses the catalog). Off: such a card gets the default
# image (a sync warning) and the Content-Security-Policy allows images from this site only,
# so external images in notebook previews do not load either. On: any https: image.
CATALOG_EXTERNAL_IMAGES = env.bool("CATALOG_EXTERNAL_IMAGES", default=False)

# Notebook content is untrusted: no inline script, no plugins, nothing framed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],  # nbconvert output carries style attributes
        # Images from other sites only when the operator allows them (CATALOG_EXTERNAL_IMAGES above).
        "img-src": ["'self'", "data:", *(["https:"] if CATALOG_EXTERNAL_IMAGES else [])],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'", HUB_URL],
    }
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True

# --- HTTPS (the production compose profile turns all of these on; see .env.example) ----------
# Cookies only over HTTPS: on whenever the portal's public address is https (a browser never
# sends a secure cookie to an http address, so the default follows PORTAL_URL).
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=PORTAL_URL.startswith("https://"))
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Redirect http to https. Off unless set: behind a TLS proxy it also needs SECURE_PROXY_SSL_HEADER,
# or every request would be redirected again.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# Trust the proxy's X-Forwarded-Proto: only when a proxy that sets it is the sole way in.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("SECURE_PROXY_SSL_HEADER", default=False) else None
)
# Strict-Transport-Security, in seconds (0 = not sent; browsers remember it, so start small).
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)

# --- The admin's password login is rate-limited (staff normally sign in with GitHub) ----------
# django-axes: the 6th wrong password in a row for a username, or from an address, is refused for
# a minute (each refused try restarts the minute); a correct password clears the count.
AXES_FAILURE_LIMIT = 6
AXES_COOLOFF_TIME = timedelta(minutes=1)
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # no row per successful login: the table stays bounded
AXES_LOCKOUT_TEMPLATE = "portal/locked_out.html"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# The broker is Redis. Only the one-command stack may fall back: scripts/start.sh sets
# CELERY_BROKER_URL=filesystem:// (kombu's filesystem transport, one host) when Redis does not
# answer, and makes its folder; the probe lives there so that reading settings touches no network.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
if CELERY_BROKER_URL == "auto":  # start.sh resolves "auto"; any other process takes Redis
    CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(VAR_DIR / "celery-queue"),
        "data_folder_out": str(VAR_DIR / "celery-queue"),
    }
elif CELERY_BROKER_URL.startswith("redis"):
    # A dead or frozen Redis fails a publish within seconds instead of holding a web request (the
    # webhook's outbox keeps the work); kombu documents socket_timeout for exactly this.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5}
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Cull and admission never wait behind syncs: they (and the short housekeeping tasks that relay
# accepted work) go to a queue of their own, consumed by its own worker (Procfile, compose).
# Everything else (syncs, validations) goes to CELERY_TASK_DEFAULT_QUEUE.
CELERY_CAPACITY_QUEUE = env.str("CELERY_CAPACITY_QUEUE", default="capacity")
CELERY_TASK_ROUTES = {
    name: {"queue": CELERY_CAPACITY_QUEUE}
    for name in (
        "portal.tasks.servers_cull_task",
        "portal.tasks.capacity_samples_prune_task",
        "catalog.tasks.outbox_relay_task",
        "catalog.tasks.catalog_recover_task",
    )
}
# A worker process that grew past this (KiB) after a task (a big sync or render) is replaced,
# and every process is replaced after this many tasks: memory a large task took is given back.
CELERY_WORKER_MAX_MEMORY_PER_CHILD = env.int("CELERY_WORKER_MAX_MEMORY_PER_CHILD", default=512 * 1024)
CELERY_WORKER_MAX_TASKS_PER_CHILD = env.int("CELERY_WORKER_MAX_TASKS_PER_CHILD", default=200)
# Singleton locks (one sync, one cull pass at a time) are leases of this many seconds, renewed
# while their holder works: a worker killed mid-job frees its lock within one lease.
LOCK_LEASE_SECONDS = env.int("LOCK_LEASE_SECONDS", default=30)

# --- Catalog -------------------------------------------------------------------------------
# The content repository: any git URL or local path. The embedded default is the bundled
# sample repository, turned into a git repository by `manage.py sample_repo`.
CATALOG_SOURCE = env.str("CATALOG_SOURCE", default=str(VAR_DIR / "sample-content.git"))
CATALOG_BRANCH = env.str("CATALOG_BRANCH", default="main")
CATALOG_CACHE_DIR = Path(env.str("CATALOG_CACHE_DIR", default=str(VAR_DIR / "content-cache")))
CATALOG_SYNC_INTERVAL = env.int("CATALOG_SYNC_INTERVAL", default=600)
CATALOG_MAX_NOTEBOOK_BYTES = env.int("CATALOG_MAX_NOTEBOOK_BYTES", default=10 * 1024 * 1024)
CATALOG_MAX_FILE_BYTES = env.int("CATALOG_MAX_FILE_BYTES", default=20 * 1024 * 1024)
CATALOG_PAGE_SIZE = env.int("CATALOG_PAGE_SIZE", default=24)
# Workshops-on-Demand templates ({{ VAR }} in notebooks and metadata): the site's values, a JSON
# object of names to text (e.g. {"BRANDINGWOD": "HPE Developer", "SURVEYURL": "https://..."}).
# They win over a workshop's own template_values; names known only per learner (student id,
# password) are shown as placeholders such as ‹STDID›. A change shows after `sync_catalog --force`.
CATALOG_TEMPLATE_VALUES = env.json("CATALOG_TEMPLATE_VALUES", default={})
if not isinstance(CATALOG_TEMPLATE_VALUES, dict):
    raise ImproperlyConfigured('CATALOG_TEMPLATE_VALUES must be a JSON object, e.g. {"BRANDINGWOD": "HPE Developer"}')
# CATALOG_EXTERNAL_IMAGES (card images from other sites) is read above, beside the CSP.
# The categories (tags, wod.yml 'category') the catalog knows; others are left out with a
# warning. Empty: any.
CATALOG_CATEGORIES = env.list("CATALOG_CATEGORIES", default=[])
# Where people read the source (for "view source" links); derived from the source when unset.
CATALOG_REPO_WEB_URL = env.str("CATALOG_REPO_WEB_URL", default="")
CATALOG_GIT_TIMEOUT = env.int("CATALOG_GIT_TIMEOUT", default=300)

# --- The hub: sign-in, launch, "My server" (the contract's values; hubconfig/contract.py) -------
HUB_API_URL = HUB.hub_api_url
# Tokens: the configured one, else the hub's generated file, read on first use (portal.hub).
HUB_SERVICE_TOKEN = HUB.portal_service_token
HUB_SERVICE_TOKEN_FILE = HUB.portal_token_path
HUB_OAUTH_CLIENT_ID = contract.PORTAL_OAUTH_CLIENT_ID
HUB_OAUTH_REDIRECT_URI = HUB.portal_oauth_redirect_uri
HUB_DEV_SIGNIN = not HUB.use_github  # the header shows a "development sign-in" flag
# Timeout of each hub call a page makes ("My server", the stop warning, the status page): short, so a hub
# that hangs costs a learner seconds, not a request thread for long (the culler has its own).
HUB_TIMEOUT = env.float("HUB_TIMEOUT", default=2.0)
# A Launch's hub calls (the user, the start): under a launch storm the hub answers in seconds.
HUB_LAUNCH_TIMEOUT = env.float("HUB_LAUNCH_TIMEOUT", default=10.0)
HUB_CAPACITY = HUB.capacity
HUB_SPAWNER = HUB.spawner
# The budget per server capacity is made of (MiB): SERVER_MEMORY_MB, else the active spawner's
# measured default (hubconfig.contract.SERVER_MEMORY_MB_MEASURED); the status page says which.
SERVER_MEMORY_MB = HUB.server_memory_mb
SERVER_MEMORY_SET = HUB.server_memory_set
# The status page measures this hub's learners' servers when they run on this host: processes
# whose JUPYTERHUB_API_URL is this one, and those holding the fork server's socket path on their
# command line ("" = the contract's path for HUB_DATA_DIR, worked out on first measurement, as
# finding the temporary folder touches the disk).
HUB_SERVERS_API_URL = HUB.servers_api_url
HUB_FORK_SOCKET = ""
# Whether learners' servers run the project's lab extension (hubconfig/labext.py: per-learner
# services, `portal-lab/fill`): the local spawners run the project's own environment; a
# container image must install it first (see hubconfig/README.md).
LAB_SERVERS_EXTENDED = env.bool("LAB_SERVERS_EXTENDED", default=HUB.spawner in ("fork", "local", "simple"))
# What nbgitpuller pulls: a URL the single-user servers can reach (file:// for a local path).
LAUNCH_REPO_URL = env.str("LAUNCH_REPO_URL", default="")
# Unless LAUNCH_REPO_URL says otherwise, learners' servers on this host pull from a bare copy of
# the content repository kept at the commit the catalog last published (catalog.sync), not from
# GitHub: forty launches fetch from the disk, and get what the catalog shows. On by default with
# the local spawners (the servers run on this host); containers cannot see the path.
LAUNCH_FROM_MIRROR = env.bool("LAUNCH_FROM_MIRROR", default=HUB.spawner in ("fork", "local", "simple"))
LAUNCH_MIRROR_DIR = (
    Path(env.str("LAUNCH_MIRROR_DIR", default=str(VAR_DIR / "launch" / "content.git"))) if LAUNCH_FROM_MIRROR else None
)
# The folder in the learner's home that holds the content repository's clone.
LAUNCH_TARGET_DIR = env.str("LAUNCH_TARGET_DIR", default="workshops")
LOGIN_URL = "accounts:login"

# Catalog pages are cached per process, keyed by the catalog version (checked at most every
# CATALOG_VERSION_TTL seconds, so a sync shows within that time on every worker), in a memory
# cache bounded in bytes (MAX_BYTES per process) as well as entries; a page over
# PAGE_CACHE_MAX_PAGE_BYTES (below) is served but not stored.
CACHES = {
    "default": {
        "BACKEND": "portal.memory_cache.BoundedMemoryCache",
        "OPTIONS": {"MAX_ENTRIES": 2000, "MAX_BYTES": 64 * 1024 * 1024},
    }
}

# --- GitHub integration (webhook, PR validation, commit statuses) --------------------------
# The webhook's shared secret; without it every delivery is refused (a system check warns).
GITHUB_WEBHOOK_SECRET = env.str("GITHUB_WEBHOOK_SECRET", default="")
# A token that may write commit statuses and manage hooks on the content repository.
GITHUB_TOKEN = env.str("GITHUB_TOKEN", default="")
# The same API host the hub's GitHub sign-in calls (GITHUB_URL / GITHUB_API_URL in the contract).
GITHUB_API_URL = HUB.github_api_url
# owner/name of the content repository on GitHub (statuses, PR files, hook set-up).
GITHUB_REPOSITORY = env.str("GITHUB_REPOSITORY", default="")
# Delivery ids are remembered this long so a redelivery does no work twice.
GITHUB_DELIVERY_KEEP_DAYS = env.int("GITHUB_DELIVERY_KEEP_DAYS", default=7)
GITHUB_TIMEOUT = env.int("GITHUB_TIMEOUT", default=15)
# Queue the portal's tasks go to: test runs sharing one Redis stay apart (deployments: see .env.example).
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")

# --- Workshop validation ---------------------------------------------------------------------
# Outputs left in a committed notebook: "warning" or "error".
VALIDATION_OUTPUTS = env.str("VALIDATION_OUTPUTS", default="warning")
# Kernels the hub offers: a notebook needing another kernel cannot run there.
HUB_KERNELS = env.list("HUB_KERNELS", default=["python3"])
# Kernels allowed but not offered by the hub (documented for running locally): a warning.
HUB_KERNELS_DOCUMENTED = env.list("HUB_KERNELS_DOCUMENTED", default=["powershell"])

# --- Capacity: culling idle servers and the waiting list ---------------------------------------
# The culler's own hub token (scopes in hubconfig/contract.py), shared with the hub.
CULLER_SERVICE_TOKEN = HUB.culler_service_token
CULLER_SERVICE_TOKEN_FILE = HUB.culler_token_path
# A server idle this long is stopped (seconds; the hub records activity every
# HUB_ACTIVITY_INTERVAL seconds, so idle times are known to that resolution).
CULL_IDLE_TIMEOUT = env.int("CULL_IDLE_TIMEOUT", default=1800)
# A server older than this is stopped even if busy: one workshop slot (seconds; 0 = no limit).
CULL_MAX_AGE = env.int("CULL_MAX_AGE", default=4 * 3600)
# How often the cull task runs (seconds); it also admits the waiting list.
CULL_INTERVAL = env.int("CULL_INTERVAL", default=60)
# Stops in flight at once against the hub, and the timeout of each hub request (seconds).
CULL_CONCURRENCY = env.int("CULL_CONCURRENCY", default=10)
CULL_TIMEOUT = env.float("CULL_TIMEOUT", default=20.0)
# Pressure rule: when the host is full and learners wait, servers idle at least this long
# (seconds) are stopped early, the longest idle first, one per waiting learner; 0 = off.
CULL_PRESSURE_IDLE = env.int("CULL_PRESSURE_IDLE", default=600)
# Check kernels (GET /api/kernels through the hub) so a busy kernel protects its server.
CULL_BUSY_CHECK = env.bool("CULL_BUSY_CHECK", default=True)
# The hub down: skip runs for CULL_INTERVAL x 2^failures seconds, at most this long.
CULL_BACKOFF_MAX = env.int("CULL_BACKOFF_MAX", default=900)
# A learner may extend their server's maximum age once, by this much, when nobody waits.
CULL_EXTEND_SECONDS = env.int("CULL_EXTEND_SECONDS", default=3600)
# Learners are warned this long before their server is stopped (seconds).
CULL_WARN_SECONDS = env.int("CULL_WARN_SECONDS", default=600)
# How long a learner's server state is cached for the stop warning every portal page shows.
SERVER_STATUS_TTL = env.int("SERVER_STATUS_TTL", default=15)
# Waiting list: a place not polled for ADMISSION_PLACE_TTL seconds is released; an admitted
# learner has ADMISSION_TURN_TTL seconds to take the slot.
ADMISSION_PLACE_TTL = env.int("ADMISSION_PLACE_TTL", default=180)
ADMISSION_TURN_TTL = env.int("ADMISSION_TURN_TTL", default=120)
# GET /api/status for monitoring without a staff session: "Authorization: Bearer <token>".
STATUS_API_TOKEN = env.str("STATUS_API_TOKEN", default="")
# The status page's measurement of learners' servers (portal.status): kept STATUS_MEMORY_TTL
# seconds, so a page reload or a monitoring poll does not walk /proc each time, and given at most
# STATUS_MEMORY_BUDGET_S seconds (then shown as partial): reading a few hundred processes'
# smaps_rollup takes tens of milliseconds, a crowded host more.
STATUS_MEMORY_TTL = env.int("STATUS_MEMORY_TTL", default=60)
STATUS_MEMORY_BUDGET_S = env.float("STATUS_MEMORY_BUDGET_S", default=2.0)

# --- Per-learner labs: credential pools, ports, generated values (portal.lab) ------------------
# Fernet keys (comma-separated, `python -c "from cryptography.fernet import Fernet;
# print(Fernet.generate_key().decode())"`) encrypting pool passwords and learners' lab values at
# rest. The first encrypts, all decrypt: put a new key first to rotate, keep the old ones until
# `manage.py lab_keys_rotate` has re-encrypted everything. Unset: the key `manage.py local_setup`
# writes into PORTAL_VAR_DIR (one host only, like the service tokens); a system check refuses
# pools with accounts and no key.
LAB_ENCRYPTION_KEYS = env.list("LAB_ENCRYPTION_KEYS", default=[])
LAB_ENCRYPTION_KEY_FILE = "lab-encryption-key"  # in VAR_DIR, read at use (tests move VAR_DIR)
# The ports learners' lab services get, "low-high": outside Linux's ephemeral range (32768-60999,
# where the hub's servers and outgoing connections take theirs), so a granted port is free.
LAB_PORTS = env.str("LAB_PORTS", default="20000-29999")

# --- Periodic tasks (Celery beat), all in one place ------------------------------------------
# Seconds between relays of accepted work not yet handed to Redis, and between recoveries.
OUTBOX_RELAY_INTERVAL = 15
CATALOG_RECOVER_INTERVAL = 15  # a broker restart is noticed within this (catalog_recover)
# Each expires before its next tick: a run queued behind a slow one is stale by then, and the
# next run does the work.
CELERY_BEAT_SCHEDULE = {
    "catalog-reconcile": {
        "task": "catalog.tasks.catalog_sync_task",
        "schedule": float(CATALOG_SYNC_INTERVAL),
        "options": {"expires": max(CATALOG_SYNC_INTERVAL - 30, 30)},
    },
    "servers-cull": {
        "task": "portal.tasks.servers_cull_task",
        "schedule": float(CULL_INTERVAL),
        "options": {"expires": max(CULL_INTERVAL * 0.8, 5.0)},
    },
    "capacity-samples-prune": {
        "task": "portal.tasks.capacity_samples_prune_task",
        "schedule": 24 * 3600.0,
        "options": {"expires": 3600},
    },
    "github-deliveries-prune": {
        "task": "catalog.tasks.webhook_deliveries_prune_task",
        "schedule": 6 * 3600.0,
        "options": {"expires": 3600},
    },
    # Accepted work (webhook deliveries) the web process could not hand to Redis is sent again.
    "outbox-relay": {
        "task": "catalog.tasks.outbox_relay_task",
        "schedule": float(OUTBOX_RELAY_INTERVAL),
        "options": {"expires": OUTBOX_RELAY_INTERVAL * 0.8},
    },
    # Runs whose worker died are closed, and pushed commits no queued sync will read are queued.
    "catalog-recover": {
        "task": "catalog.tasks.catalog_recover_task",
        "schedule": float(CATALOG_RECOVER_INTERVAL),
        "options": {"expires": CATALOG_RECOVER_INTERVAL * 0.8},
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # At DEBUG the template engine logs every failed variable lookup with a repr of the whole
    # context (a learner's lab credentials on their page): never, whatever LOG_LEVEL says.
    "loggers": {"django.template": {"level": "INFO"}},
}

# --- Internal tuning: named constants, not operator decisions (tests may override them) ------
# How often each process re-checks the catalog version for its page cache (seconds), and how
# long a cached page lives at most (a new catalog version replaces it sooner).
CATALOG_VERSION_TTL = 1.0
PAGE_CACHE_SECONDS = 600
# A page bigger than this is served but not cached (the cache holds CACHES' MAX_BYTES in all).
PAGE_CACHE_MAX_PAGE_BYTES = 2 * 1024 * 1024
# The hub's circuit breaker (portal.hub.HubBreaker), per process: after this many failed page
# calls in a row the hub is not asked for HUB_BREAKER_COOLDOWN seconds ("hub unavailable" at
# once). At most HUB_PAGE_CONCURRENCY page calls are with the hub at a time and, while it is
# healthy, HUB_PAGE_QUEUE more wait for a slot (HUB_TIMEOUT at most), HUB_LAUNCH_QUEUE if they
# are launches (HUB_LAUNCH_TIMEOUT at most: forty learners pressing Launch at once queue for the
# hub rather than bounce to the waiting page): together fewer than the web server's threads
# (portal.webserver.THREADS), so some always serve the catalog. A launch the hub does not answer
# within HUB_LAUNCH_TIMEOUT (its event loop busy with a storm) gets the page that launches again,
# keeps its lab (the start may be under way) and does not count as a failure here.
HUB_BREAKER_FAILURES = 3
HUB_BREAKER_COOLDOWN = 30.0
HUB_PAGE_CONCURRENCY = 8
HUB_PAGE_QUEUE = 4
HUB_LAUNCH_QUEUE = 16
# Waiting-list keys in Redis live under this prefix.
ADMISSION_PREFIX = "portal:admission:"
# GitHub refuses to send payloads over 25 MB, so no genuine delivery is bigger
# (https://docs.github.com/en/webhooks/webhook-events-and-payloads#payload-cap).
GITHUB_WEBHOOK_MAX_BYTES = 25 * 1024 * 1024
# Back-off for GitHub's rate limits (PyGithub's GithubRetry honours Retry-After and
# X-RateLimit-Reset); a wait longer than GITHUB_MAX_RATE_WAIT fails the call instead.
GITHUB_RETRIES = 5
GITHUB_SECONDARY_RATE_WAIT = 60.0
GITHUB_MAX_RATE_WAIT = 600.0
# GitHub asks integrations to space out content-creating requests (statuses) by about 1 s
# (https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api).
GITHUB_SECONDS_BETWEEN_WRITES = 1.0
# The commit status context shown on pull requests.
GITHUB_STATUS_CONTEXT = "workshops/validate"
# A lab session younger than this (seconds) is kept by labs_reconcile even when its learner has no
# server yet: the grant comes before the hub starts the server.
LAB_RECONCILE_GRACE = 300
# What a pool's reset command may print that is kept on its lease (bytes, the end of its output).
LAB_RESET_OUTPUT_BYTES = 4000
