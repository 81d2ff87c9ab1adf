"""The scheduler embedded in the server: an asyncio loop that starts due pipelines, reading schedules from the
catalog (no job store of its own, so every replica sees the same schedules).

Each tick, for every scheduled, unpaused pipeline, the slot due is the latest cron time at or before now
(croniter, in the schedule's timezone). It runs when it is later than the pipeline's last run slot, and only
that one slot: after downtime the missed times collapse into one catch-up run, never a burst. The runner
checks and moves the slot inside the pipeline's lock (PostgreSQL advisory, Redis or file lock), so two
replicas never run the same slot twice, and a process killed mid-run leaves the slot due for the next tick.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from fastapi import FastAPI

from etl_assistant.config import Settings
from etl_assistant.errors import EtlError
from etl_assistant.pipelines.locks import PipelineBusy
from etl_assistant.pipelines.spec import PipelineSpec
from etl_assistant.pipelines.store import PipelineStore

log = logging.getLogger(__name__)

# A slot run later than this after its time is recorded as a catch-up (the server was down or busy).
CATCH_UP_AFTER = timedelta(minutes=2)


def due_slot(spec: PipelineSpec, now: datetime) -> datetime | None:
    """The latest scheduled time at or before `now` (UTC), or None when unscheduled or paused."""
    if spec.schedule is None or spec.paused:
        return None
    zone = ZoneInfo(spec.schedule.timezone)
    local = now.astimezone(zone)
    itr = croniter(spec.schedule.cron, local + timedelta(microseconds=1))
    return itr.get_prev(datetime).astimezone(UTC)


def skip_missed_slots(store: PipelineStore, spec: PipelineSpec, now: datetime | None = None) -> None:
    """Mark every slot up to now as done without running it (a new or resumed pipeline starts fresh)."""
    slot = due_slot(spec, now or datetime.now(UTC))
    if slot is None:
        return
    previous = store.last_slot(spec.tenant, spec.name)
    if previous is None or previous < slot:
        store.claim_slot(spec.tenant, spec.name, slot, previous)


class Scheduler:
    """Starts due pipeline runs in worker threads; one loop per server process."""

    def __init__(self, settings: Settings, tick_s: float = 30.0) -> None:
        self.settings = settings
        self.tick_s = tick_s
        self._task: asyncio.Task[None] | None = None
        self._running: dict[tuple[str, str], asyncio.Task[object]] = {}

    def _context(self, tenant: str):  # noqa: ANN202 - a ToolContext (tools.base loads the registry)
        from etl_assistant.tools.base import ToolContext

        return ToolContext(settings=self.settings, tenant=tenant, user="scheduler")

    async def tick(self, now: datetime | None = None) -> list[asyncio.Task[object]]:
        """Start the runs due at `now`; returns their tasks (tests await them)."""
        now = now or datetime.now(UTC)
        ctx = self._context(self.settings.tenant)
        store = PipelineStore(ctx.catalog)
        started = []
        for tenant, name in await asyncio.to_thread(store.every_pipeline):
            key = (tenant, name)
            if key in self._running:
                continue
            spec = await asyncio.to_thread(store.get, tenant, name)
            slot = due_slot(spec, now) if spec else None
            if slot is None:
                continue
            last = await asyncio.to_thread(store.last_slot, tenant, name)
            if last is None:  # never scheduled before: it ran when it was created
                await asyncio.to_thread(skip_missed_slots, store, spec, now)
                continue
            if last >= slot:
                continue
            trigger = "catch-up" if now - slot > CATCH_UP_AFTER else "schedule"
            task = asyncio.create_task(asyncio.to_thread(self._run, tenant, name, trigger, slot))
            self._running[key] = task
            task.add_done_callback(lambda _t, key=key: self._running.pop(key, None))
            started.append(task)
        return started

    def _run(self, tenant: str, name: str, trigger: str, slot: datetime) -> object:
        from etl_assistant.pipelines.runner import run_pipeline

        try:
            report = run_pipeline(self._context(tenant), name, trigger, slot=slot)
        except PipelineBusy:
            return None  # another process runs it; it moves the slot
        except EtlError as exc:
            log.warning("pipeline %s: %s", name, exc)
            return None
        if report is not None and report.error:
            log.warning("pipeline %s: %s", name, report.error)
        return report

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:  # noqa: BLE001 - a catalog hiccup must not stop the scheduler
                log.exception("pipeline scheduler tick failed")
            await asyncio.sleep(self.tick_s)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="pipeline scheduler")

    async def stop(self, wait_s: float = 30.0) -> None:
        """Stop ticking; runs in progress get `wait_s` to finish (an unfinished one is redone next time)."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._running:
            await asyncio.wait(list(self._running.values()), timeout=wait_s)


def lifespan_hook(settings: Settings) -> Callable[[FastAPI], AbstractAsyncContextManager[object]]:
    """The server's hook: run the scheduler while the app serves (off with ETLA_SCHEDULER=false)."""

    @asynccontextmanager
    async def hook(app: FastAPI) -> AsyncIterator[None]:
        if not settings.scheduler:
            yield
            return
        scheduler = Scheduler(settings, settings.scheduler_tick_s)
        app.state.scheduler = scheduler
        scheduler.start()
        try:
            yield
        finally:
            await scheduler.stop()

    return hook
