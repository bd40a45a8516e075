"""One aiosqlite connection owned by the store; migrations applied on open."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import sqlite3
from datetime import datetime, timezone
from importlib import resources
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import aiosqlite
import platformdirs

from bot.errors import StoreError
from bot.store.rows import (
    CohortRow,
    EvidenceRow,
    ExportTurn,
    LeaderboardRow,
    MemberReport,
    MemberRow,
    NewSession,
    SessionRow,
    SkillEvidenceRow,
    SkillSummary,
    TurnRow,
)

BUSY_TIMEOUT_MS = 30_000  # several processes may share one file; wait rather than fail


def default_db_path() -> Path:
    return Path(platformdirs.user_data_dir("trainer", appauthor=False)) / "trainer.db"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def migrations() -> list[tuple[int, str, str]]:
    """(number, name, sql) of every migration shipped with the code, in order."""
    folder = resources.files("bot.store") / "migrations"
    found = []
    for entry in folder.iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text("utf-8")))
    return sorted(found)


class Store:
    """Open with `async with Store.open(path) as store:`."""

    def __init__(self, path: Path, db: aiosqlite.Connection) -> None:
        self.path = path
        self._db = db
        # One connection serves every coroutine of the process (the bot's sessions, its idle
        # loop, commands): transactions on it must take turns.
        self._write_lock = asyncio.Lock()

    @classmethod
    def open(cls, path: str | Path, *, create: bool = True) -> _Opener:
        """`create=False` for commands that only read or manage existing data: a mistyped
        path then fails clearly instead of creating an empty database."""
        return _Opener(Path(path), create)

    async def close(self) -> None:
        await self._db.close()

    # -- sessions --
    async def start_session(self, new: NewSession, opening: str) -> SessionRow:
        """Create a session and record the resident's opening line with it, atomically."""
        started = now()
        async with self._write():
            cursor = await self._db.execute(
                "INSERT INTO sessions (scenario_id, scenario_digest, trainee, seed, state, mood, mode,"
                " guild_id, channel_id, thread_id, trainee_id, member_id, started_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (new.scenario_id, new.scenario_digest, new.trainee, new.seed, new.state, new.mood,
                 new.mode, new.guild_id, new.channel_id, new.thread_id, new.trainee_id, new.member_id, started),
            )
            session_id = cursor.lastrowid
            assert session_id is not None
            await self._insert_turn(TurnRow(session_id, 0, "resident", opening, (), new.mood, new.state), started)
        row = await self.get_session(session_id)
        assert row is not None
        return row

    async def record_turn(self, trainee: TurnRow, resident: TurnRow) -> bool:
        """Save a trainee line and the reply it got, and the session's progress, in one transaction.

        Returns False (and changes nothing) when the trainee line's source message was already recorded.
        """
        stamp = now()
        try:
            async with self._write():
                await self._insert_turn(trainee, stamp)
                await self._insert_turn(resident, stamp)
                await self._db.execute(
                    "UPDATE sessions SET state = ?, mood = ?, turns = ? WHERE id = ?",
                    (resident.state, resident.mood, trainee.seq, trainee.session_id),
                )
        except sqlite3.IntegrityError as exc:
            if trainee.source_message_id is not None and "source_message_id" in str(exc):
                return False
            raise StoreError(f"could not record turn {trainee.seq} of session {trainee.session_id}: {exc}") from exc
        return True

    async def finish_session(self, session_id: int, outcome: str, score: int, skills: tuple[SkillEvidenceRow, ...] = ()) -> None:
        """Mark a session ended with its result and per-skill evidence (idempotent)."""
        async with self._write():
            await self._db.execute(
                "UPDATE sessions SET status = 'ended', outcome = ?, score = ?, ended_at = COALESCE(ended_at, ?) WHERE id = ?",
                (outcome, score, now(), session_id),
            )
            await self._db.execute("DELETE FROM skill_evidence WHERE session_id = ?", (session_id,))
            await self._db.executemany(
                "INSERT INTO skill_evidence (session_id, skill, label, status, points, max_points, turn, quote)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(session_id, e.skill, e.label, e.status, e.points, e.max_points, e.turn, e.quote) for e in skills],
            )

    async def skill_evidence(self, session_id: int) -> list[SkillEvidenceRow]:
        return [SkillEvidenceRow(*row) for row in await self._all(
            "SELECT skill, label, status, points, max_points, turn, quote FROM skill_evidence WHERE session_id = ? ORDER BY rowid",
            (session_id,),
        )]

    # -- people --
    async def ensure_member(self, display_name: str, *, guild_id: int = 0, discord_id: int | None = None, role: str = "trainee") -> MemberRow:
        """The member with this Discord id (or, off Discord, this name), created on first sight."""
        async with self._write():
            if discord_id is None:
                await self._db.execute(
                    "INSERT INTO members (guild_id, display_name, role, created_at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT (guild_id, display_name) WHERE discord_id IS NULL DO NOTHING",
                    (guild_id, display_name, role, now()),
                )
                query, args = "SELECT * FROM members WHERE guild_id = ? AND discord_id IS NULL AND display_name = ?", (guild_id, display_name)
            else:
                await self._db.execute(
                    "INSERT INTO members (guild_id, discord_id, display_name, role, created_at) VALUES (?, ?, ?, ?, ?)"
                    " ON CONFLICT (guild_id, discord_id) WHERE discord_id IS NOT NULL DO UPDATE SET display_name = excluded.display_name",
                    (guild_id, discord_id, display_name, role, now()),
                )
                query, args = "SELECT * FROM members WHERE guild_id = ? AND discord_id = ?", (guild_id, discord_id)
            row = await self._one(query, args)
        assert row is not None
        return MemberRow(row["id"], row["guild_id"], row["discord_id"], row["display_name"], row["role"])

    async def create_cohort(self, name: str, *, guild_id: int = 0, channel_id: int | None = None) -> CohortRow:
        try:
            async with self._write():
                cursor = await self._db.execute(
                    "INSERT INTO cohorts (guild_id, name, channel_id, created_at) VALUES (?, ?, ?, ?)",
                    (guild_id, name, channel_id, now()),
                )
        except sqlite3.IntegrityError as exc:
            raise StoreError(f"a cohort named '{name}' already exists") from exc
        assert cursor.lastrowid is not None
        return CohortRow(cursor.lastrowid, guild_id, name, channel_id)

    async def cohort(self, name: str, *, guild_id: int = 0) -> CohortRow | None:
        row = await self._one("SELECT id, guild_id, name, channel_id FROM cohorts WHERE guild_id = ? AND name = ?", (guild_id, name))
        return CohortRow(*row) if row else None

    async def cohorts(self, *, guild_id: int = 0) -> list[CohortRow]:
        return [CohortRow(*row) for row in await self._all("SELECT id, guild_id, name, channel_id FROM cohorts WHERE guild_id = ? ORDER BY name", (guild_id,))]

    async def cohorts_of(self, member_id: int) -> list[CohortRow]:
        return [CohortRow(*row) for row in await self._all(
            "SELECT c.id, c.guild_id, c.name, c.channel_id FROM cohorts c JOIN cohort_members cm ON cm.cohort_id = c.id"
            " WHERE cm.member_id = ? ORDER BY c.name",
            (member_id,),
        )]

    async def add_kudos(self, guild_id: int, from_member: int, to_member: int, skill: str, reason: str) -> None:
        async with self._write():
            await self._db.execute(
                "INSERT INTO kudos (guild_id, from_member_id, to_member_id, skill, reason, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (guild_id, from_member, to_member, skill, reason, now()),
            )

    async def leaderboard(self, *, guild_id: int, cohort_id: int | None = None, since: str | None = None, limit: int = 10) -> list[LeaderboardRow]:
        """Members ranked by successful role-plays, then kudos; only people with something to celebrate."""
        args: list[Any] = [since or "", since or "", guild_id, since or "", guild_id]
        cohort_clause = ""
        if cohort_id is not None:
            cohort_clause = " AND m.id IN (SELECT member_id FROM cohort_members WHERE cohort_id = ?)"
            args.append(cohort_id)
        args.append(limit)
        query = (
            "SELECT m.id, m.display_name, m.discord_id,"
            " (SELECT COUNT(*) FROM sessions s WHERE s.member_id = m.id AND s.outcome = 'success' AND s.started_at >= ?) AS wins,"
            " (SELECT COALESCE(MAX(s.score), 0) FROM sessions s WHERE s.member_id = m.id AND s.outcome = 'success' AND s.started_at >= ?) AS best,"
            " (SELECT COUNT(*) FROM kudos k WHERE k.to_member_id = m.id AND k.guild_id = ? AND k.created_at >= ?) AS praise"
            " FROM members m WHERE m.guild_id = ?" + cohort_clause +
            " AND (wins > 0 OR praise > 0) ORDER BY wins DESC, praise DESC, best DESC, m.display_name LIMIT ?"
        )
        return [LeaderboardRow(*row) for row in await self._all(query, args)]

    async def members(self, *, guild_id: int | None = None) -> list[MemberRow]:
        where, args = ("WHERE guild_id = ?", (guild_id,)) if guild_id is not None else ("", ())
        return [
            MemberRow(r["id"], r["guild_id"], r["discord_id"], r["display_name"], r["role"])
            for r in await self._all(f"SELECT * FROM members {where} ORDER BY guild_id, display_name", args)
        ]

    async def member_report(self, member_id: int, recent: int = 5) -> MemberReport | None:
        row = await self._one("SELECT * FROM members WHERE id = ?", (member_id,))
        if row is None:
            return None
        member = MemberRow(row["id"], row["guild_id"], row["discord_id"], row["display_name"], row["role"])
        counts = await self._one(
            "SELECT COUNT(*), SUM(status = 'ended'), SUM(outcome = 'success'), AVG(CASE WHEN status = 'ended' THEN score END)"
            " FROM sessions WHERE member_id = ?",
            (member_id,),
        )
        latest = tuple(_session(r) for r in await self._all("SELECT * FROM sessions WHERE member_id = ? ORDER BY id DESC LIMIT ?", (member_id, recent)))
        skills = tuple(
            SkillSummary(r[0], r[1], int(r[2] or 0), int(r[3]))
            for r in await self._all(
                "SELECT e.skill, MIN(e.label), SUM(e.status != 'missed'), COUNT(*) FROM skill_evidence e"
                " JOIN sessions s ON s.id = e.session_id WHERE s.member_id = ? GROUP BY e.skill ORDER BY e.skill",
                (member_id,),
            )
        )
        kudos = await self._one("SELECT COUNT(*) FROM kudos WHERE to_member_id = ?", (member_id,))
        assert counts is not None and kudos is not None
        return MemberReport(
            member=member, sessions=int(counts[0]), ended=int(counts[1] or 0), successes=int(counts[2] or 0),
            average_score=float(counts[3]) if counts[3] is not None else None, recent=latest, skills=skills,
            kudos_received=int(kudos[0]),
        )

    async def add_to_cohort(self, cohort_id: int, member_id: int) -> bool:
        """False when the member was already in the cohort."""
        async with self._write():
            cursor = await self._db.execute(
                "INSERT OR IGNORE INTO cohort_members (cohort_id, member_id) VALUES (?, ?)", (cohort_id, member_id)
            )
        return cursor.rowcount == 1

    async def remove_from_cohort(self, cohort_id: int, member_id: int) -> bool:
        async with self._write():
            cursor = await self._db.execute(
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

    async def count_before(self, before: str) -> tuple[int, int]:
        """(sessions, turns) started before the date: what `purge` would remove."""
        row = await self._one(
            "SELECT COUNT(*), (SELECT COUNT(*) FROM turns WHERE session_id IN"
            " (SELECT id FROM sessions WHERE started_at < ? AND status = 'ended'))"
            " FROM sessions WHERE started_at < ? AND status = 'ended'",
            (before, before),
        )
        return (int(row[0]), int(row[1])) if row else (0, 0)

    async def purge(self, before: str) -> int:
        """Delete ended sessions started before the date, with their turns and evidence, and
        kudos given before it. A role-play still in progress is kept. Returns the sessions deleted."""
        async with self._write():
            cursor = await self._db.execute("DELETE FROM sessions WHERE started_at < ? AND status = 'ended'", (before,))
            await self._db.execute("DELETE FROM kudos WHERE created_at < ?", (before,))
        return cursor.rowcount

    async def backup(self, target: Path) -> None:
        """SQLite's online backup: a consistent copy even while other processes write."""
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            async with aiosqlite.connect(target) as copy:
                await self._db.backup(copy)
        except sqlite3.Error as exc:
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

    async def mark_delivered(self, session_id: int, seq: int, message_id: str) -> None:
        """Record the chat message that carried a resident line, so a restart knows it went out."""
        async with self._write():
            await self._db.execute(
                "UPDATE turns SET source_message_id = ? WHERE session_id = ? AND seq = ? AND speaker = 'resident'",
                (message_id, session_id, seq),
            )

    async def mark_feedback_posted(self, session_id: int, message_id: str) -> None:
        async with self._write():
            await self._db.execute("UPDATE sessions SET feedback_message_id = ? WHERE id = ?", (message_id, session_id))

    async def feedback_owed(self) -> list[SessionRow]:
        """Discord sessions that ended without their feedback being posted (a crash in between)."""
        return [_session(row) for row in await self._all(
            "SELECT * FROM sessions WHERE status = 'ended' AND thread_id IS NOT NULL AND feedback_message_id IS NULL ORDER BY id"
        )]

    async def last_trainee_message_id(self, session_id: int) -> str | None:
        row = await self._one(
            "SELECT source_message_id FROM turns WHERE session_id = ? AND speaker = 'trainee' AND source_message_id IS NOT NULL"
            " ORDER BY seq DESC LIMIT 1",
            (session_id,),
        )
        return str(row[0]) if row else None

    async def get_meta(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM meta WHERE key = ?", (key,))
        return str(row[0]) if row else None

    async def set_meta(self, key: str, value: str) -> None:
        async with self._write():
            await self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value)
            )

    async def message_seen(self, source_message_id: str) -> bool:
        return await self._one("SELECT 1 FROM turns WHERE source_message_id = ?", (source_message_id,)) is not None

    async def turns(self, session_id: int) -> list[TurnRow]:
        return [_turn(row) for row in await self._all("SELECT * FROM turns WHERE session_id = ? ORDER BY seq, speaker DESC", (session_id,))]

    # -- plumbing --
    async def _one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        try:
            async with self._db.execute(sql, args) as cursor:
                return await cursor.fetchone()
        except (sqlite3.Error, OverflowError) as exc:
            raise StoreError(f"cannot read {self.path}: {exc}") from exc

    async def _all(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        try:
            async with self._db.execute(sql, args) as cursor:
                return list(await cursor.fetchall())
        except (sqlite3.Error, OverflowError) as exc:
            raise StoreError(f"cannot read {self.path}: {exc}") from exc

    async def _insert_turn(self, turn: TurnRow, stamp: str) -> None:
        await self._db.execute(
            "INSERT INTO turns (session_id, seq, speaker, text, signals, mood, state, source_message_id, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (turn.session_id, turn.seq, turn.speaker, turn.text, json.dumps([dataclasses.asdict(e) for e in turn.signals], ensure_ascii=False),
             turn.mood, turn.state, turn.source_message_id, turn.created_at or stamp),
        )

    def _write(self) -> _Transaction:
        return _Transaction(self._db, self._write_lock, self.path)


class _Transaction:
    """BEGIN IMMEDIATE takes SQLite's write lock up front, so other processes queue on the
    busy timeout instead of failing half-way; the asyncio lock does the same for the
    coroutines sharing this connection. SQLite's own errors leave as StoreError."""

    def __init__(self, db: aiosqlite.Connection, lock: asyncio.Lock, path: Path) -> None:
        self._db = db
        self._lock = lock
        self._path = path

    async def __aenter__(self) -> None:
        await self._lock.acquire()
        try:
            await self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            self._lock.release()
            raise StoreError(f"cannot write to {self._path}: {exc}") from exc

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if kind is None:
                await self._db.commit()
            else:
                await self._db.rollback()
        except sqlite3.Error as error:
            raise StoreError(f"cannot write to {self._path}: {error}") from error
        finally:
            self._lock.release()


class _Opener:
    def __init__(self, path: Path, create: bool) -> None:
        self.path = path
        self.create = create
        self.store: Store | None = None

    async def __aenter__(self) -> Store:
        if not self.create and not self.path.is_file():
            raise StoreError(f"there is no database at {self.path} (give the right --db PATH)")
        self.store = await _open(self.path)
        return self.store

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self.store is not None:
            await self.store.close()


async def _open(path: Path) -> Store:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open the database {path}: {exc}") from exc
    try:
        db.row_factory = aiosqlite.Row
        await db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await db.execute("PRAGMA journal_mode = WAL")
        await db.execute("PRAGMA foreign_keys = ON")
        await _migrate(db, path)
    except sqlite3.DatabaseError as exc:
        await db.close()
        raise StoreError(f"cannot use the database {path}: {exc}") from exc
    except BaseException:
        await db.close()
        raise
    return Store(path, db)


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
    )


def _turn(row: Any) -> TurnRow:
    return TurnRow(
        session_id=row["session_id"], seq=row["seq"], speaker=row["speaker"], text=row["text"],
        signals=tuple(EvidenceRow(**item) for item in json.loads(row["signals"])), mood=row["mood"], state=row["state"],
        source_message_id=row["source_message_id"], created_at=row["created_at"],
    )
