"""Prepare the one-command stack: state folders, service tokens, the lab key, and a broker that answers.

`scripts/start.sh` runs `eval "$(manage.py local_setup)"` before the stack starts. Reading
the settings does no I/O, so this is where the embedded default's folders and token files
are made (and the key that encrypts lab secrets, unless LAB_ENCRYPTION_KEYS is set), and where
Redis is probed once: when CELERY_BROKER_URL is unset (or "auto") and Redis does not answer,
the printed line switches Celery to kombu's filesystem transport.
"""

from __future__ import annotations

import os
import shlex

import redis
from django.conf import settings
from django.core.management.base import BaseCommand

from hubconfig.contract import service_tokens_ensure
from portal.lab_crypto import lab_key_ensure


def redis_answers(url: str, *, timeout: float = 0.5) -> bool:
    """Tell whether a Redis server answers PING at url within timeout seconds."""
    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout).ping())
    except (redis.RedisError, OSError, ValueError):
        return False


class Command(BaseCommand):
    requires_system_checks: list = []  # it runs before anything is configured
    help = "Make the local stack's folders, service tokens and lab key; print shell exports for the broker."

    def handle(self, *args, **options) -> None:
        for folder in (settings.VAR_DIR, settings.STATIC_ROOT, settings.VAR_DIR / "celery-queue"):
            folder.mkdir(parents=True, exist_ok=True)
        service_tokens_ensure(settings.HUB)
        lab_key_ensure()
        if os.environ.get("CELERY_BROKER_URL", "auto") in ("", "auto"):
            broker = settings.REDIS_URL if redis_answers(settings.REDIS_URL) else "filesystem://"
            if broker == "filesystem://":
                self.stderr.write(
                    f"Redis does not answer at {settings.REDIS_URL}: Celery uses an embedded filesystem "
                    "broker (one host only)."
                )
            self.stdout.write(f"export CELERY_BROKER_URL={shlex.quote(broker)}")
