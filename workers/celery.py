"""``celery -A workers`` looks for ``workers.celery``: the app lives in :mod:`workers.app`."""

from workers.app import app

__all__ = ["app"]
