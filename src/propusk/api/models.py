"""API tokens of integration accounts, and the answers kept for idempotent retries.

A token belongs to a Django user, whose roles decide what it may do (exactly as on the pages).
Only a hash of the token is stored: the token itself is shown once, when it is made.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name=_("user account"),
    )
    name = models.CharField(
        _("name"), max_length=100, help_text=_("What uses it, e.g. the admissions office.")
    )
    # The first characters of the token, to tell tokens apart in lists (not a secret).
    prefix = models.CharField(_("begins with"), max_length=16, editable=False)
    # SHA-256 of the whole token: tokens are long random strings, so no slow hash is needed.
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    expires_at = models.DateTimeField(
        _("expires at"), null=True, blank=True, help_text=_("Empty: until revoked.")
    )
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...)"


class IdempotencyState(models.TextChoices):
    IN_PROGRESS = "in_progress", _("in progress")
    DONE = "done", _("done")


class IdempotentRequest(models.Model):
    """The first answer to a request sent with an ``Idempotency-Key`` header, kept for 24 h:
    a retry with the same key (from the same token, or the same signed-in user) gets it again
    and creates nothing new."""

    # "token:<id>" or "user:<id>" (a signed-in user trying the API in the browser).
    scope = models.CharField(max_length=40)
    key = models.CharField(max_length=255)
    # A keyed hash (HMAC with SECRET_KEY) of the method, path and body: the body holds an ID
    # number and a face, so not even a plain hash of it is kept.
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=IdempotencyState.choices)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.JSONField(null=True, blank=True)
    location = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["scope", "key"], name="api_idempotency_scope_key"),
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key}"
