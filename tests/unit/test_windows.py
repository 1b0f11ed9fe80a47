"""Unit tests for campaigns/windows.py: spread offsets and send windows on top of quiet hours.

Pure functions, no database. Expected instants are worked out by hand in the comments.
"""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from campaigns.rules import QUIET_HOURS, QuietHours
from campaigns.windows import (
    SendWindow,
    allowed,
    into_window,
    open_seconds,
    send_window,
    spread_offset,
    timing_problems,
)

MOSCOW = ZoneInfo("Europe/Moscow")  # UTC+3, no DST
BERLIN = ZoneInfo("Europe/Berlin")  # DST: 2026-03-29 02:00 -> 03:00
NEW_YORK = ZoneInfo("America/New_York")  # DST ends 2026-11-01 02:00 EDT -> 01:00 EST
QUIET = QuietHours(time(21, 0), time(9, 0))
DAY_WINDOW = SendWindow(time(10, 0), time(20, 0))
NIGHT_WINDOW = SendWindow(time(20, 0), time(2, 0))  # across midnight


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- the window itself -----------------------------------------------------------------


def test_a_day_window_holds_its_start_and_not_its_end():
    assert DAY_WINDOW.contains(time(9, 59, 59)) is False
    assert DAY_WINDOW.contains(time(10, 0)) is True
    assert DAY_WINDOW.contains(time(19, 59)) is True
    assert DAY_WINDOW.contains(time(20, 0)) is False
    assert DAY_WINDOW.contains(time(0, 0)) is False


def test_a_window_across_midnight_holds_the_evening_and_the_small_hours():
    assert NIGHT_WINDOW.contains(time(19, 59)) is False
    assert NIGHT_WINDOW.contains(time(20, 0)) is True
    assert NIGHT_WINDOW.contains(time(23, 59)) is True
    assert NIGHT_WINDOW.contains(time(0, 0)) is True
    assert NIGHT_WINDOW.contains(time(1, 59)) is True
    assert NIGHT_WINDOW.contains(time(2, 0)) is False
    assert NIGHT_WINDOW.contains(time(12, 0)) is False


def test_a_window_needs_two_different_times():
    with pytest.raises(ValueError):
        SendWindow(time(10, 0), time(10, 0))
    assert send_window(time(10, 0), time(10, 0)) is None
    assert send_window(time(10, 0), None) is None
    assert send_window(None, None) is None
    assert send_window(time(10, 0), time(20, 0)) == DAY_WINDOW


# --- into the window -------------------------------------------------------------------


def test_inside_the_window_nothing_moves():
    moment = utc(2026, 3, 10, 9, 0)  # 12:00 in Moscow
    assert into_window(moment, MOSCOW, DAY_WINDOW) == moment
    assert into_window(moment, MOSCOW, None) == moment


def test_before_the_window_waits_for_its_start_the_same_day():
    # 06:00 in Moscow (03:00 UTC) -> 10:00 Moscow = 07:00 UTC the same day
    assert into_window(utc(2026, 3, 10, 3, 0), MOSCOW, DAY_WINDOW) == utc(2026, 3, 10, 7, 0)


def test_after_the_window_waits_for_the_next_days_start():
    # 21:30 in Moscow (18:30 UTC) -> 10:00 Moscow next day = 07:00 UTC on the 11th
    assert into_window(utc(2026, 3, 10, 18, 30), MOSCOW, DAY_WINDOW) == utc(2026, 3, 11, 7, 0)


def test_a_window_across_midnight_opens_in_the_evening():
    # 03:00 Moscow (00:00 UTC): closed since 02:00 -> 20:00 Moscow = 17:00 UTC the same day
    assert into_window(utc(2026, 3, 10, 0, 0), MOSCOW, NIGHT_WINDOW) == utc(2026, 3, 10, 17, 0)
    # 01:00 Moscow on the 11th (22:00 UTC on the 10th) is still inside
    assert into_window(utc(2026, 3, 10, 22, 0), MOSCOW, NIGHT_WINDOW) == utc(2026, 3, 10, 22, 0)


def test_the_window_is_read_in_each_persons_zone():
    moment = utc(2026, 3, 10, 8, 0)  # 11:00 in Moscow, 04:00 in New York (EDT, UTC-4)
    assert into_window(moment, MOSCOW, DAY_WINDOW) == moment
    # New York: 10:00 EDT = 14:00 UTC
    assert into_window(moment, NEW_YORK, DAY_WINDOW) == utc(2026, 3, 10, 14, 0)


def test_a_window_start_skipped_by_spring_forward_opens_as_far_past_the_jump():
    window = SendWindow(time(2, 30), time(10, 0))
    # 01:00 CET on 2026-03-29 (00:00 UTC); 02:30 does not exist that night: 03:30 CEST = 01:30 UTC
    assert into_window(utc(2026, 3, 29, 0, 0), BERLIN, window) == utc(2026, 3, 29, 1, 30)


def test_the_next_days_start_counts_the_hour_fall_back_adds():
    # Sat 2026-10-31 21:00 EDT (01:00 UTC on Nov 1) -> Sun 10:00, now EST (UTC-5) = 15:00 UTC, not 14:00
    assert into_window(utc(2026, 11, 1, 1, 0), NEW_YORK, DAY_WINDOW) == utc(2026, 11, 1, 15, 0)


def test_a_start_in_the_repeated_hour_is_taken_in_the_pass_we_are_in():
    window = SendWindow(time(1, 30), time(5, 0))
    # 01:10 EST (second pass, 06:10 UTC): 01:30 EDT (05:30 UTC) is behind us, 01:30 EST = 06:30 UTC
    assert into_window(utc(2026, 11, 1, 6, 10), NEW_YORK, window) == utc(2026, 11, 1, 6, 30)


# --- window and quiet hours together ---------------------------------------------------


def test_quiet_hours_alone_move_to_their_end():
    # 07:00 Moscow (04:00 UTC): quiet until 09:00 = 06:00 UTC, inside 08:00-20:00
    result = allowed(utc(2026, 3, 10, 4, 0), MOSCOW, SendWindow(time(8, 0), time(20, 0)), QUIET)
    assert result.at == utc(2026, 3, 10, 6, 0)
    assert result.moved_by == (QUIET_HOURS,)
    assert result.reason == "quiet hours"


def test_after_the_window_the_next_opening_that_is_not_quiet():
    # 20:30 Moscow (17:30 UTC): not quiet, but the 08:00-20:00 window is closed -> 08:00 next day,
    # which is still quiet until 09:00 -> 09:00 Moscow = 06:00 UTC on the 11th
    result = allowed(utc(2026, 3, 10, 17, 30), MOSCOW, SendWindow(time(8, 0), time(20, 0)), QUIET)
    assert result.at == utc(2026, 3, 11, 6, 0)
    assert result.moved_by == ("send window 08:00-20:00", QUIET_HOURS)


def test_a_window_across_midnight_cut_by_quiet_hours():
    quiet = QuietHours(time(23, 0), time(8, 0))
    # open: 20:00-23:00 only. 23:30 Moscow (20:30 UTC) -> quiet until 08:00, window closed
    # until 20:00 -> 20:00 Moscow on the 11th = 17:00 UTC
    result = allowed(utc(2026, 3, 10, 20, 30), MOSCOW, NIGHT_WINDOW, quiet)
    assert result.at == utc(2026, 3, 11, 17, 0)
    assert result.moved_by == (QUIET_HOURS, "send window 20:00-02:00")
    # 21:00 Moscow (18:00 UTC) is open: nothing moves
    assert allowed(utc(2026, 3, 10, 18, 0), MOSCOW, NIGHT_WINDOW, quiet).at == utc(2026, 3, 10, 18, 0)


def test_without_window_or_quiet_hours_nothing_moves():
    moment = utc(2026, 3, 10, 23, 0)
    assert allowed(moment, MOSCOW, None, None).at == moment
    assert allowed(moment, MOSCOW, None, None).moved_by == ()


def test_a_window_inside_quiet_hours_is_ignored_for_the_quiet_hours():
    # Refused at scheduling; should the policy change later, quiet hours still win.
    window = SendWindow(time(22, 0), time(23, 0))
    result = allowed(utc(2026, 3, 10, 19, 30), MOSCOW, window, QUIET)  # 22:30 Moscow
    assert result.at == utc(2026, 3, 11, 6, 0)  # 09:00 Moscow
    assert result.moved_by == (QUIET_HOURS,)


def test_open_seconds_of_a_day():
    assert open_seconds(DAY_WINDOW, QUIET) == 10 * 3600  # 10:00-20:00, all outside 21:00-09:00
    assert open_seconds(SendWindow(time(8, 0), time(20, 0)), QUIET) == 11 * 3600  # 09:00-20:00
    assert open_seconds(NIGHT_WINDOW, QuietHours(time(23, 0), time(8, 0))) == 3 * 3600  # 20:00-23:00
    assert open_seconds(SendWindow(time(22, 0), time(23, 0)), QUIET) == 0
    assert open_seconds(NIGHT_WINDOW, None) == 6 * 3600
    assert open_seconds(DAY_WINDOW, QuietHours(time(9, 0), time(9, 0))) == 10 * 3600  # never quiet


# --- spread ----------------------------------------------------------------------------


def test_spread_offsets_are_even():
    # 4 rows over 2 hours: every 30 minutes, the last 30 minutes before the end
    assert [spread_offset(i, 4, 2) for i in range(4)] == [timedelta(minutes=m) for m in (0, 30, 60, 90)]
    # 40 rows over 0.015 h (54 s): 1.35 s apart
    offsets = [spread_offset(i, 40, 0.015) for i in range(40)]
    gaps = {round((b - a).total_seconds(), 6) for a, b in zip(offsets, offsets[1:], strict=False)}
    assert gaps == {1.35}


def test_no_spread_no_offset():
    assert spread_offset(5, 10, None) == timedelta(0)
    assert spread_offset(0, 0, 2) == timedelta(0)
    with pytest.raises(ValueError):
        spread_offset(10, 10, 2)


def test_spread_then_window_then_quiet_hours():
    # 4 rows from 19:00 Moscow (16:00 UTC) over 2 h in a 10:00-20:00 window with quiet 21:00-09:00:
    # 19:00 and 19:30 go; 20:00 and 20:30 are after the window: 10:00 next day (not quiet)
    base = utc(2026, 3, 10, 16, 0)
    times = [allowed(base + spread_offset(i, 4, 2), MOSCOW, DAY_WINDOW, QUIET).at for i in range(4)]
    assert times == [utc(2026, 3, 10, 16, 0), utc(2026, 3, 10, 16, 30), utc(2026, 3, 11, 7, 0), utc(2026, 3, 11, 7, 0)]


# --- checks ----------------------------------------------------------------------------

SEND_AT = utc(2030, 1, 1, 10, 0)


def problems(**changes) -> dict[str, list[str]]:
    values = {"spread_hours": None, "window_start": None, "window_end": None, "send_at": SEND_AT,
              "expires_at": None, "quiet": QUIET, **changes}
    return timing_problems(**values)


def test_a_good_spread_and_window_have_no_problems():
    assert problems() == {}
    assert problems(spread_hours=2, window_start=time(10), window_end=time(20),
                    expires_at=SEND_AT + timedelta(hours=2)) == {}
    assert problems(window_start=time(20), window_end=time(2)) == {}


def test_half_a_window_names_the_missing_field():
    assert list(problems(window_start=time(10))) == ["send_window_end"]
    assert list(problems(window_end=time(20))) == ["send_window_start"]


def test_a_window_that_starts_where_it_ends_is_refused():
    assert list(problems(window_start=time(10), window_end=time(10))) == ["send_window_end"]


def test_a_window_inside_quiet_hours_is_refused():
    found = problems(window_start=time(22), window_end=time(23))
    assert list(found) == ["send_window_start"]
    assert "22:00-23:00" in found["send_window_start"][0] and "21:00-09:00" in found["send_window_start"][0]
    # without quiet hours the same window is fine
    assert problems(window_start=time(22), window_end=time(23), quiet=None) == {}


@pytest.mark.parametrize("hours", [0, 0.009, 168.01, 1000, -1, float("nan"), float("inf")])
def test_a_spread_out_of_range_is_refused(hours):
    assert list(problems(spread_hours=hours)) == ["spread_hours"]


def test_a_spread_past_expiry_is_refused():
    found = problems(spread_hours=3, expires_at=SEND_AT + timedelta(hours=2))
    assert list(found) == ["spread_hours"]
    assert "3 h" in found["spread_hours"][0] and "2 h after send_at" in found["spread_hours"][0]
    assert problems(spread_hours=168, expires_at=None) == {}
