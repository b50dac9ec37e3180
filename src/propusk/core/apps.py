from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "propusk.core"
    label = "core"
