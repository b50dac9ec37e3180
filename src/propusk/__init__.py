"""Propusk: visitor management for sites whose doors are run by HikCentral Professional."""

from propusk.celery import app as celery_app

__all__ = ["celery_app"]
