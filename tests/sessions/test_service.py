"""The session service on a real SQLite file and an in-memory chat that fails like a platform."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.engine.catalog import Library
from bot.engine.scenario import Outcome
from bot.engine.scoring import Score
from bot.engine.session import Session
from bot.errors import DeliveryError, SessionError, StoreError
from bot.sessions import AlreadyPlaying, LineResult, ServiceSettings, SessionService, Trainee, recognition_due
from bot.sessions.service import NOTICES
from bot.sessions import messages as kinds
from bot.store import Store
from tests.sessions.chat import Chat, ChatTransport
from tests.scripts import COURTEOUS

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = Library(ROOT / "dialogues")
SCENARIO = LIBRARY.get("traffic_stop")
GUILD, THREAD, PARENT, TRAINEE, OBSERVER = 7, 500, 400, 42, 43
FAST = ServiceSettings(first_retry_seconds=0.01, max_retry_seconds=0.05, delay_notice_seconds=0.05, lines_per_minute=0)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Bench:
    """A service, its chat and its database; `restart()` is a new process on the same file and chat."""

    def __init__(self, path: Path, chat: Chat, settings: ServiceSettings, clock: Clock) -> None:
        self.path, self.chat, self.settings, self.clock = path, chat, settings, clock
        self.store: Store | None = None
        self.service: SessionService | None = None
        self.transport = ChatTransport(chat)

    async def open(self) -> SessionService:
        self.store = await Store.open(self.path, busy_timeout=0.3).__aenter__()
        self.transport = ChatTransport(self.chat)
        self.service = SessionService(self.store, self.transport, LIBRARY, self.settings, clock=self.clock)
        return self.service

    async def close(self) -> None:
        if self.service is not None:
            await self.service.close()
        if self.store is not None:
            await self.store.close()

    async def restart(self) -> SessionService:
        await self.close()
        service = await self.open()
        await service.on_connected()
        await self.settle()
        return service

    async def start(self, trainee: int = TRAINEE, thread: int = THREAD) -> int:
        assert self.service is not None
        started = await self.service.start(
            SCENARIO, Trainee(f"t{trainee}", trainee), guild_id=GUILD, channel_id=thread, parent_id=PARENT, seed=3,
        )
        await self.settle()
        return started.row.id

    async def say(self, text: str, author: int = TRAINEE, thread: int = THREAD, settle: bool = True) -> LineResult:
        """`settle=False` while something keeps failing (the service keeps retrying then)."""
        assert self.service is not None
        written = self.chat.write(thread, author, text)
        result = await self.service.handle_message(thread, author, text, str(written.id), written.written_at)
        if settle:
            await self.settle()
        return result

    async def settle(self) -> None:
        """Until every lane and catch-up of the service has nothing left to do, and the store
        has committed what it was holding for the next transaction (delivery marks)."""
        assert self.service is not None and self.store is not None
        for _ in range(200):
            await asyncio.sleep(0)
            busy = [t for t in self.service._tasks | self.service.outbox._tasks | self.store._group._tasks if not t.done()]
            if not busy:
                if not self.store._group.holding():
                    return
                await self.store.flush()
                continue
            await asyncio.wait(busy, timeout=0.05)
        raise AssertionError("the service never settled")

    def residents(self, thread: int = THREAD) -> list[str]:
        return [m.text for m in self.chat.bot_messages(thread) if m.message is not None and m.message.speaker]


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[Bench]:
    bench = Bench(tmp_path / "t.db", Chat(), FAST, Clock())
    await bench.open()
    yield bench
    await bench.close()


def hold_write_lock(path: Path) -> sqlite3.Connection:
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    return other


# -- the happy path --

async def test_a_session_from_briefing_to_feedback(bench: Bench) -> None:
    sid = await bench.start()
    assert bench.chat.kinds(THREAD) == [kinds.BRIEFING, kinds.OPENING]
    for line in COURTEOUS:
        assert await bench.say(line) is LineResult.PLAYED
    # The feedback, then the badges the session earned, told to the trainee in their thread.
    assert bench.chat.kinds(THREAD) == [kinds.BRIEFING, kinds.OPENING] + [kinds.RESIDENT] * 5 + [kinds.FEEDBACK] + ["badge_note"] * 3
    assert bench.service is not None and bench.service.session_in(THREAD) is None
    assert bench.store is not None
    row = await bench.store.get_session(sid)
    assert row is not None and (row.status, row.outcome) == ("ended", "success")
    assert [e[2].kind for e in bench.transport.edits] == [kinds.CONTROLS_OFF]  # the buttons came off the briefing
    assert all(item.status == "delivered" for item in await bench.store.outbox(sid))


async def test_only_the_trainee_moves_the_scene_and_replays_count_once(bench: Bench) -> None:
    sid = await bench.start()
    assert await bench.say("Keep talking and you're going to jail.", author=OBSERVER) is LineResult.NOT_PLAYED
    written = bench.chat.write(THREAD, TRAINEE, COURTEOUS[0])
    assert bench.service is not None
    assert await bench.service.handle_message(THREAD, TRAINEE, written.text, str(written.id), written.written_at) is LineResult.PLAYED
    assert await bench.service.handle_message(THREAD, TRAINEE, written.text, str(written.id), written.written_at) is LineResult.ALREADY_PLAYED
    assert bench.store is not None and (await bench.store.get_session(sid)).turns == 1  # type: ignore[union-attr]


async def test_one_session_per_trainee(bench: Bench) -> None:
    await bench.start()
    assert bench.service is not None
    with pytest.raises(AlreadyPlaying):
        await bench.start(thread=THREAD + 1)
    await bench.start(trainee=TRAINEE + 1, thread=THREAD + 1)  # someone else may


async def test_one_session_per_trainee_even_when_only_the_database_knows_it(bench: Bench) -> None:
    await bench.start()
    assert bench.store is not None
    members = await bench.store.members()
    # Another process on the same file: the session is not in its memory, the store refuses it.
    other = SessionService(bench.store, ChatTransport(bench.chat), LIBRARY, bench.settings, clock=bench.clock)
    try:
        with pytest.raises(AlreadyPlaying):
            await other.start(SCENARIO, Trainee("renamed", TRAINEE), guild_id=GUILD, channel_id=THREAD + 1, parent_id=PARENT, seed=3)
        assert other.outbox._known == {}
    finally:
        await other.close()
    assert len(await bench.store.list_sessions()) == 1
    assert await bench.store.members() == members  # nothing written, not even the new name


async def test_a_failed_start_leaks_nothing(bench: Bench) -> None:
    machine = LIBRARY.machine(SCENARIO)
    models = machine.model_count
    other = hold_write_lock(bench.path)
    try:
        with pytest.raises(StoreError):
            await bench.start()
    finally:
        other.rollback()
        other.close()
    assert machine.model_count == models  # no engine session left attached to the shared machine
    assert bench.service is not None and bench.service.session_in(THREAD) is None
    assert bench.chat.bot_messages(THREAD) == []
    await bench.start()  # and the trainee may try again


# -- sending --

async def test_a_reply_that_fails_to_send_is_retried_until_it_goes_out(bench: Bench) -> None:
    await bench.start()
    bench.transport.fail(3, DeliveryError("503", uncertain=True), kind=kinds.RESIDENT)
    await bench.say(COURTEOUS[0])
    await bench.say(COURTEOUS[1])
    assert len(bench.residents()) == 3  # opening + both replies, in order, each once
    assert bench.chat.kinds(THREAD)[-2:] == [kinds.RESIDENT, kinds.RESIDENT]


async def test_a_send_that_reached_the_chat_before_failing_is_not_sent_again(bench: Bench) -> None:
    await bench.start()
    bench.transport.fail(1, DeliveryError("502 after posting", uncertain=True), kind=kinds.RESIDENT, after_posting=True)
    await bench.say(COURTEOUS[0])
    assert len(bench.residents()) == 2  # the opening and one reply: found in the history, recorded


async def test_an_undeliverable_item_does_not_block_the_channel(bench: Bench) -> None:
    sid = await bench.start()
    bench.transport.fail(1, DeliveryError("403 missing access", permanent=True), kind=kinds.RESIDENT)
    await bench.say(COURTEOUS[0])
    await bench.say(COURTEOUS[1])
    assert bench.store is not None
    statuses = [(i.key.split(":", 1)[1], i.status) for i in await bench.store.outbox(sid)]
    assert ("turn:1", "undeliverable") in statuses and ("turn:2", "delivered") in statuses


async def test_a_delivery_that_could_not_be_recorded_is_recorded_later_not_resent(bench: Bench) -> None:
    sid = await bench.start()
    holder: list[sqlite3.Connection] = []

    def lock_after_posting(_: object) -> None:
        if not holder:
            holder.append(hold_write_lock(bench.path))  # the mark of this post will wait and fail

    bench.transport.after_post = lock_after_posting
    assert bench.service is not None
    written = bench.chat.write(THREAD, TRAINEE, COURTEOUS[0])
    await bench.service.handle_message(THREAD, TRAINEE, written.text, str(written.id), written.written_at)
    await asyncio.sleep(0.5)  # the lane tries to record the post and meets the lock
    bench.transport.after_post = None
    holder[0].rollback()
    holder[0].close()
    await bench.settle()
    assert len(bench.residents()) == 2
    assert bench.store is not None
    assert all(i.status == "delivered" for i in await bench.store.outbox(sid))


async def test_after_a_restart_pending_items_found_in_the_history_are_not_resent(bench: Bench) -> None:
    sid = await bench.start()
    await bench.say(COURTEOUS[0])
    with sqlite3.connect(bench.path) as raw:  # a process killed after posting, before recording
        raw.execute("UPDATE outbox SET status = 'pending', message_id = NULL WHERE key = ?", (f"{sid}:turn:1",))
    await bench.restart()
    assert len(bench.residents()) == 2
    assert bench.store is not None
    assert all(i.status == "delivered" for i in await bench.store.outbox(sid))
    await bench.say(COURTEOUS[1])
    assert len(bench.residents()) == 3


async def test_after_a_restart_items_never_sent_are_sent_once(bench: Bench) -> None:
    sid = await bench.start()
    bench.transport.fail(10**6, DeliveryError("down", uncertain=True), kind=kinds.RESIDENT)
    written = bench.chat.write(THREAD, TRAINEE, COURTEOUS[0])
    assert bench.service is not None
    await bench.service.handle_message(THREAD, TRAINEE, written.text, str(written.id), written.written_at)
    await asyncio.sleep(0.1)  # the lane keeps failing: Discord is down for this process
    assert len(bench.residents()) == 1  # only the opening: the reply is stuck
    await bench.restart()
    assert len(bench.residents()) == 2
    assert bench.store is not None and all(i.status == "delivered" for i in await bench.store.outbox(sid))


# -- the database in trouble --

async def test_a_line_that_cannot_be_saved_is_answered_once_the_lock_is_gone(bench: Bench) -> None:
    sid = await bench.start()
    await bench.say(COURTEOUS[0])
    other = hold_write_lock(bench.path)
    try:
        assert await bench.say(COURTEOUS[1], settle=False) is LineResult.NOT_SAVED
        assert await bench.say(COURTEOUS[2], settle=False) in (LineResult.LATER, LineResult.NOT_SAVED)
    finally:
        other.rollback()
        other.close()
    notices = [m.text for m in bench.chat.bot_messages(THREAD) if m.message is not None and m.message.kind == kinds.NOTICE]
    assert any("could not be saved" in text and "no need to send it again" in text for text in notices)
    await asyncio.sleep(0.1)
    await bench.settle()
    assert bench.store is not None
    assert [t.text for t in await bench.store.turns(sid) if t.speaker == "trainee"] == COURTEOUS[:3]  # in order, once
    assert len(bench.residents()) == 4
    assert bench.service is not None and len(bench.service._by_channel[THREAD].session.turns) == 3


async def test_a_line_whose_save_waits_gets_a_one_moment_notice_then_its_reply(bench: Bench) -> None:
    await bench.start()
    other = hold_write_lock(bench.path)
    try:
        line = asyncio.ensure_future(bench.say(COURTEOUS[0], settle=False))
        # The first line of a process also loads the detectors, so wait for the notice itself
        # (0.05 s into the save) rather than a fixed time; release well within the busy timeout (0.3 s).
        for _ in range(500):
            if notices_sent(bench):
                break
            await asyncio.sleep(0.01)
        assert not line.done()
    finally:
        other.rollback()
        other.close()
    assert await line is LineResult.PLAYED
    await bench.settle()
    assert notices_sent(bench) == [NOTICES["delayed"]]
    assert len(bench.residents()) == 2
    assert await bench.say(COURTEOUS[1]) is LineResult.PLAYED  # saved at once: no notice
    assert len(notices_sent(bench)) == 1


def notices_sent(bench: Bench) -> list[str]:
    return [m.text for m in bench.chat.bot_messages(THREAD) if m.message is not None and m.message.kind == kinds.NOTICE]


async def test_a_full_disk_drops_no_line(bench: Bench) -> None:
    sid = await bench.start()
    assert bench.store is not None
    async with bench.store._db.execute("PRAGMA page_count") as cursor:
        (pages,) = await cursor.fetchone()
    await bench.store._db.execute(f"PRAGMA max_page_count = {pages}")
    long_line = COURTEOUS[0] + " I'm here to help." * 300
    assert await bench.say(long_line, settle=False) is LineResult.NOT_SAVED
    await asyncio.sleep(0.05)
    notice = bench.chat.bot_messages(THREAD)[-1]
    assert notice.message is not None and "disk is full" in notice.text
    await bench.store._db.execute("PRAGMA max_page_count = 1073741823")  # space freed
    await asyncio.sleep(0.1)
    await bench.settle()
    assert [t.text for t in await bench.store.turns(sid) if t.speaker == "trainee"] == [long_line]
    assert len(bench.residents()) == 2


async def test_in_the_terminal_an_unsaved_line_is_to_be_typed_again(tmp_path: Path) -> None:
    from io import StringIO

    from rich.console import Console

    from bot.terminal import TerminalTransport

    out = StringIO()
    async with Store.open(tmp_path / "t.db", busy_timeout=0.2) as store:
        service = SessionService(store, TerminalTransport(Console(file=out), interactive=False), LIBRARY, FAST)
        started = await service.start(SCENARIO, Trainee("Ana"), seed=1)
        other = hold_write_lock(tmp_path / "t.db")
        try:
            said = await service.say(started.row.id, COURTEOUS[0])
        finally:
            other.rollback()
            other.close()
        assert said.result is LineResult.NOT_SAVED and said.session.turns == []
        assert "please type that line again" in out.getvalue()
        assert (await service.say(started.row.id, COURTEOUS[0])).result is LineResult.PLAYED
        await service.close()


# -- sessions sharing commits --

async def start_many(bench: Bench, count: int) -> list[int]:
    return [THREAD + k for k in range(count) if await bench.start(trainee=TRAINEE + k, thread=THREAD + k)]


async def say_at_once(bench: Bench, lines: dict[int, str]) -> list[LineResult]:
    """Each thread's trainee writes at the same moment: every line reaches the service in one pass of the loop."""
    assert bench.service is not None
    written = {thread: bench.chat.write(thread, TRAINEE + thread - THREAD, text) for thread, text in lines.items()}
    return list(await asyncio.gather(*(
        bench.service.handle_message(thread, TRAINEE + thread - THREAD, m.text, str(m.id), m.written_at) for thread, m in written.items()
    )))


async def test_lines_of_many_sessions_share_commits_and_each_is_answered_once(bench: Bench, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.store import store as store_module

    threads = await start_many(bench, 6)
    groups: list[int] = []
    real = store_module._commit_group

    async def counting(db: sqlite3.Connection, on_thread: object, writes: list, *args: object) -> object:  # type: ignore[type-arg]
        groups.append(len(writes))
        return await real(db, on_thread, writes, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(store_module, "_commit_group", counting)
    for line in COURTEOUS[:2]:
        assert await say_at_once(bench, {thread: line for thread in threads}) == [LineResult.PLAYED] * 6
        await bench.settle()
    assert max(groups) == 6 and len(groups) < 2 * 6  # six turns to a commit, and the delivery marks rode along
    for thread in threads:
        assert bench.chat.kinds(thread) == [kinds.BRIEFING, kinds.OPENING, kinds.RESIDENT, kinds.RESIDENT]
    assert bench.store is not None
    for row in await bench.store.list_sessions():
        assert all(item.status == "delivered" for item in await bench.store.outbox(row.id))


async def test_with_many_sessions_at_once_every_reply_goes_out_without_waiting_for_another_line(bench: Bench) -> None:
    """Lanes read the outbox while other lanes read it too: each read must see what was just
    queued, or a reply would wait for the trainee's next line (and one already sent, and
    recorded, could go out again)."""
    import random

    threads = await start_many(bench, 60)
    assert bench.service is not None
    bench.transport.latency = 0.005
    pauses = random.Random(5)

    missed: list[tuple[int, int]] = []

    async def trainee(thread: int) -> None:
        assert bench.service is not None
        for round_, line in enumerate(COURTEOUS[:3], start=1):
            await asyncio.sleep(pauses.uniform(0, 0.05))
            written = bench.chat.write(thread, TRAINEE + thread - THREAD, line)
            await bench.service.handle_message(thread, TRAINEE + thread - THREAD, line, str(written.id), written.written_at)
            await bench.service.outbox.drain(thread)  # everything queued for the thread so far has gone out...
            if len(bench.residents(thread)) <= round_:
                missed.append((thread, round_))  # ...or its lane read an outbox from before the turn

    await asyncio.gather(*(trainee(thread) for thread in threads))
    assert missed == []
    await bench.settle()
    assert [len(bench.residents(thread)) for thread in threads] == [4] * 60  # and none twice


async def test_a_line_whose_write_fails_in_a_group_is_played_later_and_the_others_now(bench: Bench) -> None:
    threads = await start_many(bench, 3)
    poison = COURTEOUS[0] + " (this one cannot be written yet)"
    with sqlite3.connect(bench.path) as raw:  # any statement error, for that one line only
        quoted = poison.replace("'", "''")
        raw.execute(f"CREATE TRIGGER fail_one BEFORE INSERT ON turns WHEN NEW.text = '{quoted}' BEGIN SELECT RAISE(ABORT, 'injected'); END")
    results = await say_at_once(bench, {threads[0]: COURTEOUS[0], threads[1]: poison, threads[2]: COURTEOUS[0]})
    assert results == [LineResult.PLAYED, LineResult.NOT_SAVED, LineResult.PLAYED]
    assert bench.service is not None
    for thread in (threads[0], threads[2]):
        await bench.service.outbox.drain(thread)  # (not settle(): the failed line's catch-up keeps trying meanwhile)
    assert len(bench.residents(threads[0])) == 2 and len(bench.residents(threads[2])) == 2  # answered at once
    assert len(bench.residents(threads[1])) == 1 and "could not be saved" in bench.chat.bot_messages(threads[1])[-1].text
    with sqlite3.connect(bench.path) as raw:
        raw.execute("DROP TRIGGER fail_one")
    await asyncio.sleep(0.1)  # its catch-up tries again
    await bench.settle()
    assert bench.store is not None
    for thread in threads:
        row = await bench.store.session_by_thread(thread)
        assert row is not None and len([t for t in await bench.store.turns(row.id) if t.speaker == "trainee"]) == 1
        assert len(bench.residents(thread)) == 2  # every line answered, once


async def test_a_group_that_cannot_commit_fails_every_line_cleanly_and_each_is_played_once_later(bench: Bench) -> None:
    threads = await start_many(bench, 4)
    other = hold_write_lock(bench.path)
    try:
        results = await say_at_once(bench, {thread: COURTEOUS[0] for thread in threads})
        assert results == [LineResult.NOT_SAVED] * 4
        await say_at_once(bench, {thread: COURTEOUS[1] for thread in threads})  # written meanwhile
    finally:
        other.rollback()
        other.close()
    await asyncio.sleep(0.1)
    await bench.settle()
    assert bench.store is not None
    for thread in threads:
        row = await bench.store.session_by_thread(thread)
        assert row is not None
        assert [t.text for t in await bench.store.turns(row.id) if t.speaker == "trainee"] == COURTEOUS[:2]  # in order, once
        assert len(bench.residents(thread)) == 3


async def test_a_crash_before_a_delivery_was_recorded_sends_nothing_twice(bench: Bench) -> None:
    """The reply went out; its delivery mark waited for the next commit, and the process died first."""
    sid = await bench.start()
    holder: list[sqlite3.Connection] = []

    def lock_after_posting(posted: object) -> None:
        if not holder:
            holder.append(hold_write_lock(bench.path))  # the folded mark cannot be committed now

    bench.transport.after_post = lock_after_posting
    assert bench.service is not None and bench.store is not None
    written = bench.chat.write(THREAD, TRAINEE, COURTEOUS[0])
    assert await bench.service.handle_message(THREAD, TRAINEE, written.text, str(written.id), written.written_at) is LineResult.PLAYED
    await bench.service.outbox.drain(THREAD)
    bench.transport.after_post = None
    await bench.close()  # dies: what it still held for the next transaction is lost with it
    holder[0].rollback()
    holder[0].close()
    with sqlite3.connect(bench.path) as raw:  # the reply is in the thread, and still pending in the database
        assert raw.execute("SELECT status FROM outbox WHERE key = ?", (f"{sid}:turn:1",)).fetchone() == ("pending",)
    await bench.open()
    assert bench.service is not None
    await bench.service.on_connected()
    await bench.settle()
    assert len(bench.residents()) == 2  # the opening and the one reply: found in the history, not posted again
    assert bench.store is not None and all(i.status == "delivered" for i in await bench.store.outbox(sid))
    await bench.say(COURTEOUS[1])
    assert len(bench.residents()) == 3


# -- catching up --

async def test_lines_written_while_the_bot_could_not_hear_are_played_on_reconnection(bench: Bench) -> None:
    sid = await bench.start()
    await bench.say(COURTEOUS[0])
    bench.chat.write(THREAD, TRAINEE, COURTEOUS[1])  # a gateway gap: no event for these
    bench.chat.write(THREAD, OBSERVER, "(an instructor's aside)")
    bench.chat.write(THREAD, TRAINEE, COURTEOUS[2])
    assert bench.service is not None
    await bench.service.on_connected()
    await bench.settle()
    assert bench.store is not None
    assert [t.text for t in await bench.store.turns(sid) if t.speaker == "trainee"] == COURTEOUS[:3]
    assert len(bench.residents()) == 4
    await bench.service.on_connected()  # a second reconnection finds nothing new
    await bench.settle()
    assert len(bench.residents()) == 4


async def test_a_catch_up_whose_history_read_fails_tries_again(bench: Bench) -> None:
    await bench.start()
    bench.chat.write(THREAD, TRAINEE, COURTEOUS[0])
    bench.transport.history_fails = 2
    assert bench.service is not None
    await bench.service.on_connected()
    await asyncio.sleep(0.2)
    await bench.settle()
    assert len(bench.residents()) == 2


async def test_a_session_that_cannot_be_restored_is_closed_and_the_trainee_told(bench: Bench, tmp_path: Path) -> None:
    sid = await bench.start()
    await bench.say(COURTEOUS[0])
    with sqlite3.connect(bench.path) as raw:  # the scenario was edited: the stored state no longer exists
        raw.execute("UPDATE turns SET state = 'no_such_state' WHERE session_id = ? AND seq = 1", (sid,))
    await bench.restart()
    assert bench.store is not None
    row = await bench.store.get_session(sid)
    assert row is not None and (row.status, row.outcome) == ("ended", "abandoned")
    assert "cannot go on" in bench.chat.bot_messages(THREAD)[-1].text
    assert bench.service is not None and bench.service.session_in(THREAD) is None
    await bench.start(thread=THREAD + 1)  # the trainee is free to start again (in a new thread)


async def test_a_session_whose_replay_diverges_is_closed_not_left_broken(bench: Bench) -> None:
    """A line that could not be saved rebuilds the session from the store; when that replay no
    longer leads where the stored turns did, no retry can help: it is closed and the trainee
    told, instead of every later line being 'not saved' until a restart."""
    sid = await bench.start()
    await bench.say(COURTEOUS[0])
    with sqlite3.connect(bench.path) as raw:  # what turn 1 led to no longer follows from it
        raw.execute("UPDATE turns SET state = 'explained' WHERE session_id = ? AND seq = 1", (sid,))
    other = hold_write_lock(bench.path)
    try:
        assert await bench.say(COURTEOUS[1], settle=False) is LineResult.NOT_SAVED
    finally:
        other.rollback()
        other.close()
    await asyncio.sleep(0.1)
    await bench.settle()
    assert bench.store is not None and bench.service is not None
    row = await bench.store.get_session(sid)
    assert row is not None and (row.status, row.outcome, row.score) == ("ended", "abandoned", None)
    assert "cannot go on" in bench.chat.bot_messages(THREAD)[-1].text
    assert bench.service.session_in(THREAD) is None
    assert await bench.say(COURTEOUS[2]) is LineResult.NOT_PLAYED


# -- ending, hints, idle --

async def test_ending_hints_and_who_may(bench: Bench) -> None:
    await bench.start()
    assert bench.service is not None
    assert "Greeted" in bench.service.hint(THREAD, by=TRAINEE, by_instructor=False)
    with pytest.raises(SessionError, match="for the trainee"):
        bench.service.hint(THREAD, by=OBSERVER, by_instructor=False)
    with pytest.raises(SessionError, match="Only the trainee or an instructor"):
        await bench.service.end(THREAD, by=OBSERVER, by_instructor=False)
    score = await bench.service.end(THREAD, by=OBSERVER, by_instructor=True)
    await bench.settle()
    assert score.outcome is Outcome.ABANDONED
    assert bench.chat.kinds(THREAD)[-1] == kinds.FEEDBACK
    with pytest.raises(SessionError, match="no role-play in progress"):
        await bench.service.end(THREAD, by=TRAINEE, by_instructor=False)


async def test_idle_nudge_then_abandon(bench: Bench) -> None:
    sid = await bench.start()
    assert bench.service is not None
    await bench.service.on_connected()  # connected, and caught up: quiet is judged from here
    await bench.say(COURTEOUS[0])
    idle = SCENARIO.idle
    assert idle is not None
    bench.clock.now += idle.after_seconds + 1
    await bench.service.tick()
    await bench.service.tick()  # one nudge, not one per tick
    await bench.settle()
    assert bench.chat.kinds(THREAD)[-1] == kinds.NUDGE and bench.chat.kinds(THREAD).count(kinds.NUDGE) == 1
    bench.clock.now += idle.abandon_after_seconds
    await bench.service.tick()
    await bench.settle()
    assert bench.store is not None and (await bench.store.get_session(sid)).outcome == "abandoned"  # type: ignore[union-attr]
    assert bench.chat.kinds(THREAD)[-1] == kinds.FEEDBACK


async def test_one_session_failing_its_idle_check_stops_no_other(bench: Bench, caplog: pytest.LogCaptureFixture) -> None:
    await bench.start()
    await bench.start(trainee=TRAINEE + 1, thread=THREAD + 1)
    assert bench.service is not None and SCENARIO.idle is not None
    await bench.service.on_connected()  # connected, and caught up: quiet is judged from here
    await bench.settle()
    broken = bench.service._by_channel[THREAD].session

    def fails() -> str:
        raise RuntimeError("anything at all going wrong in one session")

    broken.idle_line = fails  # type: ignore[method-assign]
    bench.clock.now += SCENARIO.idle.after_seconds + 1
    await bench.service.tick()
    await bench.settle()
    assert bench.chat.kinds(THREAD + 1)[-1] == kinds.NUDGE
    assert "idle check of session" in caplog.text


# -- recognition --

async def test_recognition_is_posted_once_in_the_cohort_channel(bench: Bench) -> None:
    assert bench.store is not None
    member = await bench.store.ensure_member("t42", guild_id=GUILD, discord_id=TRAINEE)
    cohort = await bench.store.create_cohort("Spring", guild_id=GUILD, channel_id=900)
    await bench.store.add_to_cohort(cohort.id, member.id)
    elsewhere = await bench.store.create_cohort("Other server", guild_id=GUILD + 1, channel_id=901)
    await bench.store.add_to_cohort(elsewhere.id, member.id)
    await bench.start()
    for line in COURTEOUS:
        await bench.say(line)
    (post,) = [m for m in bench.chat.bot_messages(900) if m.message is not None and m.message.kind == kinds.RECOGNITION]
    assert post.message is not None and f"<@{TRAINEE}>" in post.text
    assert post.message.mentions == (TRAINEE,)
    assert bench.chat.kinds(900) == [kinds.RECOGNITION] + ["badge"] * 3  # and the badges the session earned
    assert bench.chat.bot_messages(901) == []  # another server's cohort never hears of it
    await bench.restart()
    assert len(bench.chat.bot_messages(900)) == 4


async def test_what_a_session_queues_is_sent_as_built_which_is_what_its_stored_body_says(bench: Bench) -> None:
    # The outbox sends the message a session built, without decoding its stored body again:
    # the two must be the same message, for every kind a session and recognition queue.
    from bot.sessions.messages import Message

    assert bench.store is not None
    member = await bench.store.ensure_member("t42", guild_id=GUILD, discord_id=TRAINEE)
    cohort = await bench.store.create_cohort("Spring", guild_id=GUILD, channel_id=900)
    await bench.store.add_to_cohort(cohort.id, member.id)
    heard: list = []  # type: ignore[type-arg]
    bench.store.watch_outbox(heard.extend)
    await bench.start()
    for line in COURTEOUS:
        await bench.say(line)
    assert {item.kind for item in heard} >= {kinds.BRIEFING, kinds.OPENING, kinds.RESIDENT, kinds.FEEDBACK, kinds.CONTROLS_OFF, kinds.RECOGNITION}
    for item in heard:
        assert isinstance(item.message, Message) and item.message == Message.from_json(item.body)
    sent = [m.message for channel in (THREAD, 900) for m in bench.chat.bot_messages(channel)]
    assert sent == [item.message for item in sorted(heard, key=lambda i: (i.channel_id != THREAD, i.id)) if item.message.edit_of is None]


async def test_a_fault_in_recognition_never_keeps_a_session_from_ending(bench: Bench, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in the badge rules, say: the session still ends with its feedback, the trainee
    can start again, and a restart has nothing left to redo."""
    assert bench.store is not None
    member = await bench.store.ensure_member("t42", guild_id=GUILD, discord_id=TRAINEE)
    cohort = await bench.store.create_cohort("Spring", guild_id=GUILD, channel_id=900)
    await bench.store.add_to_cohort(cohort.id, member.id)

    async def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in a badge rule")

    monkeypatch.setattr(bench.service.recognition, "at_finish", broken)
    sid = await bench.start()
    for line in COURTEOUS:
        await bench.say(line)
    row = await bench.store.get_session(sid)
    assert row is not None and row.status == "ended" and row.score is not None
    assert bench.chat.kinds(THREAD).count(kinds.FEEDBACK) == 1
    assert bench.chat.bot_messages(900) == []  # no recognition, and nothing half-sent
    await bench.start(thread=THREAD + 1)  # the trainee is free to play again
    await bench.restart()
    assert bench.chat.kinds(THREAD).count(kinds.FEEDBACK) == 1


CORRECTED_REASON = [  # a made-up reason, taken back: the scene recovers, the grade is not clean
    "Evening ma'am, Officer Park, county police. I pulled you over for running that stop sign back there.",
    "Sorry, my mistake. The real reason is your registration tag expired four months ago.",
    "Could I see your license and registration, please?",
    "I know it's late and you're probably exhausted. It's just a warning tonight.",
    "I'll be back in about five minutes with the paperwork, and you can renew online.",
    "Thanks for your patience, ma'am. Get home safe.",
]
SALAD = ["Good evening ma'am, Officer Reyes, so sorry, I understand, you're not in trouble, thank you, any questions, drive safe."] * 2


def _score(lines: list[str]) -> Score:
    session = Session.start(SCENARIO, seed=1)
    for line in lines:
        if not session.ended:
            session.step(line)
    if not session.ended:
        session.abandon()
    return session.score()


def test_recognition_is_decided_by_one_rule() -> None:
    good, corrected, salad = _score(COURTEOUS), _score(CORRECTED_REASON), _score(SALAD)
    assert recognition_due(good, ServiceSettings(recognition_threshold=80))
    assert not recognition_due(good, ServiceSettings(recognition_threshold=good.total + 1))
    # A success at a high score with a contradicted line in it is never celebrated...
    assert corrected.outcome is Outcome.SUCCESS and corrected.total >= 80 and corrected.integrity
    assert not recognition_due(corrected, ServiceSettings(recognition_threshold=80))
    # ...nor a gamed scene, at any threshold.
    assert salad.gamed and not recognition_due(salad, ServiceSettings(recognition_threshold=0))


async def test_a_contradicted_grade_is_not_posted_to_the_cohort(bench: Bench) -> None:
    assert bench.store is not None
    member = await bench.store.ensure_member("t42", guild_id=GUILD, discord_id=TRAINEE)
    cohort = await bench.store.create_cohort("Spring", guild_id=GUILD, channel_id=900)
    await bench.store.add_to_cohort(cohort.id, member.id)
    await bench.start()
    for line in CORRECTED_REASON:
        await bench.say(line)
    assert kinds.FEEDBACK in bench.chat.kinds(THREAD)
    assert bench.chat.bot_messages(900) == []


# -- abuse --

async def test_flooding_gets_one_polite_notice_and_the_flood_is_not_played(tmp_path: Path) -> None:
    bench = Bench(tmp_path / "t.db", Chat(), ServiceSettings(lines_per_minute=6, line_burst=3, first_retry_seconds=0.01), Clock())
    await bench.open()
    try:
        sid = await bench.start()
        at = 5000.0
        results = []
        for index in range(8):  # eight lines within a second
            written = bench.chat.write(THREAD, TRAINEE, f"Hello there {index}", written_at=at + index * 0.1)
            assert bench.service is not None
            results.append(await bench.service.handle_message(THREAD, TRAINEE, written.text, str(written.id), written.written_at))
        await bench.settle()
        assert results.count(LineResult.PLAYED) == 3 and results.count(LineResult.TOO_FAST) == 5
        notices = [m for m in bench.chat.bot_messages(THREAD) if m.message is not None and m.message.kind == kinds.NOTICE]
        assert len(notices) == 1 and "faster than" in notices[0].text
        await bench.service.on_connected()  # catching up does not play the skipped lines
        await bench.settle()
        assert bench.store is not None and (await bench.store.get_session(sid)).turns == 3  # type: ignore[union-attr]
        later = bench.chat.write(THREAD, TRAINEE, "Sorry, I'll slow down.", written_at=at + 60)
        assert await bench.service.handle_message(THREAD, TRAINEE, later.text, str(later.id), later.written_at) is LineResult.PLAYED
    finally:
        await bench.close()


async def test_empty_messages_get_a_notice_once(bench: Bench) -> None:
    await bench.start()
    assert await bench.say("   ") is LineResult.EMPTY
    assert bench.service is not None
    await bench.service.on_connected()
    await bench.settle()
    notices = [m for m in bench.chat.bot_messages(THREAD) if m.message is not None and m.message.kind == kinds.NOTICE]
    assert len(notices) == 1 and "can only read what you type" in notices[0].text


async def test_resident_lines_never_ping_anyone(bench: Bench) -> None:
    await bench.start()
    await bench.say("Good evening, I'm Officer <@999> and this is @everyone.")
    for message in bench.chat.bot_messages(THREAD):
        assert message.message is not None
        assert set(message.message.mentions) <= {TRAINEE}
        if message.message.speaker:
            assert message.message.mentions == ()
