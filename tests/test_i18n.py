# Russian words in the asserts look like Latin ones to ruff's confusable check: they are meant.
# ruff: noqa: RUF001

"""The interface speaks Russian (the site's default) and English, and the Russian catalogue is
complete: every message translated, nothing fuzzy, plural forms right, placeholders intact,
the committed .mo in step with the .po and the .po in step with the source.

The suite runs with LANGUAGE_CODE = "en" (tests/settings.py); these tests switch to Russian
with ``override_settings`` or an Accept-Language header.
"""

from __future__ import annotations

import ast
import gettext as gnu_gettext
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext, pgettext

from propusk.access.models import AccessLevelPolicy
from propusk.visitors.models import Visitor
from propusk.visits.history import ACTION_LABELS
from propusk.visits.models import Visit, VisitKind, VisitStatus

PROPUSK_DIR = Path(__file__).resolve().parents[1] / "src" / "propusk"
RU_PO = PROPUSK_DIR / "locale" / "ru" / "LC_MESSAGES" / "django.po"
RU_MO = RU_PO.with_suffix(".mo")
RU_PLURAL_FORMS = (
    "nplurals=3; plural=(n%10==1 && n%100!=11 ? 0 : n%10>=2 && n%10<=4 && "
    "(n%100<10 || n%100>=20) ? 1 : 2);"
)
NOON = datetime(2030, 3, 12, 12, 0, tzinfo=ZoneInfo("Asia/Almaty"))

russian = override_settings(LANGUAGE_CODE="ru")


@pytest.fixture(autouse=True)
def _back_to_the_default_language() -> Iterator[None]:
    # A request leaves its language active in the thread: do not leak Russian into other tests.
    yield
    translation.deactivate()


def _text(response) -> str:
    return response.content.decode()


# --- Pages --------------------------------------------------------------------------------


@russian
def test_login_page_is_russian_by_default(client, db):
    body = _text(client.get(reverse("login")))

    assert '<html lang="ru">' in body
    assert "Войти" in body
    assert "Имя пользователя" in body
    assert "Пароль" in body
    assert "Sign in" not in body


@pytest.mark.parametrize(
    ("header", "expected", "absent"),
    [
        ("ru", "Войти", "Sign in"),
        ("ru-KZ,ru;q=0.9", "Войти", "Sign in"),
        ("en", "Sign in", "Войти"),
    ],
)
def test_login_page_follows_accept_language(client, db, header, expected, absent):
    body = _text(client.get(reverse("login"), headers={"accept-language": header}))

    assert expected in body
    assert absent not in body


@russian
def test_login_page_in_english_when_asked(client, db):
    body = _text(client.get(reverse("login"), headers={"accept-language": "en"}))

    assert '<html lang="en">' in body
    assert "Sign in" in body
    assert "User name" in body


@russian
def test_language_switch_works_without_login(client, db):
    switch = reverse("set_language")

    response = client.post(switch, {"language": "en", "next": reverse("login")})

    assert response.status_code == 302
    assert response["Location"] == reverse("login")
    assert client.cookies["django_language"].value == "en"
    assert "Sign in" in _text(client.get(reverse("login")))

    client.post(switch, {"language": "ru", "next": reverse("login")})
    body = _text(client.get(reverse("login")))
    assert "Войти" in body
    assert "Sign in" not in body


@russian
def test_wrong_password_error_is_russian(client, reception):
    response = client.post(reverse("login"), {"username": "reception", "password": "wrong"})

    assert response.status_code == 200
    assert "Пожалуйста, введите правильные" in _text(response)


@dataclass
class Today:
    rows: dict[VisitStatus, Visit] = field(default_factory=dict)


@pytest.fixture
def today(time_machine, host: User, guest_policy: AccessLevelPolicy) -> Today:
    """One of today's visits in every status, written directly (no services, no HCP)."""
    time_machine.move_to(NOON, tick=False)
    result = Today()
    for number, status in enumerate(VisitStatus, start=1):
        visitor = Visitor.objects.create(
            family_name=f"Гостева{number}",
            given_name="Айгерим",
            phone="+77011234567",
            photo=f"faces/test/{number}.jpg",
            consent_given_at=timezone.now(),
            consent_text_version="test",
        )
        start = NOON - timedelta(hours=1) if status != VisitStatus.PENDING else NOON
        extra = {}
        if status in (VisitStatus.CHECKED_IN, VisitStatus.CHECKED_OUT):
            extra["checked_in_at"] = NOON - timedelta(minutes=50)
        if status == VisitStatus.CHECKED_OUT:
            extra["checked_out_at"] = NOON - timedelta(minutes=10)
        result.rows[status] = Visit.objects.create(
            kind=VisitKind.GUEST,
            status=status,
            visitor=visitor,
            host=host,
            planned_start=start,
            planned_end=start + timedelta(hours=3),
            access_policy=guest_policy,
            **extra,
        )
    return result


@russian
def test_reception_page_is_russian(client, reception, today):
    client.force_login(reception)

    body = _text(client.get(reverse("visits:reception")))

    for text in (
        "Сегодня",
        "Визиты",
        "Зарегистрировать визит",
        "Ожидаются",
        "Сейчас на территории",
        "Завершены сегодня",
        "Посетитель",
        "Принимающий сотрудник",
        "Отметить приход",
        "Отметить уход",
        "Отменить визит",
        "Подтвердить время",
        "приход в 11:10",
        "Выйти",
        # Every status, as its badge.
        "Ожидает подтверждения",
        "Ожидается",
        "На территории",
        "Ушёл",
        "Отменён",
        "Не явился",
    ):
        assert text in body, text
    for english in ("Check in", "Check out", "Inside now", "Expected", "Register a visit"):
        assert english not in body, english


@russian
def test_visit_page_history_uses_event_words_not_status_words(client, reception, today):
    from propusk.audit.services import record

    visit = today.rows[VisitStatus.CHECKED_IN]
    record(
        actor=reception,
        action="visit.checked_in",
        target=visit,
        changes={"status": [VisitStatus.AWAITING, VisitStatus.CHECKED_IN]},
    )
    client.force_login(reception)

    body = _text(client.get(reverse("visits:detail", args=[visit.pk])))

    assert "История" in body
    assert "Отмечен приход" in body  # the event
    assert "Статус:" in body
    assert "Ожидается → На территории" in body  # the statuses


@russian
def test_registration_page_labels_are_russian(client, reception, guest_policy):
    client.force_login(reception)

    body = _text(client.get(reverse("visits:register")))

    for text in (
        "Зарегистрировать визит",
        "Когда",
        "Сейчас: посетитель уже здесь",
        "Тип визита",
        "Гостевой визит",
        "Визит студента или абитуриента",
        "Длительность",
        "1 час",
        "Принимающий сотрудник",
        "Режим доступа",
        "Однократный проход",
        "Фамилия",
        "Имя",
        "Отчество",
        "Телефон",
        "Электронная почта",
        "ИИН",
        "Фото лица",
        "Согласие на сбор и обработку персональных данных",
        # Staff fill the form in for the visitor: the consent is worded for them.
        "Посетитель ознакомился с текстом выше и согласен на обработку своих персональных",
        "бюро пропусков",
        "Зарегистрировать",
    ):
        assert text in body, text
    for english in ("Family name", "Kind of visit", "Photo of your face", "I agree"):
        assert english not in body, english


@russian
def test_registration_errors_are_russian(client, reception, guest_policy, time_machine):
    time_machine.move_to(NOON, tick=False)
    client.force_login(reception)

    response = client.post(
        reverse("visits:register"),
        {
            "submission_token": str(uuid.uuid4()),
            "mode": "later",
            "kind": "guest",
            "planned_start": "2030-03-12T14:00",
            "planned_end": "2030-04-30T16:00",
            "host": str(reception.pk),
            "visitor-family_name": "Нурланова",
            "visitor-phone": "12345",
            "visitor-national_id": "123456789012",
        },
    )

    body = _text(response)
    assert response.status_code == 400
    assert "Введите номер телефона из 10–15 цифр" in body  # ours
    assert "ИИН указан с ошибкой: проверьте цифры." in body
    assert "Обязательное поле." in body  # Django's own catalogue
    assert "Визит может длиться не более 336 часов." in body  # a plural form
    assert "Без согласия посетителя пропуск выдать нельзя." in body
    assert "Enter a phone number" not in body


@russian
def test_public_invitation_page_is_russian_without_login(client, host, guest_policy):
    from propusk.invitations.models import InvitationKind
    from propusk.invitations.services import create_invitation

    invitation = create_invitation(
        host=host,
        actor=host,
        kind=InvitationKind.SINGLE,
        access_policy=guest_policy,
        purpose="Семинар",
        department=None,
    )

    body = _text(client.get(reverse("invitations:public", args=[invitation.token])))

    assert "Регистрация на визит" in body
    assert "Вас приглашает" in body
    assert "время подтвердит пригласивший вас сотрудник" in body
    assert "Согласие на сбор и обработку персональных данных" in body
    assert "Отправить" in body


@russian
def test_forbidden_page_is_russian(client, no_role_user):
    client.force_login(no_role_user)

    response = client.get(reverse("visits:list"))

    assert response.status_code == 403
    body = _text(response)
    assert "Доступ запрещён" in body
    assert "У вашей учётной записи нет роли, которой доступна эта страница." in body


# --- Messages in code ---------------------------------------------------------------------


def test_status_names_are_russian():
    expected = {
        VisitStatus.PENDING: "Ожидает подтверждения",
        VisitStatus.AWAITING: "Ожидается",
        VisitStatus.CHECKED_IN: "На территории",
        VisitStatus.CHECKED_OUT: "Ушёл",
        VisitStatus.CANCELLED: "Отменён",
        VisitStatus.NO_SHOW: "Не явился",
    }
    with translation.override("ru"):
        assert {status: str(status.label) for status in VisitStatus} == expected
        assert str(ACTION_LABELS["visit.checked_in"]) == "Отмечен приход"
        assert pgettext("people expected today", "Expected") == "Ожидаются"
        assert str(VisitKind.GUEST.label) == "Гостевой визит"
    with translation.override("en"):
        assert str(VisitStatus.CHECKED_IN.label) == "Checked in"


@pytest.mark.parametrize(
    ("count", "expected"),
    [
        (1, "Отозвана 1 ссылка."),
        (2, "Отозваны 2 ссылки."),
        (5, "Отозвано 5 ссылок."),
        (11, "Отозвано 11 ссылок."),
        (21, "Отозвана 21 ссылка."),
        (22, "Отозваны 22 ссылки."),
        (112, "Отозвано 112 ссылок."),
    ],
)
def test_russian_plural_forms(count, expected):
    with translation.override("ru"):
        text = ngettext("%(count)d link withdrawn.", "%(count)d links withdrawn.", count)
        assert text % {"count": count} == expected


def test_app_names_are_translated():
    from django.apps import apps

    with translation.override("ru"):
        names = {config.label: str(config.verbose_name) for config in apps.get_app_configs()}
    assert names["visits"] == "Визиты"
    assert names["visitors"] == "Посетители"
    assert names["invitations"] == "Приглашения"
    assert names["access"] == "Уровни доступа"
    assert names["audit"] == "Журнал действий"


# --- The catalogue ------------------------------------------------------------------------


@dataclass
class Entry:
    msgid: str
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    obsolete: bool = False

    @property
    def label(self) -> str:
        return f"{self.msgctxt}|{self.msgid}" if self.msgctxt else self.msgid


_KEYWORD = re.compile(r"^(msgctxt|msgid_plural|msgid|msgstr(?:\[(\d+)\])?)\s+(\".*\")\s*$")


def parse_po(text: str) -> list[Entry]:
    """A small PO reader (enough for what makemessages writes): entries, flags, plurals."""
    entries: list[Entry] = []
    for block in re.split(r"\n\s*\n", text.strip()):
        entry = Entry(msgid="")
        current: tuple[str, int] | None = None
        values: dict[str, str] = {}
        for raw in block.splitlines():
            line = raw.strip()
            if line.startswith("#~"):
                entry.obsolete = True
                continue
            if line.startswith("#,"):
                entry.flags.update(flag.strip() for flag in line[2:].split(","))
                continue
            if line.startswith("#") or not line:
                continue
            match = _KEYWORD.match(line)
            if match:
                keyword, index, literal = match.groups()
                if keyword.startswith("msgstr"):
                    current = ("msgstr", int(index or 0))
                    entry.msgstr[current[1]] = ast.literal_eval(literal)
                else:
                    current = (keyword, 0)
                    values[keyword] = ast.literal_eval(literal)
            elif line.startswith('"') and current is not None:
                if current[0] == "msgstr":
                    entry.msgstr[current[1]] += ast.literal_eval(line)
                else:
                    values[current[0]] += ast.literal_eval(line)
            else:
                raise AssertionError(f"unexpected line in the catalogue: {raw!r}")
        entry.msgid = values.get("msgid", "")
        entry.msgctxt = values.get("msgctxt")
        entry.msgid_plural = values.get("msgid_plural")
        entries.append(entry)
    return entries


@pytest.fixture(scope="module")
def ru_entries() -> list[Entry]:
    return parse_po(RU_PO.read_text(encoding="utf-8"))


def _header(entries: list[Entry]) -> dict[str, str]:
    header = next(e for e in entries if e.msgid == "" and e.msgctxt is None)
    assert "fuzzy" not in header.flags, "the header is marked fuzzy"
    lines = [line for line in header.msgstr[0].splitlines() if line]
    return dict(line.split(": ", 1) for line in lines)


def _messages(entries: list[Entry]) -> list[Entry]:
    return [e for e in entries if e.msgid or e.msgctxt is not None]


def test_ru_catalogue_header(ru_entries):
    header = _header(ru_entries)
    assert header["Language"] == "ru"
    assert header["Content-Type"] == "text/plain; charset=UTF-8"
    assert header["Plural-Forms"] == RU_PLURAL_FORMS


def test_ru_catalogue_has_every_message_translated(ru_entries):
    messages = _messages(ru_entries)
    assert len(messages) > 300  # the whole interface, not a stub
    assert not [e.label for e in messages if e.obsolete], "obsolete entries: run make messages"
    assert not [e.label for e in messages if "fuzzy" in e.flags], "fuzzy entries left"
    untranslated = [
        e.label
        for e in messages
        if not e.msgstr or any(not text.strip() for text in e.msgstr.values())
    ]
    assert not untranslated, f"untranslated: {untranslated}"
    wrong_plurals = [
        e.label for e in messages if e.msgid_plural is not None and sorted(e.msgstr) != [0, 1, 2]
    ]
    assert not wrong_plurals, f"Russian needs three plural forms: {wrong_plurals}"


_PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|%[sd]|\{\{\s*\w+\s*\}\}")


def _placeholders(text: str) -> list[str]:
    return [match.group(0) for match in _PLACEHOLDER.finditer(text)]


def test_ru_catalogue_keeps_the_placeholders(ru_entries):
    broken = []
    for entry in _messages(ru_entries):
        wanted = sorted(_placeholders(entry.msgid))
        if entry.msgid_plural is not None:
            wanted = sorted(set(wanted) | set(_placeholders(entry.msgid_plural)))
        for text in entry.msgstr.values():
            found = _placeholders(text)
            if entry.msgid_plural is not None:
                if sorted(set(found)) != wanted:
                    broken.append(entry.label)
            elif sorted(found) != wanted:
                broken.append(entry.label)
    assert not broken, f"placeholders differ from the English: {broken}"


def test_compiled_catalogue_matches_the_po(ru_entries):
    """The .mo is committed (users need no gettext): it must say what the .po says."""
    with RU_MO.open("rb") as handle:
        catalog = gnu_gettext.GNUTranslations(handle)._catalog  # type: ignore[attr-defined]
    mismatched = []
    messages = _messages(ru_entries)
    for entry in messages:
        key = f"{entry.msgctxt}\x04{entry.msgid}" if entry.msgctxt is not None else entry.msgid
        if entry.msgid_plural is None:
            if catalog.get(key) != entry.msgstr[0]:
                mismatched.append(entry.label)
        elif [catalog.get((key, n)) for n in sorted(entry.msgstr)] != [
            entry.msgstr[n] for n in sorted(entry.msgstr)
        ]:
            mismatched.append(entry.label)
    assert not mismatched, f"the .mo is stale, run make messages: {mismatched}"
    assert len([key for key in catalog if key != ""]) == sum(
        len(e.msgstr) if e.msgid_plural is not None else 1 for e in messages
    ), "the .mo has messages the .po does not"


_GETTEXT_TOOLS = ("xgettext", "msgmerge", "msguniq", "msgattrib")


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in _GETTEXT_TOOLS), reason="needs GNU gettext"
)
def test_catalogue_is_up_to_date_with_the_source(tmp_path):
    """`make messages` on the current source changes nothing: every string in the code and
    templates is in the catalogue (and so, by the test above, translated)."""
    copy = tmp_path / "propusk"
    shutil.copytree(PROPUSK_DIR, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    environment = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "django",
            "makemessages",
            "-l",
            "ru",
            "--no-obsolete",
            "--no-location",
        ],
        cwd=copy,
        env=environment,
        check=True,
        capture_output=True,
        timeout=120,
    )
    regenerated = (copy / "locale" / "ru" / "LC_MESSAGES" / "django.po").read_text("utf-8")
    committed = RU_PO.read_text(encoding="utf-8")
    if regenerated != committed:
        new = {e.label for e in _messages(parse_po(regenerated))}
        old = {e.label for e in _messages(parse_po(committed))}
        pytest.fail(
            "The catalogue is out of date: run `make messages` and translate. "
            f"New strings: {sorted(new - old)}; gone: {sorted(old - new)}"
        )


def test_english_source_needs_no_translation():
    with translation.override("en"):
        assert gettext("Sign in") == "Sign in"
    with translation.override("ru"):
        assert gettext("Sign in") == "Войти"
