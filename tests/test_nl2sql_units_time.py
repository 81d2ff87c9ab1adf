"""Numbers with units are amounts, not years; "hour of day" is a cycle, not a day bucket; "how many days"
counts days (nl2sql.timerange), and the cache signature keeps the unit ("60 minutes" is not "60 miles")."""

from __future__ import annotations

from datetime import date

import pytest

from etl_assistant.cache.signature import literal_signature
from etl_assistant.nl2sql.timerange import extract_time

TODAY = date(2024, 6, 15)


@pytest.mark.parametrize(
    "text",
    [
        "flights with a distance between 1000 and 2000 miles",
        "cars that weigh between 2000 and 3000 lbs",
        "shipments over 2000 kg",
        "books with 1990 pages",
    ],
)
def test_a_number_with_a_unit_is_no_year(text: str) -> None:
    assert not extract_time(text, TODAY).has_range


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("revenue between 2012 and 2013", date(2012, 1, 1), date(2014, 1, 1)),
        ("orders in 2000", date(2000, 1, 1), date(2001, 1, 1)),
    ],
)
def test_years_stay_years(text: str, start: date, end: date) -> None:
    found = extract_time(text, TODAY)
    assert (found.start, found.end) == (start, end)


@pytest.mark.parametrize(
    ("text", "bucket"),
    [
        ("average fare by hour of day", None),
        ("flights by day of week", None),
        ("how many days had rain", None),
        ("how many rainy days last year", None),
        ("orders by day", "day"),
        ("revenue per month", "month"),
    ],
)
def test_buckets(text: str, bucket: str | None) -> None:
    assert extract_time(text, TODAY).bucket == bucket


def test_the_unit_is_part_of_the_signature() -> None:
    minutes = literal_signature("flights delayed more than 60 minutes", TODAY)
    assert minutes != literal_signature("flights delayed more than 60 miles", TODAY)
    assert minutes == literal_signature("flights delayed more than 60 mins", TODAY)
