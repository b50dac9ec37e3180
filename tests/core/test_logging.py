"""Invitation tokens never reach the logs, whichever logger prints the path."""

from __future__ import annotations

import io
import logging

import pytest
from django.urls import reverse

from propusk.core.logging import MaskSecretsFilter, mask_secrets

TOKEN = "x58WUhyBwGdcRMvMdJpJLl9oYnV3Apoe5ExMRzTsmSE"


def test_mask_secrets_hides_the_token_only():
    line = f'"GET /invitations/i/{TOKEN}/?lang=ru HTTP/1.1" 404 17'
    assert mask_secrets(line) == '"GET /invitations/i/<token>/?lang=ru HTTP/1.1" 404 17'
    assert mask_secrets("/visits/12/") == "/visits/12/"


@pytest.mark.django_db
def test_unknown_invitation_path_is_logged_without_the_token(client):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(MaskSecretsFilter())
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    try:
        response = client.get(reverse("invitations:public", args=[TOKEN]))
    finally:
        logger.removeHandler(handler)
    assert response.status_code == 404
    assert "/invitations/i/<token>/" in stream.getvalue()
    assert TOKEN not in stream.getvalue()


def test_the_configured_console_handler_masks_tokens():
    from django.conf import settings

    assert "mask_secrets" in settings.LOGGING["handlers"]["console"]["filters"]
    assert settings.LOGGING["loggers"]["django.server"]["handlers"] == ["console"]
