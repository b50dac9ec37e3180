"""The face check: is this photo one person's face, large and sharp enough, looking at us?

HikCentral matches the face a turnstile camera sees against the one picture it holds for a
person. A photo of a wall, of two people or of a blurred face is accepted by HCP (or refused by
the device much later) and found out only when the visitor stands at the turnstile. So every
photo is checked here, before anything is stored or sent, with OpenCV's face detector (the Haar
cascade ``haarcascade_frontalface_alt2.xml`` that ships inside the opencv-python-headless wheel;
it finds upright, roughly frontal faces only, which is what the turnstile camera needs). OpenCV
runs in a process of its own (``face_process``, ``face_detector.py``): this module only sends it
small pictures, so the web process never holds OpenCV's memory:

- **exactly one face**: no face, or a second face at least half as large as the largest one,
  is refused. Much smaller detections (a poster, someone far behind) are ignored: the
  turnstile camera, like this check, goes by the large face in front of it;
- **large enough**: the face box at least ``FACE_MIN_SIDE_PX`` pixels wide in the photo as it
  is kept (at most ``PHOTO_MAX_SIDE_PX`` on the long side);
- **sharp enough**: the variance of the Laplacian of the face, scaled to a fixed size, at least
  ``FACE_MIN_SHARPNESS`` (a blurred or shaken face has few edges);
- **roughly frontal**: when no frontal face is found but OpenCV's profile detector finds one,
  the message asks the visitor to look into the camera.

An accepted photo is cropped around the face to a head-and-shoulders portrait (3:4, the face
about half the width), as HCP's face pictures are: the device compares faces, not rooms.
``PROPUSK_FACE_CHECK=false`` turns the check off (the photo is then only normalised).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from PIL import Image

from propusk.visitors.face_process import detector

# The detector looks at a copy at most this long on the long side: faces that pass the size
# check are still at least FACE_MIN_SIDE_PX * 480 / 1024 (about 38) pixels there, and the
# cascade runs in a fraction of the time it needs on the full photo.
_DETECT_MAX_SIDE_PX = 480
# A second face counts when it is at least this fraction of the largest face's width.
_SECOND_FACE_RATIO = 0.5
# The face is scaled to this size before its sharpness is measured, so the measure does not
# depend on how large the face is in the photo.
_SHARPNESS_SIDE_PX = 128
# The crop: this many face widths wide, 4/3 of that high, the face's centre this far down.
_CROP_FACE_WIDTHS = 2.0
_CROP_ASPECT = 4 / 3
_CROP_FACE_CENTRE_FROM_TOP = 0.42


StrOrPromise = str | Promise


class FaceRejected(Exception):
    """Raised with a message for the visitor and a code (turned into PhotoRejected)."""

    def __init__(self, message: StrOrPromise, code: str) -> None:
        super().__init__(str(code))
        self.message = message
        self.code = code


@dataclass(frozen=True)
class Face:
    """A face box in the photo's pixels."""

    left: int
    top: int
    width: int
    height: int


def _scaled(box: list[int], scale: float) -> Face:
    x, y, w, h = box
    return Face(round(x * scale), round(y * scale), round(w * scale), round(h * scale))


def find_faces(image: Image.Image) -> tuple[list[Face], list[Face]]:
    """The frontal and the profile faces in an RGB ``image``, in its pixels, largest first
    (the profile faces only when there is no frontal one)."""
    small = image.copy()
    small.thumbnail((_DETECT_MAX_SIDE_PX, _DETECT_MAX_SIDE_PX), Image.Resampling.BILINEAR)
    scale = image.width / small.width
    found = detector.detect(small.convert("RGB").tobytes(), small.width, small.height)
    frontal = [_scaled(box, scale) for box in found["faces"]]
    profile = [_scaled(box, scale) for box in found["profile"]]
    return sorted(frontal, key=lambda f: -f.width), sorted(profile, key=lambda f: -f.width)


def sharpness(image: Image.Image, face: Face) -> float:
    """The variance of the Laplacian of the face, scaled to a fixed size: edges per face."""
    box = image.crop((face.left, face.top, face.left + face.width, face.top + face.height))
    gray = box.convert("L").resize((_SHARPNESS_SIDE_PX, _SHARPNESS_SIDE_PX))
    return detector.sharpness(gray.tobytes(), gray.width, gray.height)


def check_face(image: Image.Image) -> Face:
    """The one usable face in an RGB ``image``, or FaceRejected saying what is wrong."""
    frontal, profile = find_faces(image)
    if not frontal:
        if profile:
            raise FaceRejected(
                _("The face is turned away: look straight into the camera and take it again."),
                "face_not_frontal",
            )
        raise FaceRejected(
            _(
                "We cannot find a face in this photo: take a photo of the face, looking into the "
                "camera, in good light."
            ),
            "no_face",
        )
    largest = frontal[0]
    if any(face.width >= largest.width * _SECOND_FACE_RATIO for face in frontal[1:]):
        raise FaceRejected(
            _("There is more than one face in this photo: only one person may be in the picture."),
            "several_faces",
        )
    if largest.width < settings.FACE_MIN_SIDE_PX:
        raise FaceRejected(
            _(
                "The face is too small in this photo: come closer to the camera, so that the "
                "face fills a good part of the picture."
            ),
            "face_too_small",
        )
    if sharpness(image, largest) < settings.FACE_MIN_SHARPNESS:
        raise FaceRejected(
            _(
                "The face is blurred in this photo: hold the camera still in good light and take "
                "it again."
            ),
            "face_blurred",
        )
    return largest


def crop_box(size: tuple[int, int], face: Face) -> tuple[int, int, int, int]:
    """A 3:4 head-and-shoulders box around ``face`` (at least ``PHOTO_MIN_SIDE_PX`` wide),
    moved (or shrunk) to fit the image; wider than 3:4 only where a low picture (a 16:9
    camera frame) would otherwise cut the face itself."""
    width, height = size
    # Never narrower than the smallest photo accepted at all (PHOTO_MIN_SIDE_PX).
    wanted = max(round(face.width * _CROP_FACE_WIDTHS), settings.PHOTO_MIN_SIDE_PX)
    box_width = min(width, wanted)
    box_height = min(height, round(box_width * _CROP_ASPECT))
    box_width = min(box_width, round(box_height / _CROP_ASPECT))  # keep 3:4 when height-bound
    box_width = max(box_width, min(width, face.width))  # ...but never through the face
    centre_x = face.left + face.width / 2
    centre_y = face.top + face.height / 2
    left = round(centre_x - box_width / 2)
    top = round(centre_y - box_height * _CROP_FACE_CENTRE_FROM_TOP)
    left = max(0, min(left, width - box_width))
    top = max(0, min(top, height - box_height))
    return left, top, left + box_width, top + box_height


def checked_portrait(image: Image.Image) -> Image.Image:
    """The face of an RGB ``image`` cropped as HCP wants it; FaceRejected if it has none."""
    face = check_face(image)
    return image.crop(crop_box(image.size, face))
