"""Time phrases -> date ranges, relative to an injectable "today": in 2023, in March 2024, Q2 2024, between
dates, since/before/after, last N days/weeks/months, this/last month/quarter/year, yesterday; "latest/most
recent <unit>" is left for the data's own latest date. Also time buckets ("by month", "weekly")."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta

from etl_assistant.nl2sql.text import NUMBER_WORDS

MONTHS = {
    name: i
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
# Counts in time phrases: number words plus "a week", "a couple of months", "a few days".
COUNT_WORDS = {**NUMBER_WORDS, "a": 1, "couple": 2, "few": 3}
UNITS = ("day", "week", "month", "quarter", "year")
BUCKET_ADVERBS = {
    "daily": "day",
    "weekly": "week",
    "monthly": "month",
    "quarterly": "quarter",
    "yearly": "year",
    "annually": "year",
    "annual": "year",
}

_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
# One point in time at some granularity: a date, a quarter, a month (optionally with year), or a year.
_POINT = (
    rf"(?:\d{{4}}-\d{{2}}-\d{{2}}|q[1-4]\s*(?:of\s+)?\d{{4}}|\d{{4}}\s*q[1-4]|(?:{_MONTH})\.?\s+\d{{4}}"
    rf"|(?:19|20)\d{{2}})"
)
_NUM = r"(\d+|" + "|".join(COUNT_WORDS) + r")"
_COMPARISON_BEFORE = re.compile(
    r"(over|above|than|exceeds?|exceeding|least|most|under|below|to|of|>|<|=|between|between\s+[\d.,$]+\s+and)\s*$"
)
# Words after a number that make it an amount ("2000 miles", "1990 dollars"), never a year.
MEASURE_UNITS = (
    r"(?:minutes?|mins?|hours?|hrs?|seconds?|secs?|days|weeks|months|miles?|mi|km|kilomet(?:er|re)s?|"
    r"met(?:er|re)s?|kg|kilograms?|grams?|lbs?|pounds?|tons?|dollars?|usd|eur|euros?|%|percent|pages?|"
    r"passengers?|people|units?|items?|points?|votes?|reviews?|stars?|seats?|rows?)\b"
)
_AMOUNT_AFTER = re.compile(rf"\s*{MEASURE_UNITS}")
# "hour of day", "day of week": a cycle, not a time bucket.
_CYCLE = re.compile(r"\b(?:hour|day|weekday|week|month)\s+of\s+(?:the\s+)?(day|week|month|year)\b")


@dataclass
class TimeSpec:
    start: date | None = None
    end: date | None = None  # exclusive
    latest: str | None = None  # unit, relative to the data's latest date
    label: str = ""
    bucket: str | None = None
    spans: list[tuple[int, int]] = field(default_factory=list)  # character spans consumed
    year_guessed: bool = False  # "in January": the latest January so far, a guess about which year

    @property
    def has_range(self) -> bool:
        return self.start is not None or self.end is not None or self.latest is not None


def period(point: str, today: date) -> tuple[date, date] | None:
    """The [start, end) a point phrase covers ("march 2024" -> 2024-03-01..2024-04-01)."""
    point = point.strip().rstrip(".")
    if m := re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", point):
        day = date(int(m[1]), int(m[2]), int(m[3]))
        return day, day + timedelta(days=1)
    if m := re.fullmatch(r"q([1-4])\s*(?:of\s+)?(\d{4})|(\d{4})\s*q([1-4])", point):
        quarter, year = (int(m[1]), int(m[2])) if m[1] else (int(m[4]), int(m[3]))
        start = date(year, 3 * quarter - 2, 1)
        return start, start + relativedelta(months=3)
    if m := re.fullmatch(rf"({_MONTH})\.?(?:\s+(\d{{4}}))?", point):
        month = MONTHS[m[1]]
        year = int(m[2]) if m[2] else (today.year if month <= today.month else today.year - 1)
        start = date(year, month, 1)
        return start, start + relativedelta(months=1)
    if re.fullmatch(r"(19|20)\d{2}", point):
        return date(int(point), 1, 1), date(int(point) + 1, 1, 1)
    return None


def unit_start(day: date, unit: str) -> date:
    if unit == "week":
        return day - timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    if unit == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    if unit == "year":
        return date(day.year, 1, 1)
    return day


def step(unit: str, count: int = 1) -> relativedelta:
    return {
        "day": relativedelta(days=count),
        "week": relativedelta(weeks=count),
        "month": relativedelta(months=count),
        "quarter": relativedelta(months=3 * count),
        "year": relativedelta(years=count),
    }[unit]


def extract_time(text: str, today: date) -> TimeSpec:
    """The first time range and time bucket named in `text`, with the spans they used."""
    spec = TimeSpec()
    low = text.lower()
    _extract_range(low, today, spec)
    _extract_bucket(low, spec)
    return spec


def _extract_range(low: str, today: date, spec: TimeSpec) -> None:
    for pattern, handler in _RANGE_RULES:
        for match in re.finditer(pattern, low):
            if _AMOUNT_AFTER.match(low, match.end()) or (
                re.fullmatch(r"(19|20)\d{2}", match.group(0))
                and _COMPARISON_BEFORE.search(low[: match.start()])
            ):
                continue  # "over 2000", "between 2000 and 3000 lbs": an amount, not a year
            result = handler(match, today)
            if result is None:
                continue
            spec.start, spec.end, spec.latest, spec.label = result
            spec.spans.append(match.span())
            spec.year_guessed = handler is _point and not re.search(r"\d", match.group(0))
            return


def _extract_bucket(low: str, spec: TimeSpec) -> None:
    """ "by month", "per day", "monthly", or a bare unit noun outside the range ("best month for sales")."""
    units = "|".join(UNITS)
    cycles = [m.span(1) for m in _CYCLE.finditer(low)]
    spec.spans.extend(cycles)  # "of day" is read with its hour, not as a bucket by day
    patterns = (
        rf"\b(?:by|per|each|every|a|over|for each|and)\s+({units})\b",
        r"\b(" + "|".join(BUCKET_ADVERBS) + r")\b",
        rf"(?<!\d )\b({units})s?\b",
    )
    for pattern in patterns:
        for match in re.finditer(pattern, low):
            if any(a <= match.start(1) < b for a, b in spec.spans) or _CYCLE.match(low, match.start(1)):
                continue
            if re.search(r"\b(?:how\s+many|number\s+of)\s+(?:\w+\s+)?$", low[: match.start(1)]):
                continue  # "how many (rainy) days": the days are what is counted
            word = match.group(1)
            spec.bucket = BUCKET_ADVERBS.get(word, word)
            spec.spans.append(match.span())
            return


def _between(m: re.Match, today: date) -> tuple | None:
    first, second = period(m[1], today), period(m[2], today)
    if not first or not second:
        return None
    return first[0], second[1], None, f"{m[1]} to {m[2]}"


def _since(m: re.Match, today: date) -> tuple | None:
    found = period(m[1], today)
    return (found[0], None, None, f"since {m[1]}") if found else None


def _before(m: re.Match, today: date) -> tuple | None:
    found = period(m[1], today)
    return (None, found[0], None, f"before {m[1]}") if found else None


def _after(m: re.Match, today: date) -> tuple | None:
    found = period(m[1], today)
    return (found[1], None, None, f"after {m[1]}") if found else None


def _rolling(m: re.Match, today: date) -> tuple:
    count = int(m[1]) if m[1].isdigit() else COUNT_WORDS[m[1]]
    return today - step(m[2], count), today, None, f"last {count} {m[2]}s"


def _latest(m: re.Match, today: date) -> tuple:
    return None, None, m[1], f"latest {m[1]}"


def _current(m: re.Match, today: date) -> tuple:
    start = unit_start(today, m[1])
    return start, start + step(m[1]), None, f"this {m[1]}"


def _previous(m: re.Match, today: date) -> tuple:
    start = unit_start(today, m[1]) - step(m[1])
    return start, start + step(m[1]), None, f"last {m[1]}"


def _year_to_date(m: re.Match, today: date) -> tuple:
    return date(today.year, 1, 1), today + timedelta(days=1), None, "year to date"


def _day(m: re.Match, today: date) -> tuple:
    day = today - timedelta(days=1) if m[0] == "yesterday" else today
    return day, day + timedelta(days=1), None, m[0]


def _bare_quarter(m: re.Match, today: date) -> tuple:
    """ "Q1" without a year: the latest such quarter that has started."""
    quarter = int(m[1])
    year = today.year if 3 * quarter - 2 <= today.month else today.year - 1
    start = date(year, 3 * quarter - 2, 1)
    return start, start + relativedelta(months=3), None, f"Q{quarter} {year}"


def _point(m: re.Match, today: date) -> tuple | None:
    found = period(m[1], today)
    return (found[0], found[1], None, m[1]) if found else None


def _decade(m: re.Match, today: date) -> tuple:
    start = int(m[1])
    return date(start, 1, 1), date(start + 10, 1, 1), None, f"the {start}s"


_RANGE_RULES = [
    (r"\b(?:the\s+)?((?:19|20)\d0)'?s\b", _decade),
    (rf"\b(?:between|from)\s+({_POINT})\s+(?:and|to|until|through|till|-)\s+({_POINT})\b", _between),
    (rf"\b(?:since|starting|from)\s+({_POINT})\b", _since),
    (rf"\b(?:before|until|prior\s+to|till)\s+({_POINT})\b", _before),
    (rf"\bafter\s+({_POINT})\b", _after),
    (rf"\b(?:last|past|previous|recent|trailing)\s+{_NUM}\s+({'|'.join(UNITS)})s?\b", _rolling),
    (rf"\b(?:latest|most\s+recent|last\s+available|newest)\s+({'|'.join(UNITS)})\b", _latest),
    (rf"\b(?:this|current|the\s+current)\s+({'|'.join(UNITS)})\b", _current),
    (rf"\b(?:last|previous|past|prior)\s+({'|'.join(UNITS)})\b", _previous),
    (r"\b(?:ytd|year\s+to\s+date)\b", _year_to_date),
    (r"\b(?:yesterday|today)\b", _day),
    (rf"\b({_POINT})(?![\d,.])", _point),
    (rf"\b(?:in|during|for|of)\s+({_MONTH})\b", _point),  # a month without a year: the latest one so far
    (r"\bq([1-4])\b", _bare_quarter),
]
