"""The database: a writing and a reading aiosqlite connection, migrations applied on open.

Every write goes through one transaction helper (`_write`): it takes SQLite's write lock
up front, retries a lock that is busy for a bounded time, and turns every SQLite error
into a StoreError (StoreBusy, StoreFull). Reads use a second connection, so they never
queue behind a write that waits for another process's lock; the few small reads of a
session's end use a third, on the event loop's own thread, that never waits (`Store._read`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite
import platformdirs

from bot.background import spawn
from bot.errors import AlreadyExists, AlreadyPlaying, StoreBusy, StoreError, StoreFull
from bot.store.recognition import RecognitionQueries, write_records
from bot.store.rowsql import in_chunks, write_rows
from bot.store.rows import (
    CohortRow,
    EvidenceRow,
    ExportTurn,
    Finish,
    MemberRow,
    NewItem,
    NewSession,
    OutboxItem,
    PurgeCounts,
    SessionRecord,
    SessionRow,
    SkillEvidenceRow,
    TurnRow,
)

log = logging.getLogger("trainer.store")

COHORTS_OF = (
    "SELECT c.id, c.guild_id, c.name, c.channel_id FROM cohorts c JOIN cohort_members cm ON cm.cohort_id = c.id"
    " WHERE cm.member_id = ? ORDER BY c.name"
)
_ACTIVE_SESSION_OF = "SELECT * FROM sessions WHERE guild_id = ? AND trainee_id = ? AND status = 'active' ORDER BY id DESC LIMIT 1"
_ACTIVE_OF = "SELECT 1 FROM sessions WHERE guild_id = ? AND trainee_id = ? AND status = 'active'"

_TEMP_STORE = "MEMORY"  # the writing connection's temporary tables (see `_open`)
BUSY_TIMEOUT_SECONDS = 30.0  # several processes may share one file; wait rather than fail
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_FULL = 5, 6, 13


def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir("trainer", appauthor=False)) / "trainer.db"


def now() -> str:
    """The time, UTC, to the second, as stored (several calls a turn: formatted once a second)."""
    second = int(time.time())
    if second != _NOW[0]:
        _NOW[:] = [second, datetime.fromtimestamp(second, timezone.utc).isoformat(timespec="seconds")]
    return _NOW[1]  # type: ignore[return-value]


_NOW: list[int | str] = [-1, ""]


def migrations() -> list[tuple[int, str, str]]:
    """(number, name, sql) of every migration shipped with the code, in order."""
    folder = resources.files("bot.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text("utf-8")))
    return sorted(found)


class Store(RecognitionQueries):
    """Open with `async with Store.open(path) as store:`. The recognition tables' queries
    are in bot/store/recognition.py."""

    def __init__(
        self, path: Path, db: aiosqlite.Connection, reader: aiosqlite.Connection, busy_timeout: float, at_once: sqlite3.Connection,
    ) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self._db = db
        self._reader = reader
        self._at_once = at_once  # reads on the event loop's thread, that never wait (see `_read`)
        # One writing connection serves every coroutine of the process (the bot's sessions,
        # its idle loop, commands): transactions on it must take turns.
        self._write_lock = asyncio.Lock()
        self._outage = _Outage(busy_timeout)
        self._group = _GroupCommit(db, self._write_lock, path, self._outage)

    def watch_outbox(self, listener: Callable[[list[OutboxItem]], None]) -> Callable[[], None]:
        """Call `listener` with the outbox items each write queued, once they are committed
        (before the write's caller hears back), so an outbox need not read back what was
        just queued. Only writes of this Store are seen, not another process's. Returns
        what stops it."""
        listeners = self._group.listeners
        listeners.append(listener)
        return lambda: listeners.remove(listener) if listener in listeners else None

    @classmethod
    def open(cls, path: str | Path, *, create: bool = True, busy_timeout: float = BUSY_TIMEOUT_SECONDS) -> _Opener:
        """`create=False` for commands that only read or manage existing data: a mistyped
        path then fails clearly instead of creating an empty database. `busy_timeout`: how
        long a write waits for another process's lock before it fails with StoreBusy."""
        return _Opener(Path(path), create, busy_timeout)

    async def flush(self) -> None:
        """Commit now what waits for the next transaction (delivery marks waiting for a turn to ride with)."""
        await self._group.flush()

    async def close(self) -> None:
        await self._group.flush()  # what is still queued (delivery marks, mostly) is committed first
        for connection in (self._reader, self._db):
            try:
                await connection.close()
            except (sqlite3.Error, ValueError):
                pass
        self._at_once.close()

    # -- sessions --
    async def start_session(
        self, new: NewSession, opening: str, items: Callable[[int], Iterable[NewItem]] | None = None,
        *, with_member: bool = False, one_at_a_time: bool = False,
    ) -> SessionRow:
        """Create a session, record the resident's opening line with it and queue what the
        new session sends (`items`, given the new session's id), atomically. `items` runs
        inside the transaction: it must only build values.
        `with_member`: the trainee's member (`ensure_member` of its name, server and chat id)
        is found or created in the same transaction, and is the session's `member_id`.
        `one_at_a_time`: AlreadyPlaying, and nothing written, when the trainee (chat id) has
        a session in progress in the server (`active_session_of`, checked in the transaction)."""
        started = now()

        def write(db: sqlite3.Connection) -> Any:
            member_id = new.member_id
            if with_member:
                member_id = _ensure_member(db, new.trainee, new.guild_id, new.trainee_id, "trainee", started).id
            values = (new.scenario_id, new.scenario_digest, new.trainee, new.seed, new.state, new.mood, new.mode,
                      new.guild_id, new.channel_id, new.thread_id, new.trainee_id, member_id, new.persona, started)
            guarded = one_at_a_time and new.trainee_id is not None
            # With `one_at_a_time`, the insert itself checks that the trainee has no session in
            # progress (one statement, not two): when it inserts nothing, the write fails, and the
            # member written above goes with it (a write that raises leaves nothing, see _GroupCommit).
            cursor = db.execute(
                "INSERT INTO sessions (scenario_id, scenario_digest, trainee, seed, state, mood, mode,"
                " guild_id, channel_id, thread_id, trainee_id, member_id, persona, started_at)"
                + (f" SELECT {', '.join('?' * len(values))} WHERE NOT EXISTS ({_ACTIVE_OF})" if guarded else f" VALUES ({', '.join('?' * len(values))})")
                + (" RETURNING *" if _RETURNING else ""),
                (*values, new.guild_id, new.trainee_id) if guarded else values,
            )
            # The row as stored, defaults included: given back by the insert itself where SQLite can.
            row = cursor.fetchone() if _RETURNING else None
            if row is None and (_RETURNING or cursor.rowcount == 0):
                active = db.execute(_ACTIVE_SESSION_OF, (new.guild_id, new.trainee_id)).fetchone()
                raise AlreadyPlaying(active["trainee"], active["id"], active["thread_id"])
            session_id = row["id"] if row is not None else cursor.lastrowid
            assert session_id is not None
            _insert_turns(db, (TurnRow(session_id, 0, "resident", opening, (), new.mood, new.state),), started)
            _enqueue(db, items(session_id) if items is not None else (), started)
            return row if row is not None else db.execute("SELECT * FROM sessions WHERE id = ?", (session_id,)).fetchone()

        return _session(await self._group.write(write))

    async def record_turn(
        self, trainee: TurnRow, resident: TurnRow, items: Iterable[NewItem] = (), finish: Finish | None = None
    ) -> bool:
        """Save a trainee line, the reply it got, the session's progress and what it sends, in
        one transaction; with `finish`, the session ends in the same transaction.

        Returns False (and changes nothing) when the trainee line's source message was already
        recorded, or seen and set aside. Its commit is shared with every other write ready at
        the same time (see `_GroupCommit`).
        """
        stamp = now()
        queued = tuple(items)

        def write(db: sqlite3.Connection) -> bool:
            if trainee.source_message_id is not None and _seen(db, trainee.source_message_id):
                return False
            _insert_turns(db, (trainee, resident), stamp)
            progress = (resident.state, resident.mood, trainee.seq)
            if finish is None:
                db.execute("UPDATE sessions SET state = ?, mood = ?, turns = ? WHERE id = ?", (*progress, trainee.session_id))
            else:
                _finish(db, trainee.session_id, finish, stamp, progress)  # its progress in the same UPDATE
            _enqueue(db, queued, stamp)
            return True

        return bool(await self._group.write(write, _Turn(trainee, resident, queued, stamp, finish)))

    async def finish_session(
        self, session_id: int, outcome: str, score: int, skills: tuple[SkillEvidenceRow, ...] = (), items: Iterable[NewItem] = (),
        record: SessionRecord | None = None,
    ) -> None:
        """Mark a session ended with its result, per-skill evidence and what recognition keeps of
        it, and queue what it sends (idempotent)."""
        stamp, queued = now(), tuple(items)

        def write(db: sqlite3.Connection) -> None:
            _finish(db, session_id, Finish(outcome, score, skills, record), stamp)
            _enqueue(db, queued, stamp)

        await self._group.write(write)

    async def close_unrestorable(self, session_id: int, items: Iterable[NewItem] = ()) -> None:
        """End a session that cannot go on (its scenario changed or is gone): abandoned, without a score."""
        stamp, queued = now(), tuple(items)

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "UPDATE sessions SET status = 'ended', outcome = 'abandoned', ended_at = COALESCE(ended_at, ?) WHERE id = ?",
                (stamp, session_id),
            )
            _enqueue(db, queued, stamp)

        await self._group.write(write)

    async def active_session_of(self, guild_id: int, trainee_id: int) -> SessionRow | None:
        row = await self._one(_ACTIVE_SESSION_OF, (guild_id, trainee_id))
        return _session(row) if row else None

    async def skill_evidence(self, session_id: int) -> list[SkillEvidenceRow]:
        return [SkillEvidenceRow(*row) for row in await self._all(
            "SELECT skill, label, status, points, max_points, turn, quote FROM skill_evidence WHERE session_id = ? ORDER BY rowid",
            (session_id,),
        )]

    # -- the outbox --
    async def enqueue(self, items: Iterable[NewItem]) -> None:
        """Queue messages to send; an item whose key is already queued is left as it is."""
        stamp, queued = now(), tuple(items)
        await self._group.write(lambda db: _enqueue(db, queued, stamp))

    async def pending_items(self, transport: str, channel_id: int) -> list[OutboxItem]:
        """What is still to be sent to one channel, in the order it was queued."""
        return [_item(row) for row in await self._all(
            "SELECT * FROM outbox WHERE transport = ? AND channel_id = ? AND status = 'pending' ORDER BY id",
            (transport, channel_id),
        )]

    async def pending_channels(self, transport: str) -> list[int]:
        """The channels with items still to send. Through the index of pending items only: the
        planner otherwise picks `outbox_by_channel`, and reads every item the transport ever
        sent (the outbox keeps delivered items) at each reconnection."""
        return [int(row[0]) for row in await self._all(
            "SELECT DISTINCT channel_id FROM outbox INDEXED BY outbox_pending WHERE transport = ? AND status = 'pending'"
            " ORDER BY channel_id", (transport,)
        )]

    async def outbox_item(self, key: str) -> OutboxItem | None:
        row = await self._one("SELECT * FROM outbox WHERE key = ?", (key,))
        return _item(row) if row else None

    async def outbox(self, session_id: int) -> list[OutboxItem]:
        return [_item(row) for row in await self._all("SELECT * FROM outbox WHERE session_id = ? ORDER BY id", (session_id,))]

    async def delivered_items(self, transport: str, channel_id: int, limit: int = 20, *, before: int | None = None) -> list[OutboxItem]:
        """The newest items that reached a channel (queued before item `before`), newest first."""
        return [_item(row) for row in await self._all(
            "SELECT * FROM outbox WHERE transport = ? AND channel_id = ? AND status = 'delivered' AND id < ? ORDER BY id DESC LIMIT ?",
            (transport, channel_id, before if before is not None else 2**63 - 1, limit),
        )]

    async def mark_delivered(self, item_id: int, message_id: str) -> None:
        """Record the chat message that carried an item, so it is never sent again; returns once committed."""
        await self._group.mark(item_id, message_id, now(), soon=False)

    def mark_delivered_soon(self, item_id: int, message_id: str) -> asyncio.Future[None]:
        """The same, folded into the next transaction (the next turn's, usually) instead of a
        commit of its own; done once committed, or failed with a StoreError. Until then the
        item still reads as pending: the caller must not send it again meanwhile (after a
        crash, the outbox finds it in the channel's history instead)."""
        return self._group.mark(item_id, message_id, now(), soon=True)

    async def mark_undeliverable(self, item_id: int, reason: str) -> None:
        await self._group.write(
            lambda db: db.execute("UPDATE outbox SET status = 'undeliverable', error = ? WHERE id = ?", (reason[:500], item_id))
        )

    async def resident_lines_without_outbox(self, session_id: int) -> list[TurnRow]:
        """Resident lines saved by a version of the trainer without an outbox and never marked
        as delivered: they are queued when such a session is restored."""
        return [_turn(row) for row in await self._all(
            "SELECT t.* FROM turns t WHERE t.session_id = ? AND t.speaker = 'resident' AND t.source_message_id IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.session_id = t.session_id"
            "   AND o.key IN (t.session_id || ':opening', t.session_id || ':turn:' || t.seq))"
            " ORDER BY t.seq",
            (session_id,),
        )]

    # -- messages a session saw --
    async def ignore_message(self, message_id: str, session_id: int, reason: str, items: Iterable[NewItem] = ()) -> bool:
        """Remember a chat message that was seen but not played (and queue what that sends).
        False, and nothing queued, when the message was already played or set aside."""
        stamp, queued = now(), tuple(items)

        def write(db: sqlite3.Connection) -> bool:
            if _seen(db, message_id):
                return False
            db.execute(
                "INSERT INTO ignored_messages (message_id, session_id, reason, created_at) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (message_id) DO NOTHING",
                (message_id, session_id, reason, stamp),
            )
            _enqueue(db, queued, stamp)
            return True

        return bool(await self._group.write(write))

    async def seen_messages(self, session_id: int) -> set[str]:
        """The chat messages a session played or set aside."""
        rows = await self._all(
            "SELECT source_message_id FROM turns WHERE session_id = ? AND speaker = 'trainee' AND source_message_id IS NOT NULL"
            " UNION SELECT message_id FROM ignored_messages WHERE session_id = ?",
            (session_id, session_id),
        )
        return {str(row[0]) for row in rows}

    async def message_seen(self, source_message_id: str) -> bool:
        """Whether a chat message was played as a turn, or seen and set aside."""
        return await self._one(
            "SELECT 1 FROM turns WHERE source_message_id = ? UNION ALL SELECT 1 FROM ignored_messages WHERE message_id = ?",
            (source_message_id, source_message_id),
        ) is not None

    # -- people --
    async def ensure_member(self, display_name: str, *, guild_id: int = 0, discord_id: int | None = None, role: str = "trainee") -> MemberRow:
        """The member with this Discord id (or, off Discord, this name), created on first sight."""
        stamp = now()
        return await self._group.write(lambda db: _ensure_member(db, display_name, guild_id, discord_id, role, stamp))  # type: ignore[no-any-return]

    async def create_cohort(self, name: str, *, guild_id: int = 0, channel_id: int | None = None) -> CohortRow:
        async with self._write() as tx:
            if await tx.one("SELECT 1 FROM cohorts WHERE guild_id = ? AND name = ?", (guild_id, name)):
                raise AlreadyExists(f"a cohort named '{name}' already exists in this server")
            cursor = await tx.execute(
                "INSERT INTO cohorts (guild_id, name, channel_id, created_at) VALUES (?, ?, ?, ?)",
                (guild_id, name, channel_id, now()),
            )
        assert cursor.lastrowid is not None
        return CohortRow(cursor.lastrowid, guild_id, name, channel_id)

    async def member_of(self, *, guild_id: int, discord_id: int) -> MemberRow | None:
        """The member with this chat id in a server, if there is one yet: a read, so it never waits for a write."""
        row = await self._one("SELECT * FROM members WHERE guild_id = ? AND discord_id = ?", (guild_id, discord_id))
        return MemberRow(row["id"], row["guild_id"], row["discord_id"], row["display_name"], row["role"]) if row else None

    async def cohort(self, name: str, *, guild_id: int = 0) -> CohortRow | None:
        row = await self._one("SELECT id, guild_id, name, channel_id FROM cohorts WHERE guild_id = ? AND name = ?", (guild_id, name))
        return CohortRow(*row) if row else None

    async def cohorts(self, *, guild_id: int = 0) -> list[CohortRow]:
        return [CohortRow(*row) for row in await self._all("SELECT id, guild_id, name, channel_id FROM cohorts WHERE guild_id = ? ORDER BY name", (guild_id,))]

    async def cohorts_of(self, member_id: int) -> list[CohortRow]:
        return [CohortRow(*row) for row in await self._all(COHORTS_OF, (member_id,))]

    async def members(self, *, guild_id: int | None = None) -> list[MemberRow]:
        where, args = ("WHERE guild_id = ?", (guild_id,)) if guild_id is not None else ("", ())
        return [
            MemberRow(r["id"], r["guild_id"], r["discord_id"], r["display_name"], r["role"])
            for r in await self._all(f"SELECT * FROM members {where} ORDER BY guild_id, display_name", args)
        ]

    async def add_to_cohort(self, cohort_id: int, member_id: int) -> bool:
        """False when the member was already in the cohort."""
        async with self._write() as tx:
            cursor = await tx.execute(
                "INSERT OR IGNORE INTO cohort_members (cohort_id, member_id) VALUES (?, ?)", (cohort_id, member_id)
            )
        return cursor.rowcount == 1

    async def remove_from_cohort(self, cohort_id: int, member_id: int) -> bool:
        async with self._write() as tx:
            cursor = await tx.execute(
                "DELETE FROM cohort_members WHERE cohort_id = ? AND member_id = ?", (cohort_id, member_id)
            )
        return cursor.rowcount == 1

    # -- data out and retention --
    async def cohorts_named(self, name: str) -> list[CohortRow]:
        """Cohorts of that name in every server (terminal tools see all departments)."""
        return [CohortRow(*row) for row in await self._all("SELECT id, guild_id, name, channel_id FROM cohorts WHERE name = ? ORDER BY guild_id", (name,))]

    async def export_sessions(self, *, cohort_id: int | None = None, since: str | None = None, guild_id: int | None = None) -> list[SessionRow]:
        where, args = self._export_filter(cohort_id, since, guild_id)
        return [_session(row) for row in await self._all(f"SELECT s.* FROM sessions s {where} ORDER BY s.id", args)]

    async def export_turns(self, *, cohort_id: int | None = None, since: str | None = None, guild_id: int | None = None) -> list[ExportTurn]:
        where, args = self._export_filter(cohort_id, since, guild_id)
        rows = await self._all(
            "SELECT t.session_id, s.scenario_id, s.trainee, t.seq, t.speaker, t.text, t.signals, t.mood, t.state, t.created_at"
            f" FROM turns t JOIN sessions s ON s.id = t.session_id {where}"
            " ORDER BY t.session_id, t.seq, t.speaker DESC",  # in a turn, the trainee's line before the reply
            args,
        )
        return [
            ExportTurn(
                row[0], row[1], row[2], row[3], row[4], row[5],
                " ".join(dict.fromkeys(item["name"] for item in json.loads(row[6]))), row[7], row[8], row[9],
            )
            for row in rows
        ]

    @staticmethod
    def _export_filter(cohort_id: int | None, since: str | None, guild_id: int | None) -> tuple[str, tuple[Any, ...]]:
        clauses: list[str] = []
        args: list[Any] = []
        if since is not None:
            clauses.append("s.started_at >= ?")
            args.append(since)
        if guild_id is not None:
            clauses.append("s.guild_id = ?")
            args.append(guild_id)
        if cohort_id is not None:
            clauses.append("s.member_id IN (SELECT member_id FROM cohort_members WHERE cohort_id = ?)")
            args.append(cohort_id)
        return ("WHERE " + " AND ".join(clauses) if clauses else ""), tuple(args)

    # Who and what `purge` removes: ended sessions started before the date (with their lines,
    # evidence and outbox), kudos given before it, and the people left with nothing on record
    # (no session, no kudos, no cohort) who were first seen before it.
    _PURGED_SESSIONS = "SELECT id FROM sessions WHERE started_at < :before AND status = 'ended'"
    _PURGED_MEMBERS = (
        "SELECT m.id FROM members m WHERE m.created_at < :before"
        " AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.member_id = m.id AND s.id NOT IN (" + _PURGED_SESSIONS + "))"
        " AND NOT EXISTS (SELECT 1 FROM kudos k WHERE (k.from_member_id = m.id OR k.to_member_id = m.id) AND k.created_at >= :before)"
        " AND NOT EXISTS (SELECT 1 FROM cohort_members c WHERE c.member_id = m.id)"
    )

    async def count_before(self, before: str) -> PurgeCounts:
        """What `purge` would remove."""
        row = await self._one(
            f"SELECT (SELECT COUNT(*) FROM ({self._PURGED_SESSIONS}))," 
            f" (SELECT COUNT(*) FROM turns WHERE session_id IN ({self._PURGED_SESSIONS})),"
            " (SELECT COUNT(*) FROM kudos WHERE created_at < :before),"
            f" (SELECT COUNT(*) FROM ({self._PURGED_MEMBERS}))",
            {"before": before},
        )
        return PurgeCounts(*(int(value) for value in row)) if row else PurgeCounts(0, 0, 0, 0)

    async def purge(self, before: str) -> PurgeCounts:
        """Delete what `count_before` counts (a role-play still in progress is kept), then
        rebuild the file so the deleted lines are not left in its free pages."""
        counts = await self.count_before(before)
        async with self._write() as tx:
            members = [row[0] for row in await tx.all(self._PURGED_MEMBERS, {"before": before})]
            await tx.execute(f"DELETE FROM sessions WHERE id IN ({self._PURGED_SESSIONS})", {"before": before})
            await tx.execute("DELETE FROM kudos WHERE created_at < ?", (before,))
            await tx.execute("DELETE FROM outbox WHERE session_id IS NULL AND created_at < ?", (before,))
            await tx.executemany("DELETE FROM members WHERE id = ?", [(member,) for member in members])
        await self._maintain("VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)")
        return counts

    async def backup(self, target: Path) -> None:
        """SQLite's online backup: a consistent copy even while other processes write."""
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            async with aiosqlite.connect(target) as copy:
                await self._reader.backup(copy)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"backup to {target} failed: {exc}") from exc

    async def get_session(self, session_id: int) -> SessionRow | None:
        row = await self._one("SELECT * FROM sessions WHERE id = ?", (session_id,))
        return _session(row) if row else None

    async def list_sessions(self, status: str | None = None, *, guild_id: int | None = None) -> list[SessionRow]:
        clauses, args = [], []
        if status is not None:
            clauses.append("status = ?")
            args.append(status)
        if guild_id is not None:
            clauses.append("guild_id = ?")
            args.append(guild_id)
        where = (" WHERE " + " AND ".join(clauses)) if clauses else ""
        return [_session(row) for row in await self._all("SELECT * FROM sessions" + where + " ORDER BY id", args)]

    async def session_by_thread(self, thread_id: int) -> SessionRow | None:
        row = await self._one("SELECT * FROM sessions WHERE thread_id = ?", (thread_id,))
        return _session(row) if row else None

    async def feedback_owed(self) -> list[SessionRow]:
        """Discord sessions that ended, under a version without an outbox, before their feedback
        was posted. Not those closed without a score (they could not go on): they get none."""
        return [_session(row) for row in await self._all(
            "SELECT * FROM sessions s WHERE status = 'ended' AND thread_id IS NOT NULL AND feedback_message_id IS NULL"
            " AND score IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.session_id = s.id AND o.kind = 'feedback') ORDER BY id"
        )]

    async def get_meta(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0]) if row else None

    async def set_meta(self, key: str, value: str) -> None:
        async with self._write() as tx:
            await tx.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value)
            )

    async def turns(self, session_id: int) -> list[TurnRow]:
        return [_turn(row) for row in await self._all("SELECT * FROM turns WHERE session_id = ? ORDER BY seq, speaker DESC", (session_id,))]

    # -- plumbing --
    async def _one(self, sql: str, args: Sequence[Any] | dict[str, Any] = ()) -> Any:
        rows = await self._all(sql, args)
        return rows[0] if rows else None

    async def _all(self, sql: str, args: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        # One trip that runs the query to its end. A cursor read in several trips keeps its
        # statement open between them, and while any statement of the reading connection is
        # open, SQLite keeps that connection in one read transaction: with many coroutines
        # reading at once it would never end, and every read would see the database as it
        # was long ago (an outbox lane would miss what was just queued).
        try:
            return list(await self._reader.execute_fetchall(sql, args))
        except (sqlite3.Error, OverflowError, ValueError) as exc:  # (UnicodeEncodeError is a ValueError)
            raise _translate(exc, f"cannot read {self.path}") from exc

    async def _read(self, reads: Callable[[sqlite3.Connection], Any]) -> Any:
        """Several small queries at once: `reads` runs each to its end (see `_all`), and must
        only read and build values. First here, on the event loop's thread, on a connection
        whose busy timeout is 0: a read waits for no writer (WAL), and a trip to the reading
        connection's thread costs more than such queries (waking the thread, and handing
        Python's GIL over and back at every statement while the loop is busy). When SQLite
        would have to wait (busy: another process is recovering the WAL, or the file is not
        in WAL mode and a writer holds it), the reads go to that thread, which may wait."""
        try:
            try:
                return reads(self._at_once)
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
            reader = self._reader
            # aiosqlite's queue to its thread, as `_GroupCommit._commit` uses it.
            return await reader._execute(reads, reader._conn)
        except (sqlite3.Error, OverflowError, ValueError) as exc:
            raise _translate(exc, f"cannot read {self.path}") from exc

    async def _maintain(self, *statements: str) -> None:
        """Statements that must run outside a transaction (VACUUM), on the writing connection."""
        async with self._write_lock:
            try:
                # VACUUM copies the whole database to a temporary one: on disk, not in memory.
                await self._db.execute("PRAGMA temp_store = DEFAULT")
                try:
                    for statement in statements:
                        await self._db.execute(statement)
                finally:
                    await self._db.execute(f"PRAGMA temp_store = {_TEMP_STORE}")
            except (sqlite3.Error, ValueError) as exc:
                raise _translate(exc, f"cannot tidy {self.path}") from exc

    def _write(self) -> _Transaction:
        """A transaction of several statements awaited one by one (the writes of the session path
        go through `self._group` instead: one trip each, commits shared). Both take the write lock."""
        return _Transaction(self._db, self._write_lock, self.path, self._outage)


class _Outage:
    """What the writing connection knows about the lock: when another process last held it too
    long. While that is recent, writes wait only briefly, so a backlog of writes (every
    session's next line) is told 'busy' in a moment instead of one busy timeout after another."""

    BRIEF_WAIT = 0.5

    def __init__(self, busy_timeout: float) -> None:
        self.busy_timeout = busy_timeout
        self.until = 0.0
        self.waiting = busy_timeout  # what the connection's busy_timeout pragma is set to

    def wait(self) -> float:
        return self.busy_timeout if time.monotonic() >= self.until else min(self.BRIEF_WAIT, self.busy_timeout)


class _Transaction:
    """BEGIN IMMEDIATE takes SQLite's write lock up front, so other processes queue on the
    busy timeout instead of failing half-way; the asyncio lock does the same for the
    coroutines sharing this connection. A lock still busy is retried until the busy
    timeout has passed (SQLite reports some busy locks at once, without waiting). Every
    SQLite error, at any point of the transaction, leaves as a StoreError."""

    def __init__(self, db: aiosqlite.Connection, lock: asyncio.Lock, path: Path, outage: _Outage) -> None:
        self._db = db
        self._lock = lock
        self._path = path
        self._outage = outage

    async def __aenter__(self) -> _Transaction:
        await self._lock.acquire()
        try:
            return await self._begin()
        except BaseException as exc:
            try:
                if not isinstance(exc, StoreError):
                    # Cancelled (a shutdown) while SQLite may be taking its lock on the
                    # database's thread: undo whatever it began, after it.
                    await asyncio.shield(self._rollback())
            finally:
                self._lock.release()
            raise

    async def _begin(self) -> _Transaction:
        outage = self._outage
        try:
            wait = outage.wait()
            if wait != outage.waiting:
                await self._db.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")
                outage.waiting = wait
        except (sqlite3.Error, ValueError) as exc:
            raise _translate(exc, f"cannot write to {self._path}") from exc
        deadline = time.monotonic() + wait
        pause = 0.05
        while True:
            try:
                await self._db.execute("BEGIN IMMEDIATE")
                outage.until = 0.0
                return self
            except (sqlite3.Error, ValueError) as exc:
                if _is_busy(exc) and time.monotonic() + pause < deadline:
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 1.0)
                    continue
                if _is_busy(exc):
                    outage.until = time.monotonic() + outage.busy_timeout
                raise _translate(exc, f"cannot write to {self._path}") from exc

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if kind is None:
                try:
                    await self._db.commit()
                except (sqlite3.Error, ValueError) as error:
                    await self._rollback()
                    raise _translate(error, f"cannot write to {self._path}") from error
                return
            await self._rollback()
            if isinstance(exc, (sqlite3.Error, OverflowError, UnicodeEncodeError)):
                raise _translate(exc, f"cannot write to {self._path}") from exc
        finally:
            self._lock.release()

    async def _rollback(self) -> None:
        try:
            await self._db.rollback()
        except (sqlite3.Error, ValueError):
            pass  # SQLite already rolled back (a full disk does that)

    async def execute(self, sql: str, args: Sequence[Any] | dict[str, Any] = ()) -> aiosqlite.Cursor:
        return await self._db.execute(sql, args)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self._db.executemany(sql, rows)

    async def one(self, sql: str, args: Sequence[Any] | dict[str, Any] = ()) -> Any:
        async with self._db.execute(sql, args) as cursor:
            return await cursor.fetchone()

    async def all(self, sql: str, args: Sequence[Any] | dict[str, Any] = ()) -> list[Any]:
        async with self._db.execute(sql, args) as cursor:
            return list(await cursor.fetchall())


MARK_LINGER_SECONDS = 0.05  # how long a delivery mark waits for a write to share a commit with
MARKS = -1  # `_Group.culprit` when the delivery marks lost the transaction


class _Write:
    __slots__ = ("work", "future", "turn")

    def __init__(self, work: Callable[[sqlite3.Connection], Any], future: asyncio.Future[Any], turn: _Turn | None = None) -> None:
        self.work = work
        self.future = future
        self.turn = turn  # what `work` writes, as values, when it is a turn (see `_record_turns`)


class _Turn:
    """A turn as `Store.record_turn` writes it: a write whose rows can share statements with
    other sessions' turns. `finish`: the session ends with it."""

    __slots__ = ("trainee", "resident", "items", "stamp", "finish")

    def __init__(self, trainee: TurnRow, resident: TurnRow, items: tuple[NewItem, ...], stamp: str, finish: Finish | None = None) -> None:
        self.trainee = trainee
        self.resident = resident
        self.items = items
        self.stamp = stamp
        self.finish = finish


class _Group:
    """What one group commit did: the transaction's fate and each write's."""

    __slots__ = ("failure", "busy", "culprit", "results", "marks_failure", "waited", "queued")

    def __init__(self) -> None:
        self.failure: BaseException | None = None  # the transaction failed: nothing of it was kept
        self.busy = False  # ... because another process held the lock past the wait
        self.culprit: int | None = None  # ... because this write failed so that SQLite rolled it all back
        self.results: list[tuple[bool, Any]] = []  # per write: (committed, value or exception)
        self.marks_failure: BaseException | None = None
        self.waited: float | None = None  # the busy timeout the connection now has
        self.queued: list[OutboxItem] = []  # what the committed writes queued in the outbox


class _GroupCommit:
    """Group commit for the session path's writes (turns, starts, ends, the outbox).

    A write is a plain function of the sqlite3 connection, run on the event loop's thread
    in a transaction committed on aiosqlite's thread for that connection (see
    `_commit_group`): a group costs one trip there, not one per statement. Every write
    submitted while the previous commit is in flight, or in the same pass of the event
    loop, shares one BEGIN IMMEDIATE and one COMMIT (one fsync); each caller hears back
    only after that commit, so nothing is sent before it is durable. Delivery marks wait up
    to MARK_LINGER_SECONDS for writes to ride with, instead of a commit of their own. The
    outbox items the group's writes queued are told to the watchers (`Store.watch_outbox`)
    once committed, before the callers hear back.

    Failures. A group runs first with no savepoint per write. When a write fails (a
    constraint, a value SQLite cannot hold), the group is undone and runs again with each
    write in a savepoint: the failing one is rolled back and fails alone, and the others
    commit. A write may thus run twice: it must only read and write the database and build
    values. One that fails so that SQLite rolls back the whole transaction (a full disk)
    fails alone too: the others run again at once, in a transaction without it. When the
    transaction itself cannot be had or kept (the lock is held past the busy timeout, the
    commit fails), every write of the group fails with the same StoreError and nothing of it
    is kept: each caller treats its write as not saved, as it would alone, and tries again.
    """

    def __init__(self, db: aiosqlite.Connection, lock: asyncio.Lock, path: Path, outage: _Outage) -> None:
        self._db = db
        self._lock = lock
        self._path = path
        self._outage = outage
        self._writes: list[_Write] = []
        self._marks: dict[int, tuple[str, str]] = {}  # item id -> (message id, when)
        self._mark_waiters: list[asyncio.Future[None]] = []
        self.listeners: list[Callable[[list[OutboxItem]], None]] = []  # see Store.watch_outbox
        self._marks_due = False  # the marks go with the next group even without writes
        self._linger: asyncio.TimerHandle | None = None
        self._runner: asyncio.Task[Any] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def write(self, work: Callable[[sqlite3.Connection], Any], turn: _Turn | None = None) -> asyncio.Future[Any]:
        """Run `work` in the next group's transaction; the future is done once that committed.
        `turn`: what `work` writes, when it is a turn (it may then share statements with others)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._writes.append(_Write(work, future, turn))
        self._run_soon(marks=False)
        return future

    def mark(self, item_id: int, message_id: str, stamp: str, *, soon: bool) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._marks[item_id] = (message_id, stamp)
        self._mark_waiters.append(future)
        if not soon:
            self._run_soon()
        elif not self._running() and self._linger is None:
            self._linger = asyncio.get_running_loop().call_later(MARK_LINGER_SECONDS, self._run_soon)
        return future

    def holding(self) -> bool:
        """Whether something waits for the next transaction."""
        return bool(self._writes or self._marks)

    async def flush(self) -> None:
        if self.holding():
            self._run_soon()
        if self._running():
            assert self._runner is not None
            await asyncio.wait({self._runner})

    def _running(self) -> bool:
        return self._runner is not None and not self._runner.done()

    def _run_soon(self, marks: bool = True) -> None:
        if marks:
            self._marks_due = True
            if self._linger is not None:
                self._linger.cancel()
                self._linger = None
        if not self._running():
            self._runner = spawn(self._run(), "store-group-commit", self._tasks)

    async def _run(self) -> None:
        await asyncio.sleep(0)  # every write ready in this pass of the event loop joins the group
        writes: list[_Write] = []
        waiters: list[asyncio.Future[None]] = []
        try:
            while self._writes or (self._marks and self._marks_due):
                writes, self._writes = self._writes, []
                marks, self._marks = self._marks, {}
                waiters, self._mark_waiters = self._mark_waiters, []
                self._marks_due = False
                async with self._lock:
                    group = await self._commit(writes, marks)
                self._settle(writes, marks, waiters, group)
                writes, waiters = [], []
        except BaseException as exc:  # never leave a caller waiting for ever
            error = StoreError(f"cannot write to {self._path}: {exc!r}")
            for future in [w.future for w in writes + self._writes] + waiters + self._mark_waiters:
                _fail(future, error, exc)
            self._writes, self._marks, self._mark_waiters = [], {}, []
            raise
        if self._marks and self._linger is None:
            self._linger = asyncio.get_running_loop().call_later(MARK_LINGER_SECONDS, self._run_soon)

    async def _commit(self, writes: list[_Write], marks: dict[int, tuple[str, str]]) -> _Group:
        wait = self._outage.wait()
        try:
            # aiosqlite has no public way to reach its sqlite3 connection or to run a function on
            # its thread (its own queue, what backs its execute()); `_conn` and `_execute` have
            # been stable across the versions pyproject.toml allows, and every store test runs them.
            connection = self._db._conn
        except ValueError as exc:  # the connection is closed
            group = _Group()
            group.failure = exc
            return group
        return await _commit_group(connection, self._db._execute, writes, marks, wait)

    def _settle(self, writes: list[_Write], marks: dict[int, tuple[str, str]], waiters: list[asyncio.Future[None]], group: _Group) -> None:
        doing = f"cannot write to {self._path}"
        if group.waited is not None:
            self._outage.waiting = group.waited
        if group.failure is None or group.culprit is not None:
            self._outage.until = 0.0
        elif group.busy:
            self._outage.until = time.monotonic() + self._outage.busy_timeout
        failure = group.failure
        if failure is not None and group.culprit is not None:
            # One write (or the marks) lost the transaction: it fails, the rest go again first.
            self._writes[:0] = [w for i, w in enumerate(writes) if i != group.culprit]
            if group.culprit != MARKS:
                _fail(writes[group.culprit].future, _translate(failure, doing), failure)
                self._marks = {**marks, **self._marks}  # a newer mark of an item wins
                self._mark_waiters[:0] = waiters
                self._marks_due = True
                return
            writes, failure = [], None
            group.marks_failure = group.failure
        if failure is None and group.queued:
            # Before any caller hears back, so an outbox knows the items before it is kicked.
            for listener in list(self.listeners):
                try:
                    listener(group.queued)
                except Exception:
                    log.exception("an outbox watcher failed")
        for index, write in enumerate(writes):
            if failure is not None:
                _fail(write.future, _translate(failure, doing), failure)
                continue
            committed, value = group.results[index]
            if committed:
                if not write.future.done():
                    write.future.set_result(value)
            elif isinstance(value, (sqlite3.Error, OverflowError, UnicodeEncodeError)):
                _fail(write.future, _translate(value, doing), value)
            else:
                _fail(write.future, value)  # a bug, not the database: it leaves as it is
        marks_failure = failure or group.marks_failure
        for waiter in waiters:
            if marks_failure is None:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                _fail(waiter, _translate(marks_failure, doing), marks_failure)


def _fail(future: asyncio.Future[Any], error: BaseException, cause: BaseException | None = None) -> None:
    if cause is not None and error is not cause:
        error.__cause__ = cause
    if not future.done():
        future.set_exception(error)


class _TransactionLost(Exception):
    """SQLite rolled back the whole transaction when one write (or the marks) failed."""

    def __init__(self, culprit: int, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.culprit = culprit
        self.cause = cause


OnThread = Callable[..., Awaitable[Any]]  # runs a function on the connection's own thread, awaited


async def _commit_group(
    db: sqlite3.Connection, on_thread: OnThread, writes: list[_Write], marks: dict[int, tuple[str, str]], wait: float,
) -> _Group:
    """One transaction for the delivery marks and every write.

    What may block goes to the database's thread: the commit (the fsync), and taking
    SQLite's lock when another process holds it (`_begin` waits for it up to `wait`). The
    rest runs here, on the event loop's thread, where nothing waits once the lock is held:
    each statement on the database's thread would hand Python's GIL over and wait to get
    it back, which under load it does only when the event loop idles (a group of a dozen
    turns took about 8 ms there, and the loop sat idle a fifth of the time waiting for it).
    The caller holds the store's write lock, so nothing else uses the connection meanwhile."""
    group = _Group()
    try:
        group.waited = wait
        if not _begin_at_once(db, wait):
            await _blocking(on_thread, db, _begin, db, wait)
    except (sqlite3.Error, ValueError) as exc:
        group.failure, group.busy = exc, _is_busy(exc)
        return group
    try:
        # First in as few statements as can be (see `_run_plain`): nearly always, nothing fails.
        # When something does, the group starts again from this savepoint, each write in a
        # savepoint of its own, so that only the failing one fails.
        db.execute("SAVEPOINT batch")
        try:
            _run_plain(db, writes, marks, group)
        except Exception:
            group.results, group.queued = [], []
            if db.in_transaction:
                db.execute("ROLLBACK TO batch")
            elif not _begin_at_once(db, wait):
                # SQLite rolled it all back (a full disk): the savepoints find the culprit
                await _blocking(on_thread, db, _begin, db, wait)
            _run_in_savepoints(db, writes, marks, group)
        await _blocking(on_thread, db, db.execute, "COMMIT")
    except asyncio.CancelledError:
        raise  # rolled back on the database's thread, after what it was running (`_blocking`)
    except BaseException as exc:
        _rollback(db)
        if isinstance(exc, _TransactionLost):
            group.culprit, exc = exc.culprit, exc.cause
        group.failure, group.busy = exc, _is_busy(exc)
        group.results, group.queued = [], []
    return group


def _run_plain(db: sqlite3.Connection, writes: list[_Write], marks: dict[int, tuple[str, str]], group: _Group) -> None:
    """The marks and every write, in order, with no savepoint of their own, consecutive turns
    of different sessions together (`_record_turns`): each statement has a cost of its own
    (preparing it, running it), so the fewer the better. Raises at the first failure, and
    the caller undoes it all."""
    if marks:
        _mark(db, marks)
    queued: list[OutboxItem] = []
    _QUEUED.items = queued
    try:
        index = 0
        while index < len(writes):
            turns = _turns_from(writes, index)
            if len(turns) > 1:
                _record_turns(db, turns, queued)
                group.results += [(True, True)] * len(turns)
                index += len(turns)
            else:
                group.results.append((True, writes[index].work(db)))
                index += 1
    finally:
        _QUEUED.items = None
    group.queued = queued


TURNS_TOGETHER = 16  # at most this many turns share statements (a bounded set of statement texts)


def _turns_from(writes: list[_Write], start: int) -> list[_Turn]:
    """The turns of different sessions among the writes from `start` on, up to the first
    write that is not one (or is a second turn of a session already there)."""
    turns: list[_Turn] = []
    sessions: set[int] = set()
    for write in writes[start:start + TURNS_TOGETHER]:
        turn = write.turn
        if turn is None or turn.trainee.session_id in sessions:
            break
        sessions.add(turn.trainee.session_id)
        turns.append(turn)
    return turns


class _Apart(Exception):
    """These turns cannot share statements (a message seen before, an item queued before):
    each write runs on its own, and finds out what to do about it."""


def _record_turns(db: sqlite3.Connection, turns: list[_Turn], queued: list[OutboxItem]) -> None:
    """What `Store.record_turn` writes for each turn, for several sessions' turns at once, in
    four statements: the seen-check, the lines, the sessions' progress, the outbox (and, for
    the turns that end their session, that end's own statements). Anything unusual (a message
    seen before, an item queued before) raises, and each write then runs on its own (see
    `_commit_group`)."""
    messages = [t.trainee.source_message_id for t in turns if t.trainee.source_message_id is not None]
    if messages:
        marks = ", ".join("?" * len(messages))
        if db.execute(
            f"SELECT 1 FROM turns WHERE source_message_id IN ({marks})"
            f" UNION ALL SELECT 1 FROM ignored_messages WHERE message_id IN ({marks}) LIMIT 1",
            messages * 2,
        ).fetchone() is not None:
            raise _Apart()
    rows = [_turn_values(line, t.stamp) for t in turns for line in (t.trainee, t.resident)]
    write_rows(db, _INSERT_TURNS, rows)
    if _UPDATE_FROM:
        write_rows(db, "UPDATE sessions SET state = v.column2, mood = v.column3, turns = v.column4 FROM (", turns,
                   ") AS v WHERE sessions.id = v.column1",
                   lambda t: (t.trainee.session_id, t.resident.state, t.resident.mood, t.trainee.seq))
    else:
        db.executemany(
            "UPDATE sessions SET state = ?, mood = ?, turns = ? WHERE id = ?",
            [(t.resident.state, t.resident.mood, t.trainee.seq, t.trainee.session_id) for t in turns],
        )
    ends = [(t.trainee.session_id, t.finish, t.stamp) for t in turns if t.finish is not None]
    if ends:
        _finish_together(db, ends)
    items = [(item, t.stamp) for t in turns for item in t.items]
    for chunk, cursor in in_chunks(db, _INSERT_OUTBOX, items, _outbox_row, " ON CONFLICT (key) DO NOTHING"):
        if cursor.rowcount != len(chunk):
            raise _Apart()  # an item queued before (which one, its write finds out)
        # One statement, every row inserted: AUTOINCREMENT gave them consecutive ids, in order.
        first = cursor.lastrowid - len(chunk) + 1  # type: ignore[operator]
        queued += [_queued_item(first + n, i, stamp) for n, (i, stamp) in enumerate(chunk)]


_UPDATE_FROM = sqlite3.sqlite_version_info >= (3, 33)  # UPDATE ... FROM
_RETURNING = sqlite3.sqlite_version_info >= (3, 35)  # INSERT ... RETURNING (else the row is read back)


def _run_in_savepoints(db: sqlite3.Connection, writes: list[_Write], marks: dict[int, tuple[str, str]], group: _Group) -> None:
    """The marks and every write, each in a savepoint: one that fails is rolled back alone."""
    if marks:
        db.execute("SAVEPOINT marks")
        try:
            _mark(db, marks)
        except sqlite3.Error as exc:
            _undo(db, "marks", MARKS, exc)
            group.marks_failure = exc
        else:
            db.execute("RELEASE marks")
    for index, write in enumerate(writes):
        db.execute("SAVEPOINT write")
        _QUEUED.items = []
        try:
            value = write.work(db)
        except Exception as exc:
            _undo(db, "write", index, exc)
            group.results.append((False, exc))
        else:
            db.execute("RELEASE write")
            group.results.append((True, value))
            group.queued += _QUEUED.items
        finally:
            _QUEUED.items = None


def _mark(db: sqlite3.Connection, marks: dict[int, tuple[str, str]]) -> None:
    """Record the delivery marks: in one statement (see `_run_plain`) where SQLite can."""
    if not _UPDATE_FROM or len(marks) == 1:
        db.executemany(
            "UPDATE outbox SET status = 'delivered', message_id = ?, delivered_at = ? WHERE id = ?",
            [(message_id, stamp, item_id) for item_id, (message_id, stamp) in marks.items()],
        )
        return
    write_rows(db, "UPDATE outbox SET status = 'delivered', message_id = v.column2, delivered_at = v.column3 FROM (",
               list(marks.items()), ") AS v WHERE outbox.id = v.column1", lambda mark: (mark[0], *mark[1]))


def _undo(db: sqlite3.Connection, savepoint: str, culprit: int, exc: BaseException) -> None:
    """Roll one write back to its savepoint; when SQLite has already rolled back the whole
    transaction (it does on a full disk), say which write lost it."""
    if not db.in_transaction:
        raise _TransactionLost(culprit, exc)
    db.execute(f"ROLLBACK TO {savepoint}")
    db.execute(f"RELEASE {savepoint}")


async def _blocking(on_thread: OnThread, db: sqlite3.Connection, work: Callable[..., Any], *args: Any) -> Any:
    """`work(*args)` on the database's thread. Cancelled meanwhile (a shutdown), the thread
    still runs it: a transaction it began (or failed to end) is then rolled back after it,
    so the connection is not left inside one."""
    try:
        return await on_thread(work, *args)
    except asyncio.CancelledError:
        with contextlib.suppress(sqlite3.Error, ValueError):  # closed meanwhile: nothing left to undo
            await asyncio.shield(on_thread(_rollback, db))
        raise


def _rollback(db: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error, ValueError):  # a closed connection has nothing to undo
        if db.in_transaction:  # SQLite may have rolled back already (a full disk does that)
            db.execute("ROLLBACK")


def _begin_at_once(db: sqlite3.Connection, wait: float) -> bool:
    """BEGIN IMMEDIATE if SQLite's lock is free (nearly always: one process writes), without
    waiting; False, with nothing begun, when another process holds it. The busy timeout is
    `wait` afterwards, for `_begin` and the commit."""
    db.execute("PRAGMA busy_timeout = 0")
    try:
        db.execute("BEGIN IMMEDIATE")
        return True
    except sqlite3.Error as exc:
        if _is_busy(exc):
            return False
        raise
    finally:
        db.execute(f"PRAGMA busy_timeout = {int(wait * 1000)}")


def _begin(db: sqlite3.Connection, wait: float) -> None:
    """BEGIN IMMEDIATE, retried while the lock stays busy (SQLite reports some busy locks at
    once, without waiting) until `wait` has passed."""
    deadline = time.monotonic() + wait
    pause = 0.05
    while True:
        try:
            db.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.Error as exc:
            if not (_is_busy(exc) and time.monotonic() + pause < deadline):
                raise
            time.sleep(pause)
            pause = min(pause * 2, 1.0)


def _is_busy(exc: BaseException) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (SQLITE_BUSY, SQLITE_LOCKED)
    return "locked" in str(exc) or "busy" in str(exc)


def _translate(exc: BaseException, doing: str) -> StoreError:
    """One StoreError for every SQLite error, telling busy and full from the rest."""
    code = getattr(exc, "sqlite_errorcode", None)
    if _is_busy(exc):
        return StoreBusy(f"{doing}: the database is busy (another process held it for too long)")
    if (code is not None and code & 0xFF == SQLITE_FULL) or "disk is full" in str(exc):
        return StoreFull(f"{doing}: the disk is full")
    return StoreError(f"{doing}: {exc}")


def _ensure_member(db: sqlite3.Connection, display_name: str, guild_id: int, discord_id: int | None, role: str, stamp: str) -> MemberRow:
    """The member with this chat id (or, off the chat, this name), created on first sight (inside a write)."""
    if discord_id is None:
        db.execute(
            "INSERT INTO members (guild_id, display_name, role, created_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (guild_id, display_name) WHERE discord_id IS NULL DO NOTHING",
            (guild_id, display_name, role, stamp),
        )
        row = db.execute(
            "SELECT * FROM members WHERE guild_id = ? AND discord_id IS NULL AND display_name = ?", (guild_id, display_name)
        ).fetchone()
    else:
        # Inserted or updated, the row is the member's: given back by the upsert itself where SQLite can.
        row = db.execute(
            "INSERT INTO members (guild_id, discord_id, display_name, role, created_at) VALUES (?, ?, ?, ?, ?)"
            " ON CONFLICT (guild_id, discord_id) WHERE discord_id IS NOT NULL DO UPDATE SET display_name = excluded.display_name"
            + (" RETURNING *" if _RETURNING else ""),
            (guild_id, discord_id, display_name, role, stamp),
        ).fetchone()
        if row is None:
            row = db.execute("SELECT * FROM members WHERE guild_id = ? AND discord_id = ?", (guild_id, discord_id)).fetchone()
    assert row is not None
    return MemberRow(row["id"], row["guild_id"], row["discord_id"], row["display_name"], row["role"])


def _seen(db: sqlite3.Connection, source_message_id: str) -> bool:
    """Whether a chat message was played as a turn, or seen and set aside (inside a write)."""
    return db.execute(
        "SELECT 1 FROM turns WHERE source_message_id = ? UNION ALL SELECT 1 FROM ignored_messages WHERE message_id = ?",
        (source_message_id, source_message_id),
    ).fetchone() is not None


def _insert_turns(db: sqlite3.Connection, turns: Iterable[TurnRow], stamp: str) -> None:
    write_rows(db, _INSERT_TURNS, [_turn_values(turn, stamp) for turn in turns])  # one statement, not one per line


def _turn_values(turn: TurnRow, stamp: str) -> tuple[Any, ...]:
    return (turn.session_id, turn.seq, turn.speaker, turn.text, _signals_json(turn.signals),
            turn.mood, turn.state, turn.source_message_id, turn.created_at or stamp)


_INSERT_TURNS = "INSERT INTO turns (session_id, seq, speaker, text, signals, mood, state, source_message_id, created_at)"


def _signals_json(signals: Iterable[EvidenceRow]) -> str:
    # What dataclasses.asdict gave, key for key, without its deep copy of every field.
    return _JSON.encode([{"name": e.name, "start": e.start, "end": e.end, "quote": e.quote, "detail": e.detail} for e in signals])


_JSON = json.JSONEncoder(ensure_ascii=False)  # json.dumps(..., ensure_ascii=False), without a new encoder each call


def _finish(db: sqlite3.Connection, session_id: int, finish: Finish, stamp: str, progress: tuple[str, int, int] | None = None) -> None:
    """`progress`: the (state, mood, turns) its last turn leaves it in, when the end rides with that turn."""
    if progress is None:
        _finish_together(db, [(session_id, finish, stamp)])
        return
    db.execute(
        "UPDATE sessions SET state = ?, mood = ?, turns = ?, status = 'ended', outcome = ?, score = ?,"
        " ended_at = COALESCE(ended_at, ?) WHERE id = ?",
        (*progress, finish.outcome, finish.score, stamp, session_id),
    )
    _finish_rows(db, [(session_id, finish)])


def _finish_together(db: sqlite3.Connection, ends: list[tuple[int, Finish, str]]) -> None:
    """What `_finish` writes, for several sessions' ends at once (the turns of a group that end
    their session), table by table: the same rows, in the same order in each table."""
    if len(ends) == 1 or not _UPDATE_FROM:
        for session_id, finish, stamp in ends:
            db.execute(
                "UPDATE sessions SET status = 'ended', outcome = ?, score = ?, ended_at = COALESCE(ended_at, ?) WHERE id = ?",
                (finish.outcome, finish.score, stamp, session_id),
            )
    else:
        write_rows(db, "UPDATE sessions SET status = 'ended', outcome = v.column2, score = v.column3,"
                   " ended_at = COALESCE(ended_at, v.column4) FROM (", ends, ") AS v WHERE sessions.id = v.column1",
                   lambda end: (end[0], end[1].outcome, end[1].score, end[2]))
    _finish_rows(db, [(session_id, finish) for session_id, finish, _ in ends])


def _finish_rows(db: sqlite3.Connection, ends: list[tuple[int, Finish]]) -> None:
    """The ends' skill evidence (in place of any kept before) and recognition records."""
    ids = [session_id for session_id, _ in ends]
    db.execute(f"DELETE FROM skill_evidence WHERE session_id IN ({', '.join('?' * len(ids))})", ids)
    write_rows(
        db, "INSERT INTO skill_evidence (session_id, skill, label, status, points, max_points, turn, quote)",
        [(session_id, e.skill, e.label, e.status, e.points, e.max_points, e.turn, e.quote) for session_id, finish in ends for e in finish.skills],
    )
    write_records(db, [(session_id, finish.record) for session_id, finish in ends if finish.record is not None])


class _Queued(threading.local):
    """The outbox items the write running in this thread has queued (None outside
    `_commit_group`), told to the store's outbox watchers once committed."""

    items: list[OutboxItem] | None = None


_QUEUED = _Queued()


def _enqueue(db: sqlite3.Connection, items: Iterable[NewItem], stamp: str) -> None:
    """Queue the items, in order, in one statement (a session's start, its end: see
    bot/store/rowsql.py); an item whose key is already queued is left as it is. What is
    queued is told to `_QUEUED`, with the ids the rows got."""
    collected = _QUEUED.items
    for chunk, cursor in in_chunks(db, _INSERT_OUTBOX, [(item, stamp) for item in items], _outbox_row, " ON CONFLICT (key) DO NOTHING"):
        inserted = cursor.rowcount
        if collected is None or inserted <= 0:
            continue
        if inserted == len(chunk):
            # Every row inserted by one statement: AUTOINCREMENT gave them consecutive ids, in order.
            first = cursor.lastrowid - inserted + 1  # type: ignore[operator]
            ids = {item.key: first + n for n, (item, _) in enumerate(chunk)}
        else:
            # Some keys were queued before, and those items stand. AUTOINCREMENT gives a new row
            # an id above every id ever used, so the rows just inserted are the newest of these keys.
            keys = list(dict.fromkeys(item.key for item, _ in chunk))
            ids = {key: item_id for item_id, key in db.execute(
                f"SELECT id, key FROM outbox WHERE key IN ({', '.join('?' * len(keys))}) ORDER BY id DESC LIMIT ?", [*keys, inserted],
            )}
        for item, _ in chunk:
            item_id = ids.pop(item.key, None)  # popped: a key twice in one call is queued once, as its first item
            if item_id is not None:
                collected.append(_queued_item(item_id, item, stamp))


_INSERT_OUTBOX = "INSERT INTO outbox (key, transport, channel_id, session_id, kind, body, created_at)"


def _outbox_row(queued: tuple[NewItem, str]) -> tuple[Any, ...]:
    """An outbox row's values: the item and when it was queued."""
    i, stamp = queued
    return (i.key, i.transport, i.channel_id, i.session_id, i.kind, i.body, stamp)


def _queued_item(item_id: int, i: NewItem, stamp: str) -> OutboxItem:
    return OutboxItem(id=item_id, key=i.key, transport=i.transport, channel_id=i.channel_id, session_id=i.session_id,
                      kind=i.kind, body=i.body, status="pending", message_id=None, error=None, created_at=stamp, message=i.message)


class _Opener:
    def __init__(self, path: Path, create: bool, busy_timeout: float) -> None:
        self.path = path
        self.create = create
        self.busy_timeout = busy_timeout
        self.store: Store | None = None

    async def __aenter__(self) -> Store:
        if not self.create and not self.path.is_file():
            raise StoreError(f"there is no database at {self.path} (give the right --db PATH)")
        self.store = await _open(self.path, self.busy_timeout)
        return self.store

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.store is not None:
            await self.store.close()


# Prepared statements each connection keeps (Python's default is 128): a group's turns and
# marks share statements whose text depends on how many there are (up to TURNS_TOGETHER, and
# ROWS_PER_STATEMENT), and those, with every other statement, must not push each other out.
CACHED_STATEMENTS = 512


async def _connect(path: Path, busy_timeout: float) -> aiosqlite.Connection:
    # Not tied to its thread: the group commit runs its statements on the event loop's thread
    # and its commit on the connection's own (see `_commit_group`), one after the other, under
    # the store's write lock.
    db = await aiosqlite.connect(
        path, isolation_level=None, timeout=busy_timeout, cached_statements=CACHED_STATEMENTS, check_same_thread=False,
    )
    db.row_factory = aiosqlite.Row
    await db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
    return db


async def _open(path: Path, busy_timeout: float) -> Store:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = await _connect(path, busy_timeout)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open the database {path}: {exc}") from exc
    reader: aiosqlite.Connection | None = None
    at_once: sqlite3.Connection | None = None
    try:
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA foreign_keys = ON")
        # The session path's statements build small tables of their own as they run (the rows
        # of UPDATE ... FROM (VALUES ...), IN lists, RETURNING): kept in memory, not in a
        # temporary file, they cost a third (see `_maintain` for the one large one, VACUUM's).
        await db.execute(f"PRAGMA temp_store = {_TEMP_STORE}")
        await _migrate(db, path)
        reader = await _connect(path, busy_timeout)
        await reader.execute("PRAGMA query_only = ON")
        at_once = _connect_at_once(path)
    except (sqlite3.DatabaseError, OSError) as exc:
        for connection in (reader, db):
            if connection is not None:
                await connection.close()
        if isinstance(exc, sqlite3.DatabaseError):
            raise _translate(exc, f"cannot use the database {path}") from exc
        raise StoreError(f"cannot use the database {path}: {exc}") from exc
    except BaseException:
        for connection in (reader, db):
            if connection is not None:
                await connection.close()
        raise
    return Store(path, db, reader, busy_timeout, at_once)


def _connect_at_once(path: Path) -> sqlite3.Connection:
    """The reading connection of the event loop's thread (`Store._read`): busy timeout 0, so a
    read that would wait fails at once instead of holding the loop up."""
    connection = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        connection.row_factory = sqlite3.Row
        connection.execute("PRAGMA query_only = ON")
    except BaseException:
        connection.close()
        raise
    return connection


async def _migrate(db: aiosqlite.Connection, path: Path) -> None:
    shipped = migrations()
    latest = shipped[-1][0] if shipped else 0
    await db.execute("BEGIN IMMEDIATE")  # one process migrates; the others wait, then see it done
    try:
        async with db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        current = int(row[0]) if row else 0
        if current > latest:
            raise StoreError(
                f"the database {path} was written by a newer version of the trainer "
                f"(schema {current}, this version knows up to {latest}); upgrade the trainer to use it"
            )
        for number, _name, sql in shipped:
            if number > current:
                for statement in _statements(sql):
                    await db.execute(statement)
                await db.execute(f"PRAGMA user_version = {number}")
        await db.commit()
    except BaseException:
        await db.rollback()
        raise


def _statements(sql: str) -> list[str]:
    """Split a migration on ';' at line ends (executescript would commit behind our back)."""
    return [part.strip() for part in sql.split(";\n") if part.strip() and not _only_comments(part)]


def _only_comments(part: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in part.splitlines())


def _session(row: Any) -> SessionRow:
    return SessionRow(
        id=row["id"], scenario_id=row["scenario_id"], scenario_digest=row["scenario_digest"],
        trainee=row["trainee"], seed=row["seed"], state=row["state"], mood=row["mood"],
        turns=row["turns"], mode=row["mode"], status=row["status"], outcome=row["outcome"],
        score=row["score"], guild_id=row["guild_id"], channel_id=row["channel_id"],
        thread_id=row["thread_id"], trainee_id=row["trainee_id"],
        started_at=row["started_at"], ended_at=row["ended_at"], member_id=row["member_id"],
        persona=row["persona"],
    )


def _turn(row: Any) -> TurnRow:
    return TurnRow(
        session_id=row["session_id"], seq=row["seq"], speaker=row["speaker"], text=row["text"],
        signals=tuple(EvidenceRow(**item) for item in json.loads(row["signals"])), mood=row["mood"], state=row["state"],
        source_message_id=row["source_message_id"], created_at=row["created_at"],
    )


def _item(row: Any) -> OutboxItem:
    return OutboxItem(
        id=row["id"], key=row["key"], transport=row["transport"], channel_id=row["channel_id"], session_id=row["session_id"],
        kind=row["kind"], body=row["body"], status=row["status"], message_id=row["message_id"], error=row["error"],
        created_at=row["created_at"],
    )
