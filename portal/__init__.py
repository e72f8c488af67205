"""The Django project: settings, urls, the Celery app and site-wide services."""

from portal.celery import app as celery_app

__all__ = ["celery_app"]
