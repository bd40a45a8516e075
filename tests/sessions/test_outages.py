"""The session service through long outages: a database locked for many retries, a chat
that cannot be heard from for longer than a scenario's idle limit, live lines arriving
while a restart or a reconnection is still reloading. Real SQLite files, the in-memory chat."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bot.engine.catalog import Library
from bot.errors import DeliveryError, StoreError
from bot.sessions import LineResult, SessionService, Trainee
from bot.sessions import messages as kinds
from bot.store import Store
from tests.sessions.chat import Chat, ChatTransport
from tests.sessions.test_service import (
    COURTEOUS, FAST, GUILD, LIBRARY, PARENT, SCENARIO, THREAD, TRAINEE, Bench, Clock, hold_write_lock,
)

# Retries of a line that was not saved come quickly here, so an outage of a second or two
# is many retries, as a lock of a minute is with the real pauses.
QUICK = replace(FAST, catch_up_max_retry_seconds=0.05)


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[Bench]:
    """Flood control on, as shipped: 6 lines at once, 20 a minute."""
    bench = Bench(tmp_path / "t.db", Chat(), replace(QUICK, lines_per_minute=20, line_burst=6), Clock())
    await bench.open()
    yield bench
    await bench.close()


@pytest.fixture
async def quick(tmp_path: Path) -> AsyncIterator[Bench]:
    bench = Bench(tmp_path / "t.db", Chat(), QUICK, Clock())
    await bench.open()
    yield bench
    await bench.close()


async def trainee_lines(bench: Bench, session_id: int) -> list[str]:
    assert bench.store is not None
    return [t.text for t in await bench.store.turns(session_id) if t.speaker == "trainee"]


def injected(target: Any, name: str, before: Callable[[], Awaitable[None]]) -> None:
    """Make `target.name` run `before` first: an event that arrives while it is awaited."""
    original = getattr(target, name)

    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        await before()
        return await original(*args, **kwargs)

    setattr(target, name, wrapped)


# -- A1: retries of one unsaved line are not flooding --

async def test_a_line_retried_through_a_long_lock_is_played_not_refused_as_too_fast(
    limited: Bench, caplog: pytest.LogCaptureFixture,
) -> None:
    sid = await limited.start()
    caplog.set_level(logging.WARNING, "trainer.sessions")

    def failed_saves() -> int:
        return sum("a line was not saved" in r.getMessage() for r in caplog.records)

    other = hold_write_lock(limited.path)
    try:
        assert await limited.say(COURTEOUS[0], settle=False) is LineResult.NOT_SAVED
        for _ in range(400):  # until the line has been tried more often than the burst allows
            if failed_saves() > 8:
                break
            await asyncio.sleep(0.05)
        assert failed_saves() > 8
    finally:
        other.rollback()
        other.close()
    await asyncio.sleep(0.1)
    await limited.settle()
    assert await trainee_lines(limited, sid) == [COURTEOUS[0]]
    texts = [m.text for m in limited.chat.bot_messages(THREAD)]
    assert not any("faster than" in text for text in texts)
    assert len(limited.residents()) == 2  # the opening line, and the answer to it


# -- A2: no idle handling while the bot cannot hear the trainee --

async def test_a_session_is_neither_nudged_nor_ended_while_its_history_cannot_be_read(quick: Bench) -> None:
    sid = await quick.start()
    await quick.say(COURTEOUS[0])
    assert quick.service is not None and SCENARIO.idle is not None
    quick.transport.history_fails = 10**9  # the channel cannot be read: nothing the trainee writes is heard
    await quick.service.on_connected()
    for line in COURTEOUS[1:4]:  # three lines, 100 s apart, over longer than the scenario's idle limit
        quick.chat.write(THREAD, TRAINEE, line)
        quick.clock.now += 100
        await quick.service.tick()
        await asyncio.sleep(0.02)
    quick.clock.now += SCENARIO.idle.abandon_after_seconds
    await quick.service.tick()
    quick.transport.history_fails = 0
    await asyncio.sleep(0.1)
    await quick.settle()
    assert await trainee_lines(quick, sid) == COURTEOUS[:4]
    assert kinds.NUDGE not in quick.chat.kinds(THREAD) and kinds.FEEDBACK not in quick.chat.kinds(THREAD)
    assert quick.service.session_in(THREAD) is not None


async def test_a_session_is_neither_nudged_nor_ended_while_the_bot_is_disconnected(quick: Bench) -> None:
    sid = await quick.start()
    await quick.say(COURTEOUS[0])
    assert quick.service is not None and SCENARIO.idle is not None
    quick.service.on_disconnected()  # the gateway dropped; it stays down for six minutes
    for line in COURTEOUS[1:4]:
        quick.chat.write(THREAD, TRAINEE, line)
        quick.clock.now += 100
        await quick.service.tick()
    quick.clock.now += SCENARIO.idle.abandon_after_seconds
    await quick.service.tick()
    assert kinds.NUDGE not in quick.chat.kinds(THREAD)
    await quick.service.on_connected()
    await quick.settle()
    assert await trainee_lines(quick, sid) == COURTEOUS[:4]
    assert kinds.FEEDBACK not in quick.chat.kinds(THREAD) and quick.service.session_in(THREAD) is not None
    quick.clock.now += SCENARIO.idle.after_seconds  # heard again: a quiet trainee is nudged as before
    await quick.service.tick()
    await quick.settle()
    assert kinds.NUDGE in quick.chat.kinds(THREAD)


# -- A3: lines in the order they were written, across a restart or a reconnection --

async def test_a_live_line_during_a_restart_waits_for_the_lines_written_before_it(quick: Bench) -> None:
    sid = await quick.start()
    await quick.say(COURTEOUS[0])
    await quick.close()  # the bot is down
    quick.chat.write(THREAD, TRAINEE, COURTEOUS[1])  # written while it was away
    service = await quick.open()
    assert quick.store is not None

    async def live_line() -> None:  # arrives while the restart is still reloading
        written = quick.chat.write(THREAD, TRAINEE, COURTEOUS[2])
        await service.handle_message(THREAD, TRAINEE, COURTEOUS[2], str(written.id), written.written_at)

    injected(quick.store, "feedback_owed", live_line)  # awaited once the sessions are reloaded
    await service.on_connected()
    await quick.settle()
    assert await trainee_lines(quick, sid) == COURTEOUS[:3]


async def test_a_live_line_during_a_reconnection_waits_for_the_lines_written_in_the_gap(quick: Bench) -> None:
    sid = await quick.start()
    service = quick.service
    assert service is not None and quick.store is not None
    await service.on_connected()  # the first connection
    await quick.say(COURTEOUS[0])
    quick.chat.write(THREAD, TRAINEE, COURTEOUS[1])  # a gateway gap: no event for it

    async def live_line() -> None:  # the first event of the new connection, before catching up began
        written = quick.chat.write(THREAD, TRAINEE, COURTEOUS[2])
        await service.handle_message(THREAD, TRAINEE, COURTEOUS[2], str(written.id), written.written_at)

    injected(quick.store, "pending_channels", live_line)
    await service.on_connected()
    await quick.settle()
    assert await trainee_lines(quick, sid) == COURTEOUS[:3]


# -- B1: closed without a score stays without a score --

async def test_a_session_closed_without_a_score_never_gets_a_scored_feedback_later(quick: Bench, tmp_path: Path) -> None:
    sid = await quick.start()
    await quick.say(COURTEOUS[0])
    await quick.close()
    # The bot starts with the scenario missing (its file broken, say): the session is closed.
    broken = tmp_path / "broken-library"
    broken.mkdir()
    quick.store = await Store.open(quick.path, busy_timeout=0.3).__aenter__()
    quick.service = SessionService(quick.store, ChatTransport(quick.chat), Library(broken), QUICK, clock=quick.clock)
    await quick.service.on_connected()
    await quick.settle()
    assert "cannot go on" in quick.chat.bot_messages(THREAD)[-1].text
    # The file is fixed, and the bot restarts (twice): nothing more is posted for that session.
    await quick.restart()
    await quick.restart()
    assert quick.store is not None
    row = await quick.store.get_session(sid)
    assert row is not None and (row.status, row.outcome, row.score) == ("ended", "abandoned", None)
    assert kinds.FEEDBACK not in quick.chat.kinds(THREAD)
    assert "cannot go on" in quick.chat.bot_messages(THREAD)[-1].text



# -- C6: one session's restore never stops the others', and a failed one is tried again --

async def test_a_session_whose_replay_hits_a_bug_is_closed_and_the_others_restored(
    quick: Bench, caplog: pytest.LogCaptureFixture,
) -> None:
    first = await quick.start()
    await quick.start(trainee=TRAINEE + 1, thread=THREAD + 1)
    await quick.close()
    service = await quick.open()
    replay = service._replay

    async def buggy(row: Any, *args: Any) -> Any:
        if row.id == first:
            raise RuntimeError("a bug in replaying this one")
        return await replay(row, *args)

    service._replay = buggy  # type: ignore[method-assign]
    await service.on_connected()
    await quick.settle()
    assert service.session_in(THREAD + 1) is not None  # restored
    assert service.session_in(THREAD) is None and "cannot go on" in quick.chat.bot_messages(THREAD)[-1].text
    assert "could not be replayed" in caplog.text and "RuntimeError" in caplog.text  # with its traceback


async def test_a_restore_that_failed_half_way_is_done_whole_at_the_next_check(
    quick: Bench, caplog: pytest.LogCaptureFixture,
) -> None:
    await quick.start()
    await quick.close()
    service = await quick.open()
    assert quick.store is not None
    store = quick.store
    lookup = store.resident_lines_without_outbox
    calls = []

    async def fails_once(session_id: int) -> Any:
        calls.append(session_id)
        if len(calls) <= 2:
            raise StoreError("cannot read the database: disk I/O error")
        return await lookup(session_id)

    store.resident_lines_without_outbox = fails_once  # type: ignore[method-assign]
    with pytest.raises(StoreError):
        await service.on_connected()
    assert service.session_in(THREAD) is None  # not half restored
    await service.tick()  # tries the whole restore again: it fails again, and says so
    assert "could not be reloaded yet" in caplog.text and service.session_in(THREAD) is None
    await service.tick()
    await quick.settle()
    assert service.session_in(THREAD) is not None and len(calls) == 3
    assert await quick.say(COURTEOUS[0]) is LineResult.PLAYED


# -- C7: a channel that can never be read --

async def test_a_channel_that_cannot_be_read_is_not_retried_for_ever(quick: Bench) -> None:
    await quick.start()
    assert quick.service is not None and SCENARIO.idle is not None
    quick.transport.history_error = DeliveryError("404 Unknown Channel", permanent=True)
    quick.transport.history_fails = 10**9
    await quick.service.on_connected()
    await asyncio.sleep(0.2)
    await quick.settle()
    assert quick.transport.history_reads == 1  # given up on at once, not every few seconds
    quick.clock.now += SCENARIO.idle.abandon_after_seconds  # and idle handling ends it in time
    await quick.service.tick()
    await quick.settle()
    assert quick.service.session_in(THREAD) is None
