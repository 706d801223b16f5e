from datetime import datetime, timezone

import pytest

from devhost.ncrontab import CronSchedule, next_occurrence


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def test_every_minute_fires_at_second_zero():
    assert next_occurrence("0 * * * * *", utc(2024, 5, 1, 10, 15, 30)) == utc(2024, 5, 1, 10, 16, 0)


def test_next_occurrence_is_strictly_after():
    assert next_occurrence("0 * * * * *", utc(2024, 5, 1, 10, 16, 0)) == utc(2024, 5, 1, 10, 17, 0)


def test_sub_second_input_rounds_forward():
    assert next_occurrence("* * * * * *", utc(2024, 5, 1, 10, 0, 0).replace(microsecond=999)) == utc(2024, 5, 1, 10, 0, 1)


def test_every_fifteen_seconds():
    schedule = CronSchedule("*/15 * * * * *")
    t = utc(2024, 5, 1, 10, 0, 1)
    seen = []
    for _ in range(5):
        t = schedule.next_occurrence(t)
        seen.append((t.minute, t.second))
    assert seen == [(0, 15), (0, 30), (0, 45), (1, 0), (1, 15)]


def test_weekdays_at_half_past_nine():
    schedule = CronSchedule("0 30 9 * * MON-FRI")
    # Friday 2024-05-03 after 09:30 -> Monday 2024-05-06 09:30.
    assert schedule.next_occurrence(utc(2024, 5, 3, 9, 30, 0)) == utc(2024, 5, 6, 9, 30, 0)
    assert schedule.next_occurrence(utc(2024, 5, 6, 8, 0, 0)) == utc(2024, 5, 6, 9, 30, 0)


def test_ranges_steps_and_lists():
    schedule = CronSchedule("0 0 8-18/5 * * *")
    assert schedule.hours == {8, 13, 18}
    assert CronSchedule("0 5,10,50-52 * * * *").minutes == {5, 10, 50, 51, 52}
    assert CronSchedule("0 10/20 * * * *").minutes == {10, 30, 50}


def test_month_and_day_names_are_case_insensitive():
    schedule = CronSchedule("0 0 12 1 jan,Jul sun")
    assert schedule.months == {1, 7}
    assert schedule.weekdays == {0}
    # Both day fields must match (NCrontab): the first Sunday that is the 1st of January or July.
    assert schedule.next_occurrence(utc(2024, 1, 1)) == utc(2029, 7, 1, 12, 0, 0)


def test_month_boundaries_and_leap_day():
    assert next_occurrence("0 0 0 29 2 *", utc(2023, 3, 1)) == utc(2024, 2, 29)
    assert next_occurrence("0 0 0 31 * *", utc(2024, 4, 1)) == utc(2024, 5, 31)
    assert next_occurrence("59 59 23 31 12 *", utc(2024, 12, 31, 23, 59, 59)) == utc(2025, 12, 31, 23, 59, 59)


def test_five_fields_mean_second_zero():
    assert next_occurrence("*/5 * * * *", utc(2024, 5, 1, 10, 1, 0)) == utc(2024, 5, 1, 10, 5, 0)


def test_naive_and_other_zones_are_read_as_instants_and_answered_in_utc():
    from datetime import timedelta
    plus_two = timezone(timedelta(hours=2))
    assert next_occurrence("0 0 * * * *", datetime(2024, 5, 1, 12, 30, tzinfo=plus_two)) == utc(2024, 5, 1, 11, 0)
    assert next_occurrence("0 0 * * * *", datetime(2024, 5, 1, 12, 30)) == utc(2024, 5, 1, 13, 0)


@pytest.mark.parametrize("expression, message", [
    ("* * * * *  * *", "has 7 fields; expected 6"),
    ("0 * *", "has 3 fields"),
    ("60 * * * * *", "second field '60': 60 is outside 0-59"),
    ("0 0 24 * * *", "hour field '24'"),
    ("0 0 0 0 * *", "day field '0': 0 is outside 1-31"),
    ("0 0 0 * 13 *", "month field '13'"),
    ("0 0 0 * * 7", "day-of-week field '7'"),
    ("0 */0 * * * *", "step '0' is not a positive whole number"),
    ("0 5-1 * * * *", "runs backwards"),
    ("0 1,,2 * * * *", "empty list item"),
    ("0 0 0 * * FUN", "'FUN' is not a number or a name such as SUN"),
    ("0 0 0 * * ?", "'?' is not a number"),
    ("x * * * * *", "'x' is not a number"),
])
def test_invalid_expressions_say_what_is_wrong(expression, message):
    with pytest.raises(ValueError) as raised:
        CronSchedule(expression)
    assert message in str(raised.value)
    assert repr(expression) in str(raised.value)


def test_a_schedule_that_never_occurs_raises():
    with pytest.raises(ValueError, match="never occurs"):
        next_occurrence("0 0 0 30 2 *", utc(2024, 1, 1))
