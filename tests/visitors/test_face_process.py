"""The face detector runs in a process of its own: the web process never loads OpenCV, and a
detector that dies or hangs is replaced, or the photo is refused with a clear message."""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from datetime import datetime
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from propusk.visitors import face_detector, face_process, faces
from propusk.visitors.face_process import FaceDetector, FaceDetectorUnavailable
from propusk.visitors.models import Visitor
from propusk.visitors.photos import PhotoRejected, normalize_face_photo
from tests import faces as test_faces
from tests.factories import make_iin

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _face_check_on(settings):
    settings.FACE_CHECK = True


def test_the_web_process_never_loads_opencv(tmp_path):
    photo = tmp_path / "portrait.jpg"  # made here: the tests' portraits come through NumPy
    photo.write_bytes(test_faces.large_portrait_jpeg())
    # A fresh interpreter, as a web process: Django set up, a real portrait checked and cropped.
    script = textwrap.dedent(
        """
        import json, sys
        import django
        django.setup()
        from django.conf import settings
        settings.FACE_CHECK = True
        from propusk.visitors.face_process import detector
        from propusk.visitors.photos import normalize_face_photo
        from PIL import Image
        import io
        with open(sys.argv[1], "rb") as photo:
            result = Image.open(io.BytesIO(normalize_face_photo(photo.read())))
        print(json.dumps({
            "size": result.size,
            "cv2": "cv2" in sys.modules,
            "numpy": "numpy" in sys.modules,
            "detector": detector.pid is not None,
        }))
        """
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "PYTHONPATH": "src:."}
    done = subprocess.run(
        [sys.executable, "-c", script, str(photo)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    seen = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert seen["detector"] is True  # the check ran, in the detector process
    assert seen["cv2"] is False
    assert seen["numpy"] is False
    width, height = seen["size"]
    assert height / width == pytest.approx(4 / 3, abs=0.02)  # cropped around the face


def test_a_detector_that_died_is_replaced():
    normalize_face_photo(test_faces.portrait_jpeg())
    first = faces.detector.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)

    normalize_face_photo(test_faces.portrait_jpeg())  # accepted, by a new detector

    assert faces.detector.pid not in (None, first)


def test_a_detector_that_hangs_is_replaced(monkeypatch):
    normalize_face_photo(test_faces.portrait_jpeg())
    stuck = faces.detector.pid
    assert stuck is not None
    monkeypatch.setattr(face_process, "TIMEOUT_SECONDS", 1.0)
    os.kill(stuck, signal.SIGSTOP)
    try:
        normalize_face_photo(test_faces.portrait_jpeg())  # answered by a new detector
    finally:
        with contextlib.suppress(ProcessLookupError):  # killed by the replacement, as it should
            os.kill(stuck, signal.SIGKILL)
    assert faces.detector.pid not in (None, stuck)


def _silent_detector(monkeypatch) -> FaceDetector:
    # Greets, then never answers: every request times out, on the second process too.
    silent = FaceDetector(
        command=[
            sys.executable,
            "-c",
            "import sys, time; print('{\"ready\": true}', flush=True); time.sleep(600)",
        ]
    )
    monkeypatch.setattr(face_process, "TIMEOUT_SECONDS", 0.5)
    monkeypatch.setattr(faces, "detector", silent)
    return silent


def test_no_detector_refuses_the_photo_with_a_clear_message(monkeypatch):
    silent = _silent_detector(monkeypatch)
    try:
        with pytest.raises(PhotoRejected) as caught:
            normalize_face_photo(test_faces.portrait_jpeg())
    finally:
        silent.close()
    assert caught.value.code == "face_check_unavailable"
    assert caught.value.messages[0].startswith("The photo could not be checked just now")


def test_detector_requests_fail_rather_than_answer_when_it_cannot(monkeypatch):
    silent = _silent_detector(monkeypatch)
    try:
        with pytest.raises(FaceDetectorUnavailable, match="no answer within"):
            silent.sharpness(bytes(128 * 128), 128, 128)
    finally:
        silent.close()
    assert silent.pid is None


@pytest.fixture
def desk(client, reception, host, guest_policy, time_machine):
    time_machine.move_to(datetime.fromisoformat("2030-03-12T10:00+06:00"), tick=False)
    client.force_login(reception)
    return client


def _stored_files() -> set[Path]:
    root = Path(django_settings.MEDIA_ROOT)
    return {path for path in root.rglob("*") if path.is_file()} if root.exists() else set()


@pytest.mark.django_db
def test_the_desk_page_says_so_and_stores_nothing_without_a_detector(desk, host, monkeypatch):
    silent = _silent_detector(monkeypatch)
    before = _stored_files()
    data = {
        "submission_token": str(uuid.uuid4()),
        "mode": "later",
        "kind": "guest",
        "duration": "60",
        "host": str(host.pk),
        "planned_start": "2030-03-12T14:00",
        "planned_end": "2030-03-12T16:00",
        "purpose": "Seminar",
        "visitor-family_name": "Сейтқали",
        "visitor-given_name": "Айгерим",
        "visitor-national_id": make_iin(),
        "visitor-consent": "on",
        "visitor-photo": SimpleUploadedFile(
            "face.jpg", test_faces.portrait_jpeg(), content_type="image/jpeg"
        ),
    }
    try:
        response = desk.post(reverse("visits:register"), data)
    finally:
        silent.close()
    assert response.status_code == 400
    body = response.content.decode()
    assert "The photo could not be checked just now" in body
    assert "Сейтқали" in body  # what was typed stays
    assert not Visitor.objects.exists()
    assert _stored_files() == before


def test_the_detector_refuses_a_request_it_cannot_read():
    detector = face_detector.Detector()
    with pytest.raises(ValueError, match="bad request header"):
        face_detector.handle(detector, {"op": "detect", "width": 0, "height": 5}, io.BytesIO())
    with pytest.raises(ValueError, match="bad request header"):
        face_detector.handle(detector, {"op": "erase", "width": 5, "height": 5}, io.BytesIO())
    # Input that ends in the middle of the pixels: no answer, the detector stops.
    header = {"op": "sharpness", "width": 4, "height": 4}
    assert face_detector.handle(detector, header, io.BytesIO(bytes(10))) is None
    # A flat grey square has no edges.
    answer = face_detector.handle(detector, header, io.BytesIO(bytes([90] * 16)))
    assert answer == {"sharpness": 0.0}
