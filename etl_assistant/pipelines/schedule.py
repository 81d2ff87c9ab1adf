"""Schedules: a person's words ("daily at 2 AM") or a cron line -> a cron in a timezone, said back in words.

The words are read by a small table of phrase patterns (one job: turn a phrase into cron fields); everything
that counts time is croniter's, and the sentence said back is cron-descriptor's, so no cron arithmetic is
written here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cron_descriptor import ExpressionDescriptor, Options
from croniter import croniter
from pydantic import BaseModel

from etl_assistant.errors import ToolError

EXAMPLES = (
    '"daily at 2 AM", "every 15 minutes", "weekdays at 6", "on the 1st of each month" '
    'or a cron like "0 2 * * *"'
)

_DAYS = {
    "monday": 1, "mon": 1, "tuesday": 2, "tue": 2, "tues": 2, "wednesday": 3, "wed": 3, "thursday": 4,
    "thu": 4, "thurs": 4, "friday": 5, "fri": 5, "saturday": 6, "sat": 6, "sunday": 0, "sun": 0,
}  # fmt: skip
_DAY = r"(?:" + "|".join(sorted(_DAYS, key=len, reverse=True)) + r")s?"
# One clock time: "2", "2am", "2 a.m.", "2:30 pm", "14:30", "midnight", "noon", "2 o'clock".
_TIME = r"(?:midnight|noon|midday|\d{1,2}(?::\d{2})?\s*(?:a\.?m\.?|p\.?m\.?|o'?clock)?)"
_TIMES = rf"{_TIME}(?:\s*(?:,|and|&)\s*{_TIME})*"
_AT = rf"(?:\s+(?:at|@)\s+(?P<times>{_TIMES}))"
_EVERY = r"(?:every|each)"
_CLOCK_EXAMPLES = '"2 AM", "14:30" or "noon"'


class Schedule(BaseModel):
    """A cron line in a timezone, with the sentence that says it back to the person."""

    cron: str
    timezone: str
    description: str

    def next_runs(self, n: int = 3, after: datetime | None = None) -> list[datetime]:
        """The next `n` run times, timezone-aware in the schedule's zone (croniter does the counting).

        On the autumn day a wall-clock hour repeats, a time inside it runs once, as cron daemons do.
        """
        zone = ZoneInfo(self.timezone)
        start = (after or datetime.now(zone)).astimezone(zone)
        runs: list[datetime] = []
        it = croniter(self.cron, start)
        while len(runs) < n:
            candidate = it.get_next(datetime)
            if runs and candidate.replace(tzinfo=None) == runs[-1].replace(tzinfo=None):
                continue  # the repeated hour's second pass: same wall-clock time, later offset
            runs.append(candidate)
        return runs


def parse_schedule(text: str, timezone: str) -> Schedule:
    """Read a schedule phrase or a 5-field cron line; raise a ToolError with examples when neither fits."""
    zone_name = check_timezone(timezone)
    phrase = " ".join(text.strip().split())
    cron = _cron_line(phrase) or _cron_from_words(phrase.lower())
    if cron is None:
        raise ToolError(f"I could not read {phrase!r} as a schedule; say it like {EXAMPLES}.")
    return Schedule(cron=cron, timezone=zone_name, description=describe(cron, zone_name))


def find_schedule_phrase(text: str) -> str | None:
    """The schedule phrase inside a longer sentence ("load sales … daily at 2 AM" -> "daily at 2 AM")."""
    lowered = text.lower()
    for rule in _RULES:
        match = re.search(rf"(?<![\w:]){rule.pattern}(?![\w:])", lowered)
        if match:
            return text[match.start() : match.end()]
    return None


def check_timezone(timezone: str) -> str:
    """The IANA zone name if it exists, else a ToolError naming examples."""
    name = timezone.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ToolError(
            f"{timezone!r} is not a timezone I know; use an IANA name like \"UTC\", \"Europe/Berlin\" or "
            '"America/New_York".'
        ) from None
    return name


def describe(cron: str, timezone: str) -> str:
    """Say a cron line in words with its zone, from cron-descriptor's segments ("every day at 02:00 UTC")."""
    options = Options()
    options.use_24hour_time_format = True
    words = ExpressionDescriptor(cron, options)
    time_part = words.get_time_of_day_description()
    day_parts = [
        part.strip(", ").replace("only on ", "every ")
        for part in (
            words.get_day_of_month_description(),
            words.get_day_of_week_description(),
            words.get_month_description(),
            words.get_year_description(),
        )
        if part.strip(", ") and part.strip(", ") != "every day"
    ]
    if re.match(r"at \d\d:\d\d", time_part, flags=re.IGNORECASE):
        days = ", ".join(day_parts) or "every day"
        return f"{days} {time_part[0].lower()}{time_part[1:]} {timezone}"
    time_part = time_part.replace(", every hour", "")
    return ", ".join([time_part[0].lower() + time_part[1:], *day_parts]) + f" ({timezone})"


def _cron_line(phrase: str) -> str | None:
    fields = phrase.split()
    if len(fields) != 5 or not re.fullmatch(r"[\d*/,\-]+", fields[0]):
        return None  # a minute field is digits and */,- only; anything else is words
    if not croniter.is_valid(phrase):
        raise ToolError(f"{phrase!r} is not a valid cron line; use five fields like \"0 2 * * *\", "
                        f"or say {EXAMPLES}.")
    return phrase


@dataclass(frozen=True)
class _Rule:
    pattern: str
    build: Callable[[re.Match[str]], str]


def _clock(text: str) -> tuple[int, int]:
    """(hour, minute) of one clock time; a ToolError when it names no real time of day."""
    word = text.strip().replace(".", "")
    if word == "midnight":
        return 0, 0
    if word in ("noon", "midday"):
        return 12, 0
    match = re.fullmatch(r"(\d{1,2})(?::(\d{2}))?\s*(am|pm|oclock|o'clock)?", word)
    assert match is not None  # the rule patterns only capture _TIME shapes
    hour, minute, suffix = int(match[1]), int(match[2] or 0), match[3]
    if suffix in ("am", "pm"):
        if not 1 <= hour <= 12:
            raise ToolError(f"{text.strip()!r} is not a time of day; say it like {_CLOCK_EXAMPLES}.")
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    if hour > 23 or minute > 59:
        raise ToolError(f"{text.strip()!r} is not a time of day; say it like {_CLOCK_EXAMPLES}.")
    return hour, minute


def _at(match: re.Match[str], default: str = "midnight") -> tuple[str, str]:
    """Cron (minute, hour) fields for the captured times; several times must share their minute."""
    times = match.groupdict().get("times") or default
    clocks = [_clock(t) for t in re.split(r"\s*(?:,|\band\b|&)\s*", times) if t.strip()]
    minutes = {minute for _, minute in clocks}
    if len(minutes) > 1:
        raise ToolError("Several run times in one schedule must share their minutes (like 8:00 and 20:00); "
                        "give them as two schedules or one cron line.")
    hours = ",".join(str(h) for h in sorted({hour for hour, _ in clocks}))
    return str(minutes.pop()), hours


def _days(text: str) -> str:
    names = re.findall(_DAY, text)
    return ",".join(str(d) for d in sorted({_DAYS[name.rstrip("s") if name.rstrip("s") in _DAYS else name]
                                            for name in names}))


def _every_n(match: re.Match[str], unit: str) -> int:
    n = int(match["n"] or 1)
    if n < 1:
        raise ToolError(f"Every {n} {unit} is not a schedule; give a positive interval like "
                        f"\"every 2 {unit}\".")
    return n


def _minutes(match: re.Match[str]) -> str:
    n = _every_n(match, "minutes")
    if n > 59:
        raise ToolError(f"Every {n} minutes does not fit a cron minute; say it in hours (\"every 2 hours\").")
    return "* * * * *" if n == 1 else f"*/{n} * * * *"


def _hours(match: re.Match[str]) -> str:
    n = _every_n(match, "hours")
    if n > 23:
        raise ToolError(f"Every {n} hours does not fit a cron hour; say \"daily\" or give a cron line.")
    return "0 * * * *" if n == 1 else f"0 */{n} * * *"


def _daily(match: re.Match[str]) -> str:
    minute, hour = _at(match)
    return f"{minute} {hour} * * *"


def _twice(match: re.Match[str]) -> str:
    minute, hour = _at(match, default="midnight and noon")
    if len(hour.split(",")) != 2:
        raise ToolError("Twice a day needs two times, like \"twice a day at 8 and 20\".")
    return f"{minute} {hour} * * *"


def _weekdays(match: re.Match[str]) -> str:
    minute, hour = _at(match)
    return f"{minute} {hour} * * 1-5"


def _weekends(match: re.Match[str]) -> str:
    minute, hour = _at(match)
    return f"{minute} {hour} * * 6,0"


def _on_days(match: re.Match[str]) -> str:
    minute, hour = _at(match)
    return f"{minute} {hour} * * {_days(match['days'])}"


def _weekly(match: re.Match[str]) -> str:
    minute, hour = _at(match)
    return f"{minute} {hour} * * 0"


def _monthly(match: re.Match[str]) -> str:
    minute, hour = _at(match)
    said = match.groupdict().get("dom") or "first"
    day = {"first": "1", "last": "L"}.get(said) or re.sub(r"\D", "", said)
    if day != "L" and not 1 <= int(day) <= 31:
        raise ToolError(f"Day {said} is not a day of the month; use 1 to 31 or \"the last day\".")
    return f"{minute} {hour} {day} * *"


def _yearly(match: re.Match[str]) -> str:
    minute, hour = _at(match)
    return f"{minute} {hour} 1 1 *"


_DOM = r"(?:the\s+)?(?P<dom>\d{1,2}(?:st|nd|rd|th)?|first|last)(?:\s+day)?"
_OF_MONTH = r"(?:of|in)\s+(?:each|every|the)\s+month"
# Order matters: the first pattern that matches wins (longer, more specific phrases first).
_RULES = [
    _Rule(rf"{_EVERY}\s+(?:(?P<n>\d+)\s+)?(?:minutes?|mins?)", _minutes),
    _Rule(rf"(?:{_EVERY}\s+(?:(?P<n>\d+)\s+)?hours?|hourly)", _hours),
    _Rule(rf"twice\s+(?:(?:a|per|each|every)\s+day|daily){_AT}?", _twice),
    _Rule(rf"(?:on\s+)?(?:{_EVERY}\s+)?(?:weekdays?|workdays?|business\s+days?|monday\s+(?:to|through)\s+friday)"
          rf"{_AT}?", _weekdays),
    _Rule(rf"(?:on\s+)?(?:{_EVERY}\s+)?weekends?{_AT}?", _weekends),
    _Rule(rf"(?:on\s+)?(?:{_EVERY}\s+)?(?P<days>{_DAY}(?:\s*(?:,|and|&)\s*{_DAY})*){_AT}?", _on_days),
    _Rule(rf"(?:weekly|{_EVERY}\s+week|once\s+a\s+week){_AT}?", _weekly),
    _Rule(rf"(?:on\s+)?{_DOM}\s+{_OF_MONTH}{_AT}?", _monthly),
    _Rule(rf"(?:monthly|{_EVERY}\s+month|once\s+a\s+month)(?:\s+on\s+{_DOM})?{_AT}?", _monthly),
    _Rule(rf"(?:yearly|annually|{_EVERY}\s+year|once\s+a\s+year){_AT}?", _yearly),
    _Rule(rf"(?:daily|nightly|{_EVERY}\s+(?:day|night)|once\s+a\s+day){_AT}?", _daily),
    _Rule(rf"(?:at|@)\s+(?P<times>{_TIMES})", _daily),
]


def _cron_from_words(phrase: str) -> str | None:
    phrase = re.sub(r"^(?:run\s+(?:it\s+)?|schedule\s+(?:it\s+)?)", "", phrase).rstrip(".!")
    for rule in _RULES:
        match = re.fullmatch(rule.pattern, phrase)
        if match:
            return rule.build(match)
    return None
