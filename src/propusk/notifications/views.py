"""Notification pages: the feed, the settings (channels, language, Telegram, browser push),
the browser subscription endpoints and the Telegram webhook.

Every page is for employees (any role) and shows only the signed-in user's own notifications:
another user's entry is a 404, as if it did not exist.
"""

from __future__ import annotations

import hmac
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Case, When
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from propusk.accounts.roles import roles_of
from propusk.core.jsonbody import BadJSON, parse_object
from propusk.notifications import channels, rendering, services, telegram
from propusk.notifications.forms import PreferenceForm
from propusk.notifications.kinds import Kind
from propusk.notifications.models import Notification, PushSubscription, TelegramLink
from propusk.notifications.services import NotificationError, notify

PAGE_SIZE = 50


def _employee(request: HttpRequest) -> User:
    """The signed-in employee; a user with no role has no notifications pages."""
    if not roles_of(request.user):
        raise PermissionDenied
    user = request.user
    if not isinstance(user, User):  # signed in, so always a User; narrows the type
        raise PermissionDenied
    return user


@require_http_methods(["GET"])
def feed(request: HttpRequest) -> HttpResponse:
    user = _employee(request)
    # Unread first (no read_at), then the newest.
    rows = (
        Notification.objects.filter(recipient=user)
        .annotate(is_read=Case(When(read_at__isnull=True, then=0), default=1))
        .order_by("is_read", "-created_at", "-pk")
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    language = get_language() or services.default_language()
    entries = []
    for n in page.object_list:
        visit_id = rendering.visit_id_of(n)
        entries.append(
            {
                "notification": n,
                "message": rendering.render(n, language),
                # A link within the site here; messages sent out carry the absolute one.
                "visit_url": reverse("visits:detail", args=[visit_id]) if visit_id else "",
            }
        )
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True).count()
    return render(
        request,
        "notifications/feed.html",
        {"entries": entries, "page": page, "unread_count": unread},
    )


@require_POST
def mark_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    user = _employee(request)
    notification = get_object_or_404(Notification, pk=notification_id, recipient=user)
    services.mark_read(user, [notification.pk])
    return redirect("notifications:feed")


@require_POST
def mark_all_read(request: HttpRequest) -> HttpResponse:
    user = _employee(request)
    services.mark_read(user)
    return redirect("notifications:feed")


@require_http_methods(["GET", "POST"])
def preferences(request: HttpRequest) -> HttpResponse:
    user = _employee(request)
    preference = services.preference_of(user)
    if request.method == "POST":
        form = PreferenceForm(request.POST)
        if form.is_valid():
            services.save_preference(user, **form.cleaned_data)
            messages.success(request, _("Notification settings saved."))
            return redirect("notifications:preferences")
    else:
        form = PreferenceForm(
            initial={
                "email": preference.email,
                "telegram": preference.telegram,
                "webpush": preference.webpush,
                "language": preference.language,
            }
        )
    return render(request, "notifications/preferences.html", _settings_context(user, form))


def _settings_context(user: User, form: PreferenceForm, **extra: Any) -> dict[str, Any]:
    link = TelegramLink.objects.filter(user=user).first()
    return {
        "form": form,
        "has_email": bool(user.email),
        "email_configured": channels.email_configured(),
        "telegram_configured": channels.telegram_configured(),
        "telegram_linked": link is not None and link.chat_id is not None,
        "telegram_bot": settings.PROPUSK_TELEGRAM_BOT_USERNAME,
        "webpush_configured": channels.webpush_configured(),
        "vapid_public_key": settings.PROPUSK_VAPID_PUBLIC_KEY,
        "push_subscriptions": PushSubscription.objects.filter(user=user).count(),
        **extra,
    }


@require_POST
def send_test(request: HttpRequest) -> HttpResponse:
    """A test message to each of the employee's channels; once a minute at most (the key
    names the minute, so pressing again within it adds nothing)."""
    user = _employee(request)
    minute = timezone.now().strftime("%Y%m%d%H%M")
    if notify(recipients=[user], kind=Kind.TEST, key=f"test:{minute}"):
        messages.success(request, _("A test notification is on its way to your channels."))
    else:
        messages.warning(
            request, _("A test notification was sent a moment ago; try again in a minute.")
        )
    return redirect("notifications:preferences")


@require_POST
def telegram_link(request: HttpRequest) -> HttpResponse:
    """A fresh one-time code, shown once on the settings page."""
    user = _employee(request)
    if not channels.telegram_configured():
        raise Http404
    code = services.start_telegram_link(user)
    preference = services.preference_of(user)
    form = PreferenceForm(
        initial={
            "email": preference.email,
            "telegram": preference.telegram,
            "webpush": preference.webpush,
            "language": preference.language,
        }
    )
    response = render(
        request,
        "notifications/preferences.html",
        _settings_context(user, form, telegram_code=code),
    )
    return response


@require_POST
def telegram_unlink(request: HttpRequest) -> HttpResponse:
    user = _employee(request)
    services.unlink_telegram(user)
    messages.success(request, _("Telegram is no longer linked."))
    return redirect("notifications:preferences")


def _json_body(request: HttpRequest) -> dict[str, Any]:
    """The body as a JSON object (``core.jsonbody``: not JSON, nested too deeply or not an
    object is a ``NotificationError``, answered 400)."""
    try:
        return parse_object(request.body or b"{}")
    except BadJSON as exc:
        raise NotificationError(str(exc)) from None


def _text_field(data: dict[str, Any], name: str, where: str = "") -> str:
    """A string member of a JSON object ("" when absent); any other type is refused."""
    value = data.get(name, "")
    if not isinstance(value, str):
        raise NotificationError(f"'{where}{name}' must be a string")
    return value


@require_POST
def push_subscribe(request: HttpRequest) -> JsonResponse:
    """Store this browser's push subscription (the body is the browser's
    ``PushSubscription.toJSON()``). Login and the CSRF header are required."""
    user = _employee(request)
    if not channels.webpush_configured():
        raise Http404
    try:
        body = _json_body(request)
        keys = body.get("keys", {})
        if not isinstance(keys, dict):
            raise NotificationError("'keys' must be an object")
        services.save_push_subscription(
            user,
            endpoint=_text_field(body, "endpoint"),
            p256dh=_text_field(keys, "p256dh", "keys."),
            auth=_text_field(keys, "auth", "keys."),
            user_agent=request.headers.get("User-Agent", ""),
        )
    except NotificationError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    return JsonResponse({"ok": True}, status=201)


@require_POST
def push_unsubscribe(request: HttpRequest) -> JsonResponse:
    user = _employee(request)
    try:
        endpoint = _text_field(_json_body(request), "endpoint")
    except NotificationError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    deleted = services.delete_push_subscription(user, endpoint)
    return JsonResponse({"ok": True, "deleted": deleted})


@login_not_required
@csrf_exempt
@require_POST
def telegram_webhook(request: HttpRequest) -> HttpResponse:
    """Telegram's webhook (setWebhook with ``secret_token``): Telegram proves itself with the
    secret in a header. Off (404) unless ``PROPUSK_TELEGRAM_WEBHOOK_SECRET`` is set."""
    secret = settings.PROPUSK_TELEGRAM_WEBHOOK_SECRET
    if not secret or not channels.telegram_configured():
        raise Http404
    given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise PermissionDenied
    try:
        update = telegram.check_update(parse_object(request.body))
    except BadJSON as exc:
        # Malformed, nested too deeply, or not an update: Telegram never sends that.
        return JsonResponse({"error": str(exc)}, status=400)
    telegram.handle_update(update)
    return HttpResponse(status=200)
