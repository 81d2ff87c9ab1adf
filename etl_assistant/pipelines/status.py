"""A pipeline as people see it in a list: source, target, mode, schedule in words, next run, last run."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from etl_assistant.pipelines.spec import PipelineSpec
from etl_assistant.pipelines.store import PipelineStore


class PipelineSummary(BaseModel):
    name: str
    source: str
    target_table: str
    mode: str
    cursor: str | None
    primary_key: list[str]
    schedule: str | None  # in words with its timezone; None: runs only when asked
    cron: str | None
    next_run: datetime | None  # None when paused or unscheduled
    paused: bool
    last_status: str | None
    last_run_at: datetime | None
    last_error: str | None
    approved_by: str | None


def schedule_words(spec: PipelineSpec) -> str | None:
    if spec.schedule is None:
        return None
    from etl_assistant.pipelines.schedule import describe

    return describe(spec.schedule.cron, spec.schedule.timezone)


def next_run(spec: PipelineSpec, after: datetime | None = None) -> datetime | None:
    if spec.schedule is None or spec.paused:
        return None
    from etl_assistant.pipelines.schedule import Schedule

    schedule = Schedule(cron=spec.schedule.cron, timezone=spec.schedule.timezone, description="")
    return schedule.next_runs(1, after=after)[0]


def summarize(store: PipelineStore, spec: PipelineSpec) -> PipelineSummary:
    runs = store.runs(spec.tenant, spec.name, limit=1)
    last = runs[0] if runs else None
    return PipelineSummary(
        name=spec.name, source=spec.source.describe(), target_table=spec.target_table, mode=spec.mode,
        cursor=spec.cursor, primary_key=spec.primary_key, schedule=schedule_words(spec),
        cron=spec.schedule.cron if spec.schedule else None, next_run=next_run(spec), paused=spec.paused,
        last_status=last.status if last else None, last_run_at=last.started_at if last else None,
        last_error=last.error if last else None, approved_by=spec.approved_by)
