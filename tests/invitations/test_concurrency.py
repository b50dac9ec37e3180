"""Two visitors send the form of one single-use link at the same moment.

Needs a database with concurrent writers: PostgreSQL, or SQLite in a file (tests/settings.py).
One of them is registered; the other gets the page a used link shows, on SQLite as on
PostgreSQL, never a server error.
"""

from __future__ import annotations

import uuid
from functools import partial
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from propusk.invitations.models import InvitationKind
from propusk.invitations.services import create_invitation
from propusk.visitors.models import Visitor
from propusk.visits.models import Visit
from tests.concurrency import run_together
from tests.factories import make_iin, make_jpeg

ROUNDS = 5

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _visitor_form(family_name: str, given_name: str) -> dict[str, object]:
    return {
        "family_name": family_name,
        "given_name": given_name,
        "middle_name": "",
        "phone": "+7 701 555 44 33",
        "email": "",
        "national_id": make_iin(),
        "consent": "on",
        "submission_token": str(uuid.uuid4()),
        "photo": SimpleUploadedFile("me.jpg", make_jpeg(), content_type="image/jpeg"),
    }


def _face_files() -> int:
    faces = Path(settings.MEDIA_ROOT) / "faces"
    return sum(1 for path in faces.rglob("*.jpg")) if faces.exists() else 0


def test_two_visitors_on_one_single_use_link_at_once(host, reception, guest_policy):
    for round_ in range(1, ROUNDS + 1):
        invitation = create_invitation(
            host=host,
            actor=reception,
            kind=InvitationKind.SINGLE,
            access_policy=guest_policy,
            purpose="Thesis defence",
            department=None,
        )
        url = reverse("invitations:public", args=[invitation.token])
        faces_before = _face_files()

        responses = run_together(
            partial(Client().post, url, _visitor_form("Abenova", "Dana")),
            partial(Client().post, url, _visitor_form("Bekov", "Arman")),
        )

        assert not [r for r in responses if isinstance(r, BaseException)], responses
        registered, refused = sorted(responses, key=lambda r: r.status_code)
        assert (registered.status_code, refused.status_code) == (200, 410)
        assert "Thank you" in registered.content.decode()
        assert "This invitation has already been used." in refused.content.decode()
        invitation.refresh_from_db()
        assert invitation.uses_count == 1
        assert Visit.objects.filter(invitation=invitation).count() == 1
        # The refused visitor left nothing behind: no record, no face file.
        assert Visitor.objects.count() == round_
        assert _face_files() == faces_before + 1
