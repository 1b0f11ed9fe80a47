"""Unit tests for campaigns/recurrence.py: the RRULE expanded in a campaign's zone, no database.

Expected instants are worked out by hand in the comments (Berlin: UTC+1 in winter, UTC+2 from
the last Sunday of March, 01:00 UTC), never copied from the functions under test.
"""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from campaigns import recurrence
from campaigns.recurrence import RecurrenceError, between, next_occurrence, occurrences, parse, problems

BERLIN = ZoneInfo("Europe/Berlin")
WEEKLY_MONDAY_10 = "FREQ=WEEKLY;BYDAY=MO;BYHOUR=10;BYMINUTE=0"
HOUR = timedelta(hours=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_weekly_10_00_stays_10_00_in_berlin_across_the_spring_dst_change():
    # DTSTART Monday 2030-03-25 10:00 CET = 09:00 UTC; clocks go forward on Sunday 2030-03-31
    rec = parse(WEEKLY_MONDAY_10, start=utc(2030, 3, 25, 9), zone=BERLIN)

    found = occurrences(rec, after=utc(2030, 3, 25, 9), count=3, inclusive=True)

    # then: 09:00 UTC the last winter Monday, 08:00 UTC (10:00 CEST) the Mondays after
    assert found == [utc(2030, 3, 25, 9), utc(2030, 4, 1, 8), utc(2030, 4, 8, 8)]
    assert {at.astimezone(BERLIN).hour for at in found} == {10}


def test_and_back_across_the_autumn_change():
    # Berlin leaves summer time on Sunday 2030-10-27: 10:00 CEST = 08:00 UTC, then CET = 09:00 UTC
    rec = parse(WEEKLY_MONDAY_10, start=utc(2030, 10, 21, 8), zone=BERLIN)

    assert occurrences(rec, after=utc(2030, 10, 1), count=2) == [utc(2030, 10, 21, 8), utc(2030, 10, 28, 9)]


def test_dtstart_is_send_at_and_a_send_at_off_the_rule_is_not_an_occurrence():
    # send_at Wednesday 2030-03-20 12:00 UTC: the first Monday 10:00 after it is 2030-03-25 (CET)
    rec = parse(WEEKLY_MONDAY_10, start=utc(2030, 3, 20, 12), zone=BERLIN)

    assert next_occurrence(rec, after=utc(2030, 3, 20, 12), inclusive=True) == utc(2030, 3, 25, 9)


def test_without_byhour_the_time_of_day_comes_from_send_at_in_the_zone():
    # 2030-01-07 (a Monday) 08:30 UTC is 09:30 in Berlin; weekly keeps 09:30 local, 07:30 UTC in summer
    rec = parse("FREQ=WEEKLY", start=utc(2030, 1, 7, 8, 30), zone=BERLIN)

    found = occurrences(rec, after=utc(2030, 3, 24), count=2)

    assert found == [utc(2030, 3, 25, 8, 30), utc(2030, 4, 1, 7, 30)]


def test_count_counts_from_dtstart():
    rec = parse("FREQ=DAILY;COUNT=3", start=utc(2030, 1, 1, 9), zone=ZoneInfo("UTC"))

    assert occurrences(rec, after=utc(2029, 1, 1), count=10) == [utc(2030, 1, 1, 9), utc(2030, 1, 2, 9),
                                                                 utc(2030, 1, 3, 9)]
    # two already passed: one left
    assert occurrences(rec, after=utc(2030, 1, 2, 9), count=10) == [utc(2030, 1, 3, 9)]


def test_until_in_utc_and_as_a_wall_time_in_the_zone_and_the_campaigns_own_end():
    start = utc(2030, 1, 6, 9)  # Sunday 10:00 CET
    rule = "FREQ=DAILY"
    # UNTIL with Z is UTC: 2030-01-08 09:00 UTC includes the 8th's 09:00 UTC
    assert len(occurrences(parse(f"{rule};UNTIL=20300108T090000Z", start=start, zone=BERLIN),
                           after=start, count=10, inclusive=True)) == 3
    # without Z it is Berlin's wall clock: 2030-01-08 09:59 local = 08:59 UTC, before that day's run
    assert len(occurrences(parse(f"{rule};UNTIL=20300108T095900", start=start, zone=BERLIN),
                           after=start, count=10, inclusive=True)) == 2
    # a date alone is the whole day
    assert len(occurrences(parse(f"{rule};UNTIL=20300108", start=start, zone=BERLIN),
                           after=start, count=10, inclusive=True)) == 3
    # the campaign's recurrence_until and the rule's UNTIL: the earlier wins
    both = parse(f"{rule};UNTIL=20300110T000000Z", start=start, zone=BERLIN, until=utc(2030, 1, 7, 12))
    assert occurrences(both, after=start, count=10, inclusive=True) == [utc(2030, 1, 6, 9), utc(2030, 1, 7, 9)]


def test_a_wall_time_skipped_by_the_dst_jump_goes_the_same_distance_past_it():
    # daily 02:30 Berlin; 2030-03-31 02:30 does not exist (02:00 -> 03:00): it is 03:30 CEST = 01:30 UTC
    rec = parse("FREQ=DAILY;BYHOUR=2;BYMINUTE=30", start=utc(2030, 3, 30, 1, 30), zone=BERLIN)

    assert occurrences(rec, after=utc(2030, 3, 30), count=3) == [
        utc(2030, 3, 30, 1, 30), utc(2030, 3, 31, 1, 30), utc(2030, 4, 1, 0, 30)]


def test_between_lists_what_was_missed():
    rec = parse("FREQ=DAILY;BYHOUR=9;BYMINUTE=0", start=utc(2030, 1, 1, 9), zone=ZoneInfo("UTC"))

    assert between(rec, after=utc(2030, 1, 1, 9), through=utc(2030, 1, 4, 9)) == [
        utc(2030, 1, 2, 9), utc(2030, 1, 3, 9), utc(2030, 1, 4, 9)]


@pytest.mark.parametrize("text", [
    "", "BYDAY=MO", "FREQ=FORTNIGHTLY", "FREQ=WEEKLY;BYDAY=XX", "FREQ=WEEKLY;BYHOUR=25", "FREQ=WEEKLY;NOPE=1",
    "FREQ=WEEKLY;;BYDAY=MO", "FREQ=WEEKLY;INTERVAL=0", "FREQ=WEEKLY;COUNT=-1", "FREQ=WEEKLY;UNTIL=tomorrow",
    "FREQ=WEEKLY;UNTIL=20300230", "FREQ=WEEKLY;COUNT=2;UNTIL=20301231", "FREQ=WEEKLY;FREQ=DAILY",
    "DTSTART:20300101T000000\nRRULE:FREQ=WEEKLY", "garbage",
])
def test_a_bad_rule_is_refused_with_a_reason(text):
    with pytest.raises(RecurrenceError) as refused:
        parse(text, start=utc(2030, 1, 1), zone=BERLIN)
    assert str(refused.value)


@pytest.mark.parametrize("freq", ["MINUTELY", "SECONDLY"])
def test_finer_than_hourly_is_refused_as_spam(freq):
    with pytest.raises(RecurrenceError, match="more often than hourly"):
        parse(f"FREQ={freq}", start=utc(2030, 1, 1), zone=BERLIN)


def test_lower_case_and_an_rrule_prefix_are_accepted():
    rec = parse("RRULE:freq=weekly;byday=mo;byhour=10;byminute=0", start=utc(2030, 3, 25, 9), zone=BERLIN)
    assert next_occurrence(rec, after=utc(2030, 3, 25, 9)) == utc(2030, 4, 1, 8)


def test_problems_says_nothing_of_a_good_rule():
    assert problems(WEEKLY_MONDAY_10, start=utc(2030, 3, 25, 9), zone=BERLIN, until=None,
                    now=utc(2030, 1, 1), min_gap=HOUR) == []


def test_problems_refuses_runs_closer_than_the_least_gap():
    # hourly is allowed, but four runs an hour (BYMINUTE) are 15 minutes apart
    found = problems("FREQ=HOURLY;BYMINUTE=0,15,30,45", start=utc(2030, 1, 1), zone=BERLIN, until=None,
                     now=utc(2029, 1, 1), min_gap=HOUR)
    assert found == ["runs would be 15 minutes apart; at least 60 minutes between runs"]
    assert problems("FREQ=HOURLY", start=utc(2030, 1, 1), zone=BERLIN, until=None, now=utc(2029, 1, 1),
                    min_gap=HOUR) == []


def test_problems_refuses_a_rule_with_no_occurrence_left():
    # three daily runs from 2030-01-01; on 2030-01-05 none is left
    found = problems("FREQ=DAILY;COUNT=3", start=utc(2030, 1, 1, 9), zone=BERLIN, until=None,
                     now=utc(2030, 1, 5), min_gap=HOUR)
    assert len(found) == 1 and "no occurrence" in found[0]
    # a date that never comes (31 February)
    assert "no occurrence" in problems("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=31", start=utc(2030, 1, 1), zone=BERLIN,
                                       until=None, now=utc(2029, 1, 1), min_gap=HOUR)[0]
    # an end before the first occurrence
    assert "no occurrence" in problems(WEEKLY_MONDAY_10, start=utc(2030, 3, 20, 12), zone=BERLIN,
                                       until=utc(2030, 3, 24), now=utc(2030, 1, 1), min_gap=HOUR)[0]


def test_presets_are_good_rules():
    for rule, _label in recurrence.PRESETS:
        assert problems(rule, start=utc(2030, 1, 1, 9), zone=BERLIN, until=None, now=utc(2029, 1, 1),
                        min_gap=HOUR) == [], rule


def test_the_installations_zone_when_the_campaign_has_none(settings):
    settings.TIME_ZONE = "Asia/Tokyo"
    assert recurrence.zone_for("") == ZoneInfo("Asia/Tokyo")
    assert recurrence.zone_for("Europe/Berlin") == BERLIN
