from __future__ import annotations

import secrets
import stat
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.files.storage import FileSystemStorage
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


# Face photos are biometric data: kept outside MEDIA_URL and served only by a view that checks
# who is asking (see visitors/views.py).
def face_storage() -> FileSystemStorage:
    return PrivateFileSystemStorage(location=str(settings.MEDIA_ROOT / "faces"))


class PrivateFileSystemStorage(FileSystemStorage):
    """Files 0600 in directories 0700, whatever the process umask: only the site's user reads.

    The root is made 0700 before each save too, so a directory created by an older version
    (0755) stops exposing the files already in it.
    """

    def __init__(self, location: str) -> None:
        super().__init__(
            location=location,
            base_url=None,
            file_permissions_mode=0o600,
            directory_permissions_mode=0o700,
        )

    def save(self, name: str | None, content: IO[Any], max_length: int | None = None) -> str:
        root = Path(self.location)
        if root.is_dir() and stat.S_IMODE(root.stat().st_mode) != 0o700:
            root.chmod(0o700)
        return super().save(name, content, max_length=max_length)


PERSON_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_person_code() -> str:
    """A stable HCP personCode: 16 letters and digits at most; never reused."""
    return "V" + "".join(secrets.choice(PERSON_CODE_ALPHABET) for _ in range(11))


def face_upload_to(instance: Visitor, filename: str) -> str:
    return f"{instance.person_code}/{secrets.token_hex(8)}.jpg"


class Visitor(models.Model):
    """A person who comes to the site. One visitor identity = one HCP person.

    A returning visitor is found by the keyed hash of their national ID, never by name.
    """

    family_name = models.CharField(_("family name"), max_length=100)
    given_name = models.CharField(_("given name"), max_length=100)
    middle_name = models.CharField(_("middle name"), max_length=100, blank=True)
    phone = models.CharField(_("phone"), max_length=32)
    email = models.EmailField(_("email"), blank=True)
    national_id_encrypted = models.TextField(
        _("national ID (encrypted)"), blank=True, editable=False
    )
    national_id_hash = models.CharField(
        max_length=64, null=True, blank=True, unique=True, editable=False
    )
    # Set on a record registered by someone who may not see or change a stored identity (a
    # host, an invitation link) with an ID number that already belonged to another visitor:
    # this record holds what they submitted, and reception confirms at arrival whether it is
    # the same person (then its visits move to the stored identity and this record goes).
    # See services.register_visitor and docs/visits.md "Returning visitors".
    identity_match_hash = models.CharField(  # noqa: DJ001 - NULL: no match (as the hash above)
        max_length=64, null=True, blank=True, db_index=True, editable=False
    )
    photo = models.ImageField(
        _("face photo"), storage=face_storage, upload_to=face_upload_to, blank=True
    )
    photo_updated_at = models.DateTimeField(_("photo updated at"), null=True, blank=True)
    consent_given_at = models.DateTimeField(_("consent given at"), null=True, blank=True)
    consent_text_version = models.CharField(_("consent text version"), max_length=32, blank=True)
    person_code = models.CharField(
        _("HCP person code"), max_length=16, unique=True, default=new_person_code, editable=False
    )
    # Personal data retention (visitors.retention, docs/privacy.md): when the face (and the
    # camera pictures) went, after PROPUSK_FACE_RETENTION_DAYS or on request; and when the
    # identity was anonymised (names, contacts, ID number), after
    # PROPUSK_VISITOR_DATA_RETENTION_DAYS or on request. The row stays for the visits.
    face_deleted_at = models.DateTimeField(_("face deleted at"), null=True, blank=True)
    erased_at = models.DateTimeField(_("personal data erased at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        ordering = ["family_name", "given_name"]
        verbose_name = _("visitor")
        verbose_name_plural = _("visitors")

    def __str__(self) -> str:
        return self.full_name

    @property
    def full_name(self) -> str:
        """The name as pages show it; an erased visitor's (no name left) is a placeholder in
        the language of the page, nothing of it stored. Read from the names alone, so a list
        that loads only them (the dashboard) makes no query per row."""
        name = " ".join(p for p in (self.family_name, self.given_name, self.middle_name) if p)
        return name or gettext("Erased visitor")

    @property
    def is_erased(self) -> bool:
        """Anonymised: names, contacts, ID number and face are gone; the visits stay."""
        return self.erased_at is not None

    @property
    def has_national_id(self) -> bool:
        return bool(self.national_id_hash or self.identity_match_hash)

    @property
    def needs_identity_check(self) -> bool:
        """Its ID number matches another visitor's: reception confirms who this is."""
        return bool(self.identity_match_hash)
