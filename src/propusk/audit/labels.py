"""What the audit log calls each action, in words (Russian and English).

The visit page's history (``visits.history.ACTION_LABELS``) and its access card
(``access.selectors.HISTORY_LABELS``) already name their actions: the audit log uses the very
same wording for them, and names the other actions here. An action with no label (a new one,
or one an older release wrote) shows its key.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING

from django.utils.translation import pgettext_lazy

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# The actions that no page's history names.
OTHER_LABELS: dict[str, StrOrPromise] = {
    "admin.added": pgettext_lazy("audit log", "Added in the admin"),
    "admin.changed": pgettext_lazy("audit log", "Changed in the admin"),
    "admin.deleted": pgettext_lazy("audit log", "Deleted in the admin"),
    "api.token_created": pgettext_lazy("audit log", "API token created"),
    "api.token_revoked": pgettext_lazy("audit log", "API token revoked"),
    "auth.logged_in": pgettext_lazy("audit log", "Signed in"),
    "auth.login_failed": pgettext_lazy("audit log", "Sign-in failed"),
    "auth.locked_out": pgettext_lazy("audit log", "Sign-in locked after failed attempts"),
    "dashboard.evacuation_exported": pgettext_lazy("audit log", "Evacuation list exported"),
    "events.failed": pgettext_lazy("audit log", "Door event could not be processed"),
    "events.process_again": pgettext_lazy("audit log", "Door event processed again"),
    "events.subscription_restored": pgettext_lazy(
        "audit log", "Event subscription in HikCentral restored"
    ),
    "incident.opened": pgettext_lazy("audit log", "Incident raised"),
    "incident.acknowledged": pgettext_lazy("audit log", "Incident acknowledged"),
    "incident.resolved": pgettext_lazy("audit log", "Incident resolved"),
    "invitation.created": pgettext_lazy("audit log", "Invitation created"),
    "invitation.revoked": pgettext_lazy("audit log", "Invitation withdrawn"),
    "notification.delivery_failed": pgettext_lazy("audit log", "Notification not delivered"),
    "passage.checked_in": pgettext_lazy("audit log", "Checked in by a passage through a door"),
    "passage.checked_out": pgettext_lazy("audit log", "Checked out by a passage through a door"),
    "passage.picture_viewed": pgettext_lazy("audit log", "Camera picture viewed"),
    "passage.pictures_expired": pgettext_lazy("audit log", "Camera pictures deleted: time over"),
    "visit_group.created": pgettext_lazy("audit log", "Group visit created"),
    "visitor.registered": pgettext_lazy("audit log", "Visitor registered"),
    "visitor.returned": pgettext_lazy("audit log", "Returning visitor registered again"),
    "visitor.looked_up": pgettext_lazy("audit log", "Visitor looked up by ID number"),
    "visitor.lookup_throttled": pgettext_lazy("audit log", "Look-ups by ID number paused"),
    "visitor.identity_confirmed": pgettext_lazy("audit log", "Identity confirmed at the desk"),
    "visitor.identity_rejected": pgettext_lazy(
        "audit log", "Identity not confirmed: a different person"
    ),
    "visitor.photo_viewed": pgettext_lazy("audit log", "Face photo viewed"),
    "visitor.photo_replaced": pgettext_lazy("audit log", "Face photo replaced"),
    "visitor.face_expired": pgettext_lazy("audit log", "Face deleted: time over"),
    "visitor.anonymised": pgettext_lazy("audit log", "Personal data anonymised: time over"),
    "visitor.erased": pgettext_lazy("audit log", "Personal data erased on request"),
    "visitor.retention_purge": pgettext_lazy("audit log", "Personal data clean-up run"),
}


@cache
def action_labels() -> Mapping[str, StrOrPromise]:
    """Every known action's label (lazy strings: translated when shown)."""
    from propusk.access.selectors import HISTORY_LABELS
    from propusk.visits.history import ACTION_LABELS

    return {**OTHER_LABELS, **HISTORY_LABELS, **ACTION_LABELS}


def action_label(action: str) -> str:
    """The action in words in the active language; its key when it has no label."""
    label = action_labels().get(action)
    return str(label) if label is not None else action
