"""Background tasks that never fail silently: every task gets a done-callback that logs its error."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("trainer.tasks")


def spawn(coro: Coroutine[Any, Any, Any], name: str, tasks: set[asyncio.Task[Any]] | None = None) -> asyncio.Task[Any]:
    """Start `coro` as a task named `name`; its exception (if any) goes to the log with the
    traceback. `tasks`, when given, holds the task until it is done (asyncio keeps only a weak
    reference to running tasks) and lets the owner cancel what is left on close."""
    task = asyncio.get_running_loop().create_task(coro, name=name)
    if tasks is not None:
        tasks.add(task)
    task.add_done_callback(lambda done: _finished(done, tasks))
    return task


def _finished(task: asyncio.Task[Any], tasks: set[asyncio.Task[Any]] | None) -> None:
    if tasks is not None:
        tasks.discard(task)
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None:
        log.error("background task %s failed", task.get_name(), exc_info=exc)
