from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class HikCentralGlueConfig(AppConfig):
    name = "propusk.integrations.hikcentral"
    label = "hikcentral_glue"
    verbose_name = _("HikCentral connection")
