from django.apps import AppConfig


class MetricsConfig(AppConfig):
    # No models, so nothing in the admin shows a name for it.
    name = "propusk.metrics"
    label = "metrics"
