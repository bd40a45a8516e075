"""The store's recognition tables: session results, badges, nominations, kudos with limits,
opt-out, assignments, score overrides and training records. Part of `Store` (a mixin, so
the SQL stays in bot/store/ and the class keeps one writing connection)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from bot.errors import StoreError
from bot.store.rowsql import write_rows
from bot.store.rows import (
    AssignmentRow,
    BadgeRow,
    CohortRow,
    KudosRow,
    MemberRow,
    NewItem,
    NominationRow,
    OverrideRow,
    RecordRow,
    SessionRecord,
    SessionResult,
    SkillEvidenceRow,
    RecognitionInputs,
)

if TYPE_CHECKING:
    from bot.store.store import _GroupCommit, _Transaction


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class KudosOutcome:
    """What became of a kudos: given (with its id), or refused with when it may be given."""

    given: bool
    kudos_id: int | None = None
    refused: str = ""  # daily_limit | pair_cooldown
    next_at: str | None = None


_RESULTS = (
    "SELECT s.id, s.member_id, s.scenario_id, s.mode, s.outcome, s.score, s.turns, s.started_at, s.ended_at,"
    " r.clean, r.gamed, r.penalties, r.critical, r.start_mood, r.peak_mood, r.end_mood,"
    " (SELECT group_concat(b.behaviour, ' ') FROM session_behaviours b WHERE b.session_id = s.id),"
    " (SELECT o.score FROM score_overrides o WHERE o.session_id = s.id ORDER BY o.id DESC LIMIT 1)"
    " FROM sessions s JOIN session_results r ON r.session_id = s.id"
    " WHERE s.status = 'ended' AND s.member_id IS NOT NULL AND s.score IS NOT NULL AND s.outcome IS NOT NULL"
)


_BADGES_OF = "SELECT member_id, badge, session_id, awarded_at FROM badges WHERE member_id = ? ORDER BY awarded_at, id"


def _result(row: Any) -> SessionResult:
    return SessionResult(
        session_id=row[0], member_id=row[1], scenario_id=row[2], mode=row[3], outcome=row[4], score=row[5], turns=row[6],
        started_at=row[7], ended_at=row[8] or row[7], clean=bool(row[9]), gamed=bool(row[10]), penalties=row[11],
        critical=bool(row[12]), start_mood=row[13], peak_mood=row[14], end_mood=row[15],
        shown=tuple(sorted((row[16] or "").split())), override=row[17],
    )


def _member(row: Any) -> MemberRow:
    return MemberRow(row["id"], row["guild_id"], row["discord_id"], row["display_name"], row["role"])


def write_records(db: sqlite3.Connection, records: Sequence[tuple[int, SessionRecord]]) -> None:
    """Sessions' recognition facts, badges and nominations, in the transaction that ends them
    (inside the store's group commit): one statement per table for
    all of them, each table's rows in the order of `records`."""
    if not records:
        return
    write_rows(
        db, "INSERT INTO session_results (session_id, clean, gamed, penalties, critical, start_mood, peak_mood, end_mood)",
        [(session_id, int(r.clean), int(r.gamed), r.penalties, int(r.critical), r.start_mood, r.peak_mood, r.end_mood)
         for session_id, r in records],
        " ON CONFLICT (session_id) DO NOTHING",
    )
    write_rows(
        db, "INSERT INTO session_behaviours (session_id, behaviour, turn, quote)",
        [(session_id, shown.behaviour, shown.turn, shown.quote) for session_id, r in records for shown in r.shown], " ON CONFLICT DO NOTHING",
    )
    for session_id, record in records:
        if not (record.badges or record.nominations):
            continue  # nothing kept by member (most sessions): no need to look the member up
        member = db.execute("SELECT member_id FROM sessions WHERE id = ?", (session_id,)).fetchone()
        if member is None or member[0] is None:
            continue
        stamp = _now()
        write_rows(
            db, "INSERT INTO badges (member_id, badge, session_id, awarded_at)",
            [(member[0], badge, earned_by, stamp) for badge, earned_by in record.badges], " ON CONFLICT (member_id, badge) DO NOTHING",
        )
        write_rows(
            db, "INSERT INTO nominations (session_id, member_id, turn, line, why, status, decided_at, created_at)",
            [(session_id, member[0], n.turn, n.line, n.why, "approved" if n.approved else "pending", stamp if n.approved else None, stamp)
             for n in record.nominations],
            " ON CONFLICT (session_id, turn) DO NOTHING",
        )


class RecognitionQueries:
    """Mixed into Store; uses its `_write`, `_group` (writes that queue outbox items share the
    session path's group commit), `_one` and `_all`."""

    if TYPE_CHECKING:
        _group: _GroupCommit

        def _write(self) -> _Transaction: ...
        async def _one(self, sql: str, args: Sequence[Any] | dict[str, Any] = ()) -> Any: ...
        async def _all(self, sql: str, args: Sequence[Any] | dict[str, Any] = ()) -> list[Any]: ...
        async def _read(self, reads: Callable[[sqlite3.Connection], Any]) -> Any: ...
        @staticmethod
        def _export_filter(cohort_id: int | None, since: str | None, guild_id: int | None) -> tuple[str, tuple[Any, ...]]: ...

    # -- session results --
    async def session_results(
        self, *, member_ids: Iterable[int] | None = None, since: str | None = None, until: str | None = None, guild_id: int | None = None,
    ) -> list[SessionResult]:
        """Finished sessions with their recognition facts, in the order they ended."""
        sql, args = _RESULTS, []
        if member_ids is not None:
            ids = sorted(set(member_ids))
            if not ids:
                return []
            sql += f" AND s.member_id IN ({','.join('?' * len(ids))})"
            args += ids
        if since is not None:
            sql += " AND s.ended_at >= ?"
            args.append(since)
        if until is not None:
            sql += " AND s.ended_at < ?"
            args.append(until)
        if guild_id is not None:
            sql += " AND s.guild_id = ?"
            args.append(guild_id)
        return [_result(row) for row in await self._all(sql + " ORDER BY s.ended_at, s.id", args)]

    async def shown_in(self, session_id: int) -> dict[str, tuple[int, str]]:
        """behaviour -> (turn, quote) for one session."""
        return {row[0]: (row[1], row[2]) for row in await self._all(
            "SELECT behaviour, turn, quote FROM session_behaviours WHERE session_id = ?", (session_id,)
        )}

    async def evidence_of(self, session_ids: Iterable[int]) -> dict[int, list[SkillEvidenceRow]]:
        ids = sorted(set(session_ids))
        found: dict[int, list[SkillEvidenceRow]] = {i: [] for i in ids}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for row in await self._all(
                "SELECT session_id, skill, label, status, points, max_points, turn, quote FROM skill_evidence"
                f" WHERE session_id IN ({','.join('?' * len(chunk))}) ORDER BY session_id, rowid", chunk,
            ):
                found[row[0]].append(SkillEvidenceRow(*row[1:]))
        return found

    # -- people and cohorts --
    async def set_public(self, member_id: int, public: bool) -> None:
        async with self._write() as tx:
            await tx.execute("UPDATE members SET public_recognition = ? WHERE id = ?", (int(public), member_id))

    async def recognition_inputs(self, member_id: int, *, history: bool) -> RecognitionInputs:
        """`is_public`, and `cohorts_of` when public; with `history`, also `session_results`
        and `badges_of`: all in one trip to the database's thread (a session's end reads them)."""
        from bot.store.store import COHORTS_OF

        def reads(db: sqlite3.Connection) -> RecognitionInputs:
            row = db.execute("SELECT public_recognition FROM members WHERE id = ?", (member_id,)).fetchone()
            public = bool(row[0]) if row is not None else False
            cohorts = tuple(CohortRow(*r) for r in db.execute(COHORTS_OF, (member_id,)).fetchall()) if public else ()
            if not history:
                return RecognitionInputs(public, cohorts, (), ())
            results = tuple(_result(r) for r in db.execute(_RESULTS + " AND s.member_id IN (?) ORDER BY s.ended_at, s.id", (member_id,)).fetchall())
            badges = tuple(BadgeRow(*r) for r in db.execute(_BADGES_OF, (member_id,)).fetchall())
            return RecognitionInputs(public, cohorts, results, badges)

        inputs: RecognitionInputs = await self._read(reads)
        return inputs

    async def is_public(self, member_id: int) -> bool:
        row = await self._one("SELECT public_recognition FROM members WHERE id = ?", (member_id,))
        return bool(row[0]) if row is not None else False

    async def private_members(self, member_ids: Iterable[int]) -> set[int]:
        """Who of these opted out of public recognition."""
        ids = sorted(set(member_ids))
        if not ids:
            return set()
        return {row[0] for row in await self._all(
            f"SELECT id FROM members WHERE public_recognition = 0 AND id IN ({','.join('?' * len(ids))})", ids
        )}

    async def member(self, member_id: int) -> MemberRow | None:
        row = await self._one("SELECT * FROM members WHERE id = ?", (member_id,))
        return _member(row) if row else None

    async def member_named(self, name: str, *, guild_id: int | None = None) -> list[MemberRow]:
        """Members with this display name (in one server, or in every one)."""
        sql, args = "SELECT * FROM members WHERE display_name = ?", [name]
        if guild_id is not None:
            sql += " AND guild_id = ?"
            args.append(guild_id)
        return [_member(row) for row in await self._all(sql + " ORDER BY guild_id, id", args)]

    async def cohort_members(self, cohort_id: int) -> list[MemberRow]:
        return [_member(row) for row in await self._all(
            "SELECT m.* FROM members m JOIN cohort_members c ON c.member_id = m.id WHERE c.cohort_id = ? ORDER BY m.display_name, m.id",
            (cohort_id,),
        )]

    async def ensure_cohort(self, name: str, *, guild_id: int = 0) -> CohortRow:
        async with self._write() as tx:
            await tx.execute(
                "INSERT INTO cohorts (guild_id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (guild_id, name) DO NOTHING",
                (guild_id, name, _now()),
            )
            row = await tx.one("SELECT id, guild_id, name, channel_id FROM cohorts WHERE guild_id = ? AND name = ?", (guild_id, name))
        return CohortRow(*row)

    async def set_session_instructor(self, session_id: int, member_id: int) -> None:
        async with self._write() as tx:
            await tx.execute("UPDATE sessions SET instructor_id = ? WHERE id = ?", (member_id, session_id))

    # -- badges --
    async def badges_of(self, member_id: int) -> list[BadgeRow]:
        return [BadgeRow(*row) for row in await self._all(_BADGES_OF, (member_id,))]

    async def badges_among(self, member_ids: Iterable[int], *, since: str | None = None) -> list[BadgeRow]:
        rows = await self._of_members("SELECT member_id, badge, session_id, awarded_at FROM badges", "member_id", member_ids, "awarded_at", since)
        return [BadgeRow(*row) for row in rows]

    async def _of_members(self, select: str, member_column: str, member_ids: Iterable[int], stamp_column: str, since: str | None) -> list[Any]:
        """`select`'s rows for these members (since a time, if given), oldest first."""
        ids = sorted(set(member_ids))
        if not ids:
            return []
        sql = f"{select} WHERE {member_column} IN ({','.join('?' * len(ids))})"
        args: list[Any] = list(ids)
        if since is not None:
            sql += f" AND {stamp_column} >= ?"
            args.append(since)
        return await self._all(f"{sql} ORDER BY {stamp_column}, id", args)

    # -- kudos --
    async def give_kudos(
        self, guild_id: int, giver: int, receiver: int, skill: str, reason: str, *, per_day: int, pair_cooldown_seconds: int,
        items: Callable[[int], Iterable[NewItem]] | None = None,
    ) -> KudosOutcome:
        """Record a kudos within the limits, with what it sends, in one transaction: at most
        `per_day` from one giver in any 24 hours, and one per giver and receiver pair per
        cooldown."""
        from bot.store.store import _enqueue

        moment = datetime.now(timezone.utc)
        stamp = moment.isoformat(timespec="seconds")
        day_ago = (moment - timedelta(days=1)).isoformat(timespec="seconds")

        def write(db: sqlite3.Connection) -> KudosOutcome:
            given = db.execute(
                "SELECT created_at FROM kudos WHERE from_member_id = ? AND created_at > ? ORDER BY created_at", (giver, day_ago)
            ).fetchall()
            if len(given) >= per_day:
                oldest = datetime.fromisoformat(given[len(given) - per_day][0])
                return KudosOutcome(False, refused="daily_limit", next_at=(oldest + timedelta(days=1)).isoformat(timespec="seconds"))
            last = db.execute(
                "SELECT MAX(created_at) FROM kudos WHERE from_member_id = ? AND to_member_id = ?", (giver, receiver)
            ).fetchone()
            if last is not None and last[0] is not None and pair_cooldown_seconds > 0:
                free_at = datetime.fromisoformat(last[0]) + timedelta(seconds=pair_cooldown_seconds)
                if free_at > moment:
                    return KudosOutcome(False, refused="pair_cooldown", next_at=free_at.isoformat(timespec="seconds"))
            cursor = db.execute(
                "INSERT INTO kudos (guild_id, from_member_id, to_member_id, skill, reason, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (guild_id, giver, receiver, skill, reason, stamp),
            )
            kudos_id = cursor.lastrowid
            assert kudos_id is not None
            _enqueue(db, items(kudos_id) if items is not None else (), stamp)
            return KudosOutcome(True, kudos_id=kudos_id)

        outcome: KudosOutcome = await self._group.write(write)
        return outcome

    async def kudos_among(self, member_ids: Iterable[int], *, since: str | None = None) -> list[KudosRow]:
        """Kudos these members received."""
        return [KudosRow(*row) for row in await self._of_members("SELECT * FROM kudos", "to_member_id", member_ids, "created_at", since)]

    # -- nominations --
    async def nomination(self, session_id: int, turn: int) -> NominationRow | None:
        row = await self._one("SELECT * FROM nominations WHERE session_id = ? AND turn = ?", (session_id, turn))
        return _nomination(row) if row else None

    async def nominations(self, *, status: str | None = None, guild_id: int | None = None) -> list[NominationRow]:
        sql, args = "SELECT n.* FROM nominations n JOIN sessions s ON s.id = n.session_id WHERE 1 = 1", []
        if status is not None:
            sql += " AND n.status = ?"
            args.append(status)
        if guild_id is not None:
            sql += " AND s.guild_id = ?"
            args.append(guild_id)
        return [_nomination(row) for row in await self._all(sql + " ORDER BY n.id", args)]

    async def decide_nomination(
        self, session_id: int, turn: int, approved: bool, by_member: int, items: Iterable[NewItem] = (),
    ) -> bool:
        """Approve (queueing its posts) or dismiss a pending nomination; False when it was already decided."""
        from bot.store.store import _enqueue

        stamp, queued = _now(), tuple(items)

        def write(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "UPDATE nominations SET status = ?, decided_by = ?, decided_at = ? WHERE session_id = ? AND turn = ? AND status = 'pending'",
                ("approved" if approved else "dismissed", by_member, stamp, session_id, turn),
            )
            if cursor.rowcount != 1:
                return False
            if approved:
                _enqueue(db, queued, stamp)
            return True

        return bool(await self._group.write(write))

    # -- assignments --
    async def create_assignment(self, cohort_id: int, scenario_id: str, due_at: str, pass_mark: int, created_by: int | None) -> AssignmentRow:
        stamp = _now()
        async with self._write() as tx:
            cursor = await tx.execute(
                "INSERT INTO assignments (cohort_id, scenario_id, due_at, pass_mark, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                (cohort_id, scenario_id, due_at, pass_mark, created_by, stamp),
            )
        assert cursor.lastrowid is not None
        return AssignmentRow(cursor.lastrowid, cohort_id, scenario_id, due_at, pass_mark, created_by, stamp)

    async def assignments(self, *, cohort_ids: Iterable[int] | None = None) -> list[AssignmentRow]:
        sql, args = "SELECT id, cohort_id, scenario_id, due_at, pass_mark, created_by, created_at FROM assignments", []
        if cohort_ids is not None:
            ids = sorted(set(cohort_ids))
            if not ids:
                return []
            sql += f" WHERE cohort_id IN ({','.join('?' * len(ids))})"
            args = ids
        return [AssignmentRow(*row) for row in await self._all(sql + " ORDER BY due_at, id", args)]

    async def delete_assignment(self, assignment_id: int) -> bool:
        async with self._write() as tx:
            cursor = await tx.execute("DELETE FROM assignments WHERE id = ?", (assignment_id,))
        return cursor.rowcount == 1

    async def sessions_of(self, member_ids: Iterable[int]) -> list[Any]:
        """Every session of these members, oldest first (reports look at unfinished ones too)."""
        from bot.store.store import _session

        ids = sorted(set(member_ids))
        if not ids:
            return []
        return [_session(row) for row in await self._all(
            f"SELECT * FROM sessions WHERE member_id IN ({','.join('?' * len(ids))}) ORDER BY started_at, id", ids
        )]

    # -- overrides --
    async def override_score(self, session_id: int, score: int, reason: str, by_member: int | None, by_name: str) -> OverrideRow:
        """Log an instructor's new score for a finished session; the earned score stays."""
        if not 0 <= score <= 100:
            raise StoreError("a score is between 0 and 100")
        stamp = _now()
        async with self._write() as tx:
            row = await tx.one("SELECT status, score FROM sessions WHERE id = ?", (session_id,))
            if row is None:
                raise StoreError(f"there is no session {session_id}")
            if row[0] != "ended" or row[1] is None:
                raise StoreError(f"session {session_id} has not finished with a score; only a finished session's score can be changed")
            latest = await tx.one("SELECT score FROM score_overrides WHERE session_id = ? ORDER BY id DESC LIMIT 1", (session_id,))
            previous = latest[0] if latest is not None else row[1]
            cursor = await tx.execute(
                "INSERT INTO score_overrides (session_id, score, previous, reason, by_member, by_name, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (session_id, score, previous, reason, by_member, by_name, stamp),
            )
        assert cursor.lastrowid is not None
        return OverrideRow(cursor.lastrowid, session_id, score, previous, reason, by_member, by_name, stamp)

    async def overrides(self, session_ids: Iterable[int]) -> dict[int, list[OverrideRow]]:
        ids = sorted(set(session_ids))
        found: dict[int, list[OverrideRow]] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            for row in await self._all(
                f"SELECT * FROM score_overrides WHERE session_id IN ({','.join('?' * len(chunk))}) ORDER BY session_id, id", chunk
            ):
                found.setdefault(row["session_id"], []).append(OverrideRow(
                    row["id"], row["session_id"], row["score"], row["previous"], row["reason"], row["by_member"], row["by_name"], row["created_at"],
                ))
        return found

    # -- training records --
    async def records(self, *, cohort_id: int | None = None, since: str | None = None, guild_id: int | None = None) -> list[RecordRow]:
        """Every finished session with a score, oldest first, with what a training record needs."""
        from bot.store.store import _session

        where, args = self._export_filter(cohort_id, since, guild_id)  # the same sessions as `trainer export`
        finished = "s.status = 'ended' AND s.score IS NOT NULL"
        rows = await self._all(
            "SELECT s.*, r.clean AS result_clean, i.display_name AS instructor_name FROM sessions s"
            " LEFT JOIN session_results r ON r.session_id = s.id LEFT JOIN members i ON i.id = s.instructor_id"
            f" {where + ' AND ' if where else 'WHERE '}{finished} ORDER BY s.started_at, s.id", args,
        )
        sessions = [_session(row) for row in rows]
        ids = [s.id for s in sessions]
        evidence = await self.evidence_of(ids)
        overrides = await self.overrides(ids)
        members = {m.id: m for m in await self._members_by_id({s.member_id for s in sessions if s.member_id is not None})}
        records = []
        for row, session in zip(rows, sessions):
            latest = overrides.get(session.id, [None])[-1]
            instructor = row["instructor_name"] or (latest.by_name if latest is not None else "")
            records.append(RecordRow(
                session=session, member=members.get(session.member_id or -1), skills=tuple(evidence.get(session.id, ())),
                override=latest, instructor=instructor or "", clean=None if row["result_clean"] is None else bool(row["result_clean"]),
            ))
        return records

    async def _members_by_id(self, ids: Iterable[int]) -> list[MemberRow]:
        wanted = sorted(set(ids))
        found: list[MemberRow] = []
        for start in range(0, len(wanted), 500):
            chunk = wanted[start:start + 500]
            found += [_member(row) for row in await self._all(f"SELECT * FROM members WHERE id IN ({','.join('?' * len(chunk))})", chunk)]
        return found

    async def members_by_id(self, ids: Iterable[int]) -> dict[int, MemberRow]:
        return {m.id: m for m in await self._members_by_id(ids)}


def _nomination(row: Any) -> NominationRow:
    return NominationRow(
        id=row["id"], session_id=row["session_id"], member_id=row["member_id"], turn=row["turn"], line=row["line"], why=row["why"],
        status=row["status"], decided_by=row["decided_by"], created_at=row["created_at"],
    )
