"""Two writers at once: two sweeps, two clicks, the same form twice.

Needs a database with concurrent writers: PostgreSQL, or SQLite in a file (tests/settings.py).
On SQLite every transaction begins IMMEDIATE with a busy timeout (core/env.py), so the second
writer waits for the first instead of failing with "database is locked"; each race below must
end the way it ends on PostgreSQL. The HTTP tests repeat the race a few times: one round may
happen not to overlap, several in a row will.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from functools import partial

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import HttpResponse
from django.urls import reverse
from django.utils import timezone

from propusk.audit.models import AuditEntry
from propusk.visitors.models import Visitor
from propusk.visits import services
from propusk.visits.models import Visit, VisitKind, VisitStatus
from propusk.visits.tasks import close_expired_visits
from tests.concurrency import run_together, signed_in_client
from tests.factories import make_iin, make_jpeg

VISITS = 30
ROUNDS = 5

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_concurrent_sweeps_close_and_audit_each_visit_once(make_visit):
    """Two workers run the beat task at once. Called directly, the task does not retry: a
    "database is locked" would come out here instead of being hidden by a retry."""
    for _ in range(ROUNDS):
        now = timezone.now()
        for index in range(VISITS):
            make_visit(
                status=VisitStatus.CHECKED_IN if index % 2 else VisitStatus.AWAITING,
                planned_start=now - timedelta(hours=5),
                planned_end=now - timedelta(hours=2),
            )
        results = run_together(close_expired_visits, close_expired_visits)

        assert all(isinstance(result, dict) for result in results), results
        assert sum(r["checked_out"] + r["no_show"] for r in results) == VISITS
        assert not Visit.objects.filter(
            status__in=[VisitStatus.AWAITING, VisitStatus.CHECKED_IN]
        ).exists()
    assert AuditEntry.objects.filter(actor_label="system").count() == VISITS * ROUNDS


def test_concurrent_sweeps_of_a_backlog_longer_than_a_page(visitor, host, guest_policy):
    """After a long stop the sweep reads its backlog page by page while it writes; the other
    sweep's commits must not make it fail (on SQLite an open cursor would)."""
    backlog = 600  # more than a page of 500
    now = timezone.now()
    Visit.objects.bulk_create(
        Visit(
            kind=VisitKind.GUEST,
            status=VisitStatus.AWAITING,
            visitor=visitor,
            host=host,
            access_policy=guest_policy,
            planned_start=now - timedelta(hours=5),
            planned_end=now - timedelta(hours=2, minutes=index % 60),
        )
        for index in range(backlog)
    )

    results = run_together(close_expired_visits, close_expired_visits)

    assert all(isinstance(result, dict) for result in results), results
    assert sum(r["no_show"] for r in results) == backlog
    assert Visit.objects.filter(status=VisitStatus.NO_SHOW).count() == backlog
    assert AuditEntry.objects.filter(action="visit.no_show").count() == backlog


def _page_says(response: HttpResponse, text: str) -> bool:
    return text in response.content.decode()


def test_two_desks_check_the_same_visitor_in_at_once(make_visit, reception, visitor):
    """Both desks get an answer: one "checked in", the other "already checked in"."""
    done = f"{visitor.full_name} is checked in."
    refused = "The visitor is already checked in."
    for _ in range(ROUNDS):
        visit = make_visit(planned_start=timezone.now() - timedelta(minutes=5))
        url = reverse("visits:check_in", args=[visit.pk])
        desks = [signed_in_client(reception.username) for _ in range(2)]

        responses = run_together(*(partial(desk.post, url, follow=True) for desk in desks))

        assert [getattr(r, "status_code", r) for r in responses] == [200, 200], responses
        assert sorted(_page_says(r, done) for r in responses) == [False, True]
        assert sorted(_page_says(r, refused) for r in responses) == [False, True]
        assert Visit.objects.get(pk=visit.pk).status == VisitStatus.CHECKED_IN
    assert AuditEntry.objects.filter(action="visit.checked_in").count() == ROUNDS


def _walk_in(token: str, iin: str, host: User) -> dict[str, object]:
    return {
        "submission_token": token,
        "mode": "now",
        "kind": "guest",
        "host": str(host.pk),
        "duration": "60",
        "purpose": "Seminar",
        "visitor-family_name": "Seitkali",
        "visitor-given_name": "Nurlan",
        "visitor-phone": "+7 701 234 56 78",
        "visitor-national_id": iin,
        "visitor-consent": "on",
        "visitor-photo": SimpleUploadedFile("face.jpg", make_jpeg(), content_type="image/jpeg"),
    }


def test_the_same_registration_sent_twice_at_once_registers_one_visit(
    reception, host, guest_policy
):
    """A double click on "Register": one visit, one visitor, both answers lead to it."""
    register = reverse("visits:register")
    for round_ in range(1, ROUNDS + 1):
        token, iin = str(uuid.uuid4()), make_iin()
        clicks = [signed_in_client(reception.username) for _ in range(2)]

        responses = run_together(
            *(partial(click.post, register, _walk_in(token, iin, host)) for click in clicks)
        )

        assert [getattr(r, "status_code", r) for r in responses] == [302, 302], responses
        visit = Visit.objects.get(submission_token=token)
        assert {r["Location"] for r in responses} == {reverse("visits:detail", args=[visit.pk])}
        assert Visit.objects.count() == round_
        assert Visitor.objects.count() == round_
    assert AuditEntry.objects.filter(action="visit.registered").count() == ROUNDS


def test_two_clicks_on_check_out_check_out_once(make_visit, reception):
    now = timezone.now()
    visit = make_visit(status=VisitStatus.CHECKED_IN, planned_start=now - timedelta(hours=1))

    def click():
        return services.check_out(visit=Visit.objects.get(pk=visit.pk), actor=reception)

    outcomes = run_together(click, click)

    assert sum(isinstance(o, Visit) for o in outcomes) == 1, outcomes
    assert sum(isinstance(o, services.VisitTransitionError) for o in outcomes) == 1, outcomes
    assert AuditEntry.objects.filter(action="visit.checked_out").count() == 1


def test_the_same_person_joins_a_group_once_from_the_link_and_the_desk(
    visitor, host, guest_policy, reception
):
    """The link and the desk at the same moment: the group row lock lets one in."""
    from propusk.invitations.models import Invitation, InvitationKind
    from propusk.visits.models import VisitGroup, VisitKind

    now = timezone.now()
    group = VisitGroup.objects.create(
        name="School No. 12",
        host=host,
        purpose="Open day",
        planned_start=now + timedelta(hours=1),
        planned_end=now + timedelta(hours=3),
        access_policy=guest_policy,
    )
    invitation = Invitation.objects.create(
        kind=InvitationKind.GROUP,
        host=host,
        access_policy=guest_policy,
        group=group,
        max_uses=10,
        expires_at=group.planned_end,
    )

    def desk():
        return services.register_group_member(group=group, visitor=visitor, actor=reception)

    def link():  # what redeem_invitation does once it has the visitor
        return services.register_visit(
            kind=VisitKind.GROUP,
            visitor=visitor,
            host=host,
            planned_start=group.planned_start,
            planned_end=group.planned_end,
            access_policy=guest_policy,
            actor=None,
            group=group,
            invitation=invitation,
        )

    outcomes = run_together(desk, link, desk)

    assert sum(isinstance(o, Visit) for o in outcomes) == 1, outcomes
    assert sum(isinstance(o, services.AlreadyInGroup) for o in outcomes) == 2, outcomes
    assert group.visits.count() == 1
