"""Contract: each turnstile denial carries the event code of its reason (a production
receiver's code table), or one code for every denial when the simulator is switched back
(the quirks-on run); the client reads the same event from door/events and from the push.

The push goes to a receiver of our own on 127.0.0.1 (Propusk's side of the wire, not HCP):
the simulator posts to it over real HTTP, the client's parser reads what arrived.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from hikcentral import ACCESS_EVENT_TYPES, DoorEvent, parse_event_notify
from hikcentral.push import (
    CARD_EXPIRED,
    DENIED_BY_FACE,
    FACE_RECOGNITION_FAILED,
    GRANTED_BY_FACE,
    INVALID_TIME_PERIOD,
    NO_ACCESS_LEVEL,
)

from .conftest import MAIN_LEVEL, SITE_TZ, make_jpeg, visitor

pytestmark = pytest.mark.simulator


class Receiver:
    """Collects the OnEventNotify bodies POSTed to it (and their token header)."""

    def __init__(self) -> None:
        self.bodies: list[tuple[str | None, bytes]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    receiver.bodies.append((self.headers.get("token"), body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hcp/events"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[tuple[str | None, bytes]]:
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if len(self.bodies) >= count:
                    return list(self.bodies)
            assert time.monotonic() < deadline, f"{len(self.bodies)} of {count} pushes arrived"
            time.sleep(0.02)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def test_denials_by_reason_in_door_events_and_in_the_push(client, site, receiver, quirks_on):
    client.subscribe_events(ACCESS_EVENT_TYPES, dest=receiver.url, token="push-t0ken")
    now = datetime.now(UTC).replace(microsecond=0)
    face = make_jpeg((30, 140, 90), side=96)
    member = client.add_person(visitor("D0001"), face_jpeg=face)  # doors 1 and 2
    faceless = client.add_person(visitor("D0002"))
    no_level = client.add_person(visitor("D0003"), face_jpeg=face)
    later = client.add_person(
        visitor("D0004", begin_time=now + timedelta(days=1), end_time=now + timedelta(days=2)),
        face_jpeg=face,
    )
    expired = client.add_person(
        visitor("D0005", begin_time=now - timedelta(days=2), end_time=now - timedelta(days=1)),
        face_jpeg=face,
    )
    levelled = [member, faceless, later, expired]
    client.add_persons_to_access_level(MAIN_LEVEL, levelled)
    client.reapply(person_ids=[*levelled, no_level], door_index_codes=["1", "2", "3"])

    by_reason = {
        "granted": (site.control.passage("1", person_code="D0001"), GRANTED_BY_FACE),
        "door_not_in_access_level": (
            site.control.passage("3", person_code="D0001"),
            DENIED_BY_FACE,
        ),
        "no_face": (site.control.passage("1", person_code="D0002"), FACE_RECOGNITION_FAILED),
        "face_not_matched": (site.control.passage("2", unknown_face=True), FACE_RECOGNITION_FAILED),
        "no_access_level": (site.control.passage("1", person_code="D0003"), NO_ACCESS_LEVEL),
        "outside_validity (before)": (
            site.control.passage("1", person_code="D0004"),
            INVALID_TIME_PERIOD,
        ),
        "outside_validity (after)": (site.control.passage("2", person_code="D0005"), CARD_EXPIRED),
    }
    for reason, (passage, _) in by_reason.items():
        assert passage.reason == reason.split(" ")[0]
    expected = {
        passage.event_id: code if code == GRANTED_BY_FACE or not quirks_on else DENIED_BY_FACE
        for passage, code in by_reason.values()
    }
    # Each reason has its own code (quirks-off); one code for every denial (quirks-on).
    assert {p.event_id: p.event_type for p, _ in by_reason.values()} == expected
    assert len(set(expected.values())) == (2 if quirks_on else 6)

    # The intake's search: every access event type, all doors.
    searched = list(
        client.search_door_events(
            now - timedelta(hours=1), now + timedelta(minutes=5), event_types=ACCESS_EVENT_TYPES
        )
    )
    assert {event.event_id: event.event_type for event in searched} == expected
    denied_by_face = list(
        client.search_door_events(
            now - timedelta(hours=1), now + timedelta(minutes=5), event_types=[DENIED_BY_FACE]
        )
    )
    assert {e.event_id for e in denied_by_face} == {
        event_id for event_id, code in expected.items() if code == DENIED_BY_FACE
    }

    # The push carries the same events, `data` in door/events' field names: the client's
    # parser reads each into the very DoorEvent the search returned.
    pushed: dict[str, DoorEvent] = {}
    for token, body in receiver.wait_for(len(expected)):
        assert token == "push-t0ken"
        assert json.loads(body)["method"] == "OnEventNotify"
        for event in parse_event_notify(body, site_tz=SITE_TZ).events:
            pushed[event.event_id] = event
    assert pushed == {event.event_id: event for event in searched}
    granted = pushed[by_reason["granted"][0].event_id]
    assert (granted.person_id, granted.person_code, granted.door_index_code) == (
        member,
        "D0001",
        "1",
    )
    assert granted.pic_uri
    unknown = pushed[by_reason["face_not_matched"][0].event_id]
    assert (unknown.person_id, unknown.person_code) == (None, None)
