"""Camera pictures are kept PROPUSK_PASSAGE_PICTURE_RETENTION_DAYS after the passage, then
deleted by beat (passages.tasks.delete_expired_pictures): the file and the reference, for
passages and the incidents raised from them; the passages and incidents stay."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from django.utils import timezone

from hikcentral import GRANTED_BY_FACE
from propusk.audit.models import AuditEntry
from propusk.events.models import Direction, EventSource, EventState, HcpEvent
from propusk.passages import services
from propusk.passages.models import DenialReason, Incident, Passage, PictureState
from propusk.passages.tasks import delete_expired_pictures
from tests.faces import portrait_jpeg

pytestmark = pytest.mark.django_db

FACE_NOT_RECOGNISED = 197160


def _passage(event_id: str, at: datetime, *, granted: bool = True, picture: bool = True) -> Passage:
    event = HcpEvent.objects.create(
        event_id=event_id,
        event_type=GRANTED_BY_FACE if granted else FACE_NOT_RECOGNISED,
        happened_at=at,
        door_index_code="1",
        door_name="Главный вход, турникет 1",
        direction=Direction.IN,
        pic_uri="/pic?id=" + event_id,
        source=EventSource.PUSH,
        received_at=at,
        state=EventState.DONE,
    )
    passage = Passage.objects.create(
        event=event,
        happened_at=at,
        door_index_code="1",
        door_name=event.door_name,
        direction=Direction.IN,
        granted=granted,
        denial_reason="" if granted else DenialReason.NOT_RECOGNISED,
        picture_state=PictureState.PENDING,
    )
    if picture:
        assert services.store_picture(passage.pk, portrait_jpeg()).state == PictureState.STORED
        passage.refresh_from_db()
    return passage


@pytest.fixture
def retention(settings: Any) -> Any:
    settings.PROPUSK_PASSAGE_PICTURE_RETENTION_DAYS = 30
    return settings


def test_pictures_past_the_retention_are_deleted_files_and_references(retention: Any) -> None:
    now = timezone.now()
    old = _passage("old", now - timedelta(days=31))
    stuck = _passage("stuck-old", now - timedelta(days=31), granted=False)
    services.unrecognised_face_incident(stuck)  # an incident shows this passage's picture
    recent = _passage("recent", now - timedelta(days=29))
    never_fetched = _passage("never-fetched", now - timedelta(days=40), picture=False)
    files = {p.pk: Path(p.picture.path) for p in (old, stuck, recent)}
    assert all(path.exists() for path in files.values())

    assert delete_expired_pictures.run() == 2

    for passage in (old, stuck):
        passage.refresh_from_db()
        assert (passage.picture.name, passage.picture_state) == ("", PictureState.DELETED)
        assert not passage.has_picture
        assert not files[passage.pk].exists()
    incident = Incident.objects.get(passage=stuck)  # the incident stays, without the picture
    assert not incident.passage.has_picture
    recent.refresh_from_db()
    assert recent.picture_state == PictureState.STORED
    assert files[recent.pk].exists()
    never_fetched.refresh_from_db()  # a fetch still pending is not made any more
    assert never_fetched.picture_state == PictureState.DELETED
    assert Passage.objects.count() == 4  # the passages stay
    entry = AuditEntry.objects.get(action="passage.pictures_expired")
    assert entry.changes["count"] == 2

    # Idempotent: nothing more to do, nothing audited again.
    assert delete_expired_pictures.run() == 0
    assert AuditEntry.objects.filter(action="passage.pictures_expired").count() == 1


def test_the_retention_is_configurable(retention: Any) -> None:
    now = timezone.now()
    passage = _passage("week-old", now - timedelta(days=8))
    assert delete_expired_pictures.run() == 0
    retention.PROPUSK_PASSAGE_PICTURE_RETENTION_DAYS = 7
    assert delete_expired_pictures.run() == 1
    passage.refresh_from_db()
    assert passage.picture_state == PictureState.DELETED


def test_a_file_already_gone_counts_and_one_that_cannot_go_keeps_its_reference(
    retention: Any,
) -> None:
    now = timezone.now()
    gone = _passage("gone", now - timedelta(days=31))
    stuck = _passage("undeletable", now - timedelta(days=31))
    Path(gone.picture.path).unlink()
    real_delete = services.passage_picture_storage().__class__.delete

    def delete(storage: Any, name: str) -> None:
        if name == stuck.picture.name:
            raise PermissionError("read-only file system")
        real_delete(storage, name)

    with mock.patch.object(services.passage_picture_storage().__class__, "delete", delete):
        assert delete_expired_pictures.run() == 1

    gone.refresh_from_db()
    stuck.refresh_from_db()
    assert gone.picture_state == PictureState.DELETED
    assert stuck.picture_state == PictureState.STORED  # tried again next run
    assert Path(stuck.picture.path).exists()
    assert delete_expired_pictures.run() == 1
    stuck.refresh_from_db()
    assert stuck.picture_state == PictureState.DELETED


def test_the_task_is_on_beats_schedule() -> None:
    from propusk.celery import app

    tasks = {entry["task"] for entry in app.conf.beat_schedule.values()}
    assert "propusk.passages.tasks.delete_expired_pictures" in tasks
