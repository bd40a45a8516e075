"""How `trainer purge` grows with the data. Prints one JSON object.

    python bench/purge.py [--sessions N] [--quick] [--dir DIR]

A store is filled with N finished sessions, half of them older than the purge date, in the
shape a department's store has after months of use: five lines from the trainee and five
replies per session, about ten outbox items (each reply, the briefing, the feedback...), a
set-aside chat message for one session in ten, a badge for one in twenty, and members who
have only old sessions. It is written straight into a file carrying the store's own
migrations (making it through the store would take minutes), then `Store.purge` runs on
it, as `trainer purge` does: the deletes, then VACUUM.

The floor, measured on a copy of the same file in the same run: the same rows deleted
table by table with foreign keys off (nothing to look up), then VACUUM: the least any
purge of those rows can cost. The whole is done at N and at 2N sessions: `growth` is how
much longer 2N took (about 2 when purging grows linearly, about 4 when each deleted row
scans a table, as before every foreign key had its index).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

from bot.store import Store  # noqa: E402
from bot.store.store import migrations  # noqa: E402

OLD, NEW, BEFORE = "2025-03-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00", "2026-01-01"
LINES = 5  # trainee lines per session (and as many replies)
MEMBERS = 2300  # a department's employees


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=4000, help="sessions in the smaller store (default 4000; the larger has twice as many)")
    parser.add_argument("--quick", action="store_true", help="a few seconds: 400 sessions (a smoke test of the benchmark)")
    parser.add_argument("--dir", type=Path, help="where the SQLite files go (default: the system temp dir)")
    return parser.parse_args(argv)


def fill(path: Path, sessions: int) -> dict[str, int]:
    """A store file with `sessions` finished sessions, the older half to be purged."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        for number, _name, sql in migrations():
            db.executescript(sql)
            db.execute(f"PRAGMA user_version = {number}")
        db.execute("BEGIN")
        # Members 1..MEMBERS play sessions of both years; the next ones only old sessions
        # (purged with them, as people who left).
        leavers = max(1, sessions // 40)
        db.executemany(
            "INSERT INTO members (id, guild_id, discord_id, display_name, created_at) VALUES (?, 1, ?, ?, ?)",
            [(m, m, f"member {m}", OLD) for m in range(1, MEMBERS + leavers + 1)],
        )
        for s in range(1, sessions + 1):
            old = s <= sessions // 2
            day = OLD if old else NEW
            member = MEMBERS + 1 + s % leavers if old and s % 8 == 0 else 1 + s % MEMBERS
            db.execute(
                "INSERT INTO sessions (id, scenario_id, scenario_digest, trainee, seed, state, mood, status, outcome, score,"
                " guild_id, thread_id, trainee_id, started_at, ended_at, member_id, instructor_id)"
                " VALUES (?, 'traffic_stop', 'digest', 'Trainee', ?, 'resolved', 40, 'ended', 'success', 80, 1, ?, ?, ?, ?, ?, ?)",
                (s, s, 10**9 + s, member, day, day, member, 1 + (s * 7) % MEMBERS),
            )
            for seq in range(1, LINES + 1):
                db.execute("INSERT INTO turns (session_id, seq, speaker, text, mood, state, source_message_id, created_at)"
                           " VALUES (?, ?, 'trainee', 'Good evening, I am Officer Lee.', 50, 'window', ?, ?)", (s, seq, f"m{s}:{seq}", day))
                db.execute("INSERT INTO turns (session_id, seq, speaker, text, mood, state, created_at)"
                           " VALUES (?, ?, 'resident', 'Evening, officer.', 50, 'window', ?)", (s, seq, day))
            for k in range(2 * LINES):
                db.execute("INSERT INTO outbox (key, transport, channel_id, session_id, kind, body, status, message_id, created_at, delivered_at)"
                           " VALUES (?, 'discord', ?, ?, 'line', '{\"text\": \"Evening, officer.\"}', 'delivered', ?, ?, ?)",
                           (f"{s}:{k}", 10**9 + s, s, f"d{s}:{k}", day, day))
            db.execute("INSERT INTO session_results (session_id, clean, gamed, penalties, critical, start_mood, peak_mood, end_mood)"
                       " VALUES (?, 1, 0, 0, 0, 60, 60, 40)", (s,))
            if s % 10 == 0:
                db.execute("INSERT INTO ignored_messages (message_id, session_id, reason, created_at) VALUES (?, ?, 'empty', ?)", (f"i{s}", s, day))
            if s % 20 == 0:
                db.execute("INSERT OR IGNORE INTO badges (member_id, badge, session_id, awarded_at) VALUES (?, ?, ?, ?)", (member, f"badge {s % 7}", s, day))
        db.execute("COMMIT")
        return {table: db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in ("sessions", "turns", "outbox", "members")}
    finally:
        db.close()


async def _purge(path: Path) -> tuple[float, int]:
    async with Store.open(path) as store:
        start = time.perf_counter()
        counts = await store.purge(BEFORE)
        return time.perf_counter() - start, counts.sessions


def _floor(path: Path) -> float:
    """The same rows deleted with nothing to look up, then VACUUM."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA foreign_keys = OFF")
        start = time.perf_counter()
        db.execute("BEGIN")
        old = f"SELECT id FROM sessions WHERE started_at < '{BEFORE}' AND status = 'ended'"
        children = [row[0] for row in db.execute("SELECT m.name FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) p"
                                                  " WHERE m.type = 'table' AND p.\"table\" = 'sessions' AND p.\"from\" = 'session_id'")]
        for table in children:
            db.execute(f"DELETE FROM {table} WHERE session_id IN ({old})")
        db.execute(f"DELETE FROM sessions WHERE id IN ({old})")
        db.execute("DELETE FROM members WHERE created_at < ? AND id NOT IN (SELECT member_id FROM sessions WHERE member_id IS NOT NULL)"
                   " AND id NOT IN (SELECT member_id FROM cohort_members)", (BEFORE,))
        db.execute("COMMIT")
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return time.perf_counter() - start
    finally:
        db.close()


def measure(folder: Path, sessions: int) -> dict[str, Any]:
    path = folder / f"purge-{sessions}.db"
    rows = fill(path, sessions)
    copy = folder / f"floor-{sessions}.db"
    shutil.copyfile(path, copy)
    seconds, purged = asyncio.run(_purge(path))
    floor = _floor(copy)
    return {"sessions": sessions, "purged": purged, "rows": rows, "purge_s": round(seconds, 3),
            "floor_s": round(floor, 3), "purge_vs_floor": round(seconds / floor, 2) if floor else None}


def main() -> None:
    args = _parse_args(None)
    sessions = 400 if args.quick else args.sessions
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        small, large = measure(Path(tmp), sessions), measure(Path(tmp), 2 * sessions)
    print(json.dumps({"small": small, "large": large, "growth": round(large["purge_s"] / small["purge_s"], 2) if small["purge_s"] else None}))


if __name__ == "__main__":
    main()
