"""Two copies of one registration sent at the same moment with the same Idempotency-Key
(an integration retrying too fast): one visit, whatever the timing."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from propusk.access.models import AccessLevelPolicy
from propusk.api.tokens import create_token
from propusk.visitors.models import Visitor
from propusk.visits.models import Visit
from tests.api.conftest import api_client, registration
from tests.concurrency import run_together

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def test_simultaneous_retries_with_one_key_register_one_visit(
    reception: User, host: User, guest_policy: AccessLevelPolicy
) -> None:
    _, raw = create_token(user=reception, name="Admissions office", actor=None)
    body = registration(host=host.pk)

    def send() -> tuple[int, dict]:
        response = api_client(raw).post(
            "/api/v1/visits/", body, format="json", HTTP_IDEMPOTENCY_KEY="batch-7-row-12"
        )
        return response.status_code, response.json()

    outcomes = run_together(send, send, send)
    for outcome in outcomes:
        assert not isinstance(outcome, BaseException), outcome
    codes = sorted(code for code, _ in outcomes)
    assert codes[0] == 201
    assert set(codes) <= {201, 409}  # a copy that came while the first ran: "retry"
    visit = Visit.objects.get()
    assert Visitor.objects.count() == 1
    for code, answer in outcomes:
        if code == 201:
            assert answer["id"] == visit.pk
        else:
            assert answer["error"]["code"] == "idempotency_in_progress"
