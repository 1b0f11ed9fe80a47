"""Unit tests for campaigns/rules.py and channels/limits.py: pure functions, no database.

Expected values are worked out by hand in the comments next to them, never copied
from the functions under test.
"""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from campaigns.rules import (
    DAILY_CAP,
    ELLIPSIS,
    WEEKLY_CAP,
    AddressError,
    FrequencyPolicy,
    PackingError,
    QuietHours,
    check_body,
    first_line,
    frequency_check,
    graphemes,
    list_count,
    list_number,
    list_sizes,
    local_send_time,
    normalize_address,
    normalize_language,
    normalize_phone,
    out_of_quiet_hours,
    pack_lists,
    pack_vip_groups,
    parse_timezone,
    push_preview,
    text_length,
    validate_segment_rules,
    wall_clock,
)
from channels.limits import DEFAULT_LIMITS, PLATFORMS, LengthUnit, Platform, PlatformLimits

MOSCOW = ZoneInfo("Europe/Moscow")  # UTC+3 all year
NEW_YORK = ZoneInfo("America/New_York")  # EST -5 / EDT -4 (from 2026-03-08)
TOKYO = ZoneInfo("Asia/Tokyo")  # UTC+9 all year
LOS_ANGELES = ZoneInfo("America/Los_Angeles")  # PST -8 / PDT -7 (from 2026-03-08)
BERLIN = ZoneInfo("Europe/Berlin")  # CET +1 / CEST +2, 2026-03-29 .. 2026-10-25
HAVANA = ZoneInfo("America/Havana")  # jumps 00:00 -> 01:00 on 2026-03-08, 01:00 -> 00:00 on 2026-11-01
SANTIAGO = ZoneInfo("America/Santiago")  # 00:00 -> 23:00 on 2026-04-05, 00:00 -> 01:00 on 2026-09-06
ZULU = ZoneInfo("UTC")

QUIET = QuietHours(time(21, 0), time(9, 0))

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 👨‍👩‍👧‍👦: 4 emoji + 3 ZWJ
RU_FLAG = "\U0001f1f7\U0001f1fa"  # 🇷🇺: two regional indicators
THUMB_MEDIUM = "\U0001f44d\U0001f3fd"  # 👍🏽: thumbs up + skin tone modifier
THUMB = "\U0001f44d"  # 👍: outside the BMP
E_ACUTE = "e\u0301"  # e + combining acute accent


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- push_preview -------------------------------------------------------------------


def test_push_preview_ascii_exactly_at_limit_is_shown_whole():
    # given a 10-character line and a 10-character preview
    body = "HelloWorld"

    # when
    preview = push_preview(body, 10)

    # then
    assert preview.push == "HelloWorld"
    assert preview.shown == "HelloWorld"
    assert preview.length == 10
    assert preview.limit == 10
    assert preview.fits is True


def test_push_preview_ascii_one_over_limit_is_cut_with_ellipsis():
    # given 11 characters and a limit of 10: 9 characters plus "…"
    body = "Hello World"

    # when
    preview = push_preview(body, 10)

    # then
    assert preview.push == "Hello World"
    assert preview.shown == "Hello Wor…"
    assert preview.length == 11
    assert preview.fits is False


def test_push_preview_cut_drops_trailing_space_before_ellipsis():
    # given a cut that ends on a space: the first 6 characters are "Hello "
    body = "Hello world, friends"

    # when
    preview = push_preview(body, 7)

    # then
    assert preview.shown == "Hello…"
    assert preview.shown.endswith(ELLIPSIS)
    assert preview.length == 20


def test_push_preview_limit_one_shows_only_ellipsis_when_longer():
    assert push_preview("ab", 1).shown == "…"
    assert push_preview("a", 1).shown == "a"
    assert push_preview("a", 1).fits is True


def test_push_preview_uses_first_non_blank_line_trimmed():
    # given blank and whitespace-only lines before the text, and a second line
    body = "\n\n   \t\n  Sale today!  \nSecond line"

    # when
    preview = push_preview(body, 120)

    # then
    assert preview.push == "Sale today!"
    assert preview.shown == "Sale today!"
    assert preview.length == 11


def test_push_preview_crlf_line_end_is_not_part_of_the_line():
    # given Windows line ends
    body = "\r\n\r\nHi there\r\nmore text"

    # when
    preview = push_preview(body, 8)

    # then the "\r" is not counted: "Hi there" is exactly 8
    assert preview.push == "Hi there"
    assert preview.length == 8
    assert preview.fits is True


def test_push_preview_of_empty_or_blank_body_is_empty():
    for body in ("", "   ", "\n \t\n\r\n"):
        preview = push_preview(body, 5)
        assert preview.push == ""
        assert preview.shown == ""
        assert preview.length == 0
        assert preview.fits is True


def test_push_preview_counts_flag_as_one_character():
    # given three flags, each two code points
    body = RU_FLAG * 3

    # when / then: 3 characters fit a limit of 3
    assert push_preview(body, 3).length == 3
    assert push_preview(body, 3).shown == RU_FLAG * 3
    # and a limit of 2 keeps one whole flag, never half of one
    assert push_preview(body, 2).shown == RU_FLAG + "…"


def test_push_preview_counts_skin_tone_emoji_as_one_character():
    body = THUMB_MEDIUM * 3

    assert push_preview(body, 3).length == 3
    assert push_preview(body, 3).fits is True
    assert push_preview(body, 2).shown == THUMB_MEDIUM + "…"


def test_push_preview_counts_zwj_family_once():
    # given "Hi " + family + "!" = H, i, space, family, ! = 5 characters
    body = "Hi " + FAMILY + "!"

    # when
    preview = push_preview(body, 5)

    # then
    assert len(FAMILY) == 7  # code points, to show the difference
    assert preview.length == 5
    assert preview.fits is True
    # a limit of 4 keeps "Hi " (3), strips the space and adds "…"
    assert push_preview(body, 4).shown == "Hi…"
    # a limit of 5 exactly with one more character after it is cut before the family
    assert push_preview(body + "?", 5).shown == "Hi " + FAMILY + "…"


def test_push_preview_keeps_combining_accent_with_its_letter():
    # given five "é" written as e + U+0301 (10 code points)
    body = E_ACUTE * 5

    # when
    preview = push_preview(body, 3)

    # then two whole letters and "…", never an "e" without its accent
    assert preview.length == 5
    assert preview.shown == E_ACUTE * 2 + "…"
    assert push_preview(E_ACUTE * 3, 3).fits is True


def test_push_preview_cyrillic_counts_letters():
    assert push_preview("Привет, мир", 11).fits is True
    assert push_preview("Привет, мир", 10).shown == "Привет, м…"


def test_push_preview_limit_below_one_raises():
    for limit in (0, -1):
        with pytest.raises(ValueError, match="at least 1 character"):
            push_preview("text", limit)


def test_first_line_and_graphemes_helpers():
    assert first_line("\n  \n x \n y") == "x"
    assert first_line("") == ""
    assert graphemes("a" + RU_FLAG + FAMILY + E_ACUTE) == ["a", RU_FLAG, FAMILY, E_ACUTE]


# --- text_length and check_body -----------------------------------------------------


def test_text_length_utf16_counts_astral_characters_twice():
    assert text_length("", LengthUnit.UTF16) == 0
    assert text_length("Привет", LengthUnit.UTF16) == 6  # BMP Cyrillic: 1 each
    assert text_length("漢字", LengthUnit.UTF16) == 2  # BMP CJK: 1 each
    assert text_length(THUMB, LengthUnit.UTF16) == 2  # a surrogate pair
    assert text_length(THUMB_MEDIUM, LengthUnit.UTF16) == 4
    assert text_length(RU_FLAG, LengthUnit.UTF16) == 4
    assert text_length(FAMILY, LengthUnit.UTF16) == 11  # 4 pairs + 3 ZWJ
    assert text_length(E_ACUTE, LengthUnit.UTF16) == 2


def test_text_length_code_points():
    assert text_length("", LengthUnit.CODE_POINTS) == 0
    assert text_length("Привет", LengthUnit.CODE_POINTS) == 6
    assert text_length(THUMB, LengthUnit.CODE_POINTS) == 1
    assert text_length(THUMB_MEDIUM, LengthUnit.CODE_POINTS) == 2
    assert text_length(FAMILY, LengthUnit.CODE_POINTS) == 7
    assert text_length(E_ACUTE, LengthUnit.CODE_POINTS) == 2


def test_default_platform_limits():
    assert DEFAULT_LIMITS[Platform.TELEGRAM] == PlatformLimits(120, 4096, LengthUnit.UTF16, None)
    assert DEFAULT_LIMITS[Platform.WHATSAPP] == PlatformLimits(120, 4096, LengthUnit.CODE_POINTS, 256)
    assert DEFAULT_LIMITS[Platform.VIBER] == PlatformLimits(120, 7000, LengthUnit.CODE_POINTS, 199)
    assert PLATFORMS == (Platform.TELEGRAM, Platform.WHATSAPP, Platform.VIBER)


def test_check_body_telegram_2048_emoji_fit_exactly():
    # given 2048 emoji = 4096 UTF-16 units
    check = check_body(THUMB * 2048, DEFAULT_LIMITS[Platform.TELEGRAM])

    # then
    assert check.length == 4096
    assert check.limit == 4096
    assert check.unit is LengthUnit.UTF16
    assert check.fits is True


def test_check_body_telegram_one_unit_over_does_not_fit():
    assert check_body(THUMB * 2049, DEFAULT_LIMITS[Platform.TELEGRAM]).length == 4098
    assert check_body(THUMB * 2049, DEFAULT_LIMITS[Platform.TELEGRAM]).fits is False
    assert check_body(THUMB * 2048 + "a", DEFAULT_LIMITS[Platform.TELEGRAM]).length == 4097
    assert check_body(THUMB * 2048 + "a", DEFAULT_LIMITS[Platform.TELEGRAM]).fits is False
    assert check_body("я" * 4096, DEFAULT_LIMITS[Platform.TELEGRAM]).fits is True
    assert check_body("я" * 4097, DEFAULT_LIMITS[Platform.TELEGRAM]).fits is False


def test_check_body_whatsapp_counts_emoji_as_one_code_point():
    limits = DEFAULT_LIMITS[Platform.WHATSAPP]

    assert check_body(THUMB * 4096, limits).length == 4096
    assert check_body(THUMB * 4096, limits).fits is True
    assert check_body(THUMB * 4097, limits).fits is False


def test_check_body_viber_7000():
    limits = DEFAULT_LIMITS[Platform.VIBER]

    assert check_body("a" * 7000, limits).fits is True
    assert check_body("a" * 7001, limits).length == 7001
    assert check_body("a" * 7001, limits).fits is False
    assert check_body(THUMB * 7000, limits).fits is True
    assert check_body("", limits).length == 0


def test_check_body_uses_the_limits_passed_in():
    # given an overridden Telegram limit of 10 UTF-16 units
    limits = PlatformLimits(120, 10, LengthUnit.UTF16, None)

    assert check_body(THUMB * 5, limits).fits is True
    assert check_body(THUMB * 5 + "a", limits).fits is False
    assert check_body(THUMB * 5 + "a", limits).limit == 10


# --- list packing -------------------------------------------------------------------


def test_list_count_edges():
    assert list_count(0, 256) == 0
    assert list_count(1, 256) == 1
    assert list_count(256, 256) == 1
    assert list_count(257, 256) == 2
    assert list_count(512, 256) == 2
    assert list_count(513, 256) == 3
    assert list_count(1000, 199) == 6  # 5 * 199 = 995 < 1000
    assert list_count(0, None) == 0
    assert list_count(1_000_000, None) == 1
    assert list_count(5, 1) == 5


def test_list_count_rejects_bad_input():
    with pytest.raises(ValueError, match="negative"):
        list_count(-1, 10)
    with pytest.raises(ValueError, match="at least 1 person"):
        list_count(10, 0)
    with pytest.raises(ValueError, match="at least 1 person"):
        list_count(0, -5)


def test_list_sizes_exact_values():
    assert list_sizes(0, 256) == []
    assert list_sizes(1, 256) == [1]
    assert list_sizes(256, 256) == [256]
    assert list_sizes(257, 256) == [129, 128]
    assert list_sizes(512, 256) == [256, 256]
    assert list_sizes(513, 256) == [171, 171, 171]
    # 1000 / 6 lists = 166 rest 4: four of 167, two of 166
    assert list_sizes(1000, 199) == [167, 167, 167, 167, 166, 166]
    assert list_sizes(7, None) == [7]
    assert list_sizes(0, None) == []
    assert list_sizes(3, 1) == [1, 1, 1]


def test_list_sizes_are_fewest_and_even_for_many_totals():
    for max_size in (1, 2, 3, 7, 199, 256):
        for total in range(0, 1200):
            sizes = list_sizes(total, max_size)
            assert sum(sizes) == total
            assert len(sizes) == -(-total // max_size)
            assert all(1 <= s <= max_size for s in sizes)
            if sizes:
                assert max(sizes) - min(sizes) <= 1
                assert sizes == sorted(sizes, reverse=True)


def test_list_number_matches_list_sizes_for_every_position():
    for max_size in (1, 2, 3, 7, 10, 199, 256, None):
        for total in list(range(1, 400)) + [511, 512, 513, 1000, 1001]:
            expected = [n for n, size in enumerate(list_sizes(total, max_size), 1) for _ in range(size)]
            got = [list_number(p, total, max_size) for p in range(total)]
            assert got == expected, (total, max_size)


def test_list_number_exact_values():
    # 257 with 256: lists of 129 and 128
    assert list_number(0, 257, 256) == 1
    assert list_number(128, 257, 256) == 1
    assert list_number(129, 257, 256) == 2
    assert list_number(256, 257, 256) == 2
    # 1000 with 199: 167,167,167,167,166,166 -> list 5 starts at 668, list 6 at 834
    assert list_number(667, 1000, 199) == 4
    assert list_number(668, 1000, 199) == 5
    assert list_number(833, 1000, 199) == 5
    assert list_number(834, 1000, 199) == 6
    assert list_number(999, 1000, 199) == 6
    assert list_number(41, 42, None) == 1


def test_list_number_rejects_positions_outside_the_audience():
    with pytest.raises(ValueError, match="position -1 is outside 0..9"):
        list_number(-1, 10, 3)
    with pytest.raises(ValueError, match="position 10 is outside 0..9"):
        list_number(10, 10, 3)
    with pytest.raises(ValueError, match="position 0 is outside"):
        list_number(0, 0, 3)


def test_list_number_rejects_bad_max_size():
    with pytest.raises(ValueError, match="at least 1 person"):
        list_number(0, 10, 0)


def test_pack_lists_keeps_order_and_splits_evenly():
    assert pack_lists(list(range(5)), 2) == [[0, 1], [2, 3], [4]]
    assert pack_lists(list("abcdefg"), 3) == [["a", "b", "c"], ["d", "e"], ["f", "g"]]
    assert pack_lists([], 5) == []
    assert pack_lists(["x", "y"], None) == [["x", "y"]]


def test_pack_lists_257_with_256():
    lists = pack_lists(list(range(257)), 256)

    assert [len(part) for part in lists] == [129, 128]
    assert lists[0] + lists[1] == list(range(257))


# --- VIP groups ---------------------------------------------------------------------


def people(n: int) -> list[str]:
    return [f"p{i:03d}" for i in range(n)]


def test_vip_groups_of_exactly_min_and_max():
    assert pack_vip_groups(people(10)) == [people(10)]
    assert pack_vip_groups(people(15)) == [people(15)]


def test_vip_groups_empty():
    assert pack_vip_groups([]) == []


@pytest.mark.parametrize("total", [16, 17, 18, 19])
def test_vip_groups_16_to_19_cannot_be_split(total):
    # 1 group holds at most 15; 2 groups need at least 20
    with pytest.raises(PackingError) as excinfo:
        pack_vip_groups(people(total))

    assert str(excinfo.value) == (
        f"{total} people cannot be split into groups of 10-15: 2 group(s) would need at least 20"
    )


@pytest.mark.parametrize("total", [1, 9])
def test_vip_groups_fewer_than_min_cannot_be_split(total):
    with pytest.raises(PackingError) as excinfo:
        pack_vip_groups(people(total))

    assert str(excinfo.value) == (
        f"{total} people cannot be split into groups of 10-15: 1 group(s) would need at least 10"
    )


def test_vip_groups_exact_sizes():
    assert [len(g) for g in pack_vip_groups(people(20))] == [10, 10]
    assert [len(g) for g in pack_vip_groups(people(30))] == [15, 15]
    assert [len(g) for g in pack_vip_groups(people(31))] == [11, 10, 10]
    # 46 needs 4 groups: 46 = 12 + 12 + 11 + 11
    assert [len(g) for g in pack_vip_groups(people(46))] == [12, 12, 11, 11]
    # 100 needs 7 groups (6 * 15 = 90): 100 = 2 * 15 + 5 * 14
    assert [len(g) for g in pack_vip_groups(people(100))] == [15, 15, 14, 14, 14, 14, 14]


def test_vip_groups_20_keeps_order():
    groups = pack_vip_groups(people(20))

    assert groups == [people(20)[:10], people(20)[10:]]


def test_vip_groups_every_total_up_to_300():
    # n splits into k groups of 10..15 iff 10k <= n <= 15k: impossible only for 1-9 and 16-19
    for total in range(1, 301):
        if total < 10 or 16 <= total <= 19:
            with pytest.raises(PackingError):
                pack_vip_groups(people(total))
            continue
        groups = pack_vip_groups(people(total))
        members = [p for g in groups for p in g]
        assert len(groups) == -(-total // 15), total  # the fewest groups
        assert all(10 <= len(g) <= 15 for g in groups), total
        assert sorted(members) == people(total)  # everyone, nobody twice


def test_vip_groups_keep_a_repeated_person_once():
    # given 16 entries of which 10 are distinct (16 would not split without dedupe)
    entries = people(10) + ["p000", "p001", "p001", "p009", "p005", "p000"]

    # when
    groups = pack_vip_groups(iter(entries))

    # then one group, first appearance order
    assert groups == [people(10)]


def test_vip_groups_duplicates_can_leave_too_few():
    entries = people(9) + ["p000"]

    with pytest.raises(PackingError, match="^9 people cannot be split"):
        pack_vip_groups(entries)


def test_vip_groups_custom_range():
    assert [len(g) for g in pack_vip_groups(people(5), 2, 3)] == [3, 2]
    assert [len(g) for g in pack_vip_groups(people(10), 5, 5)] == [5, 5]
    with pytest.raises(PackingError, match="^11 people cannot be split into groups of 5-5: 3 group"):
        pack_vip_groups(people(11), 5, 5)
    with pytest.raises(PackingError, match="^5 people cannot be split into groups of 3-4: 2 group"):
        pack_vip_groups(people(5), 3, 4)
    assert pack_vip_groups(["a", "b"], 1, 1) == [["a"], ["b"]]


def test_vip_groups_invalid_range_raises_value_error_not_packing_error():
    for low, high in ((0, 5), (5, 4), (-1, 3)):
        with pytest.raises(ValueError) as excinfo:
            pack_vip_groups(people(20), low, high)
        assert excinfo.type is ValueError
        assert str(excinfo.value) == f"group sizes {low}-{high} are not a valid range"


# --- frequency caps -----------------------------------------------------------------

DAILY_ONLY = FrequencyPolicy(max_per_day=1, max_per_week=None)
WEEKLY_ONLY = FrequencyPolicy(max_per_day=None, max_per_week=3)


def test_frequency_no_sends_allowed_now():
    now = utc(2026, 3, 10, 12, 0)

    decision = frequency_check([], FrequencyPolicy(), now, MOSCOW)

    assert decision.allowed is True
    assert decision.earliest == now
    assert decision.reason == ""


def test_frequency_daily_cap_waits_for_next_midnight_in_moscow():
    # given a send at 09:00 MSK and now 15:00 MSK the same day
    now = utc(2026, 3, 10, 12, 0)
    sends = [utc(2026, 3, 10, 6, 0)]

    # when
    decision = frequency_check(sends, DAILY_ONLY, now, MOSCOW)

    # then the next Moscow midnight, 2026-03-11 00:00 MSK = 2026-03-10 21:00 UTC
    assert decision.allowed is False
    assert decision.earliest == utc(2026, 3, 10, 21, 0)
    assert decision.reason == DAILY_CAP


def test_frequency_daily_cap_waits_for_next_midnight_in_new_york():
    # given a send at 08:00 EST and now 10:00 EST on 2026-01-15
    now = utc(2026, 1, 15, 15, 0)
    sends = [utc(2026, 1, 15, 13, 0)]

    decision = frequency_check(sends, DAILY_ONLY, now, NEW_YORK)

    # then 2026-01-16 00:00 EST = 05:00 UTC
    assert decision.allowed is False
    assert decision.earliest == utc(2026, 1, 16, 5, 0)
    assert decision.reason == DAILY_CAP


def test_frequency_send_yesterday_locally_but_today_in_utc_does_not_count():
    # given a send at 2026-01-15 03:00 UTC = 2026-01-14 22:00 EST, now 10:00 EST on the 15th
    now = utc(2026, 1, 15, 15, 0)
    sends = [utc(2026, 1, 15, 3, 0)]

    decision = frequency_check(sends, DAILY_ONLY, now, NEW_YORK)

    assert decision.allowed is True
    assert decision.earliest == now
    assert decision.reason == ""


def test_frequency_send_today_locally_but_yesterday_in_utc_counts():
    # given a send at 2026-01-14 22:00 UTC = 2026-01-15 01:00 MSK, now 13:00 MSK on the 15th
    now = utc(2026, 1, 15, 10, 0)
    sends = [utc(2026, 1, 14, 22, 0)]

    decision = frequency_check(sends, DAILY_ONLY, now, MOSCOW)

    # then 2026-01-16 00:00 MSK = 2026-01-15 21:00 UTC
    assert decision.allowed is False
    assert decision.earliest == utc(2026, 1, 15, 21, 0)


def test_frequency_daily_cap_of_two():
    now = utc(2026, 3, 10, 12, 0)
    policy = FrequencyPolicy(max_per_day=2, max_per_week=None)

    one = frequency_check([utc(2026, 3, 10, 6, 0)], policy, now, ZULU)
    two = frequency_check([utc(2026, 3, 10, 6, 0), utc(2026, 3, 10, 7, 0)], policy, now, ZULU)

    assert one.allowed is True
    assert two.allowed is False
    assert two.earliest == utc(2026, 3, 11, 0, 0)


def test_frequency_send_at_now_counts_and_later_sends_are_ignored():
    now = utc(2026, 3, 10, 12, 0)

    at_now = frequency_check([now], DAILY_ONLY, now, ZULU)
    later = frequency_check([now + timedelta(hours=1)], DAILY_ONLY, now, ZULU)

    assert at_now.allowed is False
    assert at_now.earliest == utc(2026, 3, 11, 0, 0)
    assert later.allowed is True
    assert later.earliest == now


def test_frequency_weekly_cap_waits_for_oldest_send_to_leave_the_window():
    # given three sends in the last 7 days and a cap of 3
    now = utc(2026, 3, 10, 12, 0)
    sends = [utc(2026, 3, 8, 12, 0), utc(2026, 3, 4, 12, 0), utc(2026, 3, 6, 12, 0)]

    decision = frequency_check(sends, WEEKLY_ONLY, now, MOSCOW)

    # then when the oldest (03-04 12:00) is 7 days old
    assert decision.allowed is False
    assert decision.earliest == utc(2026, 3, 11, 12, 0)
    assert decision.reason == WEEKLY_CAP


def test_frequency_weekly_cap_with_more_sends_than_the_cap():
    # given four sends in the week, cap 3: two must leave, so wait for the second oldest
    now = utc(2026, 3, 10, 12, 0)
    sends = [
        utc(2026, 3, 4, 13, 0),
        utc(2026, 3, 5, 13, 0),
        utc(2026, 3, 6, 13, 0),
        utc(2026, 3, 9, 13, 0),
    ]

    decision = frequency_check(sends, WEEKLY_ONLY, now, ZULU)

    assert decision.earliest == utc(2026, 3, 12, 13, 0)
    # one second before, three sends are still inside the window
    before = frequency_check(sends, WEEKLY_ONLY, utc(2026, 3, 12, 12, 59, 59), ZULU)
    assert before.allowed is False
    at = frequency_check(sends, WEEKLY_ONLY, utc(2026, 3, 12, 13, 0), ZULU)
    assert at.allowed is True


def test_frequency_weekly_window_excludes_a_send_exactly_7_days_old():
    now = utc(2026, 3, 10, 12, 0)
    sends = [now - timedelta(days=7), now - timedelta(days=3), now - timedelta(days=1)]

    decision = frequency_check(sends, WEEKLY_ONLY, now, ZULU)

    assert decision.allowed is True
    assert decision.earliest == now
    assert decision.reason == ""


def test_frequency_weekly_window_includes_a_send_just_under_7_days_old():
    now = utc(2026, 3, 10, 12, 0)
    oldest = now - timedelta(days=7) + timedelta(seconds=1)
    sends = [oldest, now - timedelta(days=3), now - timedelta(days=1)]

    decision = frequency_check(sends, WEEKLY_ONLY, now, ZULU)

    assert decision.allowed is False
    assert decision.earliest == now + timedelta(seconds=1)


def test_frequency_weekly_window_is_168_real_hours_across_dst():
    # given three sends in Berlin around the spring change (2026-03-29)
    now = utc(2026, 3, 30, 10, 0)
    sends = [utc(2026, 3, 25, 10, 0), utc(2026, 3, 26, 10, 0), utc(2026, 3, 27, 10, 0)]

    decision = frequency_check(sends, WEEKLY_ONLY, now, BERLIN)

    # then 7 * 24 h after the oldest: 11:00 CET then, 12:00 CEST now
    assert decision.earliest == utc(2026, 4, 1, 10, 0)


def test_frequency_daily_then_weekly_cap():
    # given (Moscow) sends on 03-04 21:00 MSK, 03-07 and today 03-10 11:00 MSK, now 15:00 MSK
    now = utc(2026, 3, 10, 12, 0)
    sends = [utc(2026, 3, 4, 18, 0), utc(2026, 3, 7, 12, 0), utc(2026, 3, 10, 8, 0)]

    decision = frequency_check(sends, FrequencyPolicy(max_per_day=1, max_per_week=3), now, MOSCOW)

    # then the daily cap moves to 03-11 00:00 MSK (03-10 21:00 UTC), where all three sends
    # are still within 7 days; the weekly cap then moves to 03-04 18:00 + 7 days
    assert decision.allowed is False
    assert decision.earliest == utc(2026, 3, 11, 18, 0)
    assert decision.reason == DAILY_CAP


def test_frequency_daily_cap_alone_when_weekly_allows_at_midnight():
    now = utc(2026, 3, 10, 12, 0)
    sends = [utc(2026, 3, 3, 14, 0), utc(2026, 3, 5, 12, 0), utc(2026, 3, 10, 8, 0)]

    decision = frequency_check(sends, FrequencyPolicy(max_per_day=1, max_per_week=3), now, ZULU)

    # at 03-11 00:00 the 03-03 send is out of the window: only two remain
    assert decision.earliest == utc(2026, 3, 11, 0, 0)
    assert decision.reason == DAILY_CAP


def test_frequency_weekly_reason_when_only_weekly_blocks():
    now = utc(2026, 3, 10, 12, 0)
    sends = [utc(2026, 3, 4, 12, 0), utc(2026, 3, 6, 12, 0), utc(2026, 3, 8, 12, 0)]

    decision = frequency_check(sends, FrequencyPolicy(max_per_day=1, max_per_week=3), now, ZULU)

    assert decision.earliest == utc(2026, 3, 11, 12, 0)
    assert decision.reason == WEEKLY_CAP


def test_frequency_no_caps_means_unlimited():
    now = utc(2026, 3, 10, 12, 0)
    sends = [now - timedelta(minutes=m) for m in range(50)]

    decision = frequency_check(sends, FrequencyPolicy(max_per_day=None, max_per_week=None), now, MOSCOW)

    assert decision.allowed is True
    assert decision.earliest == now
    assert decision.reason == ""


def test_frequency_next_midnight_skipped_by_dst_in_havana():
    # given Havana, where 2026-03-08 00:00 CST jumps to 01:00 CDT (05:00 UTC);
    # a send at 10:00 CST on 03-07 and now 20:00 CST on 03-07
    now = utc(2026, 3, 8, 1, 0)
    sends = [utc(2026, 3, 7, 15, 0)]

    decision = frequency_check(sends, DAILY_ONLY, now, HAVANA)

    # then the first instant of 03-08 local: the jump, 05:00 UTC (01:00 CDT)
    assert decision.allowed is False
    assert decision.earliest == utc(2026, 3, 8, 5, 0)
    assert decision.earliest.astimezone(HAVANA).hour == 1


def test_frequency_next_midnight_skipped_by_dst_in_santiago():
    # given Santiago, where 2026-09-06 00:00 -04 jumps to 01:00 -03 (04:00 UTC)
    now = utc(2026, 9, 6, 0, 0)  # 20:00 -04 on 09-05
    sends = [utc(2026, 9, 5, 14, 0)]  # 10:00 -04 on 09-05

    decision = frequency_check(sends, DAILY_ONLY, now, SANTIAGO)

    assert decision.earliest == utc(2026, 9, 6, 4, 0)


def test_frequency_next_midnight_after_santiago_repeats_an_hour():
    # given Santiago, where 2026-04-05 00:00 -03 goes back to 04-04 23:00 -04 (03:00 UTC);
    # now is 23:45 of the repeated hour, 04-05 03:45 UTC, and there was a send on 04-04
    now = utc(2026, 4, 5, 3, 45)
    sends = [utc(2026, 4, 4, 15, 0)]  # 12:00 -03 on 04-04

    decision = frequency_check(sends, DAILY_ONLY, now, SANTIAGO)

    # then 04-05 begins at 00:00 -04 = 04:00 UTC
    assert decision.earliest == utc(2026, 4, 5, 4, 0)


def test_frequency_repeated_midnight_uses_first_occurrence_in_havana():
    # given Havana, where 2026-11-01 01:00 CDT goes back to 00:00 CST: midnight happens
    # at 04:00 UTC (CDT) and again at 05:00 UTC (CST); a send on 10-31 local
    now = utc(2026, 11, 1, 0, 0)  # 20:00 CDT on 10-31
    sends = [utc(2026, 10, 31, 14, 0)]  # 10:00 CDT on 10-31

    decision = frequency_check(sends, DAILY_ONLY, now, HAVANA)

    # then the day starts at the first midnight
    assert decision.earliest == utc(2026, 11, 1, 4, 0)


# --- wall_clock, quiet hours and local send time -------------------------------------


def test_wall_clock_gap_and_fold():
    # 02:30 does not exist in Berlin on 2026-03-29: the same distance past the jump
    assert wall_clock(datetime(2026, 3, 29).date(), time(2, 30), BERLIN) == utc(2026, 3, 29, 1, 30)
    # 02:30 happens twice on 2026-10-25: the first, CEST
    assert wall_clock(datetime(2026, 10, 25).date(), time(2, 30), BERLIN) == utc(2026, 10, 25, 0, 30)
    # even when asked for the second occurrence
    assert wall_clock(datetime(2026, 10, 25).date(), time(2, 30, fold=1), BERLIN) == utc(
        2026, 10, 25, 0, 30
    )


def test_quiet_hours_across_midnight():
    quiet = QuietHours(time(21, 0), time(9, 0))

    assert quiet.contains(time(21, 0)) is True
    assert quiet.contains(time(23, 59)) is True
    assert quiet.contains(time(0, 0)) is True
    assert quiet.contains(time(8, 59, 59)) is True
    assert quiet.contains(time(9, 0)) is False
    assert quiet.contains(time(12, 0)) is False
    assert quiet.contains(time(20, 59, 59)) is False


def test_quiet_hours_within_one_day():
    quiet = QuietHours(time(13, 0), time(15, 0))

    assert quiet.contains(time(12, 59, 59)) is False
    assert quiet.contains(time(13, 0)) is True
    assert quiet.contains(time(14, 59)) is True
    assert quiet.contains(time(15, 0)) is False
    assert quiet.contains(time(0, 0)) is False


def test_quiet_hours_start_equal_end_is_never_quiet():
    quiet = QuietHours(time(9, 0), time(9, 0))

    for hour in range(24):
        assert quiet.contains(time(hour, 0)) is False
        assert quiet.contains(time(hour, 30)) is False


def test_quiet_hours_ignore_tzinfo_and_fold_of_the_time():
    quiet = QuietHours(time(21, 0), time(9, 0))

    assert quiet.contains(time(22, 0, tzinfo=UTC)) is True
    assert quiet.contains(time(10, 0, fold=1)) is False


def test_out_of_quiet_hours_late_evening_moves_to_next_morning():
    # 22:00 MSK on 03-10 -> 09:00 MSK on 03-11 = 06:00 UTC
    result = out_of_quiet_hours(utc(2026, 3, 10, 19, 0), MOSCOW, QUIET)

    assert result == utc(2026, 3, 11, 6, 0)
    assert result.utcoffset() == timedelta(0)


def test_out_of_quiet_hours_early_morning_moves_to_same_morning():
    # 03:00 MSK on 03-10 -> 09:00 MSK on 03-10 = 06:00 UTC
    assert out_of_quiet_hours(utc(2026, 3, 10, 0, 0), MOSCOW, QUIET) == utc(2026, 3, 10, 6, 0)


def test_out_of_quiet_hours_start_is_quiet_and_end_is_not():
    # 21:00 MSK is quiet, 09:00 MSK is not
    assert out_of_quiet_hours(utc(2026, 3, 10, 18, 0), MOSCOW, QUIET) == utc(2026, 3, 11, 6, 0)
    assert out_of_quiet_hours(utc(2026, 3, 10, 6, 0), MOSCOW, QUIET) == utc(2026, 3, 10, 6, 0)


def test_out_of_quiet_hours_midday_unchanged():
    moment = utc(2026, 3, 10, 9, 0)  # 12:00 MSK

    assert out_of_quiet_hours(moment, MOSCOW, QUIET) == moment
    assert out_of_quiet_hours(utc(2026, 3, 10, 19, 0), MOSCOW, None) == utc(2026, 3, 10, 19, 0)


def test_out_of_quiet_hours_window_within_one_day():
    quiet = QuietHours(time(13, 0), time(15, 0))

    # 14:00 MSK -> 15:00 MSK the same day
    assert out_of_quiet_hours(utc(2026, 3, 10, 11, 0), MOSCOW, quiet) == utc(2026, 3, 10, 12, 0)
    assert out_of_quiet_hours(utc(2026, 3, 10, 13, 0), MOSCOW, quiet) == utc(2026, 3, 10, 13, 0)


def test_out_of_quiet_hours_never_goes_back_and_never_lands_in_quiet_across_dst():
    # every 15 minutes over Berlin's two DST weekends, with 21:00-09:00
    for start in (utc(2026, 3, 27, 0, 0), utc(2026, 10, 23, 0, 0)):
        for step in range(4 * 24 * 4):
            moment = start + timedelta(minutes=15 * step)
            result = out_of_quiet_hours(moment, BERLIN, QUIET)
            assert result >= moment, moment
            assert QUIET.contains(result.astimezone(BERLIN).time()) is False, moment
            if not QUIET.contains(moment.astimezone(BERLIN).time()):
                assert result == moment


def test_out_of_quiet_hours_end_in_repeated_hour_is_not_before_the_moment():
    # given quiet hours ending at 02:30 and Berlin's fall-back night (2026-10-25), where
    # 02:00-03:00 happens twice; the moment is 01:15 UTC = 02:15 CET, the second pass,
    # after the first 02:30 (00:30 UTC) is already over
    moment = utc(2026, 10, 25, 1, 15)
    quiet = QuietHours(time(21, 0), time(2, 30))

    # when
    result = out_of_quiet_hours(moment, BERLIN, quiet)

    # then the next time clocks show 02:30: 02:30 CET = 01:30 UTC, never a time in the past
    assert result == utc(2026, 10, 25, 1, 30)


def test_local_send_time_same_wall_clock_in_each_zone():
    # given a campaign at 10:00 Moscow time on 2026-01-20 (07:00 UTC)
    send_at = datetime(2026, 1, 20, 10, 0, tzinfo=MOSCOW)

    def at(tz):
        return local_send_time(send_at, tz, local_time=True, campaign_tz=MOSCOW, quiet=None)

    # then 10:00 in each subscriber's zone
    assert at(MOSCOW) == utc(2026, 1, 20, 7, 0)
    assert at(TOKYO) == utc(2026, 1, 20, 1, 0)  # 10:00 JST, UTC+9
    assert at(LOS_ANGELES) == utc(2026, 1, 20, 18, 0)  # 10:00 PST, UTC-8
    assert at(TOKYO).utcoffset() == timedelta(0)


def test_local_send_time_follows_subscriber_dst():
    # Los Angeles is on PDT (UTC-7) from 2026-03-08, Moscow has no DST
    send_at = datetime(2026, 3, 10, 10, 0, tzinfo=MOSCOW)

    result = local_send_time(send_at, LOS_ANGELES, local_time=True, campaign_tz=MOSCOW, quiet=None)

    assert result == utc(2026, 3, 10, 17, 0)


def test_local_send_time_reads_date_in_campaign_zone():
    # given 2026-03-10 23:30 UTC = 2026-03-11 02:30 MSK
    send_at = utc(2026, 3, 10, 23, 30)

    result = local_send_time(send_at, TOKYO, local_time=True, campaign_tz=MOSCOW, quiet=None)

    # then 2026-03-11 02:30 JST = 2026-03-10 17:30 UTC
    assert result == utc(2026, 3, 10, 17, 30)


def test_local_send_time_wall_clock_depends_on_campaign_zone():
    send_at = utc(2026, 1, 20, 7, 0)  # 10:00 MSK, 08:00 CET

    moscow = local_send_time(send_at, TOKYO, local_time=True, campaign_tz=MOSCOW, quiet=None)
    berlin = local_send_time(send_at, TOKYO, local_time=True, campaign_tz=BERLIN, quiet=None)

    assert moscow == utc(2026, 1, 20, 1, 0)  # 10:00 JST
    assert berlin == utc(2026, 1, 19, 23, 0)  # 08:00 JST


def test_local_send_time_without_local_time_is_the_same_instant_for_everyone():
    send_at = datetime(2026, 1, 20, 10, 0, tzinfo=MOSCOW)

    for tz in (MOSCOW, TOKYO, LOS_ANGELES):
        result = local_send_time(send_at, tz, local_time=False, campaign_tz=MOSCOW, quiet=None)
        assert result == utc(2026, 1, 20, 7, 0)
        assert result.utcoffset() == timedelta(0)


def test_local_send_time_skipped_wall_time_in_berlin_spring():
    # given 02:30 on 2026-03-29, which Berlin skips (02:00 CET -> 03:00 CEST)
    send_at = datetime(2026, 3, 29, 2, 30, tzinfo=MOSCOW)

    result = local_send_time(send_at, BERLIN, local_time=True, campaign_tz=MOSCOW, quiet=None)

    # then 03:30 CEST = 01:30 UTC
    assert result == utc(2026, 3, 29, 1, 30)


def test_local_send_time_repeated_wall_time_in_berlin_autumn():
    # given 02:30 on 2026-10-25, which Berlin sees twice (CEST then CET)
    send_at = datetime(2026, 10, 25, 2, 30, tzinfo=MOSCOW)

    result = local_send_time(send_at, BERLIN, local_time=True, campaign_tz=MOSCOW, quiet=None)

    # then the first: 02:30 CEST = 00:30 UTC
    assert result == utc(2026, 10, 25, 0, 30)


def test_local_send_time_quiet_hours_on_the_dst_day():
    # given 07:00 on 2026-03-29 in Berlin (already CEST), quiet until 09:00
    send_at = datetime(2026, 3, 29, 7, 0, tzinfo=MOSCOW)

    quiet = local_send_time(send_at, BERLIN, local_time=True, campaign_tz=MOSCOW, quiet=QUIET)
    loud = local_send_time(send_at, BERLIN, local_time=True, campaign_tz=MOSCOW, quiet=None)

    # then 09:00 CEST = 07:00 UTC; without quiet hours 07:00 CEST = 05:00 UTC
    assert quiet == utc(2026, 3, 29, 7, 0)
    assert loud == utc(2026, 3, 29, 5, 0)


def test_local_send_time_quiet_hours_the_day_before_dst():
    # 07:00 CET on 2026-03-28 -> 09:00 CET = 08:00 UTC
    send_at = datetime(2026, 3, 28, 7, 0, tzinfo=MOSCOW)

    result = local_send_time(send_at, BERLIN, local_time=True, campaign_tz=MOSCOW, quiet=QUIET)

    assert result == utc(2026, 3, 28, 8, 0)


def test_local_send_time_quiet_hours_move_to_next_day():
    # 22:00 JST on 03-10 is quiet -> 09:00 JST on 03-11 = 03-11 00:00 UTC
    send_at = datetime(2026, 3, 10, 22, 0, tzinfo=MOSCOW)

    result = local_send_time(send_at, TOKYO, local_time=True, campaign_tz=MOSCOW, quiet=QUIET)

    assert result == utc(2026, 3, 11, 0, 0)


def test_local_send_time_quiet_hours_apply_without_local_time():
    # 12:00 UTC = 21:00 JST (quiet starts) -> 09:00 JST next day = 00:00 UTC
    send_at = utc(2026, 3, 10, 12, 0)

    tokyo = local_send_time(send_at, TOKYO, local_time=False, campaign_tz=MOSCOW, quiet=QUIET)
    moscow = local_send_time(send_at, MOSCOW, local_time=False, campaign_tz=MOSCOW, quiet=QUIET)

    assert tokyo == utc(2026, 3, 11, 0, 0)
    assert moscow == send_at  # 15:00 MSK


# --- addresses ----------------------------------------------------------------------


def test_telegram_address_is_a_numeric_chat_id():
    assert normalize_address("telegram", "123456789") == "123456789"
    assert normalize_address("telegram", "  42 ") == "42"
    assert normalize_address("telegram", "007") == "7"
    assert normalize_address("telegram", "-1001234567890") == "-1001234567890"
    assert normalize_address("telegram", "-0042") == "-42"
    assert normalize_address(Platform.TELEGRAM, "5") == "5"


@pytest.mark.parametrize("raw", ["@username", "12a", "+123", "1 2", "--5", "1" * 21, "1.5"])
def test_telegram_address_rejects_non_ids(raw):
    with pytest.raises(AddressError, match="numeric chat id"):
        normalize_address("telegram", raw)


@pytest.mark.parametrize("raw", ["", "   ", None])
def test_empty_address_raises(raw):
    for platform in ("telegram", "whatsapp", "viber"):
        with pytest.raises(AddressError, match="^address is empty$"):
            normalize_address(platform, raw)


def test_unknown_platform_raises():
    with pytest.raises(ValueError):
        normalize_address("sms", "+79990001122")


def test_whatsapp_phone_in_international_forms():
    assert normalize_address("whatsapp", "+7 999 000-11-22") == "+79990001122"
    assert normalize_address("whatsapp", "+7 (999) 000-11-22") == "+79990001122"
    assert normalize_address("whatsapp", "0079990001122") == "+79990001122"
    assert normalize_address("whatsapp", "+1 650 253 0000") == "+16502530000"
    # a "+" number ignores the default region
    assert normalize_address("whatsapp", "+44 20 7183 8750", "RU") == "+442071838750"


def test_whatsapp_phone_without_country_code_needs_a_region():
    with pytest.raises(AddressError, match="has no country code"):
        normalize_address("whatsapp", "8 999 000 11 22")
    with pytest.raises(AddressError, match="has no country code"):
        normalize_address("whatsapp", "79990001122")


def test_whatsapp_phone_with_default_region():
    assert normalize_address("whatsapp", "8 999 000 11 22", "RU") == "+79990001122"
    assert normalize_address("whatsapp", "(650) 253-0000", "US") == "+16502530000"


@pytest.mark.parametrize("raw", ["+7 999", "+7 000 000 00 00", "+999 1234567", "+abc"])
def test_whatsapp_invalid_numbers_raise(raw):
    with pytest.raises(AddressError):
        normalize_address("whatsapp", raw)


def test_normalize_phone_messages():
    with pytest.raises(AddressError, match=r"^'\+7 999' is not a valid phone number$"):
        normalize_phone("+7 999")
    with pytest.raises(AddressError, match=r"^'\+abc' is not a phone number"):
        normalize_phone("+abc")
    with pytest.raises(AddressError, match="^phone number 'abc' has no country code"):
        normalize_phone("abc")
    assert normalize_phone(" 00 7 999 000 11 22 ") == "+79990001122"


def test_viber_phone_or_viber_id():
    assert normalize_address("viber", "+7 999 000-11-22") == "+79990001122"
    assert normalize_address("viber", "0079990001122") == "+79990001122"
    assert normalize_address("viber", "8 999 000 11 22", "RU") == "+79990001122"
    # a Viber user id is kept exactly as it is
    assert normalize_address("viber", "01234567890A=") == "01234567890A="
    assert normalize_address("viber", " pa0L+KkR/Ab6c7d8e9f0gA== ") == "pa0L+KkR/Ab6c7d8e9f0gA=="


def test_viber_phone_in_national_format_with_parentheses():
    # given a national number with a region, which WhatsApp accepts
    assert normalize_address("whatsapp", "(650) 253-0000", "US") == "+16502530000"

    # then Viber, which takes phones too, accepts it the same way
    assert normalize_address("viber", "(650) 253-0000", "US") == "+16502530000"
    assert normalize_address("viber", "(999) 000-11-22", "RU") == "+79990001122"


@pytest.mark.parametrize("raw", ["hello world!", "short", "a" * 65, "abc$defgh", "абвгдежзи"])
def test_viber_garbage_raises(raw):
    with pytest.raises(AddressError, match="neither a phone number nor a Viber user id"):
        normalize_address("viber", raw)


def test_viber_digits_without_country_code_are_a_phone():
    with pytest.raises(AddressError, match="has no country code"):
        normalize_address("viber", "89990001122")


# --- zones and languages ------------------------------------------------------------


def test_parse_timezone_accepts_iana_names():
    assert parse_timezone("Europe/Moscow") == ZoneInfo("Europe/Moscow")
    assert parse_timezone("Europe/Moscow").key == "Europe/Moscow"
    assert parse_timezone("America/Santiago").key == "America/Santiago"
    assert parse_timezone("UTC").key == "UTC"


@pytest.mark.parametrize("name", ["europe/moscow", "Mars/Base", "", " Europe/Moscow", "MSK+3"])
def test_parse_timezone_rejects_other_spellings(name):
    with pytest.raises(ValueError, match="unknown time zone"):
        parse_timezone(name)


def test_normalize_language():
    assert normalize_language("RU") == "ru"
    assert normalize_language(" en ") == "en"
    assert normalize_language("pt_BR") == "pt-br"
    assert normalize_language("zh-Hant-TW") == "zh-hant-tw"
    assert normalize_language("fil") == "fil"


@pytest.mark.parametrize("code", ["russian1", "russian", "r", "", "en-", "en--us", "ру", "e1", "en-a"])
def test_normalize_language_rejects(code):
    with pytest.raises(ValueError, match="is not a language code"):
        normalize_language(code)


# --- segment rules ------------------------------------------------------------------


def test_segment_rules_empty_get_full_form():
    assert validate_segment_rules({}) == {
        "tags_all": [],
        "tags_any": [],
        "platforms": [],
        "attributes": {},
    }


def test_segment_rules_none_values_mean_empty():
    rules = {"tags_all": None, "tags_any": None, "platforms": None, "attributes": None}

    assert validate_segment_rules(rules) == {
        "tags_all": [],
        "tags_any": [],
        "platforms": [],
        "attributes": {},
    }


def test_segment_rules_are_normalised():
    # given unsorted, repeated, padded tags and platforms out of order
    rules = {
        "tags_all": ["vip", " vip", "alpha", "vip "],
        "tags_any": ["b", "a", "b"],
        "platforms": ["viber", "telegram", "viber"],
        "attributes": {"city": "Moscow", "age": 30, "score": 1.5, "active": True},
    }

    # when
    out = validate_segment_rules(rules)

    # then
    assert out == {
        "tags_all": ["alpha", "vip"],
        "tags_any": ["a", "b"],
        "platforms": ["telegram", "viber"],
        "attributes": {"city": "Moscow", "age": 30, "score": 1.5, "active": True},
    }
    assert list(out) == ["tags_all", "tags_any", "platforms", "attributes"]


def test_segment_rules_do_not_share_the_input_attributes():
    attributes = {"city": "Moscow"}

    out = validate_segment_rules({"attributes": attributes})
    out["attributes"]["city"] = "Kazan"

    assert attributes == {"city": "Moscow"}


def test_segment_rules_unknown_keys_are_named():
    with pytest.raises(ValueError) as excinfo:
        validate_segment_rules({"zzz": 1, "tags_all": [], "tag": ["vip"]})

    assert str(excinfo.value) == (
        "unknown rule(s) tag, zzz; known: tags_all, tags_any, platforms, attributes"
    )


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"tags_all": "vip"}, "tags_all must be a list of tag names"),
        ({"tags_all": ["vip", ""]}, "tags_all must be a list of tag names"),
        ({"tags_any": ["  "]}, "tags_any must be a list of tag names"),
        ({"tags_any": [1]}, "tags_any must be a list of tag names"),
        ({"tags_any": ("a",)}, "tags_any must be a list of tag names"),
        ({"platforms": ["sms"]}, "platforms must be a list of telegram, whatsapp, viber"),
        ({"platforms": "telegram"}, "platforms must be a list of telegram, whatsapp, viber"),
        ({"platforms": ["Telegram"]}, "platforms must be a list of telegram, whatsapp, viber"),
        ({"attributes": {"x": None}}, "attributes must map names to"),
        ({"attributes": {"x": [1]}}, "attributes must map names to"),
        ({"attributes": {"x": {"y": 1}}}, "attributes must map names to"),
        ({"attributes": ["x"]}, "attributes must map names to"),
    ],
)
def test_segment_rules_bad_types_raise(rules, message):
    with pytest.raises(ValueError, match=message):
        validate_segment_rules(rules)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"tags_all": ""}, "tags_all must be a list of tag names"),
        ({"tags_any": {}}, "tags_any must be a list of tag names"),
        ({"attributes": []}, "attributes must map names to"),
    ],
)
def test_segment_rules_empty_values_of_the_wrong_type_raise(rules, message):
    with pytest.raises(ValueError, match=message):
        validate_segment_rules(rules)


def test_segment_rules_must_be_a_mapping():
    for rules in (["tags_all"], "tags_all", None):
        with pytest.raises(ValueError, match="^rules must be an object$"):
            validate_segment_rules(rules)


@pytest.mark.parametrize("policy", [FrequencyPolicy(max_per_day=0), FrequencyPolicy(max_per_day=None, max_per_week=0)])
def test_frequency_check_refuses_a_cap_of_zero(policy):
    with pytest.raises(ValueError, match="at least 1"):
        frequency_check([], policy, datetime(2026, 11, 24, 12, 0, tzinfo=UTC), ZoneInfo("Europe/Moscow"))
