"""Start-up recovery: what a killed process (kill -9, a power cut) left half-done is cleaned or finished.

Runs once in the server's lifespan, before requests are served, as a list of steps. Each step gets the
`Recovery` (the agent service, settings, notes) and reports in plain sentences what it did; a step that fails
is logged and reported, and never stops the server from starting.

The shipped steps:
- `drop_staging_leftovers`: objects named `…__staging_…` (a load, deploy or datamart build that died before
  its swap) are dropped; the live object was never touched, so the warehouse holds the old version whole.
- `settle_unfinished_runs`: threads still marked busy belong to runs that died. A run that was waiting for
  approval is marked interrupted (the approval is offered again); a run whose approved calls had not finished
  (an approved deploy: the checkpoint written after the approval is its journal) is carried to its end from
  that checkpoint in the background, the calls re-run idempotently and recorded in the thread; any other run
  (reading) is marked idle, and its unanswered calls get a "cancelled" result on the next message.

Other rooms add their own step with `add_step` (for example the pipeline scheduler, to finish or mark failed
the pipeline runs that were running when the process died) at import time of their module.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from etl_assistant.config import Settings

if TYPE_CHECKING:
    from etl_assistant.agent.runner import AgentService

log = logging.getLogger(__name__)
STAGING_MARK = "__staging_"  # see warehouse.statements.staging_name


@dataclass
class Recovery:
    """What a step may use, and what it reports."""

    service: AgentService
    settings: Settings
    notes: list[str] = field(default_factory=list)  # one sentence per thing done, for the log and /health
    # runs carried on in the background (approved calls finishing); the lifespan awaits them at shutdown
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


RecoveryStep = Callable[[Recovery], Awaitable[None]]


async def drop_staging_leftovers(recovery: Recovery) -> None:
    from etl_assistant.deploy.swap import drop_object, object_names

    warehouse = recovery.service.resources["warehouse"]
    names = await asyncio.to_thread(object_names, warehouse)
    for name in sorted(n for n in names if STAGING_MARK in n):
        await asyncio.to_thread(drop_object, warehouse, name)
        recovery.notes.append(f"Dropped {name}, left by a load or deploy interrupted before its swap.")


async def settle_unfinished_runs(recovery: Recovery) -> None:
    from etl_assistant.agent.nodes import pending_calls

    service = recovery.service
    approval_tools = service.approval_tools
    for record in await service.threads.busy():
        snapshot = await service.graph.aget_state({"configurable": {"thread_id": record.thread_id}})
        if snapshot.interrupts:
            await service.threads.update(record.thread_id, status="interrupted")
            recovery.notes.append(f"Thread {record.thread_id} waits for approval again.")
            continue
        calls = pending_calls(snapshot.values.get("messages", [])) if snapshot.next else []
        if any(call["name"] in approval_tools and approval_tools[call["name"]].requires_approval(call["args"])
               for call in calls):
            user = (snapshot.metadata or {}).get("user_id")
            await service.threads.update(record.thread_id, status="idle")  # no run of it is alive any more
            finish = _finish(service, record.thread_id, record.tenant, user)
            recovery.tasks.append(asyncio.create_task(finish))
            recovery.notes.append(f"Thread {record.thread_id}: finishing the approved "
                                  f"{', '.join(c['name'] for c in calls)} that was interrupted.")
            continue
        await service.threads.update(record.thread_id, status="idle")
        recovery.notes.append(f"Thread {record.thread_id} was left busy by an interrupted run; it is idle.")


async def _finish(service: AgentService, thread_id: str, tenant: str, user: str | None) -> None:
    """Run the thread on from its last checkpoint (no new input) to its end, recording the outcome."""
    status = "error"
    async for event in service.stream(thread_id, tenant=tenant, user=user, if_not_exists="reject"):
        if event.type == "end":
            status = event.data["status"]
    log.info("recovered run on thread %s ended: %s", thread_id, status)


STEPS: list[RecoveryStep] = [drop_staging_leftovers, settle_unfinished_runs]


def add_step(step: RecoveryStep) -> None:
    """Run `step` at every start-up too, after the shipped ones (idempotent: adding it twice runs it once)."""
    if step not in STEPS:
        STEPS.append(step)


_recovery_locks: dict[str, int] = {}  # data dir -> lock held for the process's life by the one that recovered


def _first_process(settings: Settings) -> bool:
    """Whether this process is the one that recovers: with `serve --workers N` every worker starts at once,
    and one of them (the first to take `recovery.lock` in the data dir) cleans up for all."""
    key = str(settings.data_dir.resolve())
    if key in _recovery_locks:
        return True
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    lock = os.open(settings.data_dir / "recovery.lock", os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock)
        return False
    _recovery_locks[key] = lock
    return True


async def recover(service: AgentService, settings: Settings) -> Recovery:
    """Run every step in order; the notes say what was cleaned or finished."""
    recovery = Recovery(service, settings)
    if not _first_process(settings):
        recovery.notes.append("Another server process of this data dir ran the start-up recovery.")
        return recovery
    for step in list(STEPS):
        try:
            await step(recovery)
        except Exception as exc:  # noqa: BLE001 - recovery must never keep the server from starting
            log.exception("start-up recovery step %s failed", step.__name__)
            recovery.notes.append(f"The start-up step {step.__name__} failed ({exc}); see the server log.")
    for note in recovery.notes:
        log.warning("recovery: %s", note)
    return recovery
