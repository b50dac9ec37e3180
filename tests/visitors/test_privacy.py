"""National ID numbers and faces never reach logs or the audit trail."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from django.urls import reverse

from propusk.audit.models import AuditEntry
from propusk.visitors.services import register_visitor
from tests.factories import make_iin, make_jpeg, visitor_data

pytestmark = pytest.mark.django_db


def test_national_id_and_face_stay_out_of_logs_and_audit(caplog, client, admin_user):
    caplog.set_level(logging.DEBUG)
    iin = make_iin()
    photo = make_jpeg(color=(12, 34, 56))
    visitor = register_visitor(
        data=visitor_data(national_id=iin, photo_jpeg=photo), actor=admin_user
    )
    register_visitor(data=visitor_data(national_id=iin, photo_jpeg=photo), actor=admin_user)
    client.force_login(admin_user)
    assert client.get(reverse("visitors:photo", args=[visitor.pk])).status_code == 200

    visitor.refresh_from_db()
    with visitor.photo.open("rb") as stored:
        stored_face = stored.read()
    secrets_ = [iin, iin[:6] + " " + iin[6:], visitor.national_id_encrypted]
    logged = caplog.text + "".join(repr(r.args) for r in caplog.records)
    audit = json.dumps([e.changes for e in AuditEntry.objects.all()]) + "".join(
        str(e) for e in AuditEntry.objects.all()
    )
    for secret in secrets_:
        assert secret not in logged
        assert secret not in audit
    for face in (photo, stored_face):
        b64 = base64.b64encode(face[200:260]).decode()
        assert b64 not in logged
        assert b64 not in audit
        assert face[200:260].hex() not in logged
    assert (
        AuditEntry.objects.filter(action__startswith="visitor.").count() == 3
    )  # registered, returned (with a new face), photo_viewed
