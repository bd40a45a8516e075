"""Background tasks report their failures instead of dying silently."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.background import spawn


async def test_a_failed_task_is_logged_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    tasks: set[asyncio.Task[None]] = set()
    with caplog.at_level(logging.ERROR, logger="trainer.tasks"):
        task = spawn(fails(), "catch-up-7", tasks)
        await asyncio.wait({task})
        await asyncio.sleep(0)
    (record,) = [r for r in caplog.records if r.name == "trainer.tasks"]
    assert "catch-up-7" in record.getMessage() and record.exc_info is not None
    assert tasks == set()  # held until done, then let go


async def test_a_cancelled_task_is_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    task = spawn(asyncio.sleep(10), "lane")
    task.cancel()
    await asyncio.wait({task})
    await asyncio.sleep(0)
    assert not [r for r in caplog.records if r.name == "trainer.tasks"]
