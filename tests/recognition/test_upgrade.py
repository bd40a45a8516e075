"""A database from before recognition: migrated in place, its old sessions in reports and
records, never in public recognition (their grade's integrity was not kept)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bot.recognition.reports import progress_report
from bot.recognition.service import RecognitionService
from bot.store import Store
from bot.store.store import _statements, migrations


@pytest.mark.parametrize("version", [5, 6])  # before personas, and with them
async def test_a_database_from_before_recognition_is_upgraded_and_its_history_kept_private(tmp_path: Path, version: int) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as raw:
        for number, _name, sql in migrations():
            if number <= version:
                for statement in _statements(sql):
                    raw.execute(statement)
        raw.execute(f"PRAGMA user_version = {version}")
        raw.execute("INSERT INTO members (guild_id, display_name, created_at) VALUES (0, 'Old', '2026-01-01T00:00:00+00:00')")
        raw.execute(
            "INSERT INTO sessions (scenario_id, scenario_digest, trainee, seed, state, mood, turns, status, outcome, score, started_at, ended_at, member_id)"
            " VALUES ('traffic_stop', 'x', 'Old', 1, 'resolved', 10, 5, 'ended', 'success', 95, '2026-01-01T10:00:00+00:00', '2026-01-01T10:05:00+00:00', 1)"
        )

    async with Store.open(path) as store:
        member = await store.member(1)
        assert member is not None and await store.is_public(1)  # public recognition is on by default
        assert await store.session_results() == []
        (record,) = await store.records()
        assert record.session.score == 95 and record.clean is None
        report = await progress_report(store, member, five=("greet_and_introduce",), titles={}, badge_titles={})
        assert report.finished == 1 and report.all_five_known == 0 and report.all_five_rate is None
        board = await RecognitionService(store).board([member], "all", "all")
        assert board.standings == []
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == migrations()[-1][0]
