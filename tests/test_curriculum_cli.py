"""The curriculum from the command line: persona variants played, stored and reported, and
`trainer check --walk`."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def trainer(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True, timeout=120, cwd=ROOT)


def test_a_persona_is_played_stored_and_reported(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    done = trainer("play", "neighbour_noise", "--persona", "angry", "--seed", "3", "--json", "--db", str(db),
                   stdin="Good evening, sir. A neighbour called about the music.\nThat's all.\n")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["persona"] == "angry" and result["outcome"] in ("success", "failure")
    with sqlite3.connect(db) as connection:
        assert connection.execute("SELECT persona FROM sessions").fetchall() == [("angry",)]
    rows = [json.loads(line) for line in trainer("sessions", "--db", str(db), "--json").stdout.splitlines()]
    assert rows[0]["persona"] == "angry"
    assert "persona" in trainer("sessions", "--db", str(db)).stdout


def test_surprise_me_is_recorded_and_a_wrong_persona_is_one_clear_line(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    done = trainer("play", "minor_crash", "--persona", "random", "--seed", "11", "--json", "--db", str(db), stdin="Hello.\n")
    assert done.returncode == 0, done.stderr
    picked = json.loads(done.stdout.strip().splitlines()[-1])["persona"]
    assert picked in ("shaken", "rushed", "composed")
    bad = trainer("play", "minor_crash", "--persona", "furious", "--db", str(db), stdin="Hello.\n")
    assert bad.returncode == 2 and "has no persona 'furious'" in bad.stderr and "shaken" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_scenarios_lists_personas() -> None:
    rows = [json.loads(line) for line in trainer("scenarios", "--json").stdout.splitlines()]
    by_id = {row["id"]: row for row in rows}
    assert by_id["front_desk_hostile"]["personas"] == ["angry", "contemptuous", "loud"]


def test_record_with_a_persona_replays(tmp_path: Path) -> None:
    done = trainer("record", "elder_scam", "--persona", "proud", "--seed", "2", stdin="Good morning, Mr. Mensah.\n")
    assert done.returncode == 0 and "persona: proud" in done.stdout
    path = tmp_path / "t.yaml"
    path.write_text(done.stdout, encoding="utf-8")
    assert trainer("replay", str(path)).returncode == 0


NEVER_ENDS = """\
id: loop
title: Loop
briefing: A scene with no way to end.
resident: {name: Lee, persona: Someone., mood: 50}
start: talk
states:
  talk:
    say: "Hm?"
    on:
      - when: [greeting]
        to: done
    otherwise: {say: "Hm."}
  done: {end: success, say: "Bye."}
rubric: {skills: {greeting: {points: 5}}}
"""


def test_check_walk_reports_a_scene_that_never_ends(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text(NEVER_ENDS, encoding="utf-8")
    done = trainer("check", "--walk", "5", str(path))
    assert done.returncode == 1
    assert "S042" in done.stdout and "did not end after 40 lines" in done.stdout
    assert "5 generated scenes" in done.stderr


def test_check_walk_on_a_shipped_scenario_is_clean() -> None:
    done = trainer("check", "--strict", "--walk", "10", "dialogues/records_request.yaml")
    assert done.returncode == 0, done.stdout
    assert "records_request: 10 generated scenes" in done.stderr
