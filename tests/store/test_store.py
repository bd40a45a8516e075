"""The store on real temporary database files."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from bot.errors import AlreadyExists, AlreadyPlaying, StoreBusy, StoreError, StoreFull
from bot.store import EvidenceRow, NewSession, Store, TurnRow
from bot.store.rows import Finish, NewItem, SessionRecord, ShownRow, SkillEvidenceRow
from bot.store import store as store_module
from bot.store.store import migrations


def new_session(**overrides: object) -> NewSession:
    values: dict[str, object] = dict(scenario_id="traffic_stop", scenario_digest="abc", trainee="Ana", seed=7, state="window", mood=55)
    values.update(overrides)
    return NewSession(**values)  # type: ignore[arg-type]


async def test_open_applies_migrations_and_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "t.db"
    async with Store.open(path):
        pass
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == migrations()[-1][0]
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"sessions", "turns"} <= tables


async def test_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA user_version = 999")
    with pytest.raises(StoreError, match="newer version"):
        async with Store.open(path):
            pass


async def test_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError):
        async with Store.open(path):
            pass


async def test_session_and_turns_round_trip(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "t.db") as store:
        session = await store.start_session(new_session(), "Is there a problem, officer?")
        assert session.status == "active" and session.turns == 0
        text = 'Hello, "ma\'am", comma, newline\nand emoji \U0001F697'
        signals = (EvidenceRow("greeting", 0, 5, "Hello"),)
        assert await store.record_turn(
            TurnRow(session.id, 1, "trainee", text, signals, 50, "greeted", source_message_id="m1"),
            TurnRow(session.id, 1, "resident", "Good evening.", (), 50, "greeted"),
        )
        await store.finish_session(session.id, "success", 88)
        turns = await store.turns(session.id)
        row = await store.get_session(session.id)
    assert [(t.seq, t.speaker) for t in turns] == [(0, "resident"), (1, "trainee"), (1, "resident")]
    assert turns[1].text == text and turns[1].signals == signals
    assert row is not None and (row.status, row.outcome, row.score, row.turns, row.state) == ("ended", "success", 88, 1, "greeted")


async def test_same_source_message_is_not_recorded_twice(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "t.db") as store:
        session = await store.start_session(new_session(), "Hi")
        first = TurnRow(session.id, 1, "trainee", "hello", (), 50, "s", source_message_id="m1")
        reply = TurnRow(session.id, 1, "resident", "hi", (), 50, "s")
        assert await store.record_turn(first, reply)
        again = TurnRow(session.id, 2, "trainee", "hello", (), 50, "s", source_message_id="m1")
        assert not await store.record_turn(again, TurnRow(session.id, 2, "resident", "hi", (), 50, "s"))
        assert await store.message_seen("m1")
        assert len(await store.turns(session.id)) == 3  # nothing half-written


async def test_reopen_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    async with Store.open(path) as store:
        session = await store.start_session(new_session(), "Hi")
    async with Store.open(path) as store:
        assert [s.id for s in await store.list_sessions(status="active")] == [session.id]
        assert await store.list_sessions(status="ended") == []


async def test_concurrent_writes_on_one_connection_all_land(tmp_path: Path) -> None:
    """The bot shares one connection between sessions: simultaneous turns must queue, not fail."""
    import asyncio

    async with Store.open(tmp_path / "t.db") as store:
        sessions = [await store.start_session(new_session(trainee=f"t{i}"), "Hi") for i in range(8)]
        await asyncio.gather(*(
            store.record_turn(
                TurnRow(s.id, 1, "trainee", "hello", (), 50, "s", source_message_id=f"m{s.id}"),
                TurnRow(s.id, 1, "resident", "hi", (), 50, "s"),
            )
            for s in sessions
        ))
        for session in sessions:
            assert len(await store.turns(session.id)) == 3


async def test_read_only_commands_refuse_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no database at"):
        async with Store.open(tmp_path / "typo.db", create=False):
            pass
    assert not (tmp_path / "typo.db").exists()


# -- errors, locks and a full disk --

def hold_write_lock(path: Path) -> sqlite3.Connection:
    """Another process's writer in the middle of a long transaction."""
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    return other


async def test_a_lock_held_past_the_busy_timeout_is_store_busy(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    async with Store.open(path, busy_timeout=0.3) as store:
        session = await store.start_session(new_session(), "Hi")
        other = hold_write_lock(path)
        try:
            with pytest.raises(StoreBusy, match="busy"):
                await store.record_turn(
                    TurnRow(session.id, 1, "trainee", "hello", (), 50, "s"), TurnRow(session.id, 1, "resident", "hi", (), 50, "s"),
                )
        finally:
            other.rollback()
            other.close()
        assert await store.record_turn(  # the lock is free again: nothing was half-written
            TurnRow(session.id, 1, "trainee", "hello", (), 50, "s"), TurnRow(session.id, 1, "resident", "hi", (), 50, "s"),
        )


async def test_reads_do_not_queue_behind_a_write_waiting_for_a_lock(tmp_path: Path) -> None:
    import asyncio

    path = tmp_path / "t.db"
    async with Store.open(path, busy_timeout=30) as store:
        session = await store.start_session(new_session(), "Hi")
        other = hold_write_lock(path)
        try:
            waiting = asyncio.ensure_future(store.set_meta("k", "v"))  # waits for the other process
            await asyncio.sleep(0.2)
            assert not waiting.done()
            assert (await store.get_session(session.id)) is not None  # answered while the write waits
            assert await store.session_results() == []
        finally:
            other.rollback()
            other.close()
        await waiting
        assert await store.get_meta("k") == "v"


async def test_errors_inside_a_transaction_leave_as_store_errors(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "t.db") as store:
        with pytest.raises(StoreError):  # a turn of a session that does not exist: a foreign key fails mid-transaction
            await store.record_turn(TurnRow(999, 1, "trainee", "x", (), 50, "s"), TurnRow(999, 1, "resident", "y", (), 50, "s"))
        with pytest.raises(StoreError):  # a number SQLite cannot hold
            await store.ensure_member("x", guild_id=2**70)
        assert await store.list_sessions() == []


async def test_a_full_disk_is_store_full_and_recovers_when_space_is_back(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "t.db") as store:
        session = await store.start_session(new_session(), "Hi")
        async with store._db.execute("PRAGMA page_count") as cursor:
            (count,) = await cursor.fetchone()
        await store._db.execute(f"PRAGMA max_page_count = {count}")  # what a disk that filled up looks like to SQLite
        with pytest.raises(StoreFull, match="disk is full"):
            await store.record_turn(
                TurnRow(session.id, 1, "trainee", "x" * 20_000, (), 50, "s"), TurnRow(session.id, 1, "resident", "y", (), 50, "s"),
            )
        assert len(await store.turns(session.id)) == 1
        await store._db.execute("PRAGMA max_page_count = 1073741823")  # space freed
        assert await store.record_turn(
            TurnRow(session.id, 1, "trainee", "x" * 20_000, (), 50, "s"), TurnRow(session.id, 1, "resident", "y", (), 50, "s"),
        )


# -- the outbox --

def item(key: str, channel: int = 5, session: int | None = None, kind: str = "resident") -> NewItem:
    return NewItem(key=key, transport="discord", channel_id=channel, kind=kind, body='{"kind": "resident", "text": "hi"}', session_id=session)


async def test_items_are_queued_with_their_turn_once_and_in_order(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "t.db") as store:
        session = await store.start_session(new_session(), "Hi", lambda sid: [item(f"{sid}:opening", session=sid)])
        trainee = TurnRow(session.id, 1, "trainee", "hello", (), 50, "s", source_message_id="m1")
        reply = TurnRow(session.id, 1, "resident", "hi", (), 50, "s")
        finish = Finish("success", 90)
        assert await store.record_turn(trainee, reply, [item(f"{session.id}:turn:1", session=session.id), item(f"{session.id}:feedback", session=session.id, kind="feedback")], finish)
        await store.enqueue([item(f"{session.id}:feedback", session=session.id, kind="feedback")])  # queued again: ignored
        pending = await store.pending_items("discord", 5)
        assert [p.key for p in pending] == [f"{session.id}:opening", f"{session.id}:turn:1", f"{session.id}:feedback"]
        assert (await store.get_session(session.id)).status == "ended"  # type: ignore[union-attr]
        await store.mark_delivered(pending[0].id, "100")
        assert [p.key for p in await store.pending_items("discord", 5)] == [f"{session.id}:turn:1", f"{session.id}:feedback"]
        assert [d.message_id for d in await store.delivered_items("discord", 5)] == ["100"]
        assert await store.pending_items("terminal", 5) == []  # one transport never sends another's items


async def test_items_queued_in_one_statement_are_heard_with_the_ids_their_rows_got(tmp_path: Path) -> None:
    heard: list[tuple[int, str, str]] = []
    async with Store.open(tmp_path / "t.db") as store:
        store.watch_outbox(lambda items: heard.extend((i.id, i.key, i.body) for i in items))
        await store.enqueue([item("a"), item("b")])
        # Mixed: queued before (kept as it was, not heard again), new, and a new key twice (queued once, as its first item).
        twice = [replace(item("d"), body='{"kind": "resident", "text": "first"}'), replace(item("d"), body='{"kind": "resident", "text": "second"}')]
        await store.enqueue([item("b"), item("c"), *twice, item("a"), item("e")])
        await store.enqueue([item("e"), item("a")])  # nothing new: nothing heard
        rows = [(p.id, p.key, p.body) for p in await store.pending_items("discord", 5)]
        assert [key for _, key, _ in rows] == ["a", "b", "c", "d", "e"]
        assert heard == rows  # each item heard once, with its row's id, in the order queued
        assert '"first"' in rows[3][2]


@pytest.mark.parametrize("returning", [True, False], ids=["returning", "before-3.35"])
async def test_a_started_session_and_its_member_are_the_rows_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, returning: bool,
) -> None:
    monkeypatch.setattr(store_module, "_RETURNING", returning)
    async with Store.open(tmp_path / "t.db") as store:
        first = await store.start_session(new_session(guild_id=1, trainee_id=42), "Hi", with_member=True, one_at_a_time=True)
        assert first == await store.get_session(first.id)
        assert (first.status, first.turns, first.outcome, first.ended_at) == ("active", 0, None, None)  # the schema's defaults
        member = await store.member_of(guild_id=1, discord_id=42)
        assert member is not None and first.member_id == member.id and member.display_name == "Ana"
        # In progress: a second start is refused, and nothing is written (not even the new name).
        with pytest.raises(AlreadyPlaying) as refused:
            await store.start_session(new_session(guild_id=1, trainee_id=42, trainee="Renamed"), "Hi", with_member=True, one_at_a_time=True)
        assert refused.value.session_id == first.id
        assert await store.list_sessions() == [first] and await store.members() == [member]
        await store.finish_session(first.id, "success", 90)
        # Seen again under a new name: the same member, renamed, and the session row as stored.
        second = await store.start_session(new_session(guild_id=1, trainee_id=42, trainee="Ana B."), "Hi", with_member=True, one_at_a_time=True)
        assert second == await store.get_session(second.id) and second.member_id == member.id
        assert await store.ensure_member("Ana C.", guild_id=1, discord_id=42) == replace(member, display_name="Ana C.")
        local = await store.ensure_member("Lou")  # no chat id: found by name
        assert await store.ensure_member("Lou") == local


async def test_outbox_watchers_hear_of_committed_items_only(tmp_path: Path) -> None:
    heard: list[tuple[int, str, str]] = []
    async with Store.open(tmp_path / "t.db") as store:
        stop = store.watch_outbox(lambda items: heard.extend((i.id, i.key, i.status) for i in items))
        session = await store.start_session(new_session(), "Hi", lambda sid: [item(f"{sid}:opening", session=sid)])
        await store.enqueue([item(f"{session.id}:opening", session=session.id), item("n:1")])  # the first was queued before
        with pytest.raises(StoreError):  # a write that fails queues nothing
            await store.record_turn(TurnRow(999, 1, "trainee", "x", (), 50, "s"), TurnRow(999, 1, "resident", "y", (), 50, "s"), [item("n:2")])
        assert heard == [(p.id, p.key, "pending") for p in await store.pending_items("discord", 5)]
        assert [key for _, key, _ in heard] == [f"{session.id}:opening", "n:1"]
        stop()
        await store.enqueue([item("n:3")])
        assert len(heard) == 2


async def test_a_read_sees_every_write_committed_before_it_even_while_other_reads_run(tmp_path: Path) -> None:
    # The outbox reads what is pending right after recording a delivery; other lanes read
    # meanwhile on the same connection. A read that saw an older snapshot would send an item twice.
    async with Store.open(tmp_path / "t.db") as store:
        await store.enqueue([item(f"a{i}", channel=5) for i in range(40)] + [item(f"b{i}", channel=6) for i in range(200)])
        done = False

        async def other_lane() -> None:
            while not done:
                await store.pending_items("discord", 6)

        async def lane() -> list[str]:
            seen_again = []
            for pending in await store.pending_items("discord", 5):
                await store.mark_delivered(pending.id, "1")
                if any(p.id == pending.id for p in await store.pending_items("discord", 5)):
                    seen_again.append(pending.key)
            return seen_again

        others = [asyncio.ensure_future(other_lane()) for _ in range(3)]
        try:
            assert await lane() == []
        finally:
            done = True
            await asyncio.gather(*others)


async def test_a_failed_turn_queues_nothing(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "t.db") as store:
        session = await store.start_session(new_session(), "Hi")
        first = TurnRow(session.id, 1, "trainee", "hello", (), 50, "s", source_message_id="m1")
        assert await store.record_turn(first, TurnRow(session.id, 1, "resident", "hi", (), 50, "s"))
        again = TurnRow(session.id, 2, "trainee", "hello", (), 50, "s", source_message_id="m1")
        assert not await store.record_turn(again, TurnRow(session.id, 2, "resident", "hi", (), 50, "s"), [item("x:turn:2")])
        assert await store.pending_items("discord", 5) == []


async def test_ignored_messages_count_as_seen(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "t.db") as store:
        session = await store.start_session(new_session(), "Hi")
        assert await store.ignore_message("m9", session.id, "too fast", [item("n:1")])
        assert await store.message_seen("m9") and "m9" in await store.seen_messages(session.id)
        assert not await store.ignore_message("m9", session.id, "too fast", [item("n:2")])  # seen twice: still once
        assert [p.key for p in await store.pending_items("discord", 5)] == ["n:1"]
        # A message played as a turn is seen too: setting it aside afterwards queues nothing, and
        # a message set aside is never played.
        played = TurnRow(session.id, 1, "trainee", "hello", (), 50, "s", source_message_id="m1")
        assert await store.record_turn(played, TurnRow(session.id, 1, "resident", "hi", (), 50, "s"))
        assert not await store.ignore_message("m1", session.id, "empty", [item("n:3")])
        aside = TurnRow(session.id, 2, "trainee", "hello", (), 50, "s", source_message_id="m9")
        assert not await store.record_turn(aside, TurnRow(session.id, 2, "resident", "hi", (), 50, "s"), [item("n:4")])
        assert [p.key for p in await store.pending_items("discord", 5)] == ["n:1"]


def reader_trips(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The functions sent to the reading connection's thread from now on, by name, in order."""
    trips: list[str] = []
    real = store._reader._execute

    async def recording(fn: object, *args: object, **kwargs: object) -> object:
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await real(fn, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(store._reader, "_execute", recording)
    return trips


async def test_every_read_runs_its_query_to_the_end_in_one_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Coroutines share the reading connection. A cursor read in several trips keeps its
    statement open between them, and SQLite keeps a connection with any open statement in one
    read transaction: with enough coroutines reading, every read sees an old database."""
    async with Store.open(tmp_path / "t.db") as store:
        session = await store.start_session(new_session(thread_id=77), "Hi", lambda sid: [item(f"{sid}:opening", session=sid)])
        trips = reader_trips(store, monkeypatch)
        reads = [
            store.pending_items("discord", 5), store.outbox_item(f"{session.id}:opening"), store.message_seen("m1"),
            store.get_session(session.id), store.session_by_thread(77), store.list_sessions(), store.seen_messages(session.id),
            store.delivered_items("discord", 5), store.turns(session.id), store.active_session_of(0, 1),
        ]
        for read in reads:
            await read
        assert trips == ["_execute_fetchall"] * len(reads)


async def test_reads_the_loop_cannot_do_at_once_go_to_the_reading_thread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A session's end reads on the event loop's thread, on a connection that never waits;
    where SQLite would have to wait (busy), the same reads go to the reading connection's
    thread, which may. Any other error is a StoreError, as on that thread."""
    async with Store.open(tmp_path / "t.db") as store:
        member = await store.ensure_member("Ann", guild_id=1, discord_id=5)
        cohort = await store.create_cohort("night", guild_id=1, channel_id=9)
        await store.add_to_cohort(cohort.id, member.id)
        at_once = store._at_once
        trips = reader_trips(store, monkeypatch)
        here = await store.recognition_inputs(member.id, history=True)
        assert trips == [] and here.public and [c.name for c in here.cohorts] == ["night"]

        class Failing:
            def __init__(self, error: str) -> None:
                self.error = error

            def execute(self, *args: object) -> None:
                raise sqlite3.OperationalError(self.error)

        monkeypatch.setattr(store, "_at_once", Failing("database is locked"))
        assert await store.recognition_inputs(member.id, history=True) == here
        assert trips == ["reads"]
        monkeypatch.setattr(store, "_at_once", Failing("disk I/O error"))
        with pytest.raises(StoreError, match="disk I/O error"):
            await store.recognition_inputs(member.id, history=True)
        assert trips == ["reads"]
        monkeypatch.setattr(store, "_at_once", at_once)


# -- group commit --

def turn_of(session_id: int, text: str = "hello", seq: int = 1, message: str | None = None) -> tuple[TurnRow, TurnRow]:
    return (TurnRow(session_id, seq, "trainee", text, (EvidenceRow("greeting", 0, 5, text[:5]),), 50, "s", source_message_id=message),
            TurnRow(session_id, seq, "resident", "hi", (), 50, "s"))


class Groups:
    """Records what each group commit carried: (writes, delivery marks)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[tuple[int, int]] = []
        real = store_module._commit_group

        async def counting(db: sqlite3.Connection, on_thread: object, writes: list, marks: dict, *args: object) -> object:  # type: ignore[type-arg]
            self.seen.append((len(writes), len(marks)))
            return await real(db, on_thread, writes, marks, *args)  # type: ignore[arg-type]

        monkeypatch.setattr(store_module, "_commit_group", counting)


async def test_turns_ready_together_share_one_transaction(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with Store.open(tmp_path / "t.db") as store:
        sessions = [await store.start_session(new_session(trainee=f"t{i}"), "Hi") for i in range(8)]
        groups = Groups(monkeypatch)
        results = await asyncio.gather(*(store.record_turn(*turn_of(s.id, message=f"m{s.id}")) for s in sessions))
        assert results == [True] * 8
        assert groups.seen == [(8, 0)]  # one trip, one BEGIN ... COMMIT for all eight
        for session in sessions:
            turns = await store.turns(session.id)
            assert [t.speaker for t in turns] == ["resident", "trainee", "resident"]
            assert turns[1].signals == (EvidenceRow("greeting", 0, 5, "hello"),)
            assert (await store.get_session(session.id)).turns == 1  # type: ignore[union-attr]


def table_rows(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the tables a turn writes, ids included (times left out)."""
    with sqlite3.connect(path) as raw:
        return {
            "turns": raw.execute("SELECT id, session_id, seq, speaker, text, signals, mood, state, source_message_id FROM turns ORDER BY id").fetchall(),
            "sessions": raw.execute("SELECT id, state, mood, turns, status, outcome, score, ended_at IS NULL FROM sessions ORDER BY id").fetchall(),
            "ends": raw.execute("SELECT rowid, * FROM skill_evidence ORDER BY rowid").fetchall()
            + raw.execute("SELECT rowid, * FROM session_results ORDER BY rowid").fetchall()
            + raw.execute("SELECT rowid, * FROM session_behaviours ORDER BY rowid").fetchall(),
            "outbox": raw.execute("SELECT id, key, channel_id, session_id, kind, body, status FROM outbox ORDER BY id").fetchall(),
            "ignored": raw.execute("SELECT message_id, session_id FROM ignored_messages ORDER BY message_id").fetchall(),
        }


async def play_together_and_apart(tmp_path: Path, prepare: object, turns: object) -> tuple[object, object]:
    """The same turns recorded all at once (one group, its turns sharing statements) and one
    at a time, on two fresh databases: (results, rows, outbox items heard) of each."""
    outcomes = []
    for together in (True, False):
        path = tmp_path / f"{together}.db"
        async with Store.open(path) as store:
            sessions = [await store.start_session(new_session(trainee=f"t{i}"), "Hi", lambda sid: [item(f"{sid}:opening", session=sid)])
                        for i in range(6)]
            await prepare(store, sessions)  # type: ignore[operator]
            heard: list[tuple[int, str]] = []
            store.watch_outbox(lambda items: heard.extend((i.id, i.key) for i in items))
            calls = [lambda t=t: store.record_turn(*t) for t in turns(sessions)]  # type: ignore[operator]
            if together:
                results = await asyncio.gather(*(call() for call in calls), return_exceptions=True)
            else:
                results = []
                for call in calls:
                    try:
                        results.append(await call())
                    except StoreError as exc:
                        results.append(exc)
            pending = [(p.id, p.key) for p in await store.pending_items("discord", 5)]
        outcomes.append(([r if isinstance(r, bool) else type(r) for r in results], table_rows(path), heard, pending))
    return outcomes[0], outcomes[1]


def turns_of_each(sessions: list, seq: int = 1) -> list:  # type: ignore[type-arg]
    return [(*turn_of(s.id, f"line {s.id}", seq, message=f"m{s.id}:{seq}"), [item(f"{s.id}:turn:{seq}", session=s.id), item(f"{s.id}:x:{seq}", session=s.id)])
            for s in sessions]


async def nothing(store: Store, sessions: list) -> None:  # type: ignore[type-arg]
    pass


# SQLite before 3.33 has no UPDATE ... FROM: the sessions' progress and the delivery marks are
# then written with executemany, which must leave the same rows.
UPDATE_FROM = pytest.mark.parametrize("update_from", [True, False], ids=["update-from", "before-3.33"])


@UPDATE_FROM
async def test_turns_of_a_group_written_together_are_what_they_are_written_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, update_from: bool,
) -> None:
    monkeypatch.setattr(store_module, "_UPDATE_FROM", update_from)
    groups = Groups(monkeypatch)
    shared: list[int] = []
    real = store_module._record_turns
    monkeypatch.setattr(store_module, "_record_turns", lambda db, turns, queued: (shared.append(len(turns)), real(db, turns, queued)))
    together, apart = await play_together_and_apart(tmp_path, nothing, turns_of_each)
    assert (6, 0) in groups.seen and shared == [6]  # six turns in one transaction, sharing its statements
    assert together == apart
    results, rows, heard, pending = together
    assert results == [True] * 6
    assert heard == [item for item in pending if ":opening" not in item[1]]  # the watchers hear the ids the rows have
    assert len(heard) == 12


@UPDATE_FROM
async def test_turns_that_end_their_session_share_a_group_s_statements_and_leave_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, update_from: bool,
) -> None:
    monkeypatch.setattr(store_module, "_UPDATE_FROM", update_from)
    shared: list[int] = []
    real = store_module._record_turns
    monkeypatch.setattr(store_module, "_record_turns", lambda db, turns, queued: (shared.append(len(turns)), real(db, turns, queued)))
    record = SessionRecord(clean=True, gamed=False, penalties=0, critical=False, start_mood=50, peak_mood=60, end_mood=55,
                           shown=(ShownRow("courtesy", 1, "hello"),))
    skills = (SkillEvidenceRow("greet", "Greeted", "earned", 10, 10, 1, "hello"), SkillEvidenceRow("explain", "Explained", "missed", 0, 10, None, ""))

    def turns(sessions: list) -> list:  # type: ignore[type-arg]
        lines = turns_of_each(sessions)
        for n in (1, 4):  # two of the six end with their turn, each with its feedback
            sid = sessions[n].id
            lines[n] = (*lines[n], Finish("success", 80 + n, skills, record))
            lines[n][2].append(item(f"{sid}:feedback", session=sid, kind="feedback"))
        return lines

    together, apart = await play_together_and_apart(tmp_path, nothing, turns)
    assert shared == [6]  # the ends among them did not keep the six apart
    assert together == apart
    results, rows, heard, _ = together
    assert results == [True] * 6 and len(heard) == 14
    assert [status for _, _, _, _, status, *_ in rows["sessions"]].count("ended") == 2  # type: ignore[index]


@pytest.mark.parametrize("how", ["played", "set aside"])
async def test_a_turn_seen_before_in_a_group_is_refused_alone(tmp_path: Path, how: str) -> None:
    async def seen(store: Store, sessions: list) -> None:  # type: ignore[type-arg]
        if how == "played":
            assert await store.record_turn(*turn_of(sessions[2].id, "before", 1, message="m-old"))
        else:
            assert await store.ignore_message("m-old", sessions[2].id, "too fast")

    def turns(sessions: list) -> list:  # type: ignore[type-arg]
        lines = turns_of_each(sessions, 2)
        lines[3] = (*turn_of(sessions[3].id, "again", 2, message="m-old"), [item(f"{sessions[3].id}:turn:2", session=sessions[3].id)])
        return lines

    together, apart = await play_together_and_apart(tmp_path, seen, turns)
    assert together == apart
    assert together[0] == [True, True, True, False, True, True]


async def test_an_item_queued_before_in_a_group_is_left_as_it_was(tmp_path: Path) -> None:
    async def queued(store: Store, sessions: list) -> None:  # type: ignore[type-arg]
        await store.enqueue([item(f"{sessions[3].id}:x:1", session=sessions[3].id)])

    together, apart = await play_together_and_apart(tmp_path, queued, turns_of_each)
    assert together == apart
    assert together[0] == [True] * 6
    assert len(together[2]) == 11  # the item queued before is not heard of again


async def test_a_failing_turn_in_a_group_fails_alone_when_written_together(tmp_path: Path) -> None:
    async def failing(store: Store, sessions: list) -> None:  # type: ignore[type-arg]
        fail_inserts_of(store.path, f"line {sessions[2].id}")

    together, apart = await play_together_and_apart(tmp_path, failing, turns_of_each)
    assert together == apart
    assert together[0] == [True, True, StoreError, True, True, True]


def fail_inserts_of(path: Path, text: str) -> None:
    """A write that fails inside SQLite, for one line only (a stand-in for any statement error)."""
    with sqlite3.connect(path) as raw:
        raw.execute(f"CREATE TRIGGER fail_one BEFORE INSERT ON turns WHEN NEW.text = '{text}' BEGIN SELECT RAISE(ABORT, 'injected'); END")


async def test_a_write_that_fails_in_a_group_fails_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "t.db"
    async with Store.open(path) as store:
        sessions = [await store.start_session(new_session(trainee=f"t{i}"), "Hi") for i in range(3)]
        fail_inserts_of(path, "boom")
        groups = Groups(monkeypatch)
        texts = ["hello", "boom", "hello"]
        results = await asyncio.gather(*(store.record_turn(*turn_of(s.id, text)) for s, text in zip(sessions, texts)), return_exceptions=True)
        assert groups.seen == [(3, 0)]
        assert results[0] is True and results[2] is True
        assert isinstance(results[1], StoreError) and "injected" in str(results[1])
        assert len(await store.turns(sessions[0].id)) == 3 and len(await store.turns(sessions[2].id)) == 3
        assert len(await store.turns(sessions[1].id)) == 1  # nothing of the failed turn: not its reply, not its progress
        assert (await store.get_session(sessions[1].id)).turns == 0  # type: ignore[union-attr]


async def test_a_write_that_loses_the_whole_transaction_fails_alone_and_the_others_go_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with Store.open(tmp_path / "t.db") as store:
        sessions = [await store.start_session(new_session(trainee=f"t{i}"), "Hi") for i in range(3)]
        async with store._db.execute("PRAGMA page_count") as cursor:
            (pages,) = await cursor.fetchone()
        await store._db.execute(f"PRAGMA max_page_count = {pages + 2}")  # room for small lines only
        groups = Groups(monkeypatch)
        # SQLite rolls the whole transaction back on a full disk in a statement of one row (a
        # statement of several rows keeps a journal of its own, and only that statement is undone).
        bodies = ["hi", "x" * 50_000, "hi"]
        results = await asyncio.gather(*(
            store.record_turn(*turn_of(s.id), [replace(item(f"{s.id}:turn:1", session=s.id), body=body)])
            for s, body in zip(sessions, bodies)
        ), return_exceptions=True)
        assert isinstance(results[1], StoreFull)
        assert results[0] is True and results[2] is True
        assert groups.seen == [(3, 0), (2, 0)]  # the two others, again, without it
        assert [len(await store.turns(s.id)) for s in sessions] == [3, 1, 3]


async def test_a_group_that_cannot_get_the_lock_fails_every_write_cleanly(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    async with Store.open(path, busy_timeout=0.3) as store:
        sessions = [await store.start_session(new_session(trainee=f"t{i}"), "Hi") for i in range(3)]
        other = hold_write_lock(path)
        try:
            results = await asyncio.gather(*(store.record_turn(*turn_of(s.id)) for s in sessions), return_exceptions=True)
        finally:
            other.rollback()
            other.close()
        assert all(isinstance(r, StoreBusy) for r in results)
        assert [len(await store.turns(s.id)) for s in sessions] == [1, 1, 1]
        assert await asyncio.gather(*(store.record_turn(*turn_of(s.id)) for s in sessions)) == [True] * 3  # tried again


async def test_a_group_goes_to_the_database_thread_once_for_its_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its statements run on the event loop's thread: a trip to the database's thread per
    statement is what made a loaded group slow (each one waited for Python's GIL)."""
    async with Store.open(tmp_path / "t.db") as store:
        sessions = [await store.start_session(new_session(trainee=f"t{i}"), "Hi") for i in range(8)]
        trips: list[str] = []
        real = store._db._execute

        async def recording(fn: object, *args: object) -> object:
            trips.append(" ".join(str(a) for a in args if isinstance(a, str)) or getattr(fn, "__name__", "?"))
            return await real(fn, *args)  # type: ignore[arg-type]

        monkeypatch.setattr(store._db, "_execute", recording)
        assert await asyncio.gather(*(store.record_turn(*turn_of(s.id)) for s in sessions)) == [True] * 8
        assert trips == ["COMMIT"]


async def test_a_group_waits_for_another_process_lock_on_the_database_thread_and_then_commits(tmp_path: Path) -> None:
    """A group's statements run on the event loop's thread, but only once SQLite's lock is
    held: while another process holds it, the wait is on the database's thread, and the
    event loop goes on (reads answered, timers on time)."""
    path = tmp_path / "t.db"
    async with Store.open(path, busy_timeout=10) as store:
        session = await store.start_session(new_session(), "Hi")
        other = hold_write_lock(path)
        try:
            writing = asyncio.ensure_future(store.record_turn(*turn_of(session.id)))
            loop = asyncio.get_running_loop()
            started = loop.time()
            await asyncio.sleep(0.3)
            assert loop.time() - started < 0.6  # the loop was not held by the wait
            assert not writing.done()
            assert len(await store.turns(session.id)) == 1  # answered while the write waits
        finally:
            other.rollback()
            other.close()
        assert await asyncio.wait_for(writing, 10) is True
        assert [t.speaker for t in await store.turns(session.id)] == ["resident", "trainee", "resident"]


async def test_a_group_cancelled_while_it_waits_for_the_lock_leaves_no_transaction_open(tmp_path: Path) -> None:
    """A shutdown may cancel the group commit while the database's thread waits for another
    process's lock: once the thread has it, the transaction it began is rolled back there,
    so the next write still gets the database."""
    path = tmp_path / "t.db"
    async with Store.open(path, busy_timeout=2) as store:
        session = await store.start_session(new_session(), "Hi")
        other = hold_write_lock(path)
        writing = asyncio.ensure_future(store.record_turn(*turn_of(session.id)))
        await asyncio.sleep(0.3)  # the group waits for the lock on the database's thread now
        runner = store._group._runner
        assert runner is not None and not runner.done()
        runner.cancel()
        await asyncio.sleep(0.1)
        other.rollback()
        other.close()
        with pytest.raises(StoreError):
            await writing  # not saved, and told so
        assert await asyncio.wait_for(store.record_turn(*turn_of(session.id)), 10) is True
        assert [t.speaker for t in await store.turns(session.id)] == ["resident", "trainee", "resident"]


async def test_delivery_marks_ride_with_the_next_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with Store.open(tmp_path / "t.db") as store:
        session = await store.start_session(new_session(), "Hi", lambda sid: [item(f"{sid}:opening", session=sid)])
        (opening,) = await store.pending_items("discord", 5)
        groups = Groups(monkeypatch)
        marked = store.mark_delivered_soon(opening.id, "100")
        assert not marked.done() and [p.key for p in await store.pending_items("discord", 5)] == [opening.key]
        assert await store.record_turn(*turn_of(session.id), [item(f"{session.id}:turn:1", session=session.id)])
        await marked
        assert groups.seen == [(1, 1)]  # the turn's commit carried the mark: no commit of its own
        assert [p.key for p in await store.pending_items("discord", 5)] == [f"{session.id}:turn:1"]
        (pending,) = await store.pending_items("discord", 5)
        alone = store.mark_delivered_soon(pending.id, "101")  # nothing else to ride with: it goes alone, a moment later
        await alone
        assert groups.seen == [(1, 1), (0, 1)]
        assert await store.pending_items("discord", 5) == []


@UPDATE_FROM
async def test_many_delivery_marks_ride_with_one_write_each_with_its_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, update_from: bool,
) -> None:
    monkeypatch.setattr(store_module, "_UPDATE_FROM", update_from)
    async with Store.open(tmp_path / "t.db") as store:
        session = await store.start_session(new_session(), "Hi", lambda sid: [item(f"{sid}:{n}", session=sid) for n in range(7)])
        pending = await store.pending_items("discord", 5)
        groups = Groups(monkeypatch)
        marked = [store.mark_delivered_soon(p.id, f"m{p.id}") for p in pending[:6]]
        assert await store.record_turn(*turn_of(session.id))
        await asyncio.gather(*marked)
        assert groups.seen == [(1, 6)]
        after = {i.key: i for i in await store.outbox(session.id)}
        assert [(after[p.key].status, after[p.key].message_id) for p in pending] == [("delivered", f"m{p.id}") for p in pending[:6]] + [("pending", None)]


async def test_closing_commits_what_waits_for_the_next_transaction(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    async with Store.open(path) as store:
        await store.start_session(new_session(), "Hi", lambda sid: [item(f"{sid}:opening", session=sid)])
        (opening,) = await store.pending_items("discord", 5)
        store.mark_delivered_soon(opening.id, "100")
    async with Store.open(path) as store:
        assert await store.pending_items("discord", 5) == []


async def test_a_cohort_name_taken_is_a_conflict_not_a_database_error(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "t.db") as store:
        await store.create_cohort("Spring", guild_id=1)
        with pytest.raises(AlreadyExists, match="already exists") as raised:
            await store.create_cohort("Spring", guild_id=1)
        assert not isinstance(raised.value, StoreError)  # nothing is wrong with the database
        assert str(tmp_path) not in str(raised.value)
        await store.create_cohort("Spring", guild_id=2)  # another server may use the name
        assert [c.name for c in await store.cohorts(guild_id=1)] == ["Spring"]


# -- retention --

async def test_purge_removes_old_kudos_people_and_the_deleted_pages(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    secret = "SECRET-LINE-" + "x" * 2000
    async with Store.open(path) as store:
        old_member = await store.ensure_member("Olga", guild_id=1, discord_id=11)
        giver = await store.ensure_member("Gus", guild_id=1, discord_id=12)
        kept = await store.ensure_member("Kim", guild_id=1, discord_id=13)
        cohort = await store.create_cohort("Spring", guild_id=1)
        await store.add_to_cohort(cohort.id, kept.id)
        session = await store.start_session(new_session(member_id=old_member.id, guild_id=1), "Hi")
        await store.record_turn(TurnRow(session.id, 1, "trainee", secret, (), 50, "s"), TurnRow(session.id, 1, "resident", "hi", (), 50, "s"))
        await store.finish_session(session.id, "success", 90)
        await store.give_kudos(1, giver.id, old_member.id, "Empathy", "kind words", per_day=3, pair_cooldown_seconds=0)
    with sqlite3.connect(path) as raw:  # all of it two years old
        raw.execute("UPDATE sessions SET started_at = '2020-01-01T00:00:00+00:00'")
        raw.execute("UPDATE kudos SET created_at = '2020-01-02T00:00:00+00:00'")
        raw.execute("UPDATE members SET created_at = '2020-01-01T00:00:00+00:00'")
    async with Store.open(path) as store:
        counts = await store.count_before("2021-01-01")
        assert (counts.sessions, counts.turns, counts.kudos, counts.members) == (1, 3, 1, 2)  # Kim is in a cohort
        await store.purge("2021-01-01")
        assert [m.display_name for m in await store.members()] == ["Kim"]
        assert (await store.count_before("2021-01-01")).anything is False
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA freelist_count").fetchone()[0] == 0
    data = path.read_bytes() + (path.with_name("t.db-wal").read_bytes() if path.with_name("t.db-wal").exists() else b"")
    assert b"SECRET-LINE" not in data


def _foreign_keys_without_index(raw: sqlite3.Connection) -> list[str]:
    """Foreign keys (table.column) that no full index starts with (the rowid key needs none)."""
    missing = []
    for (table,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").fetchall():
        leading = {raw.execute(f"SELECT name FROM pragma_index_info('{index}') WHERE seqno = 0").fetchone()[0]
                   for _seq, index, _unique, _origin, partial in raw.execute(f"PRAGMA index_list('{table}')").fetchall() if not partial}
        rowid = {name for _cid, name, kind, _nn, _default, pk in raw.execute(f"PRAGMA table_info('{table}')").fetchall()
                 if pk == 1 and kind.upper() == "INTEGER"}
        for row in raw.execute(f"PRAGMA foreign_key_list('{table}')").fetchall():
            column = row[3]
            if column not in leading and column not in rowid:
                missing.append(f"{table}.{column}")
    return missing


async def test_every_foreign_key_has_an_index(tmp_path: Path) -> None:
    # Deleting a row makes SQLite find the rows that refer to it; without an index on the
    # referring column that is a scan of that table per row deleted (purge grew as a square).
    path = tmp_path / "t.db"
    async with Store.open(path):
        pass
    with sqlite3.connect(path) as raw:
        assert _foreign_keys_without_index(raw) == []
        raw.execute("DROP INDEX outbox_by_session")  # the check sees a missing one
        assert _foreign_keys_without_index(raw) == ["outbox.session_id"]


async def test_a_store_of_the_previous_schema_gets_the_indexes_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as raw:  # a store written before migration 0009
        for number, _name, sql in migrations():
            if number < 9:
                raw.executescript(sql)
                raw.execute(f"PRAGMA user_version = {number}")
        raw.execute("INSERT INTO sessions (id, scenario_id, scenario_digest, trainee, seed, state, mood, status, started_at)"
                    " VALUES (1, 'traffic_stop', 'x', 'Ana', 1, 's', 50, 'ended', '2020-01-01')")
        raw.execute("INSERT INTO outbox (key, transport, channel_id, session_id, kind, body, created_at)"
                    " VALUES ('1:turn:1', 'discord', 5, 1, 'line', '{}', '2020-01-01')")
    async with Store.open(path) as store:
        assert await store.pending_channels("discord") == [5]
        assert [item.key for item in await store.outbox(1)] == ["1:turn:1"]
        await store.purge("2021-01-01")
        assert await store.outbox(1) == [] and await store.pending_channels("discord") == []
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == migrations()[-1][0]
        assert _foreign_keys_without_index(raw) == []


def _purge_steps(path: Path, sessions: int) -> int:
    """SQLite's virtual-machine steps (counted, not timed) to delete the older half of
    `sessions` finished sessions, each with ten lines and ten outbox items, as purge does."""
    with sqlite3.connect(path) as raw:
        raw.execute("PRAGMA foreign_keys = ON")
        for s in range(1, sessions + 1):
            day = "2020-01-01" if s <= sessions // 2 else "2030-01-01"
            raw.execute("INSERT INTO sessions (id, scenario_id, scenario_digest, trainee, seed, state, mood, status, started_at)"
                        " VALUES (?, 'traffic_stop', 'x', 'Ana', 1, 's', 50, 'ended', ?)", (s, day))
            raw.executemany("INSERT INTO turns (session_id, seq, speaker, text, mood, state, created_at) VALUES (?, ?, ?, 'hi', 50, 's', ?)",
                            [(s, seq, speaker, day) for seq in range(1, 6) for speaker in ("trainee", "resident")])
            raw.executemany("INSERT INTO outbox (key, transport, channel_id, session_id, kind, body, status, created_at)"
                            " VALUES (?, 'discord', ?, ?, 'line', '{}', 'delivered', ?)", [(f"{s}:{k}", s, s, day) for k in range(10)])
        raw.commit()
        steps = [0]

        def count() -> int:
            steps[0] += 1
            return 0  # go on

        raw.set_progress_handler(count, 100)
        raw.execute("DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE started_at < '2021-01-01' AND status = 'ended')")
        raw.set_progress_handler(None, 0)
        assert raw.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 10 * (sessions - sessions // 2)
        return steps[0]


async def test_purging_twice_the_sessions_is_about_twice_the_work(tmp_path: Path) -> None:
    for name in ("small.db", "large.db"):
        async with Store.open(tmp_path / name):
            pass
    small, large = _purge_steps(tmp_path / "small.db", 200), _purge_steps(tmp_path / "large.db", 400)
    assert large < 2.5 * small  # a scan of the outbox per session deleted made it about 4x


async def test_purge_removes_old_kudos_even_without_old_sessions(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    async with Store.open(path) as store:
        a = await store.ensure_member("A", guild_id=1, discord_id=1)
        b = await store.ensure_member("B", guild_id=1, discord_id=2)
        await store.give_kudos(1, a.id, b.id, "Empathy", "old", per_day=3, pair_cooldown_seconds=0)
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE kudos SET created_at = '2020-01-01T00:00:00+00:00'")
    async with Store.open(path) as store:
        assert (await store.count_before("2021-01-01")).kudos == 1
        await store.purge("2021-01-01")
        assert (await store.count_before("2021-01-01")).kudos == 0


async def test_while_another_process_holds_the_lock_a_backlog_of_writes_waits_only_briefly(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    async with Store.open(path, busy_timeout=3) as store:
        assert store._outage.wait() == 3
        other = hold_write_lock(path)
        try:
            with pytest.raises(StoreBusy):
                await store.set_meta("first", "x")  # waits the whole busy timeout
            assert store._outage.wait() == store._outage.BRIEF_WAIT  # the next ones are told at once
            with pytest.raises(StoreBusy):
                await store.set_meta("second", "x")
        finally:
            other.rollback()
            other.close()
        await store.set_meta("after", "x")  # the lock is free: the write goes through...
        assert await store.get_meta("after") == "x"
        assert store._outage.wait() == 3  # ...and writes wait the whole timeout again


async def test_a_write_cancelled_while_it_waits_for_the_lock_leaves_nothing_held(tmp_path: Path) -> None:
    """A shutdown cancels a write queued behind another program's lock: the next write must
    still get the database (the asyncio lock, and SQLite's, were released)."""
    path = tmp_path / "t.db"
    async with Store.open(path, busy_timeout=2) as store:
        other = sqlite3.connect(path, isolation_level=None, timeout=0)
        other.execute("BEGIN IMMEDIATE")
        waiting = asyncio.ensure_future(store.create_cohort("Cancelled"))
        await asyncio.sleep(0.3)  # it is waiting for the lock now
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        other.rollback()
        other.close()
        created = await asyncio.wait_for(store.create_cohort("Spring"), 10)  # for ever with the lock leaked
        assert created.name == "Spring"
        assert [c.name for c in await store.cohorts()] == ["Spring"]


def test_rows_inserted_in_one_statement_are_those_executemany_inserts() -> None:
    from bot.store.rowsql import ROWS_PER_STATEMENT, write_rows

    rows = [(n % 97, f"v{n}") for n in range(ROWS_PER_STATEMENT * 2 + 7)]  # three statements, and repeated keys
    tables = []
    for together in (True, False):
        db = sqlite3.connect(":memory:")
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT, k INTEGER UNIQUE, v TEXT)")
        if together:
            write_rows(db, "INSERT INTO t (k, v)", rows, " ON CONFLICT (k) DO NOTHING")
        else:
            db.executemany("INSERT INTO t (k, v) VALUES (?, ?) ON CONFLICT (k) DO NOTHING", rows)
        tables.append(db.execute("SELECT id, k, v FROM t ORDER BY id").fetchall())
    assert tables[0] == tables[1] and len(tables[0]) == 97
    assert write_rows(sqlite3.connect(":memory:"), "INSERT INTO nowhere (k)", []) is None  # no rows: no statement
