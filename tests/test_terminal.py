"""The terminal front end: '/' lines are commands, never lines said to the resident."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GREETING = "Good evening, ma'am. I'm Officer Smith with the Metro Police Department."


def trainer(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os

    return subprocess.run(
        [sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, **(env or {})},
    )


def test_commands_are_not_turns(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    result = trainer("play", "traffic_stop", "--json", "--seed", "1", "--db", str(db), stdin="\n".join(["/help", "/hint", "/nonsense", GREETING, "/end", "Never said."]) + "\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "/hint   a coaching hint" in out  # /help
    assert "Greeted the driver." in out  # /hint: the first skill still missing
    assert "Unknown command /nonsense" in out
    final = json.loads(out.strip().splitlines()[-1])
    assert final["turns"] == 1 and final["outcome"] == "abandoned"
    assert final["skills"]["greeting"] == 10 and final["skills"]["introduction"] == 15  # on time: /help and /hint were not turns
    with sqlite3.connect(db) as raw:
        lines = [row[0] for row in raw.execute("SELECT text FROM turns WHERE speaker = 'trainee'")]
    assert lines == [GREETING]  # nothing after /end either


def test_the_database_is_named_in_help_and_at_the_end_of_a_scene(tmp_path: Path) -> None:
    db = tmp_path / "where.db"
    shown = trainer("play", "--help")
    assert "database file (default:" in shown.stdout and "trainer.db" in shown.stdout.replace("\n", "").replace(" ", "")
    result = trainer("play", "traffic_stop", "--db", str(db), stdin=GREETING + "\n")
    assert f"Saved as session 1 in {db}" in result.stdout


def test_trainer_scenarios_lists_title_and_audience() -> None:
    table = trainer("scenarios")
    assert table.returncode == 0 and "traffic_stop" in table.stdout and "Traffic stop" in table.stdout
    rows = [json.loads(line) for line in trainer("scenarios", "--json").stdout.splitlines()]
    by_id = {row["id"]: row for row in rows}
    assert {"traffic_stop", "burglary_victim"} <= set(by_id)
    assert by_id["traffic_stop"]["title"].startswith("Traffic stop") and isinstance(by_id["traffic_stop"]["audience"], list)


def test_a_locked_database_is_one_clear_line_and_loses_nothing(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    assert trainer("play", "traffic_stop", "--db", str(db), stdin="Hello.\n").returncode == 0
    other = sqlite3.connect(db, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock throughout
    try:
        result = trainer("play", "traffic_stop", "--json", "--db", str(db), stdin=GREETING + "\n", env={"TRAINER_BUSY_TIMEOUT": "0.3"})
    finally:
        other.rollback()
        other.close()
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("trainer: ") and "busy" in result.stderr
