"""The webhook in Django's URLconf. What it checks and answers is events.webhook's
(``receive_push``); in production and in ``make run`` requests under /hcp/events/ are
answered by events.webhook.PushFastPath before they reach Django, so these views serve the
test client and the live test server, which do not go through propusk.wsgi."""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from propusk.events.webhook import Answer, receive_push


def _response(answer: Answer) -> HttpResponse:
    response = HttpResponse(answer.body, status=answer.status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    if answer.allow:
        response["Allow"] = answer.allow
    if answer.refused:
        # Logged by receive_push without the path (it holds the token tried): not by Django.
        response._has_been_logged = True  # type: ignore[attr-defined]
    return response


@csrf_exempt
@login_not_required
def hcp_push(request: HttpRequest, token: str) -> HttpResponse:
    return _response(
        receive_push(
            method=request.method or "",
            token=token,
            remote_addr=request.META.get("REMOTE_ADDR", ""),
            content_length=request.META.get("CONTENT_LENGTH"),
            read=request.read,
        )
    )


@csrf_exempt
@login_not_required
def hcp_push_without_token(request: HttpRequest) -> HttpResponse:
    return _response(
        receive_push(
            method=request.method or "",
            token=None,
            remote_addr=request.META.get("REMOTE_ADDR", ""),
            content_length=request.META.get("CONTENT_LENGTH"),
            read=request.read,
        )
    )
