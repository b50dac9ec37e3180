from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from propusk.access.windows import access_window, visit_access_window
from propusk.visits.models import Visit, VisitStatus

ALMATY = ZoneInfo("Asia/Almaty")

aware_datetimes = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, ALMATY, ZoneInfo("Europe/Moscow")]),
)
durations = st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(days=30))
grace = st.integers(min_value=0, max_value=24 * 60)


def test_window_is_widened_by_the_grace_minutes():
    start = datetime(2030, 3, 12, 10, 0, tzinfo=ALMATY)
    end = datetime(2030, 3, 12, 12, 0, tzinfo=ALMATY)
    assert access_window(
        planned_start=start, planned_end=end, early_minutes=15, late_minutes=30
    ) == (
        datetime(2030, 3, 12, 9, 45, tzinfo=ALMATY),
        datetime(2030, 3, 12, 12, 30, tzinfo=ALMATY),
    )


@given(start=aware_datetimes, length=durations, early=grace, late=grace)
def test_window_contains_the_planned_window(start, length, early, late):
    end = start + length
    opens, closes = access_window(
        planned_start=start, planned_end=end, early_minutes=early, late_minutes=late
    )
    assert opens <= start
    assert closes >= end
    assert start - opens == timedelta(minutes=early)
    assert closes - end == timedelta(minutes=late)


@given(start=st.datetimes(), length=durations)
def test_naive_datetimes_are_refused(start, length):
    with pytest.raises(ValueError, match="timezone-aware"):
        access_window(
            planned_start=start, planned_end=start + length, early_minutes=0, late_minutes=0
        )


def test_one_naive_end_is_refused():
    start = datetime(2030, 3, 12, 10, 0, tzinfo=ALMATY)
    with pytest.raises(ValueError, match="timezone-aware"):
        access_window(
            planned_start=start,
            planned_end=datetime(2030, 3, 12, 12, 0),
            early_minutes=0,
            late_minutes=0,
        )


@pytest.mark.parametrize(("early", "late"), [(-1, 0), (0, -1)])
def test_negative_grace_is_refused(early, late):
    start = datetime(2030, 3, 12, 10, 0, tzinfo=ALMATY)
    with pytest.raises(ValueError, match="negative"):
        access_window(
            planned_start=start,
            planned_end=start + timedelta(hours=1),
            early_minutes=early,
            late_minutes=late,
        )


@pytest.mark.parametrize("length", [timedelta(0), timedelta(minutes=-5)])
def test_unordered_window_is_refused(length):
    start = datetime(2030, 3, 12, 10, 0, tzinfo=ALMATY)
    with pytest.raises(ValueError, match="after"):
        access_window(
            planned_start=start, planned_end=start + length, early_minutes=0, late_minutes=0
        )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "has_access"),
    [
        (VisitStatus.PENDING, False),
        (VisitStatus.AWAITING, True),
        (VisitStatus.CHECKED_IN, True),
        (VisitStatus.CHECKED_OUT, False),
        (VisitStatus.CANCELLED, False),
        (VisitStatus.NO_SHOW, False),
    ],
)
def test_only_expected_and_checked_in_visits_have_a_window(status, has_access, vip_policy):
    start = datetime(2030, 3, 12, 10, 0, tzinfo=ALMATY)
    visit = Visit(
        status=status,
        planned_start=start,
        planned_end=start + timedelta(hours=2),
        access_policy=vip_policy,  # 30 minutes early, 60 late
    )
    window = visit_access_window(visit)
    if has_access:
        assert window == (start - timedelta(minutes=30), start + timedelta(hours=3))
    else:
        assert window is None
