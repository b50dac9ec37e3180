"""Reading applicationResult answers of any shape, and judging application from them.

No public source shows HCP's answer, so the client must read whatever comes back without
failing and say "not known" rather than invent "nothing waiting" (docs/hikcentral.md).
"""

from __future__ import annotations

from datetime import UTC

from hypothesis import given, settings
from hypothesis import strategies as st

from hikcentral import (
    ApplicationFailure,
    ApplicationOutcome,
    ApplicationStats,
    judge_application,
)

PATH = "/api/acs/v1/auth/applicationResult"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=25,
)
counts = st.integers(min_value=0, max_value=10_000)


@settings(max_examples=50)
@given(json_values)
def test_any_answer_is_read_without_failing(data):
    stats = ApplicationStats.from_api(data)
    assert stats.known == (stats.waiting is not None)
    assert stats.settled is None or stats.known


@settings(max_examples=50)
@given(st.one_of(st.text(), st.lists(json_values), st.none(), st.integers(), st.booleans()))
def test_an_answer_that_is_not_an_object_is_not_known(data):
    stats = ApplicationStats.from_api(data)
    assert (stats.known, stats.settled, stats.shape) == (False, None, "unknown")


@settings(max_examples=50)
@given(
    st.dictionaries(st.sampled_from(["total", "successNum", "applyStatus", "list"]), json_values)
)
def test_unfamiliar_field_names_are_not_known(data):
    assert not ApplicationStats.from_api(data).known


@given(counts, counts, counts, st.booleans())
def test_counts_as_numbers_or_digit_strings(waiting, applying, failed, as_text):
    def value(number: int) -> int | str:
        return str(number) if as_text else number

    stats = ApplicationStats.from_api(
        {
            "toBeAppliedNum": value(waiting),
            "applyingNum": value(applying),
            "failedNum": value(failed),
        }
    )
    assert (stats.waiting, stats.applying, stats.failed, stats.shape) == (
        waiting,
        applying,
        failed,
        "counts",
    )
    assert stats.settled == (waiting == 0 and applying == 0)


def test_counts_that_are_not_counts_are_not_known():
    for waiting in (-1, "many", 1.5, True, None, ""):
        assert not ApplicationStats.from_api({"toBeAppliedNum": waiting}).known
    # Only the waiting count is needed; the others are optional.
    stats = ApplicationStats.from_api({"toBeAppliedNum": 0, "applyingNum": "?"})
    assert (stats.waiting, stats.applying, stats.settled) == (0, None, True)


def element(person_id: str | None, status: object, code: str = "V1") -> dict[str, object]:
    item: dict[str, object] = {"personCode": code, "ElementStatus": [{"elementStatus": status}]}
    if person_id is not None:
        item["personId"] = person_id
    return item


def elements(*items: dict[str, object]) -> dict[str, object]:
    return {"ElementDetailList": {"ElementDetail": list(items)}}


def test_element_statuses_say_who_waits_and_who_failed():
    stats = ApplicationStats.from_api(
        elements(element("1", 0), element("1", 1), element("2", 2), element("3", "1"))
    )
    assert (stats.shape, stats.waiting, stats.applying, stats.failed) == (
        "element-status",
        2,
        None,
        1,
    )
    assert stats.pending_person_ids == {"1", "3"}
    assert stats.failed_person_ids == {"2"}
    assert stats.settled is False
    assert ApplicationStats.from_api(elements(element("1", 0))).settled is True


def test_element_statuses_without_person_ids_count_but_do_not_name():
    stats = ApplicationStats.from_api(elements(element(None, 1, "A"), element(None, 1, "B")))
    assert (stats.waiting, stats.pending_person_ids) == (2, None)


def test_an_unreadable_element_status_makes_the_whole_answer_unknown():
    for bad in (3, "x", None):
        assert not ApplicationStats.from_api(elements(element("1", 0), element("2", bad))).known
    assert not ApplicationStats.from_api({"ElementDetailList": {"ElementDetail": "x"}}).known
    assert not ApplicationStats.from_api(elements({"personId": "1"})).known


def failure(person_id: str | None, door: str | None = "2") -> ApplicationFailure:
    return ApplicationFailure.from_api(
        {"personId": person_id, "doorIndexCode": door, "errorCode": "194"},
        site_tz=UTC,
        path=PATH,
    )


SETTLED = ApplicationStats.from_api({"toBeAppliedNum": 0, "applyingNum": 0, "failedNum": 0})
WAITING = ApplicationStats.from_api({"toBeAppliedNum": 1, "applyingNum": 0, "failedNum": 0})
UNKNOWN = ApplicationStats.from_api("")


def test_a_listed_failure_decides_whatever_the_statistics():
    for stats in (SETTLED, WAITING, UNKNOWN):
        progress = judge_application(stats=stats, failures=[failure("7")], person_ids=["7"])
        assert progress.outcome is ApplicationOutcome.FAILED
        assert progress.failures == (failure("7"),)


def test_failures_of_others_or_at_other_doors_do_not_count():
    others = [failure("8"), failure("7", door="3")]
    progress = judge_application(
        stats=SETTLED, failures=others, person_ids=["7"], door_index_codes=["1", "2"]
    )
    assert (progress.outcome, progress.failures) == (ApplicationOutcome.APPLIED, ())


def test_a_failure_naming_no_person_leaves_the_outcome_unknown():
    progress = judge_application(stats=SETTLED, failures=[failure(None)], person_ids=["7"])
    assert (progress.outcome, progress.unattributed_failures) == (ApplicationOutcome.UNKNOWN, 1)


def test_statistics_decide_when_no_failure_is_listed():
    def outcome(stats: ApplicationStats) -> ApplicationOutcome:
        return judge_application(stats=stats, failures=[], person_ids=["7"]).outcome

    assert outcome(SETTLED) is ApplicationOutcome.APPLIED
    assert outcome(WAITING) is ApplicationOutcome.PENDING
    assert outcome(UNKNOWN) is ApplicationOutcome.UNKNOWN
    per_person = ApplicationStats.from_api(elements(element("8", 1), element("7", 0)))
    assert outcome(per_person) is ApplicationOutcome.APPLIED
    failed = ApplicationStats.from_api(elements(element("7", 2)))
    assert outcome(failed) is ApplicationOutcome.FAILED


@settings(max_examples=50)
@given(json_values, st.lists(st.sampled_from(["1", "2", "3", None])))
def test_judging_never_fails_and_applied_needs_evidence(data, failed_ids):
    stats = ApplicationStats.from_api(data)
    progress = judge_application(
        stats=stats, failures=[failure(pid) for pid in failed_ids], person_ids=["1"]
    )
    if progress.outcome is ApplicationOutcome.APPLIED:
        assert stats.known
        assert "1" not in failed_ids
        assert None not in failed_ids
    if "1" in failed_ids:
        assert progress.outcome is ApplicationOutcome.FAILED


def test_failure_items_are_read_leniently():
    item = ApplicationFailure.from_api(
        {"personId": 12, "failTime": "yesterday", "doorIndexCode": ""}, site_tz=UTC, path=PATH
    )
    assert (item.person_id, item.fail_time, item.door_index_code) == ("12", None, None)
