"""Datetime input read as wall-clock time in the site's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from propusk.visits.forms import SiteDateTimeField


@pytest.mark.parametrize(
    "text",
    ["2030-03-12T14:30", "2030-03-12T14:30:00", "2030-03-12 14:30", "12.03.2030 14:30"],
)
def test_local_input_is_site_time(text):
    value = SiteDateTimeField().clean(text)
    assert value == datetime(2030, 3, 12, 14, 30, tzinfo=ZoneInfo("Asia/Almaty"))
    assert value.utcoffset().total_seconds() == 5 * 3600


@pytest.mark.parametrize(
    "text", ["2030-03-12T14:30+03:00", "2030-03-12T14:30Z", "2030-02-30T10:00", "soon", "14:30"]
)
def test_offsets_and_garbage_are_refused(text):
    with pytest.raises(ValidationError, match="Enter a date and time"):
        SiteDateTimeField().clean(text)


@pytest.mark.parametrize("text", ["2030-03-31T02:30", "2030-10-27T02:30"])
def test_times_a_dst_change_skips_or_repeats_are_refused(settings, text):
    settings.TIME_ZONE = "Europe/Berlin"
    with pytest.raises(ValidationError, match="does not exist or is ambiguous"):
        SiteDateTimeField().clean(text)


def test_aware_value_is_shown_in_site_time():
    field = SiteDateTimeField()
    shown = field.prepare_value(datetime(2030, 3, 12, 9, 30, tzinfo=ZoneInfo("UTC")))
    assert shown == datetime(2030, 3, 12, 14, 30)
