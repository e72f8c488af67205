"""Settings for the portal, read from environment variables (see .env.example)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlsplit

import environ

from portal.hubsettings import hub_settings_from_env

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env is a convenience for development; real deployments set the environment.
if (BASE_DIR / ".env").is_file() and not os.environ.get("PORTAL_IGNORE_DOTENV"):
    env.read_env(BASE_DIR / ".env")

VAR_DIR = Path(env.str("PORTAL_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=True)
# The embedded default runs with a development key; a system check refuses it when DEBUG is off.
DEV_SECRET_KEY = "dev-only-insecure-key-change-me"  # noqa: S105
SECRET_KEY = env.str("SECRET_KEY", default=DEV_SECRET_KEY)

# The hub's and the portal's shared settings are parsed in one place (portal/hubsettings.py).
HUB = hub_settings_from_env()
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
    "portal",
    "catalog",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
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
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise expects it even when serving from finders
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

# Notebook content is untrusted: no inline script, no plugins, nothing framed.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],  # nbconvert output carries style attributes
        "img-src": ["'self'", "data:", "https:"],
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
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE


def _redis_reachable(url: str) -> bool:
    """Tell whether a Redis server answers at url (used only for the embedded default)."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), 0.3):
            return True
    except OSError:
        return False


REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# "auto": Redis when reachable, else kombu's filesystem transport (the embedded default).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="auto")
if CELERY_BROKER_URL == "auto":
    CELERY_BROKER_URL = REDIS_URL if _redis_reachable(REDIS_URL) else "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS: dict = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery-queue"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
    }
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

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
# Where people read the source (for "view source" links); derived from the source when unset.
CATALOG_REPO_WEB_URL = env.str("CATALOG_REPO_WEB_URL", default="")
CATALOG_GIT_TIMEOUT = env.int("CATALOG_GIT_TIMEOUT", default=300)

# --- The hub: sign-in, launch, "My server" ------------------------------------------------------
HUB_API_URL = HUB.hub_api_url
HUB_SERVICE_TOKEN = HUB.portal_service_token
HUB_OAUTH_CLIENT_ID = "service-portal"
HUB_OAUTH_REDIRECT_URI = HUB.portal_oauth_redirect_uri
HUB_DEV_SIGNIN = not HUB.use_github  # the header shows a "development sign-in" flag
HUB_TIMEOUT = env.float("HUB_TIMEOUT", default=10.0)
HUB_CAPACITY = HUB.capacity
# What nbgitpuller pulls: a URL the single-user servers can reach (file:// for a local path).
LAUNCH_REPO_URL = env.str("LAUNCH_REPO_URL", default="")
# The folder in the learner's home that holds the content repository's clone.
LAUNCH_TARGET_DIR = env.str("LAUNCH_TARGET_DIR", default="workshops")
LOGIN_URL = "accounts:login"

CELERY_BEAT_SCHEDULE = {
    "catalog-reconcile": {
        "task": "catalog.tasks.catalog_sync_task",
        "schedule": float(CATALOG_SYNC_INTERVAL),
        # A reconcile older than its interval is stale: the next one will do the work.
        "options": {"expires": max(CATALOG_SYNC_INTERVAL - 30, 30)},
    },
}

# Public pages are cached per process, keyed by the catalog version (checked at most every
# CATALOG_VERSION_TTL seconds, so a sync shows within that time on every worker).
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": 2000},
    }
}
CATALOG_VERSION_TTL = env.float("CATALOG_VERSION_TTL", default=1.0)
PAGE_CACHE_SECONDS = env.int("PAGE_CACHE_SECONDS", default=600)

# --- GitHub integration (webhook, PR validation, commit statuses) --------------------------
# The webhook's shared secret; without it every delivery is refused (a system check warns).
GITHUB_WEBHOOK_SECRET = env.str("GITHUB_WEBHOOK_SECRET", default="")
# A token that may write commit statuses and manage hooks on the content repository.
GITHUB_TOKEN = env.str("GITHUB_TOKEN", default="")
GITHUB_API_URL = env.str("GITHUB_API_URL", default="https://api.github.com").rstrip("/")
# owner/name of the content repository on GitHub (statuses, PR files, hook set-up).
GITHUB_REPOSITORY = env.str("GITHUB_REPOSITORY", default="")
# GitHub refuses payloads over 25 MB, so no genuine delivery is bigger.
GITHUB_WEBHOOK_MAX_BYTES = env.int("GITHUB_WEBHOOK_MAX_BYTES", default=25 * 1024 * 1024)
# Delivery ids are remembered this long so a redelivery does no work twice.
GITHUB_DELIVERY_KEEP_DAYS = env.int("GITHUB_DELIVERY_KEEP_DAYS", default=7)
# Back-off policy for GitHub's rate limits (PyGithub's GithubRetry honours Retry-After and
# X-RateLimit-Reset); waits longer than GITHUB_MAX_RATE_WAIT fail the call instead.
GITHUB_RETRIES = env.int("GITHUB_RETRIES", default=5)
GITHUB_SECONDARY_RATE_WAIT = env.float("GITHUB_SECONDARY_RATE_WAIT", default=60.0)
GITHUB_MAX_RATE_WAIT = env.float("GITHUB_MAX_RATE_WAIT", default=600.0)
# GitHub asks integrations to space out content-creating requests (statuses) by about 1 s.
GITHUB_SECONDS_BETWEEN_WRITES = env.float("GITHUB_SECONDS_BETWEEN_WRITES", default=1.0)
GITHUB_TIMEOUT = env.int("GITHUB_TIMEOUT", default=15)
GITHUB_STATUS_CONTEXT = env.str("GITHUB_STATUS_CONTEXT", default="workshops/validate")
# Queue the portal's tasks go to: deployments (or test runs) sharing one Redis stay apart.
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="celery")

# --- Workshop validation ---------------------------------------------------------------------
# Outputs left in a committed notebook: "warning" or "error".
VALIDATION_OUTPUTS = env.str("VALIDATION_OUTPUTS", default="warning")
# Kernels the hub offers: a notebook needing another kernel cannot run there.
HUB_KERNELS = env.list("HUB_KERNELS", default=["python3"])
# Kernels allowed but not offered by the hub (documented for running locally): a warning.
HUB_KERNELS_DOCUMENTED = env.list("HUB_KERNELS_DOCUMENTED", default=["powershell"])
# Time limit for one notebook marked executable in workshop.yml (nbclient).
VALIDATION_EXECUTE_TIMEOUT = env.int("VALIDATION_EXECUTE_TIMEOUT", default=120)

# --- Capacity: culling idle servers and the waiting list ---------------------------------------
# The culler's own hub token (scopes in hubconfig/jupyterhub_config.py), shared with the hub.
CULLER_SERVICE_TOKEN = HUB.culler_service_token
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
# Waiting list (Redis): keys under this prefix; a place not polled for ADMISSION_PLACE_TTL
# seconds is released; an admitted learner has ADMISSION_TURN_TTL seconds to take the slot.
ADMISSION_PREFIX = env.str("ADMISSION_PREFIX", default="portal:admission:")
ADMISSION_PLACE_TTL = env.int("ADMISSION_PLACE_TTL", default=180)
ADMISSION_TURN_TTL = env.int("ADMISSION_TURN_TTL", default=120)
# GET /api/status for monitoring without a staff session: "Authorization: Bearer <token>".
STATUS_API_TOKEN = env.str("STATUS_API_TOKEN", default="")

CELERY_BEAT_SCHEDULE["servers-cull"] = {
    "task": "portal.tasks.servers_cull_task",
    "schedule": float(CULL_INTERVAL),
    # A run queued behind a slow one is stale by the next tick: the next run does the work.
    "options": {"expires": max(CULL_INTERVAL * 0.8, 5.0)},
}
CELERY_BEAT_SCHEDULE["capacity-samples-prune"] = {
    "task": "portal.tasks.capacity_samples_prune_task",
    "schedule": 24 * 3600.0,
    "options": {"expires": 3600},
}

CELERY_BEAT_SCHEDULE["github-deliveries-prune"] = {
    "task": "catalog.tasks.webhook_deliveries_prune_task",
    "schedule": 6 * 3600.0,
    "options": {"expires": 3600},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
