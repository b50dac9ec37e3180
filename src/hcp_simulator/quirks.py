"""Switchable behaviours: every answer whose shape no public source settles, and every
variation seen on some servers and not on others.

Each switch has a default that follows the public sources (docs/hcp-simulator.md, "Switchable
behaviours", names them) and can be set from the command line (`--quirks`, one option each)
and at run time through the control API (`PUT /simulator/v1/quirks`). `reset` restores the
command-line values.

Two presets drive the client's contract suite: `off` is the textbook shape of every answer
(as first documented), `on` is every variation at once. Neither changes what a server demands
of the caller (`strictDoorEvents`, `maxPersonsPerLevelCall`): those keep their value.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Final

# Event type of a granted face passage (documented) and of denials by reason (a production
# receiver's code table: docs/hcp-simulator.md, Fidelity).
GRANTED_BY_FACE: Final = 196893
DENIED_BY_FACE: Final = 197151
FACE_RECOGNITION_FAILED: Final = 197160
INVALID_TIME_PERIOD: Final = 197384
CARD_EXPIRED: Final = 197633
NO_ACCESS_LEVEL: Final = 197635

APPLICATION_RESULT_SHAPES: Final = ("counts", "element-status", "empty")
PICTURE_FORMATS: Final = ("binary", "base64")
PRESETS: Final = ("default", "off", "on")
# Subscriptions take event type codes in this range (the gateway catalogue).
MIN_EVENT_TYPE: Final = 100_000
MAX_EVENT_TYPE: Final = 2_147_483_647


@dataclass(frozen=True)
class Quirks:
    """The switches; attribute names are the control API's keys in snake_case."""

    # Envelope: a numeric `code` beyond the subscription calls (per API path glob).
    numeric_code_paths: tuple[str, ...] = ()
    # Pages say `totalNum` instead of `total` (per API path glob).
    total_num_paths: tuple[str, ...] = ()
    # An empty page has no `list` and says pageNo/pageSize 0 (one integration's notes; the
    # catalogue's models mark `list` required).
    empty_page_without_list: bool = False
    # personId values are short numbers ("1", as in a live log and the catalogue's example)
    # rather than 32-hex GUIDs (the older notes).
    numeric_person_ids: bool = True
    # A person without a face has `personPhoto: {"picUri": ""}` (live log) instead of no
    # personPhoto at all.
    empty_pic_uri_without_face: bool = True
    # A person without cards has no `cards` key (live log) instead of `cards: []`.
    omit_empty_cards: bool = True
    # Person delete answers `{"remainLockNumber": 5}` (V3 catalogue) instead of "".
    delete_answers_remain_lock_number: bool = True
    # Answers the catalogue gives as "null" (person update, reapplication) are "" instead
    # (a live server answered update with "").
    empty_string_for_null: bool = False
    # door/events ignores eventType/eventTypes (a server that does not filter by type).
    ignore_event_type_filter: bool = False
    # applicationResult type 1: `counts` {toBeAppliedNum, applyingNum, failedNum} (our
    # invention), `element-status` (per person and door, in the visitor module's
    # elementDownloadDetail style) or `empty` (data ""). No public source shows the answer.
    application_result_shape: str = "counts"
    # None: each denial has the code of its reason; a number: every denial has that code.
    denial_event_type: int | None = None
    # person/picture_data and event/pictures as raw image/jpeg, or as a base64 data-URI text.
    picture_format: str = "binary"
    # What a server demands of the caller (not changed by the presets).
    strict_door_events: bool = False
    max_persons_per_level_call: int = 20  # 0: no limit (the catalogue: up to 20)
    # faceCheck is not there (HTTP 404), as on HCP versions without it. What a server offers,
    # not an answer shape: the presets keep it.
    face_check_absent: bool = False
    # visitor/v1/person/{id}/elementDownloadDetail refuses every person (code 128), as an
    # HCP that serves it only for the visitor module's persons would refuse ours. What a
    # server offers, not an answer shape: the presets keep it.
    element_detail_refused: bool = False

    def __post_init__(self) -> None:
        if self.application_result_shape not in APPLICATION_RESULT_SHAPES:
            raise ValueError(
                f"applicationResultShape must be one of {', '.join(APPLICATION_RESULT_SHAPES)}"
            )
        if self.picture_format not in PICTURE_FORMATS:
            raise ValueError(f"pictureFormat must be one of {', '.join(PICTURE_FORMATS)}")
        if self.denial_event_type is not None and not (
            MIN_EVENT_TYPE <= self.denial_event_type <= MAX_EVENT_TYPE
        ):
            raise ValueError(
                f"denialEventType must be between {MIN_EVENT_TYPE} and {MAX_EVENT_TYPE}"
            )
        if self.max_persons_per_level_call < 0:
            raise ValueError("maxPersonsPerLevelCall must be >= 0 (0: no limit)")

    # --- queries used by the handlers ---------------------------------------------------

    def numeric_code(self, api_path: str) -> bool:
        return _matches(api_path, self.numeric_code_paths)

    def total_key(self, api_path: str) -> str:
        return "totalNum" if _matches(api_path, self.total_num_paths) else "total"

    @property
    def null_answer(self) -> str:
        """What the catalogue documents as `data: "null"`."""
        return "" if self.empty_string_for_null else "null"

    # --- presets and (de)serialisation ----------------------------------------------------

    def preset(self, name: str) -> Quirks:
        """These quirks with every answer switch set by `name` (default, off or on)."""
        if name not in PRESETS:
            raise ValueError(f"preset must be one of {', '.join(PRESETS)}")
        strict, limit = self.strict_door_events, self.max_persons_per_level_call
        absent = self.face_check_absent
        refused = self.element_detail_refused
        if name == "default":
            return Quirks(
                strict_door_events=strict,
                max_persons_per_level_call=limit,
                face_check_absent=absent,
                element_detail_refused=refused,
            )
        on = name == "on"
        return Quirks(
            numeric_code_paths=("/api/*",) if on else (),
            total_num_paths=("/api/*",) if on else (),
            empty_page_without_list=on,
            numeric_person_ids=on,
            empty_pic_uri_without_face=on,
            omit_empty_cards=on,
            delete_answers_remain_lock_number=on,
            empty_string_for_null=on,
            ignore_event_type_filter=on,
            application_result_shape="empty" if on else "counts",
            denial_event_type=DENIED_BY_FACE if on else None,
            picture_format="base64" if on else "binary",
            strict_door_events=strict,
            max_persons_per_level_call=limit,
            face_check_absent=absent,
            element_detail_refused=refused,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            _camel(item.name): (
                list(value) if isinstance(value := getattr(self, item.name), tuple) else value
            )
            for item in fields(self)
        }

    def updated(self, changes: Mapping[str, Any]) -> Quirks:
        """These quirks with the control API's camelCase `changes` (and `preset` first).

        Raises ValueError naming the key on an unknown key or a bad value."""
        base = self
        if "preset" in changes:
            preset = changes["preset"]
            if not isinstance(preset, str):
                raise ValueError("preset must be a string")
            base = base.preset(preset)
        values: dict[str, Any] = {}
        names = {_camel(item.name): item for item in fields(self)}
        for key, value in changes.items():
            if key == "preset":
                continue
            item = names.get(key)
            if item is None:
                raise ValueError(f"unknown quirk {key!r} (known: {', '.join(sorted(names))})")
            values[item.name] = _checked(key, value, getattr(self, item.name))
        return replace(base, **values)


def _checked(key: str, value: Any, current: Any) -> Any:
    """`value` converted to the type of the field (given by its `current` value)."""
    if isinstance(current, tuple):
        if not isinstance(value, list) or not all(isinstance(g, str) and g for g in value):
            raise ValueError(f"{key} must be a list of API path globs")
        return tuple(glob.removeprefix("/artemis") for glob in value)
    if isinstance(current, bool):
        if not isinstance(value, bool):
            raise ValueError(f"{key} must be true or false")
        return value
    if key == "denialEventType":
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{key} must be an event type code or null (by reason)")
        return value
    if isinstance(current, int):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{key} must be a whole number")
        return value
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string")
    return value


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def _matches(path: str, globs: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(path, glob) for glob in globs)
