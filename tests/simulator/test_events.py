"""Door events: search limits and filters, camera pictures, and the OnEventNotify push."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from PIL import Image

from hcp_simulator.testing import SimulatorHandle, running_simulator

from .artemis import Artemis
from .test_devices import add_guest, reapply

pytestmark = pytest.mark.simulator

EVENTS = "/api/acs/v1/door/events"
PICTURES = "/api/acs/v1/event/pictures"
SUBSCRIBE = "/api/eventService/v1/eventSubscriptionByEventTypes"
VIEW = "/api/eventService/v1/eventSubscriptionView"
UNSUBSCRIBE = "/api/eventService/v1/eventUnSubscriptionByEventTypes"
# Access granted by face; access denied by face; facial recognition failed (docs/hcp-simulator.md).
GRANTED, DENIED, NOT_RECOGNISED = 196893, 197151, 197160


def window(center: datetime, days: float = 1) -> dict[str, str]:
    return {
        "startTime": (center - timedelta(days=days)).isoformat(timespec="seconds"),
        "endTime": (center + timedelta(days=days)).isoformat(timespec="seconds"),
    }


def search(api: Artemis, now: datetime, **body: Any) -> dict[str, Any]:
    result: dict[str, Any] = api.ok(EVENTS, {"pageNo": 1, "pageSize": 100, **window(now), **body})
    return result


@pytest.fixture
def passages(sim: SimulatorHandle, api: Artemis) -> dict[str, Any]:
    """Two guests, a few granted and denied passages at known times."""
    first = add_guest(api, "G1")
    second = add_guest(api, "G2", personGivenName="Bolat", level="2")
    reapply(api)
    now = sim.control.now().replace(microsecond=0)
    control = sim.control
    control.passage("1", person_code="G1", at=now - timedelta(minutes=30))
    control.passage("2", person_code="G1", direction="out", at=now - timedelta(minutes=20))
    control.passage("3", person_code="G1", at=now - timedelta(minutes=10))  # denied: level 1
    control.passage("3", person_code="G2", at=now - timedelta(minutes=5))
    control.passage("1", unknown_face=True, at=now - timedelta(minutes=1))
    return {"now": now, "first": first, "second": second}


def test_events_are_searchable_and_sorted(api: Artemis, passages: dict[str, Any]) -> None:
    now = passages["now"]
    page = search(api, now)
    assert page["total"] == 5
    rows = page["list"]
    times = [row["eventTime"] for row in rows]
    assert times == sorted(times, reverse=True)  # orderType 1 (descending) by default
    unknown, g2_library, g1_library, g1_exit, g1_entry = rows
    assert g1_entry["eventType"] == GRANTED
    assert g1_entry["personId"] == passages["first"]
    assert g1_entry["personCode"] == "G1"
    assert g1_entry["checkInAndOutType"] == 1
    assert g1_entry["doorName"] == "Main entrance turnstile 1"
    assert g1_entry["eventTime"].endswith("+05:00")
    assert g1_exit["checkInAndOutType"] == 2
    assert g1_library["eventType"] == DENIED
    assert g1_library["personId"] == ""  # not on that device: not recognised
    assert g2_library["eventType"] == GRANTED
    assert unknown["eventType"] == NOT_RECOGNISED
    assert unknown["personCode"] == ""
    ascending = search(api, now, orderType=0, sortField="SwipeTime")["list"]
    assert [r["eventId"] for r in ascending] == [r["eventId"] for r in reversed(rows)]
    assert set(g1_entry) >= {
        "eventId",
        "deviceTime",
        "personName",
        "personType",
        "cardNo",
        "doorIndexCode",
        "picUri",
        "temperatureData",
        "temperatureStatus",
        "wearMaskStatus",
        "readerIndexCode",
        "readerName",
    }


def test_event_filters(api: Artemis, passages: dict[str, Any]) -> None:
    now = passages["now"]

    def codes(**body: Any) -> list[str]:
        page = search(api, now, orderType=0, **body)
        return [f"{r['doorIndexCode']}:{r['personCode']}" for r in page.get("list", [])]

    assert codes(doorIndexCodes=["3"]) == ["3:", "3:G2"]
    assert codes(eventType=GRANTED) == ["1:G1", "2:G1", "3:G2"]
    assert codes(eventTypes=f"{GRANTED},{NOT_RECOGNISED}", doorIndexCodes=["1"]) == [
        "1:G1",
        "1:",
    ]
    assert codes(eventTypes=f"{GRANTED},{DENIED}", doorIndexCodes=["1"]) == ["1:G1"]
    assert codes(personId=passages["second"]) == ["3:G2"]
    both = f"{passages['first']},{passages['second']}"
    assert codes(personId=both) == ["1:G1", "2:G1", "3:G2"]  # a comma list (the catalogue)
    assert codes(personCode="G1") == ["1:G1", "2:G1"]
    assert codes(personCodes="G1,G2", doorIndexCodes=["3"]) == ["3:G2"]
    assert codes(personType=1, maskStatus=-1) == ["1:G1", "2:G1", "3:", "3:G2", "1:"]
    assert codes(personName="bolat") == ["3:G2"]
    assert codes(doorIndexCodes=["4"]) == []
    narrow = {
        "startTime": (now - timedelta(minutes=25)).isoformat(),
        "endTime": (now - timedelta(minutes=8)).isoformat(),
    }
    assert codes(**narrow) == ["2:G1", "3:"]


def test_event_times_are_whole_seconds_so_boundaries_are_inclusive(
    sim: SimulatorHandle, api: Artemis
) -> None:
    result = sim.control.passage("1", unknown_face=True)
    at = result.event_time
    rows = api.ok(EVENTS, {"pageNo": 1, "pageSize": 10, "startTime": at, "endTime": at})["list"]
    assert [row["eventId"] for row in rows] == [result.event_id]


def test_event_paging_and_the_empty_page(api: Artemis, passages: dict[str, Any]) -> None:
    now = passages["now"]
    second_page = api.ok(EVENTS, {"pageNo": 2, "pageSize": 2, **window(now)})
    assert (second_page["total"], second_page["pageNo"], len(second_page["list"])) == (5, 2, 2)
    past = {"pageNo": 1, "pageSize": 10, **window(now - timedelta(days=60))}
    assert api.ok(EVENTS, past) == {"total": 0, "pageNo": 1, "pageSize": 10, "list": []}
    assert api.ok(EVENTS, {**past, "pageNo": 9})["list"] == []  # past the end


def test_a_server_may_ignore_the_event_type_filter(
    sim: SimulatorHandle, api: Artemis, passages: dict[str, Any]
) -> None:
    sim.control.set_quirks(ignore_event_type_filter=True)
    page = search(api, passages["now"], eventType=GRANTED)
    assert page["total"] == 5
    assert {row["eventType"] for row in page["list"]} == {GRANTED, DENIED, NOT_RECOGNISED}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"startTime": None}, "startTime"),
        ({"endTime": None}, "endTime"),
        ({"startTime": "2025-01-01T00:00:00", "endTime": "2025-01-02T00:00:00+05:00"}, "startTime"),
        (
            {"startTime": "2025-01-01T00:00:00+05:00", "endTime": "2025-02-01T00:00:01+05:00"},
            "endTime",
        ),
        (
            {"startTime": "2025-01-02T00:00:00+05:00", "endTime": "2025-01-01T00:00:00+05:00"},
            "endTime",
        ),
        ({"doorIndexCodes": [str(n) for n in range(11)]}, "doorIndexCodes"),
        ({"doorIndexCodes": "1,2"}, "doorIndexCodes"),
        ({"pageSize": 501}, "pageSize"),
        ({"pageSize": 0}, "pageSize"),
        ({"sortField": "EventTime"}, "sortField"),
        ({"orderType": 2}, "orderType"),
        ({"eventType": "196893"}, "eventType"),
        ({"eventTypes": "196893;197151"}, "eventTypes"),
        # Mutually exclusive (the catalogue): the type filters, and the person filters.
        ({"eventType": 196893, "eventTypes": "196893,197151"}, "eventTypes"),
        ({"personId": "1", "personCode": "G1"}, "personCode"),
        ({"personName": "Anna", "personCodes": "G1,G2"}, "personCodes"),
        ({"personId": "1,,2"}, "personId"),
        ({"maskStatus": 3}, "maskStatus"),
    ],
)
def test_event_search_limits(api: Artemis, body: dict[str, Any], field: str) -> None:
    request = {
        "startTime": "2025-01-01T00:00:00+05:00",
        "endTime": "2025-01-31T00:00:00+05:00",
        "pageNo": 1,
        "pageSize": 10,
        **body,
    }
    envelope = api.call(EVENTS, {k: v for k, v in request.items() if v is not None})
    assert envelope["code"] == "2"
    assert f"[{field} parameter error]" in envelope["msg"]


def test_exactly_31_days_and_10_doors_are_accepted(api: Artemis) -> None:
    body = {
        "startTime": "2025-01-01T00:00:00+05:00",
        "endTime": "2025-02-01T00:00:00+05:00",
        "doorIndexCodes": [str(n) for n in range(10)],
        "pageNo": 1,
        "pageSize": 500,
    }
    assert api.call(EVENTS, body)["code"] == "0"


def test_strict_door_events_mode() -> None:
    with running_simulator(strict_door_events=True) as sim:
        api = Artemis(sim.base_url, sim.app_key, sim.app_secret)
        try:
            base = {"pageNo": 1, "pageSize": 10, **window(sim.control.now())}
            assert "[doorIndexCodes" in api.call(EVENTS, base)["msg"]
            assert "[eventType" in api.call(EVENTS, {**base, "doorIndexCodes": ["1"]})["msg"]
            ok = {**base, "doorIndexCodes": ["1"], "eventType": GRANTED}
            assert api.call(EVENTS, ok)["code"] == "0"
        finally:
            api.close()


def test_every_event_has_a_camera_picture(api: Artemis, passages: dict[str, Any]) -> None:
    rows = search(api, passages["now"])["list"]
    pictures = set()
    for row in rows:
        response = api.raw(PICTURES, {"picUri": row["picUri"]})
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/jpeg"
        with Image.open(io.BytesIO(response.content)) as image:
            assert image.format == "JPEG"
            assert image.size == (320, 240)
        pictures.add(response.content)
    assert len(pictures) == len(rows)
    missing = api.raw(PICTURES, {"picUri": "/pic?nothing"})
    assert missing.json()["code"] == "128"


def test_pictures_can_be_answered_as_a_base64_data_uri() -> None:
    with running_simulator(seed_demo=True, extra_args=["--picture-format", "base64"]) as sim:
        api = Artemis(sim.base_url, sim.app_key, sim.app_secret)
        try:
            result = sim.control.passage("1", unknown_face=True)
            response = api.raw(PICTURES, {"picUri": result.pic_uri})
            assert response.text.startswith("data:image/jpeg;base64,/9j/")
            sim.control.set_quirks(picture_format="binary")  # switched at run time
            response = api.raw(PICTURES, {"picUri": result.pic_uri})
            assert response.headers["content-type"] == "image/jpeg"
        finally:
            api.close()


# --- Push ---------------------------------------------------------------------------------


class Receiver:
    """A webhook receiver in a thread; `failing` makes it answer 503."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.attempts = 0
        self.failing = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.attempts += 1
                if receiver.failing:
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.received.append((dict(self.headers), json.loads(body)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hcp/events"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def event_ids(self) -> list[str]:
        return [body["params"]["events"][0]["eventId"] for _, body in self.received]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def wait_for(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def subscribe(api: Artemis, receiver: Receiver, types: list[int] | None = None) -> None:
    body = {
        "eventTypes": types or [GRANTED, DENIED, NOT_RECOGNISED],
        "eventDest": receiver.url,
        "token": "t0k",
        "passBack": 1,
    }
    envelope = api.call(SUBSCRIBE, body)
    assert envelope == {"code": 0, "msg": "Success"}


def test_subscription_calls_answer_numeric_codes(api: Artemis, receiver: Receiver) -> None:
    subscribe(api, receiver, [GRANTED])
    subscribe(api, receiver, [DENIED])
    view = api.call(VIEW, {})
    assert view["code"] == 0
    assert view["data"] == {
        "detail": [{"eventTypes": [GRANTED, DENIED], "eventDest": receiver.url, "passBack": 1}]
    }
    assert api.call(UNSUBSCRIBE, {"eventTypes": [GRANTED]}) == {"code": 0, "msg": "Success"}
    assert api.call(VIEW, {})["data"]["detail"][0]["eventTypes"] == [DENIED]
    api.call(UNSUBSCRIBE, {"eventTypes": [DENIED]})
    assert api.call(VIEW, {})["data"] == {"detail": []}
    bad = api.call(SUBSCRIBE, {"eventTypes": [GRANTED], "eventDest": "ftp://x"})
    assert bad["code"] == 2
    assert "[eventDest parameter error]" in bad["msg"]
    too_many = api.call(
        SUBSCRIBE, {"eventTypes": list(range(100_000, 100_257)), "eventDest": receiver.url}
    )
    assert too_many["code"] == 2
    # Event type codes are 100000..2147483647 (the catalogue).
    for out_of_range in (99_999, 2_147_483_648):
        bad = api.call(SUBSCRIBE, {"eventTypes": [out_of_range], "eventDest": receiver.url})
        assert (bad["code"], "[eventTypes parameter error]" in bad["msg"]) == (2, True)


def test_events_are_pushed_with_the_token(
    sim: SimulatorHandle, api: Artemis, receiver: Receiver
) -> None:
    person_id = add_guest(api)
    reapply(api)
    subscribe(api, receiver)
    result = sim.control.passage("1", person_code="G0001")
    wait_for(lambda: len(receiver.received) == 1)
    headers, body = receiver.received[0]
    assert headers["token"] == "t0k"
    assert body["method"] == "OnEventNotify"
    assert body["params"]["ability"] == "event_acs"
    assert body["params"]["sendTime"].endswith("+05:00")
    [event] = body["params"]["events"]
    assert event["eventId"] == result.event_id
    assert event["eventType"] == GRANTED
    assert event["happenTime"] == result.event_time
    assert (event["srcIndex"], event["srcName"], event["srcType"]) == (
        "1",
        "Main entrance turnstile 1",
        "door",
    )
    assert event["data"]["personId"] == person_id
    assert event["data"]["personCode"] == "G0001"
    assert event["data"]["checkInAndOutType"] == 1
    assert event["data"]["picUri"] == result.pic_uri
    # `data` carries the door/events field names (a production receiver reads them there).
    row = search(api, sim.control.now())["list"][0]
    assert set(event["data"]) == set(row) - {
        "eventId",
        "eventType",
        "eventTime",
        "doorIndexCode",
        "doorName",
    }
    assert {name: event["data"][name] for name in event["data"]} == {
        name: row[name] for name in event["data"]
    }


def test_only_subscribed_types_are_pushed(
    sim: SimulatorHandle, api: Artemis, receiver: Receiver
) -> None:
    subscribe(api, receiver, [GRANTED])
    sim.control.passage("1", unknown_face=True)
    time.sleep(0.3)
    assert receiver.attempts == 0


def test_a_back_dated_event_is_pushed_to_a_healthy_receiver(
    sim: SimulatorHandle, api: Artemis, receiver: Receiver
) -> None:
    """The buffer's day counts from when the event was queued, not from when it happened."""
    subscribe(api, receiver)
    at = sim.control.now() - timedelta(days=2)
    result = sim.control.passage("1", unknown_face=True, at=at)
    wait_for(lambda: sim.control.state()["push"][0]["delivered"] == 1)
    assert receiver.event_ids() == [result.event_id]
    assert sim.control.state()["push"][0]["dropped"] == 0


def test_pushes_are_kept_and_retried_while_the_receiver_fails(
    sim: SimulatorHandle, api: Artemis, receiver: Receiver
) -> None:
    subscribe(api, receiver)
    receiver.failing = True
    sent = [sim.control.passage("1", unknown_face=True).event_id for _ in range(3)]
    wait_for(lambda: sim.control.state()["push"][0]["lastError"] == "HTTP 503")
    assert sim.control.state()["push"][0]["buffered"] == 3
    receiver.failing = False
    assert 1 <= sim.control.retry_push() <= 3  # the backoff timer may have fired already
    wait_for(lambda: len(receiver.received) == 3)
    assert receiver.event_ids() == sent  # in order
    push = sim.control.state()["push"][0]
    assert (push["buffered"], push["delivered"], push["lastError"]) == (0, 3, None)


def test_the_push_buffer_is_bounded_and_expires_after_a_day(receiver: Receiver) -> None:
    with running_simulator(seed_demo=True, extra_args=["--push-buffer-size", "4"]) as sim:
        api = Artemis(sim.base_url, sim.app_key, sim.app_secret)
        try:
            subscribe(api, receiver)
            receiver.failing = True
            sent = [sim.control.passage("1", unknown_face=True).event_id for _ in range(6)]
            wait_for(lambda: receiver.attempts >= 1)
            push = sim.control.state()["push"][0]
            assert push["buffered"] == 4
            assert push["bufferedEventIds"] == sent[2:]  # the oldest were dropped
            assert push["dropped"] == 2
            sim.control.advance_clock(24 * 3600 + 60)
            assert sim.control.state()["push"][0]["buffered"] == 0
            receiver.failing = False
            fresh = sim.control.passage("2", unknown_face=True).event_id
            sim.control.retry_push()
            wait_for(lambda: receiver.event_ids() == [fresh])
        finally:
            api.close()


def test_a_failed_push_is_logged_without_the_destinations_path(
    sim: SimulatorHandle, api: Artemis, receiver: Receiver
) -> None:
    secret = "s3cret-path-token-0123456789"
    body = {
        "eventTypes": [NOT_RECOGNISED],
        "eventDest": f"{receiver.url}/{secret}/",
        "token": "t0k",
        "passBack": 1,
    }
    assert api.call(SUBSCRIBE, body) == {"code": 0, "msg": "Success"}
    receiver.failing = True
    sim.control.passage("1", unknown_face=True)
    wait_for(lambda: "push to http://127.0.0.1:" in sim.stderr())
    receiver.failing = False
    sim.control.retry_push()
    wait_for(lambda: receiver.received != [])  # a push that succeeded, too
    assert secret not in sim.stderr()
