"""The events inbox in the admin (read-only; "process again" for failed events, by role,
audited) and the token mask on every log handler."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from propusk.audit.models import AuditEntry
from propusk.events.logging import MaskEventsTokenFilter, mask_events_token
from propusk.events.models import EventSource, EventState, HcpEvent, PollCursor
from tests.events.conftest import TOKEN

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:events_hcpevent_changelist"


def _staff(user: User) -> User:
    user.is_staff = True
    user.is_superuser = True
    user.save()
    return user


def _event(event_id: str, state: EventState = EventState.FAILED, **fields: Any) -> HcpEvent:
    now = timezone.now()
    return HcpEvent.objects.create(
        event_id=event_id,
        event_type=197160,
        happened_at=now - timedelta(minutes=3),
        door_index_code="1",
        door_name="Главный вход",
        person_code=fields.pop("person_code", "PV7Q2K9D"),
        source=EventSource.PUSH,
        state=state,
        attempts=8 if state == EventState.FAILED else 0,
        last_error="builtins.RuntimeError" if state == EventState.FAILED else "",
        **fields,
    )


def test_the_inbox_lists_filters_and_searches_read_only(client: Client, admin_user: User) -> None:
    client.force_login(_staff(admin_user))
    failed = _event("ev-failed")
    _event("ev-done", EventState.DONE, person_code="PAAAA1111")
    PollCursor.objects.create(name="door_events", read_until=timezone.now())

    page = client.get(reverse(CHANGELIST))
    assert page.status_code == 200
    filtered = client.get(reverse(CHANGELIST), {"state__exact": "failed"}).content.decode()
    assert "PAAAA1111" not in filtered
    found = client.get(reverse(CHANGELIST), {"q": "PAAAA1111"}).content.decode()
    assert "PAAAA1111" in found
    by_id = client.get(reverse(CHANGELIST), {"q": "ev-failed"})
    assert by_id.context["cl"].result_count == 1
    change = client.get(reverse("admin:events_hcpevent_change", args=[failed.pk]))
    assert change.status_code == 200
    assert b'name="_save"' not in change.content
    assert client.get(reverse("admin:events_pollcursor_changelist")).status_code == 200
    assert client.get(reverse("admin:events_hcpevent_add")).status_code == 403


def test_process_again_requeues_only_failed_events_and_is_audited(
    client: Client, admin_user: User, django_capture_on_commit_callbacks: Any
) -> None:
    client.force_login(_staff(admin_user))
    failed = _event("ev-failed")
    done = _event("ev-done", EventState.DONE)

    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            reverse(CHANGELIST),
            {"action": "process_again", "_selected_action": [failed.pk, done.pk]},
            follow=True,
        )

    assert response.status_code == 200
    failed.refresh_from_db()
    done.refresh_from_db()
    assert (failed.state, failed.attempts) == (EventState.PENDING, 0)
    assert done.state == EventState.DONE
    assert len(callbacks) == 1  # a worker is woken for it
    entry = AuditEntry.objects.get(action="events.process_again")
    assert entry.actor_id == admin_user.pk
    assert entry.target_id == str(failed.pk)


def test_process_again_is_for_administrators_and_security(client: Client, reception: User) -> None:
    reception.is_staff = True
    reception.save()
    reception.user_permissions.add(*Permission.objects.filter(codename="view_hcpevent"))
    client.force_login(reception)
    failed = _event("ev-failed")

    page = client.get(reverse(CHANGELIST))
    assert page.status_code == 200
    assert b"process_again" not in page.content
    client.post(reverse(CHANGELIST), {"action": "process_again", "_selected_action": [failed.pk]})
    failed.refresh_from_db()
    assert failed.state == EventState.FAILED
    assert not AuditEntry.objects.filter(action="events.process_again").exists()


def test_the_token_is_masked_in_request_lines() -> None:
    line = f'"POST /hcp/events/{TOKEN}/ HTTP/1.1" 200 31'
    assert mask_events_token(line) == '"POST /hcp/events/<token>/ HTTP/1.1" 200 31'
    assert mask_events_token("Forbidden: /hcp/events/guess/") == "Forbidden: /hcp/events/<token>/"
    assert mask_events_token("/visits/12/") == "/visits/12/"


def test_every_log_handler_masks_the_token() -> None:
    for name, handler in settings.LOGGING["handlers"].items():
        assert "mask_events_token" in handler.get("filters", []), name
    request_line = f"POST /hcp/events/{TOKEN}/"
    record = logging.LogRecord(
        "django.server", logging.INFO, __file__, 1, '"%s" 200', (request_line,), None
    )
    MaskEventsTokenFilter().filter(record)
    assert TOKEN not in record.getMessage()
