from django.apps import AppConfig


class HikCentralGlueConfig(AppConfig):
    name = "propusk.integrations.hikcentral"
    label = "hikcentral_glue"
    verbose_name = "HikCentral connection"
