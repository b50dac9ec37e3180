from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "propusk.api"
    label = "api"
    verbose_name = "API"

    def ready(self) -> None:
        from propusk.api import schema  # noqa: F401 - registers the authentication scheme
