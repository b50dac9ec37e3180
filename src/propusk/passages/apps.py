from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PassagesConfig(AppConfig):
    name = "propusk.passages"
    label = "passages"
    verbose_name = _("Passages and incidents")
