"""NCRONTAB schedules, as the Azure Functions timer trigger reads them.

``{second} {minute} {hour} {day} {month} {day-of-week}``, evaluated in UTC. A five-field expression is
accepted too (Azure does: the seconds field is then ``0``). As in the NCrontab library Azure uses, a time
must match *both* the day-of-month and the day-of-week fields (classic cron matches either).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

_MONTHS = ("JANUARY", "FEBRUARY", "MARCH", "APRIL", "MAY", "JUNE", "JULY", "AUGUST", "SEPTEMBER",
           "OCTOBER", "NOVEMBER", "DECEMBER")
_DAYS = ("SUNDAY", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY")


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] stands for low + i


_FIELDS = (
    _Field("second", 0, 59),
    _Field("minute", 0, 59),
    _Field("hour", 0, 23),
    _Field("day", 1, 31),
    _Field("month", 1, 12, _MONTHS),
    _Field("day-of-week", 0, 6, _DAYS),
)

# A schedule that never fires (30 February) must fail rather than loop; leap days on a given weekday
# recur within 28 years.
_SEARCH_YEARS = 29


class CronSchedule:
    def __init__(self, expression: str):
        self.expression = expression
        parts = expression.split()
        if len(parts) == 5:
            parts = ["0", *parts]
        if len(parts) != 6:
            raise ValueError(
                f"NCRONTAB expression {expression!r} has {len(parts)} fields; expected 6: "
                "{second} {minute} {hour} {day} {month} {day-of-week}"
            )
        values = [_parse_field(text, field, expression) for text, field in zip(parts, _FIELDS)]
        self.seconds, self.minutes, self.hours, self.days, self.months, self.weekdays = values

    def __repr__(self) -> str:
        return f"CronSchedule({self.expression!r})"

    def next_occurrence(self, after: datetime) -> datetime:
        """The first time strictly after ``after`` that matches, in UTC (a naive ``after`` is taken as UTC)."""
        if after.tzinfo is None:
            after = after.replace(tzinfo=timezone.utc)
        t = after.astimezone(timezone.utc).replace(microsecond=0) + timedelta(seconds=1)
        limit_year = t.year + _SEARCH_YEARS
        while t.year <= limit_year:
            if t.month not in self.months:
                t = _first_of_next_month(t)
                continue
            # isoweekday: Monday=1 .. Sunday=7; cron: Sunday=0.
            if t.day not in self.days or t.isoweekday() % 7 not in self.weekdays:
                t = t.replace(hour=0, minute=0, second=0) + timedelta(days=1)
                continue
            if t.hour not in self.hours:
                t = t.replace(minute=0, second=0) + timedelta(hours=1)
                continue
            if t.minute not in self.minutes:
                t = t.replace(second=0) + timedelta(minutes=1)
                continue
            if t.second not in self.seconds:
                t += timedelta(seconds=1)
                continue
            return t
        raise ValueError(f"NCRONTAB expression {self.expression!r} never occurs")


def parse(expression: str) -> CronSchedule:
    return CronSchedule(expression)


def next_occurrence(expression: str, after: datetime) -> datetime:
    return CronSchedule(expression).next_occurrence(after)


def _first_of_next_month(t: datetime) -> datetime:
    year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    return t.replace(year=year, month=month, day=1, hour=0, minute=0, second=0)


def _parse_field(text: str, field: _Field, expression: str) -> frozenset[int]:
    def fail(reason: str) -> ValueError:
        return ValueError(f"NCRONTAB expression {expression!r}: {field.name} field {text!r}: {reason}")

    result: set[int] = set()
    for item in text.split(","):
        if not item:
            raise fail("empty list item")
        range_text, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise fail(f"step {step_text!r} is not a positive whole number")
            step = int(step_text)
        if range_text == "*":
            low, high = field.low, field.high
        elif "-" in range_text:
            first, _, last = range_text.partition("-")
            low, high = _value(first, field, fail), _value(last, field, fail)
            if low > high:
                raise fail(f"range {range_text!r} runs backwards")
        else:
            low = _value(range_text, field, fail)
            # NCrontab reads "a/n" as "from a to the end, every n".
            high = field.high if slash else low
        result.update(range(low, high + 1, step))
    return frozenset(result)


def _value(text: str, field: _Field, fail) -> int:
    if text.isdigit():
        number = int(text)
    else:
        upper = text.upper()
        matches = [i for i, name in enumerate(field.names)
                   if len(upper) >= 3 and name.startswith(upper)]
        if not matches:
            expected = "a number" + (" or a name such as " + field.names[0][:3] if field.names else "")
            raise fail(f"{text!r} is not {expected}")
        number = field.low + matches[0]
    if not field.low <= number <= field.high:
        raise fail(f"{number} is outside {field.low}-{field.high}")
    return number

