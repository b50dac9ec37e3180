"""The user's acceptance check as one run (``manage.py acceptance_check``).

Against the configured HikCentral, which must be the HCP simulator (its control API makes the
passages): a test visit with a face photo is registered, the access engine is driven until the
turnstile knows the face, an entry and an exit are made at a door of the visit's access level,
their events are read back from HCP and processed through the events intake and the passage
handler, and the visit must be checked in, then checked out, its access revoked, its host told
and a later attempt refused. Everything the run created - the visitor, the visit, its passages,
incidents, notifications and events, and the HCP person - is removed at the end, whatever
happened. Any failed step raises ``AcceptanceFailed`` with a sentence saying what was wrong.
"""

from __future__ import annotations

import functools
import io
import logging
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw, ImageFilter

from hcp_simulator.testing import SimulatorControl
from hikcentral import HikCentralClient
from hikcentral.errors import HCPNotFound, HikCentralError
from propusk.access.models import AccessLevelPolicy, AccessWork, HcpPerson
from propusk.access.reconciler import reconcile_due_work
from propusk.accounts.roles import Role
from propusk.core.time import now as current_time
from propusk.events.models import EventSource, EventState, HcpEvent
from propusk.notifications.kinds import Kind
from propusk.notifications.models import Notification
from propusk.notifications.selectors import users_with_roles
from propusk.passages.models import Incident, Passage
from propusk.passages.services import delete_visitor_pictures, settle_visit
from propusk.visitors.models import Visitor
from propusk.visitors.services import VisitorData
from propusk.visits import services as visit_services
from propusk.visits.models import Visit, VisitKind, VisitStatus

logger = logging.getLogger(__name__)

Say = Callable[[str], None]

WAIT_SECONDS = 30.0


class AcceptanceFailed(RuntimeError):
    """A step of the acceptance check failed; the message says which and why."""


@dataclass
class Run:
    """What the run created, for the clean-up."""

    visit_id: int | None = None
    visitor_id: int | None = None
    person_code: str = ""
    event_ids: list[str] = field(default_factory=list)


def simulator_control(base_url: str) -> SimulatorControl:
    """The simulator's control API at ``base_url``; ``AcceptanceFailed`` if HCP there is not
    the simulator (a real HikCentral has no control API: the check cannot make passages)."""
    if not base_url:
        raise AcceptanceFailed("No HikCentral is configured (HCP_BASE_URL is empty).")
    verify: Any = settings.HCP_CA_BUNDLE or bool(getattr(settings, "HCP_VERIFY_TLS", True))
    control = SimulatorControl(base_url.rstrip("/"), verify=verify, timeout=5.0)
    try:
        health = control.health()
    except (httpx.HTTPError, ValueError):
        health = {}
    if health.get("status") != "ok" or "now" not in health:
        control.close()
        raise AcceptanceFailed(
            f"The configured HikCentral ({base_url}) is not the HCP simulator: it has no "
            "control API (/simulator/v1/health). The acceptance check makes passages at the "
            "simulator's turnstile and does not run against a real HikCentral."
        )
    return control


def generated_portrait(seed: int) -> bytes:
    """A drawn head-and-shoulders portrait (no photo of a real person in the repository)."""
    rng = random.Random(seed)  # noqa: S311 - a drawing, not a secret
    image = Image.new("RGB", (480, 600), (rng.randint(150, 230),) * 3)
    draw = ImageDraw.Draw(image)
    skin = (rng.randint(190, 235), rng.randint(150, 185), rng.randint(120, 150))
    hair = (rng.randint(10, 60),) * 3
    draw.ellipse((10, 470, 470, 820), fill=(40, 70, 120))
    draw.ellipse((147, 105, 333, 380), fill=hair)
    draw.rectangle((200, 340, 280, 500), fill=skin)
    draw.ellipse((160, 140, 320, 360), fill=skin)
    for ex in (200, 280):
        draw.ellipse((ex - 16, 222, ex + 16, 238), fill=(250, 250, 250))
        draw.ellipse((ex - 7, 223, ex + 7, 237), fill=hair)
    draw.line((240, 235, 232, 285), fill=(150, 110, 90), width=3)
    draw.arc((208, 300, 272, 328), 20, 160, fill=(150, 60, 60), width=4)
    buffer = io.BytesIO()
    image.filter(ImageFilter.GaussianBlur(1.2)).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def default_face() -> bytes:
    """A real face for the face check: scikit-image's public-domain sample portrait when it is
    installed (it is in the development dependencies), else a drawn one."""
    try:
        from skimage import data
    except ImportError:
        return generated_portrait(secrets.randbelow(10**9))
    # Brightened a little, differently each run: the simulator recognises faces by their
    # bytes, so no run's face matches an earlier run's visitor.
    shift = 1 + secrets.randbelow(12)
    image = Image.fromarray(data.astronaut()).point(lambda value: min(255, value + shift))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


def run_check(
    *,
    client: HikCentralClient,
    control: SimulatorControl,
    say: Say,
    photo: bytes | None = None,
    host_username: str = "",
    policy_key: str = "",
) -> None:
    """The whole check; ``AcceptanceFailed`` on the first step that fails. Cleans up."""
    run = Run()
    try:
        _check(
            run,
            client=client,
            control=control,
            say=say,
            photo=photo,
            host_username=host_username,
            policy_key=policy_key,
        )
    finally:
        _clean_up(run, client=client, say=say)


def _check(
    run: Run,
    *,
    client: HikCentralClient,
    control: SimulatorControl,
    say: Say,
    photo: bytes | None,
    host_username: str,
    policy_key: str,
) -> None:
    host = _host(host_username)
    policy = _policy(policy_key)
    door = _door_of(policy, control)
    face_in = photo or default_face()

    visit = _register(run, host=host, policy=policy, face=face_in, say=say)

    # 2. The access engine applies the visitor to the doors.
    person = _until(
        lambda: _applied_person(client, control, run.person_code, door),
        "the access engine did not give the test visitor access in HCP",
    )
    say(f"✓ HCP person id saved: {person.person_id} (person code {run.person_code})")
    say(f"✓ access applied: levels {', '.join(person.access_level_ids)} on door {door}")

    # 3. An entry and an exit at the simulator's turnstile.
    with visit.visitor.photo.open("rb") as stored:
        face = stored.read()
    entry = control.passage(door, face_jpeg=face, direction="in")
    if not entry.granted:
        raise AcceptanceFailed(f"The turnstile refused the test visitor's entry ({entry.reason}).")
    time.sleep(1.1)  # HCP keeps whole seconds: the exit comes a second later
    leaving = control.passage(door, face_jpeg=face, direction="out")
    if not leaving.granted:
        raise AcceptanceFailed(f"The turnstile refused the test visitor's exit ({leaving.reason}).")
    run.event_ids += [entry.event_id, leaving.event_id]
    say(f"✓ entry and exit made at door {door}")

    # 4. Their events, read back from HCP, through the intake and the handler.
    _process(client, run, [entry.event_id])
    visit.refresh_from_db()
    if visit.checked_in_at is None:
        raise AcceptanceFailed(f"The entry did not check the visit in (status {visit.status}).")
    say(f"✓ checked in at {timezone.localtime(visit.checked_in_at):%H:%M:%S}")
    _process(client, run, [leaving.event_id])
    grace = policy.reentry_grace_minutes
    if grace:
        # The policy lets the visitor come back in: the check lets the grace run out.
        with transaction.atomic():
            settle_visit(visit, now=current_time() + timedelta(minutes=grace))
        say(f"  (policy {policy.key} has a re-entry grace of {grace} min: treated as over)")
    visit.refresh_from_db()
    if visit.status != VisitStatus.CHECKED_OUT:
        raise AcceptanceFailed(f"The exit did not check the visit out (status {visit.status}).")
    say(f"✓ checked out at {timezone.localtime(visit.checked_out_at):%H:%M:%S}")

    # 5. Access revoked by the engine: the devices no longer hold the face.
    _until(
        lambda: _revoked(client, control, run.person_code, door),
        "the access engine did not revoke the test visitor's access in HCP",
    )
    say("✓ access revoked in HCP")

    # 6. The host told.
    told = set(
        Notification.objects.filter(recipient=host, visit_id=visit.pk).values_list(
            "kind", flat=True
        )
    )
    missing = {Kind.GUEST_ARRIVED, Kind.VISIT_CHECKED_OUT_BY_EXIT} - told
    if missing:
        raise AcceptanceFailed(f"The host was not told: {', '.join(sorted(missing))}.")
    say(f"✓ host {host.get_username()} notified of the arrival and the departure")

    # 7. A later attempt refused, and reported.
    again = control.passage(door, face_jpeg=face, direction="in")
    run.event_ids.append(again.event_id)
    if again.granted:
        raise AcceptanceFailed("A later attempt with the test visitor's face was let through.")
    _process(client, run, [again.event_id])
    if not Passage.objects.filter(event__event_id=again.event_id, granted=False).exists():
        raise AcceptanceFailed("The refused attempt was not recorded as a passage.")
    say(f"✓ a later attempt refused at door {door} ({again.reason}) and recorded")


def _register(run: Run, *, host: User, policy: AccessLevelPolicy, face: bytes, say: Say) -> Visit:
    """A test visit with a face photo (a single pass: the exit ends it)."""
    start = current_time() - timedelta(minutes=1)
    data = VisitorData(
        family_name="Проверкина",
        given_name="Айгерим",
        middle_name="",
        phone="+77010000000",
        email="",
        national_id=None,
        photo_jpeg=face,
        consent=True,
    )
    try:
        visit = visit_services.register_with_visitor(
            visitor=data,
            actor=None,
            actor_label="acceptance_check",
            register=lambda person: visit_services.register_visit(
                kind=VisitKind.GUEST,
                visitor=person,
                host=host,
                planned_start=start,
                planned_end=start + timedelta(hours=1),
                access_policy=policy,
                actor=None,
                purpose="acceptance_check",
                single_pass=True,
            ),
        )
    except Exception as exc:
        raise AcceptanceFailed(
            f"Registering the test visit failed: {_sentence(exc)} (a photo the face check "
            "refuses? give a real face with --photo)"
        ) from exc
    run.visit_id, run.visitor_id = visit.pk, visit.visitor_id
    run.person_code = visit.visitor.person_code
    say(f"✓ test visit {visit.pk} registered (host {host.get_username()}, policy {policy.key})")
    return visit


def _host(username: str) -> User:
    hosts = users_with_roles(Role.HOST, Role.ADMINISTRATOR)
    if username:
        host = hosts.filter(username=username).first()
        if host is None:
            raise AcceptanceFailed(f"No active host or administrator named {username!r}.")
        return host
    host = hosts.filter(groups__name=Role.HOST.value).first() or hosts.first()
    if host is None:
        raise AcceptanceFailed("No active host or administrator to host the test visit.")
    return host


def _policy(key: str) -> AccessLevelPolicy:
    policies = AccessLevelPolicy.objects.filter(is_active=True)
    policy = policies.filter(key=key or "guest").first() or (None if key else policies.first())
    if policy is None:
        raise AcceptanceFailed(f"No active access policy {key or 'guest'!r}.")
    return policy


def _door_of(policy: AccessLevelPolicy, control: SimulatorControl) -> str:
    for level in control.state()["accessLevels"]:
        if level["privilegeGroupId"] in policy.hcp_access_level_ids and level["doorIndexCodes"]:
            return str(level["doorIndexCodes"][0])
    raise AcceptanceFailed(
        f"None of the access levels of policy {policy.key} ({policy.hcp_access_level_ids}) "
        "opens a door in the simulator."
    )


def _sim_person(control: SimulatorControl, person_code: str) -> dict[str, Any] | None:
    for person in control.state()["persons"]:
        if person.get("personCode") == person_code:
            return dict(person)
    return None


def _applied_person(
    client: HikCentralClient, control: SimulatorControl, person_code: str, door: str
) -> HcpPerson | None:
    reconcile_due_work(client=client)
    person = HcpPerson.objects.filter(person_code=person_code).exclude(person_id="").first()
    sim = _sim_person(control, person_code)
    if person is None or sim is None:
        return None
    on_door = sim["doors"].get(door)
    if on_door and on_door["status"] == "applied" and on_door["applied"]:
        return person
    return None


def _revoked(
    client: HikCentralClient, control: SimulatorControl, person_code: str, door: str
) -> bool:
    reconcile_due_work(client=client)
    confirmed = HcpPerson.objects.filter(person_code=person_code).first()
    if confirmed is None or confirmed.revoked_at is None:
        return False
    sim = _sim_person(control, person_code)
    on_door = (sim or {}).get("doors", {}).get(door)
    return not on_door or (on_door["status"] == "applied" and not on_door["applied"])


def _process(client: HikCentralClient, run: Run, event_ids: list[str]) -> None:
    """Read the events back from HCP (door/events, as the polling backfill does), store them
    in the inbox and process them as a worker does. A worker of ``make run`` (woken by the
    push or by the store) may get there first: then its outcome is awaited."""
    from propusk.events.processing import process
    from propusk.events.services import store_events

    moment = current_time()
    wanted = set(event_ids)
    found = [
        event
        for event in client.search_door_events(
            moment - timedelta(minutes=5), moment + timedelta(minutes=1)
        )
        if event.event_id in wanted
    ]
    if {event.event_id for event in found} != wanted:
        raise AcceptanceFailed("HCP's door events do not list the passages just made.")
    store_events(found, source=EventSource.POLL)
    for event_id in event_ids:
        row = HcpEvent.objects.get(event_id=event_id)
        process(row.pk)
        _until(functools.partial(_processed, row.pk), f"event {event_id} was not processed")


def _processed(event_pk: int) -> bool:
    return HcpEvent.objects.filter(
        pk=event_pk, state__in=[EventState.DONE, EventState.IGNORED]
    ).exists()


def _until(check: Callable[[], Any], failure: str, timeout: float = WAIT_SECONDS) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AcceptanceFailed(f"After {timeout:.0f} s: {failure}.")
        time.sleep(0.5)


def _clean_up(run: Run, *, client: HikCentralClient, say: Say) -> None:
    """Remove what the run created, whatever happened; say what could not be removed."""
    problems: list[str] = []
    if run.person_code:
        confirmed = HcpPerson.objects.filter(person_code=run.person_code).first()
        try:
            if confirmed is not None and confirmed.person_id:
                client.delete_person(person_id=confirmed.person_id)
            else:
                client.delete_person(person_code=run.person_code)
        except HCPNotFound:
            pass
        except HikCentralError as exc:
            problems.append(f"the HCP person {run.person_code} ({type(exc).__name__})")
    with transaction.atomic():
        passages = Passage.objects.filter(visit_id=run.visit_id) if run.visit_id else None
        event_pks = set(passages.values_list("event_id", flat=True)) if passages else set()
        event_pks |= set(
            HcpEvent.objects.filter(event_id__in=run.event_ids).values_list("pk", flat=True)
        )
        if run.visitor_id is not None:
            delete_visitor_pictures(run.visitor_id)
        passage_pks = Passage.objects.filter(event_id__in=event_pks).values_list("pk", flat=True)
        incidents = Incident.objects.filter(passage_id__in=list(passage_pks))
        if run.visit_id is not None:
            incidents = incidents | Incident.objects.filter(visit_id=run.visit_id)
            Notification.objects.filter(visit_id=run.visit_id).delete()
        incident_pks = list(incidents.values_list("pk", flat=True))
        Notification.objects.filter(incident_id__in=incident_pks).delete()
        Incident.objects.filter(pk__in=incident_pks).delete()
        Passage.objects.filter(event_id__in=event_pks).delete()
        # The events stay, as kept with nothing to do: HCP still holds them, and the next
        # poll's overlap would read them back as new (an unknown face, an incident on the
        # security dashboard) had their rows gone.
        HcpEvent.objects.filter(pk__in=event_pks).update(
            state=EventState.IGNORED,
            processed_at=current_time(),
            leased_until=None,
            retry_at=None,
            pic_uri="",
        )
        if run.visit_id is not None:
            Visit.objects.filter(pk=run.visit_id).delete()
        if run.person_code:
            AccessWork.objects.filter(person_code=run.person_code).delete()
            HcpPerson.objects.filter(person_code=run.person_code).delete()
        if run.visitor_id is not None:
            visitor = Visitor.objects.filter(pk=run.visitor_id).first()
            if visitor is not None:
                name = visitor.photo.name if visitor.photo else ""
                storage = visitor.photo.storage
                visitor.delete()
                if name:
                    transaction.on_commit(lambda: storage.delete(name))
    if problems:
        say("✗ could not remove: " + "; ".join(problems))
        raise AcceptanceFailed("Clean-up incomplete: " + "; ".join(problems) + ".")
    if run.visit_id is not None:
        say("✓ cleaned up: the test visitor, visit, passages and HCP person are gone")


def read_photo(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise AcceptanceFailed(f"Cannot read the photo {path}: {exc.strerror}.") from exc


def _sentence(exc: Exception) -> str:
    messages = getattr(exc, "messages", None)
    if messages:
        return " ".join(str(m) for m in messages)
    return str(exc) or type(exc).__name__
