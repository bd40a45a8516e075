"""The same without Discord: sessions played with `trainer play --name --cohort`, then the
board, reports with charts, assignments, overrides, opting out and both training-record exports,
all through the real `trainer` command on a real SQLite file."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from tests.recognition.sessions import COURTEOUS, RECOVERED, RUDE

ROOT = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"


def trainer(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}  # tables and lines unwrapped
    return subprocess.run([sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True, timeout=120, cwd=ROOT,
                          encoding="utf-8", env=env)


def play(db: Path, name: str, lines: list[str], cohort: str = "Spring academy") -> None:
    done = trainer("play", "traffic_stop", "--db", str(db), "--name", name, "--cohort", cohort, "--seed", "1", stdin="\n".join(lines) + "\n")
    assert done.returncode == 0, done.stderr


def board(db: Path, *extra: str) -> list[dict[str, object]]:
    done = trainer("leaderboard", "--db", str(db), "--cohort", "Spring academy", "--json", *extra)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])  # type: ignore[return-value]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cohort") / "t.db"
    play(path, "Ana", RECOVERED)  # 75, a hostile driver calmed
    play(path, "Ben", COURTEOUS)  # 100 and three badges
    play(path, "=HYPERLINK(\"http://x\")", RUDE)  # a trainee name a spreadsheet would run
    return path


def test_the_board_ranks_the_cohort_and_a_poor_retry_never_lowers_a_standing(db: Path) -> None:
    first = board(db)
    assert [(row["rank"], row["name"], row["points"]) for row in first] == [(1, "Ben", 140), (2, "Ana", 90)]
    play(db, "Ana", RUDE)  # a poor retry
    play(db, "Ben", RUDE)
    assert board(db) == first
    play(db, "Ben", COURTEOUS)  # grinding what he already did well
    assert board(db) == first
    assert board(db, "--period", "all") == first and board(db, "--period", "month") == first
    text = trainer("leaderboard", "--db", str(db), "--cohort", "Spring academy").stdout
    assert "Ben" in text and "HYPERLINK" not in text  # nobody without points is listed
    unknown = trainer("leaderboard", "--db", str(db), "--cohort", "Autumn")
    assert unknown.returncode == 2 and "no cohort named 'Autumn' (known: Spring academy)" in unknown.stderr


def test_reports_with_charts(db: Path, tmp_path: Path) -> None:
    chart = tmp_path / "ana.png"
    done = trainer("report", "--db", str(db), "--member", "Ana", "--chart", str(chart))
    assert done.returncode == 0, done.stderr
    assert "Ana" in done.stdout and "traffic_stop" in done.stdout and "Calm in the storm" in done.stdout
    assert png_size(chart) == (800, 450)
    (row,) = [json.loads(line) for line in trainer("report", "--db", str(db), "--member", "Ana", "--json").stdout.splitlines()]
    (stop,) = row["scenarios"]
    assert (stop["first"], stop["best"], stop["latest"]) == (75, 75, stop["latest"]) and stop["attempts"] >= 1
    assert row["all_five"]["of"] >= 1
    heatmap, table = tmp_path / "spring.png", tmp_path / "spring.csv"
    done = trainer("report", "--db", str(db), "--cohort", "Spring academy", "--chart", str(heatmap), "--csv", str(table))
    assert done.returncode == 0, done.stderr
    width, height = png_size(heatmap)
    assert width >= 700 and height >= 400
    rows = list(csv.DictReader(io.StringIO(table.read_text("utf-8"), newline="")))
    assert {r["trainee"] for r in rows} == {"Ana", "Ben", "'=HYPERLINK(\"http://x\")"}  # no live formula
    assert next(r for r in rows if r["trainee"] == "Ben")["skill: Greeting"] == "67%"  # two courteous stops and a rude one
    refused = trainer("report", "--db", str(db), "--chart", str(tmp_path / "x.png"))
    assert refused.returncode == 2 and "--member" in refused.stderr
    assert trainer("report", "--db", str(db), "--member", "Ana", "--chart", str(tmp_path / "x.jpg")).returncode == 2


def test_an_override_is_logged_shown_and_the_earned_score_kept(db: Path) -> None:
    sessions = [json.loads(line) for line in trainer("sessions", "--db", str(db), "--json").stdout.splitlines()]
    ana = next(s for s in sessions if s["trainee"] == "Ana" and s["score"] == 75)
    done = trainer("override", str(ana["id"]), "--db", str(db), "--score", "82", "--reason", "the resident misheard the reason", "--by", "Ines")
    assert done.returncode == 0 and "75 -> 82" in done.stdout
    assert trainer("override", str(ana["id"]), "--db", str(db), "--score", "82", "--reason", "x", "--by", "Ines").returncode == 2
    assert trainer("override", "9999", "--db", str(db), "--score", "82", "--reason", "no such session", "--by", "Ines").returncode == 2
    report = trainer("report", "--db", str(db), "--member", "Ana").stdout
    assert "75 \u2192 82 by Ines" in report and "the resident misheard the reason" in report
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT score FROM sessions WHERE id = ?", (ana["id"],)).fetchone() == (75,)  # kept
    records = list(csv.DictReader(io.StringIO(trainer("export", "--db", str(db), "--format", "records").stdout, newline="")))
    row = next(r for r in records if r["session"] == str(ana["id"]))
    assert (row["score"], row["earned_score"], row["instructor"], row["override_reason"]) == ("82", "75", "Ines", "the resident misheard the reason")
    assert next(r for r in board(db) if r["name"] == "Ana")["best_attempts"] == 82  # the instructor's score counts


def test_xapi_statements(db: Path) -> None:
    done = trainer("export", "--db", str(db), "--format", "xapi", "--homepage", "https://academy.example.org")
    assert done.returncode == 0, done.stderr
    statements = json.loads(done.stdout)
    sessions = [json.loads(line) for line in trainer("sessions", "--db", str(db), "--json").stdout.splitlines()]
    assert len(statements) == len([s for s in sessions if s["status"] == "ended"])
    ben = next(s for s in statements if s["actor"]["name"] == "Ben" and s["verb"]["display"]["en-US"] == "passed")
    assert ben["verb"]["id"] == "http://adlnet.gov/expapi/verbs/passed"
    assert ben["object"]["id"] == "https://academy.example.org/scenarios/traffic_stop"
    assert ben["object"]["definition"]["name"]["en-US"] == "Traffic stop: expired registration"
    result = ben["result"]
    assert result["score"] == {"scaled": 1.0, "raw": 100, "min": 0, "max": 100} and result["success"] and result["completion"]
    assert result["duration"].startswith("PT")
    skills = result["extensions"]["https://academy.example.org/xapi/extensions/skills"]
    assert {"skill": "greeting", "label": "Greeted the driver", "status": "earned", "points": 10, "max_points": 10,
            "turn": 1, "evidence": "Good evening"} in skills
    verbs = {s["verb"]["display"]["en-US"] for s in statements}
    assert verbs == {"passed", "failed"}  # the rude stops end with a threat: failed
    assert len({s["id"] for s in statements}) == len(statements)
    again = json.loads(trainer("export", "--db", str(db), "--format", "xapi", "--homepage", "https://academy.example.org").stdout)
    assert [s["id"] for s in again] == [s["id"] for s in statements]  # stable: an LRS files nothing twice
    assert trainer("export", "--db", str(db), "--format", "xapi", "--what", "turns").returncode == 2


def test_training_records_are_spreadsheet_safe(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "records.csv"
    done = trainer("export", "--db", str(db), "--format", "records", "--pass-mark", "80", "-o", str(out))
    assert done.returncode == 0 and "record(s) written" in done.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8"), newline="")))
    assert set(rows[0]) >= {"trainee", "date", "scenario", "minutes", "score", "pass", "instructor", "skill: greeting", "skill: closing"}
    assert all(not r["trainee"].startswith(("=", "+", "-", "@")) for r in rows)
    assert any(r["trainee"] == "'=HYPERLINK(\"http://x\")" for r in rows)
    ben = next(r for r in rows if r["trainee"] == "Ben" and r["score"] == "100")
    assert (ben["pass"], ben["skill: greeting"], ben["mode"]) == ("yes", "yes", "practice")
    assert float(ben["minutes"]) >= 0
    ana = next(r for r in rows if r["trainee"] == "Ana" and r["earned_score"] == "75")
    assert ana["pass"] == "yes" and ana["score"] == "82"  # over the pass mark after the override


def test_assignments_show_who_has_not_passed(db: Path) -> None:
    made = trainer("assign", "--db", str(db), "--cohort", "Spring academy", "--scenario", "traffic_stop", "--due", "2099-12-31", "--pass-mark", "90")
    assert made.returncode == 0, made.stderr
    play(db, "Ben", COURTEOUS)  # passes it
    rows = [json.loads(line) for line in trainer("assignments", "--db", str(db), "--cohort", "Spring academy", "--json").stdout.splitlines()]
    states = {r["trainee"]: r["state"] for r in rows}
    assert states["Ben"] == "passed" and states["Ana"] == "open"
    report = trainer("report", "--db", str(db), "--cohort", "Spring academy").stdout
    assert "not passed yet by" in report and "Ana" in report.split("not passed yet by")[-1]
    assert "Ben" not in report.split("not passed yet by")[-1]
    bad = trainer("assign", "--db", str(db), "--cohort", "Spring academy", "--scenario", "traffic_stop", "--due", "soon")
    assert bad.returncode == 2 and "not a date" in bad.stderr


def test_opting_out_leaves_a_trainee_off_the_board(db: Path) -> None:
    assert trainer("opt-out", "--db", str(db), "--member", "Ben").returncode == 0
    assert [row["name"] for row in board(db)] == ["Ana"]
    assert trainer("opt-in", "--db", str(db), "--member", "Ben").returncode == 0
    assert [row["name"] for row in board(db)] == ["Ben", "Ana"]
    missing = trainer("opt-out", "--db", str(db), "--member", "Nobody")
    assert missing.returncode == 2 and "no trainee named 'Nobody'" in missing.stderr
