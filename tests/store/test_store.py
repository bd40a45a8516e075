"""The store on real temporary database files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.errors import StoreError
from bot.store import EvidenceRow, NewSession, Store, TurnRow
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
