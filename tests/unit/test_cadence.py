"""The cadence guard of a brand channel: posts a day, the gap between posts, night hours."""

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from campaigns.cadence import CadenceDecision, CadencePolicy, cadence_check

MOSCOW = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")


def policy(*, tz=MOSCOW, night_policy="move", per_day=3, gap=120, night=(time(22), time(8))) -> CadencePolicy:
    return CadencePolicy(max_posts_per_day=per_day, min_gap_minutes=gap, night_start=night[0], night_end=night[1],
                         night_policy=night_policy, tz=tz)


def msk(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=MOSCOW)


def test_a_post_keeping_every_rule_is_allowed_and_notifies():
    assert cadence_check(policy(), msk(1, 12), silent=False, others=[msk(1, 9), msk(1, 15)]) == \
        CadenceDecision(allowed=True, silent=False)


def test_a_full_day_is_refused_and_the_next_slot_is_the_next_morning_after_the_night():
    decision = cadence_check(policy(), msk(1, 19), silent=False, others=[msk(1, 9), msk(1, 12), msk(1, 15)])

    assert decision.allowed is False
    assert decision.rule == "day"
    assert decision.reason == "the channel already has 3 posts on 2026-12-01 (at most 3 a day)"
    assert decision.next_slot == msk(2, 8)


def test_a_full_day_with_silent_nights_moves_to_midnight_then_past_the_first_post_of_the_next_day():
    others = [msk(1, 9), msk(1, 12), msk(1, 15), msk(2, 0, 30)]

    decision = cadence_check(policy(night_policy="silent"), msk(1, 20), silent=False, others=others)

    assert decision.allowed is False
    assert decision.next_slot == msk(2, 2, 30)
    assert cadence_check(policy(night_policy="silent"), decision.next_slot, silent=False, others=others) == \
        CadenceDecision(allowed=True, silent=True)


def test_the_local_day_decides_not_the_utc_day():
    # 01:00 in Moscow on 2 December is still 1 December in UTC: the Moscow day is empty.
    others = [msk(1, 9), msk(1, 12), msk(1, 15)]
    assert cadence_check(policy(night_policy="silent"), msk(2, 1), silent=False, others=others).allowed is True


def test_a_post_too_soon_after_another_is_refused_with_the_time_after_the_gap():
    decision = cadence_check(policy(), msk(1, 15), silent=False, others=[msk(1, 14)])

    assert decision == CadenceDecision(
        allowed=False, rule="gap", next_slot=msk(1, 16),
        reason="another post at 14:00 is within 120 minutes (at least 120 minutes between posts)")


def test_a_post_too_soon_before_another_moves_past_it():
    decision = cadence_check(policy(), msk(1, 13), silent=False, others=[msk(1, 14)])

    assert decision.reason == "another post at 14:00 is within 120 minutes (at least 120 minutes between posts)"
    assert decision.next_slot == msk(1, 16)


def test_exactly_the_gap_is_enough():
    assert cadence_check(policy(), msk(1, 16), silent=False, others=[msk(1, 14), msk(1, 18)]).allowed is True


def test_a_chain_of_posts_pushes_the_slot_past_each_of_them():
    others = [msk(1, 10, 30), msk(1, 12, 0)]
    decision = cadence_check(policy(per_day=5), msk(1, 10), silent=False, others=others)
    assert decision.next_slot == msk(1, 14)


def test_the_gap_spans_midnight():
    decision = cadence_check(policy(night_policy="silent"), msk(2, 0, 30), silent=False, others=[msk(1, 23, 45)])

    assert decision.reason == "another post at 23:45 is within 120 minutes (at least 120 minutes between posts)"
    assert decision.next_slot == msk(2, 1, 45)


def test_a_notifying_night_post_is_moved_to_the_end_of_the_night():
    decision = cadence_check(policy(), msk(1, 22, 30), silent=False, others=[])

    assert decision == CadenceDecision(allowed=False, rule="night", next_slot=msk(2, 8),
                                       reason="22:30 is in the channel's night hours (22:00–08:00)")


def test_after_midnight_the_night_ends_the_same_morning():
    assert cadence_check(policy(), msk(2, 1), silent=False, others=[]).next_slot == msk(2, 8)


def test_the_end_of_the_night_is_a_day_time():
    assert cadence_check(policy(), msk(2, 8), silent=False, others=[]) == CadenceDecision(allowed=True)
    assert cadence_check(policy(), msk(1, 21, 59), silent=False, others=[]).allowed is True


def test_the_end_of_the_night_can_itself_be_too_close_to_a_morning_post():
    decision = cadence_check(policy(), msk(1, 23), silent=False, others=[msk(2, 9)])
    assert decision.reason == "23:00 is in the channel's night hours (22:00–08:00)"
    assert decision.next_slot == msk(2, 11)


def test_a_night_post_is_allowed_silently_when_the_policy_says_so():
    assert cadence_check(policy(night_policy="silent"), msk(1, 22, 30), silent=False, others=[]) == \
        CadenceDecision(allowed=True, silent=True)


def test_a_post_the_marketer_made_silent_is_not_affected_by_the_night():
    assert cadence_check(policy(), msk(1, 22, 30), silent=True, others=[]) == CadenceDecision(allowed=True, silent=True)


def test_a_silent_post_still_keeps_the_day_cap_and_the_gap():
    decision = cadence_check(policy(), msk(1, 23), silent=True, others=[msk(1, 22)])
    assert decision.rule == "gap"
    assert decision.next_slot == msk(2, 0)


def test_a_night_that_does_not_wrap_midnight():
    early = policy(night=(time(1), time(5)))

    assert cadence_check(early, msk(2, 0, 30), silent=False, others=[]).allowed is True
    decision = cadence_check(early, msk(2, 4, 59), silent=False, others=[])
    assert decision.reason == "04:59 is in the channel's night hours (01:00–05:00)"
    assert decision.next_slot == msk(2, 5)


def test_no_night_when_start_equals_end():
    assert cadence_check(policy(night=(time(0), time(0))), msk(2, 3), silent=False, others=[]).allowed is True


def test_the_gap_counts_real_minutes_across_the_autumn_clock_change():
    # 25 October 2026 in Berlin: 03:00 CEST becomes 02:00 CET. 01:30 CEST (23:30 UTC) and
    # 02:30 CET (01:30 UTC) are two hours apart though the clocks differ by one.
    other = datetime(2026, 10, 24, 23, 30, tzinfo=UTC)
    silent_nights = policy(tz=BERLIN, night_policy="silent")

    assert cadence_check(silent_nights, datetime(2026, 10, 25, 1, 30, tzinfo=UTC), silent=False,
                         others=[other]).allowed is True
    decision = cadence_check(silent_nights, datetime(2026, 10, 25, 0, 15, tzinfo=UTC), silent=False, others=[other])
    assert decision.reason == "another post at 01:30 is within 120 minutes (at least 120 minutes between posts)"
    assert decision.next_slot == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


def test_the_night_ends_at_local_eight_after_the_clock_change():
    decision = cadence_check(policy(tz=BERLIN), datetime(2026, 10, 24, 23, 0, tzinfo=BERLIN), silent=False, others=[])

    assert decision.next_slot == datetime(2026, 10, 25, 7, 0, tzinfo=UTC)  # 08:00 CET
    assert decision.next_slot == datetime(2026, 10, 25, 8, 0, tzinfo=BERLIN)


def test_a_full_day_before_the_spring_clock_change_moves_to_the_next_local_midnight():
    others = [datetime(2026, 3, 28, h, tzinfo=BERLIN) for h in (9, 12, 15)]
    decision = cadence_check(policy(tz=BERLIN, night_policy="silent"), datetime(2026, 3, 28, 20, tzinfo=BERLIN),
                             silent=False, others=others)
    assert decision.next_slot == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)  # 00:00 CET on the 29th


def test_a_channel_allowing_no_posts_has_no_next_slot():
    decision = cadence_check(policy(per_day=0), msk(1, 12), silent=False, others=[])
    assert decision.allowed is False
    assert decision.reason == "the channel already has 0 posts on 2026-12-01 (at most 0 a day)"
    assert decision.next_slot is None
