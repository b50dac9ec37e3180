"""The face photo from the device's camera (static/propusk/camera.js) in real Chromium.

Chromium's fake media stream plays a file as the camera: here a Y4M video of a real portrait
(scikit-image's public-domain astronaut, tests/faces.py), so the photo taken passes the real
face check (turned on for these tests) and is stored cropped around the face.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from propusk.visits.models import Visit, VisitStatus
from tests import faces
from tests.conftest import PASSWORD
from tests.e2e.conftest import CHROMIUM_ARGS, DESKTOP, TIMEOUT_MS, _chromium_path, choose_host

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - playwright is a dev dependency
    if os.environ.get("PROPUSK_REQUIRE_BROWSER") == "1":
        raise
    pytest.skip("The playwright package is not installed", allow_module_level=True)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def write_y4m(image: Image.Image, path: Path, frames: int = 2) -> None:
    """A still picture as a YUV4MPEG2 (4:2:0) video, the format Chromium's fake camera plays."""
    width, height = image.size
    ycbcr = np.asarray(image.convert("YCbCr"))
    luma = ycbcr[:, :, 0]
    # 4:2:0: each chroma sample is the mean of a 2 x 2 block.
    chroma = [
        ycbcr[:, :, c].reshape(height // 2, 2, width // 2, 2).mean(axis=(1, 3)).astype(np.uint8)
        for c in (1, 2)
    ]
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F5:1 Ip A1:1 C420jpeg\n".encode("ascii"))
        for _ in range(frames):
            out.write(b"FRAME\n")
            out.write(luma.tobytes())
            for plane in chroma:
                out.write(plane.tobytes())


@pytest.fixture
def camera_browser(browser: Any, tmp_path: Path) -> Iterator[Any]:
    """A second Chromium whose camera shows the portrait; permission granted without asking."""
    video = tmp_path / "portrait.y4m"
    write_y4m(faces.astronaut().resize((640, 640)), video)
    camera = browser.browser_type.launch(
        executable_path=_chromium_path(),
        args=[
            *CHROMIUM_ARGS,
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
        ],
    )
    try:
        yield camera
    finally:
        camera.close()


@pytest.fixture
def face_check_on(settings: Any) -> None:
    settings.FACE_CHECK = True


def sign_in(page: Any, user: Any) -> None:
    page.goto("/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("form:has(#id_password) button[type=submit]")
    page.wait_for_url(lambda url: "/login/" not in url)


def test_reception_registers_a_visitor_with_a_photo_from_the_camera(
    camera_browser, live_server, face_check_on, reception, host, guest_policy
):
    context = camera_browser.new_context(base_url=live_server.url, locale="en-US", viewport=DESKTOP)
    context.set_default_timeout(TIMEOUT_MS)
    try:
        page = context.new_page()
        sign_in(page, reception)
        page.goto("/visits/register/")
        choose_host(page, "Alice Testova")
        page.check("input[name=mode][value=now]")  # a walk-in at the desk
        page.fill("[name$=family_name]", "Сейткали")
        page.fill("[name$=given_name]", "Ерлан")
        page.fill("[name$=phone]", "+7 701 234 56 78")

        page.get_by_role("button", name="Take a photo with the camera").click()
        video = page.locator(".camera-video")
        expect(video).to_be_visible()
        page.wait_for_function(
            "(v) => v.videoWidth > 0 && v.readyState >= 2", arg=video.element_handle()
        )
        page.get_by_role("button", name="Take the photo").click()
        expect(page.locator(".camera-status")).to_contain_text("Photo taken")
        expect(page.get_by_role("button", name="Retake")).to_be_visible()
        expect(video).to_be_hidden()
        # The picture is in the file input, as if chosen by hand, with its preview.
        assert page.evaluate("document.querySelector('[name$=photo]').files.length") == 1
        expect(page.locator("img.photo-preview")).to_be_visible()

        page.check("input[type=checkbox][name$=consent]")
        page.get_by_role("button", name="Register", exact=True).click()
        expect(page.locator(".msg-success")).to_contain_text("Сейткали Ерлан")

        visit = Visit.objects.select_related("visitor").get()
        assert visit.status in (VisitStatus.AWAITING, VisitStatus.CHECKED_IN)
        with visit.visitor.photo.open("rb") as stored:
            photo = Image.open(io.BytesIO(stored.read()))
            photo.load()
        # Passed the face check and was cropped around the face (3:4), not the 640 x 640 frame.
        assert photo.format == "JPEG"
        assert photo.height / photo.width == pytest.approx(4 / 3, abs=0.02)
    finally:
        context.close()


def test_without_a_camera_only_the_file_input_is_offered(login, host):
    # The suite's own Chromium has no camera device: no camera button, the file input stays.
    page = login(host)
    page.goto("/visits/register/")
    expect(page.locator("input[type=file][name$=photo]")).to_be_visible()
    kinds = page.evaluate(
        "() => navigator.mediaDevices.enumerateDevices().then((d) => d.map((x) => x.kind))"
    )
    assert "videoinput" not in kinds  # (the other tests show the button where there is one)
    expect(page.get_by_role("button", name="Take a photo with the camera")).to_be_hidden()


def test_a_refused_camera_falls_back_to_the_file_input(browser, live_server, host, tmp_path):
    # A camera is there, but the browser refuses it (no prompt to accept it).
    refusing = browser.browser_type.launch(
        executable_path=_chromium_path(),
        args=[*CHROMIUM_ARGS, "--use-fake-device-for-media-stream", "--deny-permission-prompts"],
    )
    try:
        context = refusing.new_context(base_url=live_server.url, locale="en-US", viewport=DESKTOP)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        sign_in(page, host)
        page.goto("/visits/register/")
        page.get_by_role("button", name="Take a photo with the camera").click()
        expect(page.locator(".camera-status")).to_contain_text("choose a photo file instead")
        expect(page.locator(".camera-video")).to_be_hidden()
        expect(page.locator("input[type=file][name$=photo]")).to_be_visible()
    finally:
        refusing.close()
