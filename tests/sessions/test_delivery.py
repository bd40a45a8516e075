"""What the outbox delivers, through restarts and faults: nothing kept per channel once it is
all sent, an item whose record was lost found in the history (not posted again), notices
posted once, and a front end never held up by the records. Real SQLite files, the in-memory chat."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from bot.errors import DeliveryError
from bot.sessions import LineResult, SessionService, Trainee
from bot.sessions import messages as kinds
from bot.store import Store
from tests.sessions.chat import Chat, ChatTransport
from tests.sessions.test_outages import QUICK, quick  # noqa: F401  (the fixture)
from tests.sessions.test_service import COURTEOUS, GUILD, LIBRARY, PARENT, SCENARIO, THREAD, TRAINEE, Bench, Clock, hold_write_lock


# -- C1: nothing kept per channel once everything there is sent --

async def test_the_outbox_forgets_a_channel_once_everything_there_is_sent(quick: Bench) -> None:
    assert quick.service is not None
    for index in range(3):
        await quick.start(trainee=TRAINEE + 10 + index, thread=THREAD + 10 + index)
        await quick.say(COURTEOUS[0], author=TRAINEE + 10 + index, thread=THREAD + 10 + index)
        await quick.service.end(THREAD + 10 + index, by=TRAINEE + 10 + index, by_instructor=False)
    await quick.settle()
    outbox = quick.service.outbox
    assert (outbox._lanes, outbox._posted_events, outbox._wake, outbox._sent, outbox._known, outbox._with_controls) == ({}, {}, {}, {}, {}, {})
    assert quick.service._by_channel == {}


async def test_new_session_thread_is_never_read_back_from_the_store(quick: Bench) -> None:
    """The outbox hears of what the service queues as it is committed: the opening, a line's
    reply and the feedback go out without reading back the pending items of a new thread,
    and the briefing's buttons come off without reading back which message carried it."""
    assert quick.service is not None and quick.store is not None
    reads: list[int | str] = []
    real = quick.store.pending_items

    async def counted(transport: str, channel_id: int) -> list:  # type: ignore[type-arg]
        reads.append(channel_id)
        return await real(transport, channel_id)

    quick.store.pending_items = counted  # type: ignore[method-assign]
    real_item = quick.store.outbox_item

    async def item_read(key: str) -> object:
        reads.append(key)
        return await real_item(key)

    quick.store.outbox_item = item_read  # type: ignore[method-assign, assignment]
    sid = await quick.start()
    for line in COURTEOUS[:3]:
        await quick.say(line)
    await quick.service.end(THREAD, by=TRAINEE, by_instructor=False)
    await quick.settle()
    assert reads == []
    assert len(quick.residents()) == 4 and quick.chat.kinds(THREAD).count(kinds.FEEDBACK) == 1
    assert all(item.status == "delivered" for item in await quick.store.outbox(sid))


# -- C3: an item posted and never recorded, before one that was --

async def test_an_item_whose_record_was_lost_before_a_later_ones_is_not_posted_again(quick: Bench) -> None:
    sid = await quick.start()
    await quick.say(COURTEOUS[0])
    await quick.say(COURTEOUS[1])
    shown = quick.residents()
    first_reply = [m for m in quick.chat.bot_messages(THREAD) if m.message is not None and m.message.kind == kinds.RESIDENT][0]
    # What a kill -9 leaves when the first reply's delivery was never recorded and the second's was.
    with sqlite3.connect(quick.path) as raw:
        raw.execute("UPDATE outbox SET status = 'pending', message_id = NULL, delivered_at = NULL WHERE key = ?", (f"{sid}:turn:1",))
    await quick.restart()
    assert quick.residents() == shown  # nothing posted again, nothing out of order
    assert quick.store is not None
    items = {item.key: item for item in await quick.store.outbox(sid)}
    assert (items[f"{sid}:turn:1"].status, items[f"{sid}:turn:1"].message_id) == ("delivered", str(first_reply.id))


# -- C4: the history is read only as far as it must be --

async def test_checking_the_history_stops_once_every_pending_item_is_found(quick: Bench) -> None:
    sid = await quick.start()
    await quick.say(COURTEOUS[0])
    for index in range(40):  # an instructor's long commentary after the reply
        quick.chat.write(THREAD, TRAINEE + 99, f"(note {index})")
    with sqlite3.connect(quick.path) as raw:  # the reply's record was lost in a crash
        raw.execute("UPDATE outbox SET status = 'pending', message_id = NULL, delivered_at = NULL WHERE key = ?", (f"{sid}:turn:1",))
    await quick.restart()
    assert len(quick.residents()) == 2  # found, not posted again
    checks = [shown for after, shown in quick.transport.history_shown if after is not None]
    assert checks and max(checks) <= 3  # from the opening line to the reply, not the 40 notes after it


async def test_a_channel_with_nothing_delivered_yet_is_read_from_when_its_items_were_queued(quick: Bench) -> None:
    for index in range(40):  # a channel with a long past (a cohort channel, say)
        quick.chat.write(THREAD, TRAINEE + 99, f"(old message {index})", written_at=time.time() - 3600)
    sid = await quick.start()
    shown = [m.text for m in quick.chat.bot_messages(THREAD)]
    with sqlite3.connect(quick.path) as raw:  # neither the briefing's nor the opening's record survived a crash
        raw.execute("UPDATE outbox SET status = 'pending', message_id = NULL, delivered_at = NULL WHERE session_id = ?", (sid,))
    quick.transport.history_shown.clear()
    await quick.restart()
    assert [m.text for m in quick.chat.bot_messages(THREAD)] == shown  # found, not posted again
    checks = [count for after, count in quick.transport.history_shown if after is not None]
    assert checks and max(checks) <= 3  # not the hour-old messages before them


# -- C5: a notice is posted once, even when a retry follows a 5xx that posted it --

async def test_a_notice_retried_after_a_5xx_that_posted_it_is_posted_once(quick: Bench) -> None:
    await quick.start()
    quick.transport.honours_nonces = True  # as Discord does
    quick.transport.fail(1, DeliveryError("502 Bad Gateway", uncertain=True), kind=kinds.NOTICE, after_posting=True)
    other = hold_write_lock(quick.path)
    try:
        assert await quick.say(COURTEOUS[0], settle=False) is LineResult.NOT_SAVED
        for _ in range(200):  # until the notice went out
            if any("no need to send it again" in m.text for m in quick.chat.bot_messages(THREAD)):
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)  # and its retry
    finally:
        other.rollback()
        other.close()
    await asyncio.sleep(0.1)
    await quick.settle()
    notices = [m.text for m in quick.chat.bot_messages(THREAD) if m.message is not None and m.message.kind == kinds.NOTICE]
    assert len(notices) == len(set(notices))  # the one the 5xx hit, and every other, posted once
    assert len([text for text in notices if "no need to send it again" in text]) == 1
    assert len(quick.residents()) == 2  # and the line was answered once the lock was gone


# -- C8: a front end never waits for delivery records --

async def test_a_front_end_waiting_for_what_it_sent_never_waits_for_the_records(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    chat = Chat()
    store = await Store.open(path, busy_timeout=30).__aenter__()
    service = SessionService(store, ChatTransport(chat), LIBRARY, QUICK, clock=Clock())
    try:
        started = await service.start(SCENARIO, Trainee("t", TRAINEE), guild_id=GUILD, channel_id=THREAD, parent_id=PARENT, seed=3)
        other = hold_write_lock(path)  # from before the lane runs: recording what it sends must wait
        try:
            await asyncio.wait_for(service.outbox.drain(THREAD), 10)  # would wait the 30 s busy timeout
            assert chat.kinds(THREAD) == [kinds.BRIEFING, kinds.OPENING]
            assert {item.status for item in await store.outbox(started.row.id)} == {"pending"}  # sent, not yet recorded
        finally:
            other.rollback()
            other.close()
    finally:
        await service.close()
        await store.close()
