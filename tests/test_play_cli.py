"""`trainer play` as a user runs it: lines on standard input, JSON on the last line."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def play(db: Path, lines: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", "play", "traffic_stop", "--json", "--db", str(db), *args],
        input="".join(line + "\n" for line in lines), capture_output=True, text=True, timeout=60, cwd=ROOT,
    )


def last_json(result: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_courteous_run_reports_success(tmp_path: Path) -> None:
    lines = [
        "Hello ma'am, my name is Officer Diaz with the city police.",
        "I stopped you because the registration sticker on your plate expired back in March.",
        "Could I please see your license and registration when you're ready?",
        "I hear you, long shifts are rough. Thank you for being patient with me.",
        "Here's what happens next: I'll write a warning, it takes a few minutes, and you can renew it online.",
        "Thanks again. Have a good night and get home safe.",
    ]
    result = last_json(play(tmp_path / "t.db", lines, "--seed", "5", "--name", "Diaz"))
    assert result["outcome"] == "success" and isinstance(result["score"], int) and result["score"] >= 70
    assert set(result) >= {"scenario", "session", "outcome", "score", "skills", "turns", "final_state"}
    assert result["scenario"] == "traffic_stop" and result["final_state"] == "resolved"
    with sqlite3.connect(tmp_path / "t.db") as db:
        stored = db.execute("SELECT trainee, status, outcome, score FROM sessions").fetchall()
        spoken = db.execute("SELECT COUNT(*) FROM turns WHERE speaker = 'trainee'").fetchone()[0]
    assert stored == [("Diaz", "ended", "success", result["score"])]
    assert spoken == result["turns"]


def test_input_ending_early_is_abandoned(tmp_path: Path) -> None:
    result = last_json(play(tmp_path / "t.db", ["Good evening, ma'am."]))
    assert result["outcome"] == "abandoned" and result["turns"] == 1


def test_transcript_and_feedback_are_printed(tmp_path: Path) -> None:
    result = play(tmp_path / "t.db", ["License and registration.", "Keep it up and you're going to jail."], "--seed", "1")
    out = result.stdout
    assert "Denise Carter:" in out and "You: License and registration." in out
    assert "outcome failure · score 0/100" in out and "What to try next" in out
    assert last_json(result)["outcome"] == "failure"


def test_unknown_scenario_is_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "play", "trafic_stop", "--db", str(tmp_path / "t.db")],
        input="", capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert "did you mean 'traffic_stop'" in result.stderr and "Traceback" not in result.stderr
