"""Schedules, table-driven like sqlglot's validate_all: a phrase -> the cron it means and the words said back.

croniter counts the runs and cron-descriptor says the words; these tables pin down that a person's phrase
lands on the cron they meant, and that next runs stay on the wall clock across DST changes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from etl_assistant.config import Settings
from etl_assistant.errors import ToolError
from etl_assistant.pipelines.schedule import find_schedule_phrase, parse_schedule

# phrase -> (cron, description in UTC)
PHRASES = {
    "daily at 2 AM": ("0 2 * * *", "every day at 02:00 UTC"),
    "Daily at 2 a.m.": ("0 2 * * *", "every day at 02:00 UTC"),
    "run it every day at 14:30.": ("30 14 * * *", "every day at 14:30 UTC"),
    "nightly at 1:15 am": ("15 1 * * *", "every day at 01:15 UTC"),
    "at midnight": ("0 0 * * *", "every day at 00:00 UTC"),
    "at noon": ("0 12 * * *", "every day at 12:00 UTC"),
    "at 6 pm": ("0 18 * * *", "every day at 18:00 UTC"),
    "daily": ("0 0 * * *", "every day at 00:00 UTC"),
    "every minute": ("* * * * *", "every minute (UTC)"),
    "every 15 minutes": ("*/15 * * * *", "every 15 minutes (UTC)"),
    "every 5 mins": ("*/5 * * * *", "every 5 minutes (UTC)"),
    "hourly": ("0 * * * *", "every hour (UTC)"),
    "every hour": ("0 * * * *", "every hour (UTC)"),
    "every 2 hours": ("0 */2 * * *", "every 2 hours (UTC)"),
    "twice a day at 8 and 20": ("0 8,20 * * *", "every day at 08:00 and 20:00 UTC"),
    "twice daily": ("0 0,12 * * *", "every day at 00:00 and 12:00 UTC"),
    "weekdays at 6": ("0 6 * * 1-5", "Monday through Friday at 06:00 UTC"),
    "every weekday at 7:45": ("45 7 * * 1-5", "Monday through Friday at 07:45 UTC"),
    "monday to friday at 7": ("0 7 * * 1-5", "Monday through Friday at 07:00 UTC"),
    "weekends at 10am": ("0 10 * * 6,0", "every Saturday and Sunday at 10:00 UTC"),
    "every monday at 9:30": ("30 9 * * 1", "every Monday at 09:30 UTC"),
    "Mondays at 9:30 AM": ("30 9 * * 1", "every Monday at 09:30 UTC"),
    "every tuesday and thursday at 18:00": ("0 18 * * 2,4", "every Tuesday and Thursday at 18:00 UTC"),
    "weekly": ("0 0 * * 0", "every Sunday at 00:00 UTC"),
    "on the 1st of each month": ("0 0 1 * *", "on day 1 of the month at 00:00 UTC"),
    "on the 15th of every month at 6 pm": ("0 18 15 * *", "on day 15 of the month at 18:00 UTC"),
    "monthly on the 3rd at 4": ("0 4 3 * *", "on day 3 of the month at 04:00 UTC"),
    "on the last day of the month at 23:30": ("30 23 L * *", "on the last day of the month at 23:30 UTC"),
    "monthly": ("0 0 1 * *", "on day 1 of the month at 00:00 UTC"),
    "yearly": ("0 0 1 1 *", "on day 1 of the month, only in January at 00:00 UTC"),
    # A cron line is taken as it is and said back in words.
    "0 2 * * *": ("0 2 * * *", "every day at 02:00 UTC"),
    "*/10 * * * *": ("*/10 * * * *", "every 10 minutes (UTC)"),
    "15 * * * *": ("15 * * * *", "at 15 minutes past the hour (UTC)"),
    "0 6 * * MON-FRI": ("0 6 * * MON-FRI", "Monday through Friday at 06:00 UTC"),
}


@pytest.mark.parametrize(("phrase", "expected"), PHRASES.items(), ids=list(PHRASES))
def test_phrase_means_cron_and_is_said_back(phrase: str, expected: tuple[str, str]) -> None:
    cron, description = expected
    schedule = parse_schedule(phrase, "UTC")
    assert (schedule.cron, schedule.description, schedule.timezone) == (cron, description, "UTC")


# phrase -> a fragment of the one sentence that says what to fix
BAD = {
    "whenever you like": '"daily at 2 AM", "every 15 minutes"',
    "sometimes": "a cron like",
    "61 2 * * *": "not a valid cron line",
    "0 2 * *": "I could not read",
    "every 0 minutes": "positive interval",
    "every 90 minutes": "in hours",
    "every 30 hours": "daily",
    "daily at 25": "not a time of day",
    "daily at 13 pm": "not a time of day",
    "at 7:75": "not a time of day",
    "on the 32nd of each month": "not a day of the month",
    "twice a day at 8:00 and 20:30": "share their minutes",
    "twice a day at 8": "two times",
}


@pytest.mark.parametrize(("phrase", "fragment"), BAD.items(), ids=list(BAD))
def test_bad_phrase_is_one_sentence_with_examples(phrase: str, fragment: str) -> None:
    with pytest.raises(ToolError) as caught:
        parse_schedule(phrase, "UTC")
    message = str(caught.value)
    assert fragment in message
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", "../etc/passwd", "UTC+2"])
def test_bad_timezone_names_examples(zone: str) -> None:
    with pytest.raises(ToolError, match="Europe/Berlin"):
        parse_schedule("daily at 2 AM", zone)


def test_description_names_the_zone_and_next_runs_are_in_it() -> None:
    schedule = parse_schedule("daily at 2 AM", "Europe/Berlin")
    assert schedule.description == "every day at 02:00 Europe/Berlin"
    runs = schedule.next_runs(3, after=datetime(2026, 12, 4, 1, 30, tzinfo=UTC))  # 02:30 in Berlin
    assert [r.isoformat() for r in runs] == [
        "2026-12-05T02:00:00+01:00", "2026-12-06T02:00:00+01:00", "2026-12-07T02:00:00+01:00"]


def test_next_runs_keep_the_wall_clock_across_autumn_dst() -> None:
    """New York leaves daylight time on 2026-11-01: 09:00 stays 09:00 local, the UTC hour moves 13 -> 14."""
    runs = parse_schedule("daily at 9 am", "America/New_York").next_runs(
        3, after=datetime(2026, 10, 30, 12, tzinfo=ZoneInfo("America/New_York")))
    assert [(r.hour, r.minute) for r in runs] == [(9, 0)] * 3
    assert [r.astimezone(UTC).hour for r in runs] == [13, 14, 14]
    assert all(r.tzinfo is not None for r in runs)


def test_a_time_in_the_repeated_autumn_hour_runs_once() -> None:
    """Berlin repeats 02:00-02:59 on 2026-10-25; croniter yields 02:30 twice, a pipeline must run once."""
    runs = parse_schedule("daily at 2:30", "Europe/Berlin").next_runs(
        3, after=datetime(2026, 10, 24, 12, tzinfo=ZoneInfo("Europe/Berlin")))
    assert [r.isoformat() for r in runs] == [
        "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00", "2026-10-27T02:30:00+01:00"]


def test_a_time_in_the_skipped_spring_hour_runs_just_after_it() -> None:
    """Berlin skips 02:00-02:59 on 2026-03-29; that day's 02:30 run happens at 03:00 (croniter's choice)."""
    runs = parse_schedule("daily at 2:30", "Europe/Berlin").next_runs(
        3, after=datetime(2026, 3, 28, 12, tzinfo=ZoneInfo("Europe/Berlin")))
    assert [r.isoformat() for r in runs] == [
        "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00", "2026-03-31T02:30:00+02:00"]


def test_every_15_minutes_counts_from_after() -> None:
    after = datetime(2026, 1, 1, 10, 7, tzinfo=UTC)
    runs = parse_schedule("every 15 minutes", "UTC").next_runs(3, after=after)
    assert [r.strftime("%H:%M") for r in runs] == ["10:15", "10:30", "10:45"]


def test_default_next_runs_are_in_the_future() -> None:
    runs = parse_schedule("hourly", "UTC").next_runs()
    now = datetime.now(UTC)
    assert len(runs) == 3 and all(r > now for r in runs) and runs == sorted(runs)


SENTENCES = {
    "Load sales data from PostgreSQL to ClickHouse daily at 2 AM": "daily at 2 AM",
    "sync orders into the warehouse every 15 minutes please": "every 15 minutes",
    "copy the events table weekdays at 6": "weekdays at 6",
    "refresh customers on the 1st of each month": "on the 1st of each month",
    "Load sales data from PostgreSQL to ClickHouse": None,
}


@pytest.mark.parametrize(("sentence", "phrase"), SENTENCES.items(), ids=list(SENTENCES))
def test_schedule_phrase_found_in_a_sentence(sentence: str, phrase: str | None) -> None:
    assert find_schedule_phrase(sentence) == phrase


def test_timezone_setting_defaults_to_utc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ETLA_TIMEZONE", raising=False)
    assert Settings(_env_file=None).timezone == "UTC"
    monkeypatch.setenv("ETLA_TIMEZONE", "Asia/Tokyo")
    assert Settings(_env_file=None).timezone == "Asia/Tokyo"
