"""Doors' devices: desired vs applied state, reapplication, and the turnstile's decision.

HCP keeps persons and access-level memberships centrally; a device only learns about a change
when the change is applied (reapplication), asynchronously. Here, for each (person, door) pair:

- desired: what the device should hold now, derived from the person record and the access
  levels that contain the door (None when the person has no access there);
- applied: what the device holds (`SiteState.applied`), the only input of a passage decision.

A pair is waiting while desired != applied. `reapplication` schedules a job that, after the
configured delay (simulator time), copies desired into applied for the selected pairs, except
on offline doors, where it records a failure instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from hcp_simulator.state import (
    ApplicationFailure,
    DeviceRecord,
    PendingApplication,
    Person,
    SiteState,
)

Pair = tuple[str, str]  # (personId, doorIndexCode)


def device_record(person: Person, level_ids: Iterable[str]) -> DeviceRecord:
    return DeviceRecord(
        person_code=person.person_code,
        person_name=person.person_name,
        face_digest=person.face.digest if person.face else None,
        begin_time=person.begin_time,
        end_time=person.end_time,
        level_ids=tuple(sorted(level_ids)),
    )


def desired_records(
    state: SiteState, person_ids: Iterable[str] | None = None
) -> dict[Pair, DeviceRecord]:
    """What every device should hold, for all persons or the given ones."""
    wanted = set(person_ids) if person_ids is not None else None
    grants: dict[Pair, list[str]] = defaultdict(list)
    for level in state.levels.values():
        for person_id in level.members:
            if wanted is not None and person_id not in wanted:
                continue
            for door in level.door_codes:
                if door in state.doors:
                    grants[(person_id, door)].append(level.level_id)
    return {
        pair: device_record(state.persons[pair[0]], level_ids)
        for pair, level_ids in grants.items()
        if pair[0] in state.persons
    }


def applied_record(state: SiteState, pair: Pair) -> DeviceRecord | None:
    return state.applied.get(pair[1], {}).get(pair[0])


def waiting_pairs(
    state: SiteState, person_ids: Iterable[str] | None = None
) -> dict[Pair, DeviceRecord | None]:
    """Pairs whose device lags behind, of all persons or the given ones; value is the desired
    record (None = remove)."""
    wanted = set(person_ids) if person_ids is not None else None
    desired = desired_records(state, wanted)
    pairs: dict[Pair, DeviceRecord | None] = {}
    for pair, record in desired.items():
        if applied_record(state, pair) != record:
            pairs[pair] = record
    for door, records in state.applied.items():
        for person_id in records if wanted is None else wanted & records.keys():
            if (person_id, door) not in desired:
                pairs[(person_id, door)] = None
    return pairs


def _selected(job: PendingApplication, pair: Pair, state: SiteState) -> bool:
    person_id, door = pair
    if job.person_ids is not None and person_id not in job.person_ids:
        return False
    if job.door_codes is not None and door not in job.door_codes:
        return False
    return not (job.skip_failed and pair in state.failures)


def schedule_application(
    state: SiteState,
    *,
    now: datetime,
    delay_seconds: float,
    person_ids: list[str] | None,
    door_codes: list[str] | None,
    skip_failed: bool,
) -> PendingApplication:
    job = PendingApplication(
        due=now + timedelta(seconds=delay_seconds),
        person_ids=tuple(person_ids) if person_ids is not None else None,
        door_codes=tuple(door_codes) if door_codes is not None else None,
        skip_failed=skip_failed,
    )
    state.pending.append(job)
    return job


def run_due_applications(state: SiteState, *, now: datetime, offline_doors: set[str]) -> bool:
    """Complete every job whose delay has elapsed; True if anything ran."""
    if not state.pending or min(job.due for job in state.pending) > now:
        return False
    due = sorted((job for job in state.pending if job.due <= now), key=lambda job: job.due)
    state.pending = [job for job in state.pending if job.due > now]
    for job in due:
        _apply(state, job, now=now, offline_doors=offline_doors)
    return True


def _apply(
    state: SiteState, job: PendingApplication, *, now: datetime, offline_doors: set[str]
) -> None:
    # A job for some persons looks at theirs only (a burst's jobs each name a few of
    # thousands); what it applies is the same.
    for pair, record in waiting_pairs(state, job.person_ids).items():
        if not _selected(job, pair, state):
            continue
        person_id, door = pair
        if door in offline_doors:
            state.failures[pair] = ApplicationFailure(now, "device offline")
            continue
        state.failures.pop(pair, None)
        if record is None:
            state.applied.get(door, {}).pop(person_id, None)
            state.dropped.add(pair)
        else:
            state.applied.setdefault(door, {})[person_id] = record
            state.dropped.discard(pair)


@dataclass(frozen=True)
class PairStatus:
    """A pair's application status: applied, waiting, applying or failed."""

    desired: DeviceRecord | None
    applied: DeviceRecord | None
    status: str


def pair_statuses(state: SiteState) -> dict[Pair, PairStatus]:
    """Status of every pair that is desired or applied somewhere."""
    waiting = waiting_pairs(state)
    result: dict[Pair, PairStatus] = {}
    for pair, record in desired_records(state).items():
        result[pair] = PairStatus(record, applied_record(state, pair), "applied")
    for door, records in state.applied.items():
        for person_id, record in records.items():
            result.setdefault((person_id, door), PairStatus(None, record, "applied"))
    for pair in waiting:
        current = result[pair]
        if pair in state.failures:
            status = "failed"
        elif any(_selected(job, pair, state) for job in state.pending):
            status = "applying"
        else:
            status = "waiting"
        result[pair] = PairStatus(current.desired, current.applied, status)
    return result


def person_pair_statuses(state: SiteState, person_id: str) -> dict[str, str]:
    """One person's status per door (applied, waiting, applying or failed), as
    `pair_statuses` says it, plus the doors whose device dropped the person (applied)."""
    desired = desired_records(state, [person_id])
    doors = {door for _, door in desired}
    doors |= {door for door, records in state.applied.items() if person_id in records}
    result: dict[str, str] = {}
    for door in doors:
        pair = (person_id, door)
        if desired.get(pair) == applied_record(state, pair):
            result[door] = "applied"
        elif pair in state.failures:
            result[door] = "failed"
        elif any(_selected(job, pair, state) for job in state.pending):
            result[door] = "applying"
        else:
            result[door] = "waiting"
    for dropped_id, door in state.dropped:
        if dropped_id == person_id:
            result.setdefault(door, "applied")
    return result


def failed_pairs(state: SiteState) -> list[tuple[Pair, ApplicationFailure]]:
    """Failures still relevant (the pair still waits), oldest first."""
    waiting = waiting_pairs(state)
    failures = [(pair, f) for pair, f in state.failures.items() if pair in waiting]
    return sorted(failures, key=lambda item: item[1].time)


@dataclass(frozen=True)
class PassageDecision:
    granted: bool
    reason: str
    # The person the device recognised, from its own copy (None: not recognised).
    person_id: str | None = None
    record: DeviceRecord | None = None


def decide_passage(
    state: SiteState, *, door: str, person_id: str | None, face_digest: str | None, now: datetime
) -> PassageDecision:
    """The turnstile's decision, on the door's applied state only.

    The device must recognise the face: it needs the person in its memory with a face.
    Unrecognised attempts produce events with no person; a recognised person outside the
    validity window is denied with the person identified."""
    records = state.applied.get(door, {})
    if face_digest is not None:
        matches = [pid for pid, rec in records.items() if rec.face_digest == face_digest]
        if not matches:
            return PassageDecision(False, "face_not_matched")
        person_id = matches[0]
    if person_id is None:  # a personCode nobody has, here or on any device
        return PassageDecision(False, "unknown_person")
    record = records.get(person_id)
    if record is None:
        return PassageDecision(False, _why_not_on_device(state, person_id, door))
    if not record.has_face:
        return PassageDecision(False, "no_face")
    if not record.begin_time <= now <= record.end_time:
        return PassageDecision(False, "outside_validity", person_id, record)
    return PassageDecision(True, "granted", person_id, record)


def _why_not_on_device(state: SiteState, person_id: str, door: str) -> str:
    """Explain (from the desired state) why a device does not know a person."""
    if person_id not in state.persons:
        return "unknown_person"
    if (person_id, door) in desired_records(state, [person_id]):
        return "not_applied"
    if not state.levels_of(person_id):
        return "no_access_level"
    return "door_not_in_access_level"


def find_person_on_devices(state: SiteState, person_code: str) -> str | None:
    """A personId for a personCode, also for persons deleted centrally but still applied."""
    person = state.person_by_code(person_code)
    if person is not None:
        return person.person_id
    for records in state.applied.values():
        for person_id, record in records.items():
            if record.person_code == person_code:
                return person_id
    return None
