"""Prometheus metrics: ``/metrics``, figures read from the database at scrape time."""
