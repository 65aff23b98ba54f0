"""Schedule windows: weekdays and HH:MM in the stage's time zone, wrapping past midnight."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.promotions.pipelines import in_window

#: Monday 2026-03-02, 21:30 UTC is 22:30 in Paris (CET).
MONDAY_EVENING = datetime(2026, 3, 2, 21, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("window", "inside"),
    [
        (None, True),
        ({"timezone": "UTC", "weekdays": ["mon"], "start": "21:00", "end": "22:00"}, True),
        ({"timezone": "UTC", "weekdays": ["tue"], "start": "21:00", "end": "22:00"}, False),
        ({"timezone": "Europe/Paris", "weekdays": ["mon"], "start": "21:00", "end": "22:00"},
         False),
        ({"timezone": "Europe/Paris", "weekdays": ["mon"], "start": "22:00", "end": "02:00"},
         True),
        ({"timezone": "America/New_York", "weekdays": ["mon"], "start": "09:00", "end": "17:00"},
         True),
        ({"timezone": "Asia/Tokyo", "weekdays": ["tue"], "start": "06:00", "end": "07:00"},
         True),
    ],
)  # fmt: skip
def test_a_moment_is_inside_a_window_in_the_window_s_time_zone(window, inside):
    assert in_window(window, MONDAY_EVENING) is inside
