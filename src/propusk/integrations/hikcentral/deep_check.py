"""``hcp_check --deep``: try every HCP call whose answer no public source shows, on a
throw-away person, and print what came back - shapes and field names, never values.

The person (personCode ``PROPUSKCHK`` + 6 random characters, named "Propusk Check") is created
in our organisation (the one named ``HCP_ORG_NAME``, or ``--org``) with a validity window
that starts tomorrow, so it can never pass a turnstile, and is always removed at the end -
from its access level, from the devices (reapplication) and from HCP - also when a step fails.
Reapplication is always scoped to that person: the variants that apply everything (``{}``,
no body) are not tried on a live site.

The unverified answers and what the client does with each are listed in docs/hikcentral.md.
"""

from __future__ import annotations

import io
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Final, TypeVar

from hikcentral import (
    ApplicationFailure,
    ApplicationStats,
    HCPNotFound,
    HikCentralClient,
    HikCentralError,
    PersonInput,
    judge_application,
)
from hikcentral.client import Paths
from hikcentral.shapes import describe

PERSON_CODE_PREFIX: Final = "PROPUSKCHK"
GRANTED_BY_FACE: Final = 196893
DENIED_BY_FACE: Final = 197151
SEARCH_WINDOW: Final = timedelta(hours=1)

T = TypeVar("T")


class CheckFailed(Exception):
    """A step got an answer, but not the one it needed (e.g. the person is not listed)."""


class AnswerLog:
    """The client's response observer: every successful answer's ``data``, by path."""

    def __init__(self) -> None:
        self._answers: list[tuple[str, object]] = []

    def __call__(self, path: str, data: object) -> None:
        self._answers.append((path, data))

    def drain(self) -> list[tuple[str, object]]:
        answers, self._answers = self._answers, []
        return answers


@dataclass(frozen=True)
class DeepCheckOptions:
    org_index_code: str | None = None  # None: the organisation named org_name
    org_name: str | None = None  # None too: the root organisation
    access_level_id: str | None = None  # None: the first access level HCP lists
    face_jpeg: bytes = b""  # empty: a generated grey picture


@dataclass
class DeepCheckResult:
    person_code: str
    failed_steps: list[str] = field(default_factory=list)
    person_left_behind: bool = False


def new_person_code() -> str:
    """``PROPUSKCHK`` + 6 random upper-case hex characters: 16, HCP's maximum."""
    return PERSON_CODE_PREFIX + secrets.token_hex(3).upper()


def generated_face() -> bytes:
    """A plain 480x640 JPEG. A real HCP may refuse it as a face: then pass ``--face``."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (480, 640), (150, 150, 150))
    ImageDraw.Draw(image).ellipse((120, 140, 360, 460), fill=(205, 170, 140))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue()


class _Run:
    """Runs named steps, printing each one's outcome and the shapes of its answers."""

    def __init__(
        self, client: HikCentralClient, answers: AnswerLog, write: Callable[[str], None]
    ) -> None:
        self.client = client
        self.answers = answers
        self.write = write
        self.failed: list[str] = []
        self.passed = 0
        # The answers of the last step (already printed), for steps that look into them.
        self.last_answers: list[tuple[str, object]] = []

    def step(self, name: str, action: Callable[[], T]) -> tuple[bool, T | None]:
        self.answers.drain()
        try:
            result = action()
        except (HikCentralError, CheckFailed) as exc:
            self.write(f"  FAIL  {name}: {_explain(exc)}")
            self._write_answers()
            self.failed.append(name)
            return False, None
        self.write(f"  ok    {name}")
        self._write_answers()
        self.passed += 1
        return True, result

    def note(self, text: str) -> None:
        self.write(f"          {text}")

    def _write_answers(self) -> None:
        self.last_answers = self.answers.drain()
        lines: dict[str, int] = {}  # each answer shape once, with how often it came
        for path, data in self.last_answers:
            line = f"{path} -> {describe(data)}"
            lines[line] = lines.get(line, 0) + 1
        for line, times in lines.items():
            self.note(line if times == 1 else f"{line} (x{times})")


def _explain(exc: Exception) -> str:
    if isinstance(exc, HikCentralError):
        parts = [type(exc).__name__]
        if exc.code is not None:
            parts.append(f"code {exc.code}")
        if exc.msg:
            parts.append(repr(exc.msg))
        if exc.http_status not in (None, 200):
            parts.append(f"HTTP {exc.http_status}")
        if exc.may_have_applied:
            parts.append("(may have been applied)")
        return " ".join(parts)
    return str(exc)


def run_deep_check(
    client: HikCentralClient,
    answers: AnswerLog,
    write: Callable[[str], None],
    options: DeepCheckOptions,
) -> DeepCheckResult:
    """Run every step; the result names the failed ones. ``client`` must report to ``answers``."""
    run = _Run(client, answers, write)
    result = DeepCheckResult(person_code=new_person_code())
    code = result.person_code

    ok, org = run.step(
        "organisation", lambda: _org(client, options.org_index_code, options.org_name)
    )
    ok_level, level = run.step("access level", lambda: _level(client, options.access_level_id))
    ok_doors, doors = run.step("doors", lambda: [d.door_index_code for d in client.list_doors()])
    if not ok or org is None:
        write(f"Deep check: {len(run.failed)} failed, nothing created")
        result.failed_steps = run.failed
        return result
    write(
        f"Deep check: throw-away person {code} in organisation {org}"
        + (f", access level {level}" if level else "")
        + " (removed at the end)"
    )
    face = options.face_jpeg or generated_face()
    begin = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    person = PersonInput(
        person_code=code,
        org_index_code=org,
        family_name="Propusk",
        given_name="Check",
        begin_time=begin,
        end_time=begin + timedelta(hours=1),
        remark="propusk hcp_check --deep; safe to delete",
    )
    membership = False
    person_id: str | None = None
    try:
        ok, person_id = run.step(
            "person add, with a face", lambda: client.add_person(person, face_jpeg=face)
        )
        if not ok or person_id is None:
            return result
        pid: str = person_id
        run.step("person by personCode", lambda: client.get_person_by_code(code))
        run.step("person by personId", lambda: client.get_person_by_id(pid))
        changed = replace(person, remark="propusk hcp_check --deep (updated)")
        run.step("person update", lambda: client.update_person(pid, changed))
        run.step("face update", lambda: client.update_face(face, person_id=pid))
        run.step("person photo", lambda: _photo(client, pid))
        if ok_level and level and ok_doors and doors:
            lvl, door_codes = level, doors
            membership, _ = run.step(
                "access level addPersons",
                lambda: client.add_persons_to_access_level(lvl, [pid]),
            )
            run.step("access level members", lambda: _is_member(client, lvl, pid))
            run.step(
                'reapplication with orderId ""',
                lambda: client.reapply(person_ids=[pid], door_index_codes=door_codes),
            )
            run.step(
                "reapplication without orderId",
                lambda: client.reapply(
                    person_ids=[pid], door_index_codes=door_codes, send_order_id=False
                ),
            )
        _application_result(run, pid)
        if membership and level and doors:
            lvl, door_codes = level, doors
            removed, _ = run.step(
                "access level deletePersons",
                lambda: client.delete_persons_from_access_level(lvl, [pid]),
            )
            membership = not removed
            run.step(
                "reapplication after removal",
                lambda: client.reapply(person_ids=[pid], door_index_codes=door_codes),
            )
        _door_events(run, pid)
        run.step("event subscriptions view", client.view_subscriptions)
    finally:
        result.person_left_behind = _clean_up(
            run, code, person_id, level if membership else None, doors or []
        )
        write(f"Deep check: {run.passed} steps ok, {len(run.failed)} failed")
        result.failed_steps = run.failed
    return result


def _org(client: HikCentralClient, wanted: str | None, name: str | None) -> str:
    if wanted is None and name is not None:
        # As the access engine finds ours: a search by name, then the exact match.
        matches = [org for org in client.list_orgs(org_name=name) if org.org_name == name]
        if not matches:
            raise CheckFailed(
                f"HCP has no organisation named {name!r} (HCP_ORG_NAME): create it in HCP "
                "(Person > Organization), or pass --org"
            )
        if len(matches) > 1:
            raise CheckFailed(
                f"HCP has {len(matches)} organisations named {name!r} (HCP_ORG_NAME): rename "
                "all but ours, or pass --org"
            )
        return matches[0].org_index_code
    orgs = client.list_orgs()
    if wanted is not None:
        if wanted not in {org.org_index_code for org in orgs}:
            raise CheckFailed(f"organisation {wanted} is not among the {len(orgs)} HCP lists")
        return wanted
    roots = [org.org_index_code for org in orgs if org.is_root]
    if not roots:
        raise CheckFailed("HCP lists no root organisation: pass --org")
    return roots[0]


def _level(client: HikCentralClient, wanted: str | None) -> str:
    levels = [level.access_level_id for level in client.list_access_levels()]
    if wanted is not None:
        if wanted not in levels:
            raise CheckFailed(f"access level {wanted} is not among the {len(levels)} HCP lists")
        return wanted
    if not levels:
        raise CheckFailed("HCP lists no access level: membership calls are not tried")
    return levels[0]


def _photo(client: HikCentralClient, person_id: str) -> int:
    info = client.get_person_by_id(person_id)
    if not info.pic_uri:
        raise CheckFailed("the person has no picUri after the face update")
    return len(client.download_picture(info.pic_uri, person_id=person_id))


def _is_member(client: HikCentralClient, level_id: str, person_id: str) -> None:
    members = client.list_access_level_members(level_id)
    if person_id not in {member.person_id for member in members}:
        raise CheckFailed(f"the person is not among the level's {len(members)} members")


def _application_result(run: _Run, person_id: str) -> None:
    client = run.client
    ok_stats, stats = run.step("applicationResult type 1", client.application_stats)
    if ok_stats and isinstance(stats, ApplicationStats):
        if stats.known:
            run.note(
                f"read as {stats.shape}: waiting {stats.waiting}, applying {stats.applying},"
                f" failed {stats.failed}"
            )
        else:
            run.note("not a shape the client knows: application is judged by the failure list")
    ok_failures, failures = run.step("applicationResult type 2", client.application_failures)
    if ok_stats and ok_failures and isinstance(stats, ApplicationStats):
        listed: list[ApplicationFailure] = failures or []
        progress = judge_application(stats=stats, failures=listed, person_ids=[person_id])
        run.note(
            f"{len(listed)} failures listed, {len(progress.failures)} of the throw-away person's,"
            f" {progress.unattributed_failures} naming no person; outcome: {progress.outcome}"
        )


def _door_events(run: _Run, person_id: str) -> None:
    """The person filter, and whether the server honours the type filters (the client drops
    other types itself, so only the raw rows tell)."""
    client = run.client
    end = datetime.now(UTC)
    start = end - SEARCH_WINDOW
    run.step(
        "door/events by personId",
        lambda: sum(1 for _ in client.search_door_events(start, end, person_id=person_id)),
    )
    for name, types in (
        ("door/events by one eventType", (GRANTED_BY_FACE,)),
        ("door/events by eventTypes", (GRANTED_BY_FACE, DENIED_BY_FACE)),
    ):

        def count(types: tuple[int, ...] = types) -> int:
            return sum(1 for _ in client.search_door_events(start, end, event_types=types))

        ok, kept = run.step(name, count)
        if not ok:
            continue
        rows = list(_raw_rows(run.last_answers))
        others = sum(1 for row in rows if row.get("eventType") not in types)
        if others:
            run.note(
                f"the server ignored the type filter: {others} of {len(rows)} rows of other"
                f" types (the client dropped them; {kept} kept)"
            )
        else:
            noun = "row" if len(rows) == 1 else "rows"
            run.note(f"{len(rows)} {noun} in the last hour, all of the asked types")


def _raw_rows(answers: list[tuple[str, object]]) -> Iterator[dict[str, object]]:
    for path, data in answers:
        if path == Paths.DOOR_EVENTS and isinstance(data, dict):
            rows = data.get("list")
            if isinstance(rows, list):
                yield from (row for row in rows if isinstance(row, dict))


def _clean_up(
    run: _Run, code: str, person_id: str | None, level_id: str | None, doors: list[str]
) -> bool:
    """Remove the throw-away person; True if it may still be in HCP."""
    client = run.client
    if person_id is not None and level_id is not None:  # still a member
        run.step(
            "clean-up: access level deletePersons",
            lambda: client.delete_persons_from_access_level(level_id, [person_id]),
        )
        if doors:
            run.step(
                "clean-up: reapplication",
                lambda: client.reapply(person_ids=[person_id], door_index_codes=doors),
            )
    ok, exists = run.step("clean-up: look the person up", lambda: _exists(client, code))
    if not ok:
        return True
    if not exists:
        run.note("not in HCP: nothing to delete")
        return False
    run.step("person delete", lambda: client.delete_person(person_code=code))
    gone, _ = run.step("person is gone", lambda: _gone(client, code))
    return not gone


def _exists(client: HikCentralClient, code: str) -> bool:
    try:
        client.get_person_by_code(code)
    except HCPNotFound:
        return False
    return True


def _gone(client: HikCentralClient, code: str) -> None:
    if _exists(client, code):
        raise CheckFailed(f"{code} is still in HCP after the delete")
