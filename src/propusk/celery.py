"""The Celery application.

Workers: ``celery -A propusk worker``; schedules: ``celery -A propusk beat``.
"""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "propusk.settings")

app = Celery("propusk")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
