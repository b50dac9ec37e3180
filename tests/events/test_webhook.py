"""The webhook HCP pushes to: what it stores, and that every refusal changes nothing."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from propusk.events import services
from propusk.events.models import Direction, EventSource, EventState, HcpEvent
from tests.events.conftest import TOKEN, WEBHOOK, hcp_event, push_body

pytestmark = pytest.mark.django_db


def _post(client: Client, body: bytes, url: str = WEBHOOK, **extra: Any) -> Any:
    return client.post(url, data=body, content_type="application/json", **extra)


def test_a_push_is_stored_without_personal_data_and_answered_as_hcp_expects(
    client: Client, events_settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    event = hcp_event(event_id="ev-0001", direction=2)
    with django_capture_on_commit_callbacks() as callbacks:
        response = _post(client, push_body(event))

    assert response.status_code == 200
    assert response.json() == {"code": "0", "msg": "Success"}
    row = HcpEvent.objects.get()
    assert row.event_id == "ev-0001"
    assert row.event_type == 196893
    assert row.happened_at == datetime(2026, 3, 2, 4, 15, 4, tzinfo=UTC)
    assert (row.door_index_code, row.door_name) == ("1", "Turnstile 1")
    assert (row.person_id, row.person_code) == ("17", "PV7Q2K9D")
    assert row.direction == Direction.OUT
    assert row.pic_uri == "/pic?id=0001"
    assert row.source == EventSource.PUSH
    assert row.state == EventState.PENDING
    # A worker is woken after the commit that stored it.
    assert len(callbacks) == 1
    # Neither the name nor the card number is anywhere in the stored row.
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM events_hcpevent")
        stored = " ".join(str(value) for value in cursor.fetchone())
    assert "Нурланова" not in stored
    assert "0098765432" not in stored


def test_the_same_event_pushed_twice_is_one_row(client: Client, events_settings: Any) -> None:
    event = hcp_event(event_id="ev-dup")
    assert _post(client, push_body(event)).status_code == 200
    assert _post(client, push_body(event, event)).status_code == 200
    assert HcpEvent.objects.filter(event_id="ev-dup").count() == 1


def test_unknown_event_types_and_fields_are_kept_for_audit_only(
    client: Client, events_settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    alarm = hcp_event(event_id="ev-alarm", event_type=131329, somethingNew={"x": [1]})
    alarm["extra"] = "ignored"
    with django_capture_on_commit_callbacks() as callbacks:
        response = _post(client, push_body(alarm, hcp_event(event_id="ev-pass")))

    assert response.status_code == 200
    kept = HcpEvent.objects.get(event_id="ev-alarm")
    assert kept.state == EventState.IGNORED
    assert kept.processed_at is not None
    assert HcpEvent.objects.get(event_id="ev-pass").state == EventState.PENDING
    assert len(callbacks) == 1  # only the passage wakes a worker


def test_pushes_are_logged_as_counts_without_names(
    client: Client, events_settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG, logger="propusk.events"):
        _post(client, push_body(hcp_event(), hcp_event()))
    text = caplog.text
    assert "2 event(s), 2 new" in text
    assert "Нурланова" not in text
    assert "PV7Q2K9D" not in text


# --- refusals: each changes nothing ---------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("/hcp/events/wrong-token-wrong-token-wrong/", 403),
        (f"/hcp/events/{TOKEN[:-1]}/", 403),
        (f"/hcp/events/{TOKEN}x/", 403),
        ("/hcp/events/", 401),
    ],
)
def test_a_wrong_or_missing_token_is_refused_and_logged_without_it(
    client: Client,
    events_settings: Any,
    caplog: pytest.LogCaptureFixture,
    url: str,
    status: int,
) -> None:
    with caplog.at_level(logging.INFO):
        response = _post(client, push_body(hcp_event()), url=url)

    assert response.status_code == status
    assert not HcpEvent.objects.exists()
    assert "refused" in caplog.text
    assert TOKEN[:20] not in caplog.text
    assert "wrong-token" not in caplog.text


def test_no_token_configured_refuses_every_push(client: Client, events_settings: Any) -> None:
    events_settings.PROPUSK_HCP_EVENTS_TOKEN = ""
    assert _post(client, push_body(hcp_event())).status_code == 403
    assert _post(client, push_body(hcp_event()), url="/hcp/events/x/").status_code == 403
    assert not HcpEvent.objects.exists()


def test_get_is_refused(client: Client, events_settings: Any) -> None:
    assert client.get(WEBHOOK).status_code == 405
    assert not HcpEvent.objects.exists()


def test_an_address_outside_the_allow_list_is_refused(client: Client, events_settings: Any) -> None:
    events_settings.PROPUSK_HCP_EVENTS_ALLOWED_IPS = ["10.20.0.0/16", "192.0.2.7"]
    assert _post(client, push_body(hcp_event())).status_code == 403  # 127.0.0.1
    assert not HcpEvent.objects.exists()

    allowed = _post(client, push_body(hcp_event()), REMOTE_ADDR="10.20.5.9")
    assert allowed.status_code == 200
    assert HcpEvent.objects.count() == 1


def test_a_huge_body_is_refused(client: Client, events_settings: Any) -> None:
    events_settings.PROPUSK_HCP_EVENTS_MAX_BODY_BYTES = 4096
    padded = hcp_event(padding="x" * 5000)
    assert _post(client, push_body(padded)).status_code == 413
    assert not HcpEvent.objects.exists()


def test_a_body_longer_than_it_declares_is_refused(client: Client, events_settings: Any) -> None:
    events_settings.PROPUSK_HCP_EVENTS_MAX_BODY_BYTES = 4096
    body = push_body(hcp_event(padding="x" * 5000))
    # A lying Content-Length: Django's test client honours ours; the view reads no more than
    # the limit plus one byte either way.
    response = client.generic(
        "POST", WEBHOOK, data=body, content_type="application/json", CONTENT_LENGTH="100"
    )
    assert response.status_code in (400, 413)
    assert not HcpEvent.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"[]",
        json.dumps({"method": "OnEventNotify"}).encode(),
        json.dumps({"method": "Other", "params": {"events": []}}).encode(),
        b'{"method": "OnEventNotify", "params": ' + b"[" * 100_000,  # nested too deeply
    ],
)
def test_malformed_json_is_refused(client: Client, events_settings: Any, body: bytes) -> None:
    response = _post(client, body)
    assert response.status_code == 400
    assert not HcpEvent.objects.exists()


def test_one_bad_event_refuses_the_whole_push_nothing_half_stored(
    client: Client, events_settings: Any
) -> None:
    bad = hcp_event()
    del bad["eventId"]
    response = _post(client, push_body(hcp_event(event_id="fine-1"), bad))

    assert response.status_code == 400
    assert "eventId" in response.json()["msg"]
    assert not HcpEvent.objects.exists()


def test_an_event_id_longer_than_the_inbox_keeps_is_refused(
    client: Client, events_settings: Any
) -> None:
    response = _post(client, push_body(hcp_event(), hcp_event(event_id="x" * 200)))
    assert response.status_code == 400
    assert not HcpEvent.objects.exists()


def test_a_database_failure_answers_an_error_so_hcp_retries(
    events_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import OperationalError

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise OperationalError("database is locked")

    monkeypatch.setattr(services, "_insert_new", broken)
    client = Client(raise_request_exception=False)
    response = _post(client, push_body(hcp_event(event_id="ev-lost")))

    assert response.status_code == 500  # not 2xx: HCP keeps the event and pushes it again
    assert not HcpEvent.objects.exists()


def test_events_naming_our_persons_or_nobody_are_processed_first(
    client: Client, events_settings: Any
) -> None:
    ours = hcp_event(event_id="ours", person_code="V7Q2K9DX")
    nobody = hcp_event(event_id="nobody", event_type=197160, person_code="", person_id="")
    staff = hcp_event(event_id="staff", person_code="EMP00451", person_id="451")
    assert _post(client, push_body(ours, nobody, staff)).status_code == 200

    priorities = dict(HcpEvent.objects.values_list("event_id", "priority"))
    assert priorities == {"ours": 0, "nobody": 0, "staff": 1}


def test_a_long_batch_is_stored_all_or_nothing(
    events_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.db import OperationalError

    from hikcentral import parse_event_notify
    from hikcentral.timefmt import parse_utc_offset

    monkeypatch.setattr(services, "INSERT_CHUNK", 2)
    events = parse_event_notify(
        push_body(*(hcp_event(event_id=f"ev-{n}") for n in range(5))),
        site_tz=parse_utc_offset("+05:00"),
    ).events
    real = services._insert_new
    calls = []

    def third_fails(rows: Any) -> Any:
        calls.append(len(rows))
        if len(calls) == 3:
            raise OperationalError("database is locked")
        return real(rows)

    monkeypatch.setattr(services, "_insert_new", third_fails)
    with pytest.raises(OperationalError):
        services.store_events(events, source=EventSource.POLL)
    assert calls == [2, 2, 1]
    assert not HcpEvent.objects.exists()

    monkeypatch.setattr(services, "_insert_new", real)
    result = services.store_events(events, source=EventSource.POLL)
    assert (result.received, result.stored, result.pending) == (5, 5, 5)
    again = services.store_events(events, source=EventSource.PUSH)
    assert (again.stored, again.duplicates) == (0, 5)
