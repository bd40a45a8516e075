"""`trainer sessions | export | backup | purge`, and many processes on one database file."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.store import Store

ROOT = Path(__file__).resolve().parents[1]
AWKWARD = 'Hello, ma\'am: "quotes", commas,\tand an emoji \U0001F697 — thanks'


def trainer(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True, timeout=120, cwd=ROOT,
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("data") / "t.db"
    assert trainer("play", "traffic_stop", "--db", str(path), "--name", "Ana", "--seed", "1", stdin=AWKWARD + "\nThe reason I stopped you is your tag expired.\n").returncode == 0
    assert trainer("play", "traffic_stop", "--db", str(path), "--name", "Ben", stdin="License and registration.\n").returncode == 0
    return path


def test_sessions_json_rows(db: Path) -> None:
    result = trainer("sessions", "--db", str(db), "--json")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["trainee"] for r in rows] == ["Ana", "Ben"]
    assert set(rows[0]) == {"id", "scenario", "trainee", "status", "turns", "score", "outcome", "persona", "started_at"}
    assert rows[0]["turns"] == 2 and rows[0]["status"] == "ended" and rows[0]["outcome"] == "abandoned"
    assert trainer("sessions", "--db", str(db), "--status", "active", "--json").stdout == ""
    table = trainer("sessions", "--db", str(db)).stdout
    assert "Ana" in table and "traffic_stop" in table


def test_report_per_trainee(db: Path) -> None:
    rows = [json.loads(line) for line in trainer("report", "--db", str(db), "--json").stdout.splitlines()]
    assert {r["trainee"] for r in rows} == {"Ana", "Ben"}
    ana = next(r for r in rows if r["trainee"] == "Ana")
    assert ana["sessions"] == 1 and ana["skills"]["reason_for_contact"] == {"shown": 1, "sessions": 1}
    text = trainer("report", "--db", str(db), "--trainee", "Ana").stdout
    assert "Ana" in text and "Gave the reason" in text and "Ben" not in text


def test_export_turns_csv_keeps_every_line_verbatim(db: Path) -> None:
    result = trainer("export", "--db", str(db), "--what", "turns", "--format", "csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    trainee_lines = [r["text"] for r in rows if r["speaker"] == "trainee"]
    assert AWKWARD in trainee_lines
    assert rows[0]["speaker"] == "resident" and rows[0]["seq"] == "0"  # the opening line comes first
    assert {"session_id", "scenario_id", "trainee", "seq", "speaker", "text", "signals", "mood", "state"} <= set(rows[0])


def test_export_sessions_jsonl_and_filters(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "sessions.jsonl"
    result = trainer("export", "--db", str(db), "--what", "sessions", "--format", "jsonl", "-o", str(out))
    assert result.returncode == 0 and "2 sessions written" in result.stderr
    rows = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert [r["trainee"] for r in rows] == ["Ana", "Ben"] and rows[0]["score"] is not None
    future = trainer("export", "--db", str(db), "--what", "sessions", "--since", "2999-01-01")
    assert future.stdout.strip().splitlines() == [future.stdout.strip().splitlines()[0]]  # header only
    bad = trainer("export", "--db", str(db), "--what", "sessions", "--since", "yesterday")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
    unknown = trainer("export", "--db", str(db), "--what", "sessions", "--cohort", "nobody")
    assert unknown.returncode == 2 and "no cohort named 'nobody'" in unknown.stderr


async def test_export_by_cohort(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    assert trainer("play", "traffic_stop", "--db", str(path), "--name", "Ana", stdin="Hello.\n").returncode == 0
    assert trainer("play", "traffic_stop", "--db", str(path), "--name", "Ben", stdin="Hello.\n").returncode == 0
    async with Store.open(path) as store:
        cohort = await store.create_cohort("Spring academy")
        await store.add_to_cohort(cohort.id, (await store.ensure_member("Ana")).id)
    result = trainer("export", "--db", str(path), "--what", "sessions", "--format", "jsonl", "--cohort", "Spring academy")
    assert [json.loads(line)["trainee"] for line in result.stdout.splitlines()] == ["Ana"]
    async with Store.open(path) as store:  # the same name in a Discord server: the user must choose
        await store.create_cohort("Spring academy", guild_id=42)
    ambiguous = trainer("export", "--db", str(path), "--what", "sessions", "--cohort", "Spring academy")
    assert ambiguous.returncode == 2 and "--guild" in ambiguous.stderr
    chosen = trainer("export", "--db", str(path), "--what", "sessions", "--format", "jsonl", "--cohort", "Spring academy", "--guild", "0")
    assert [json.loads(line)["trainee"] for line in chosen.stdout.splitlines()] == ["Ana"]


def test_empty_turn_export_still_has_a_header(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    assert trainer("play", "traffic_stop", "--db", str(path), stdin="Hello.\n").returncode == 0
    result = trainer("export", "--db", str(path), "--what", "turns", "--since", "2999-01-01")
    assert result.stdout.startswith("session_id,scenario_id,trainee,seq,speaker,text")


def test_critical_signal_is_stored_as_failure_even_when_abandoned(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    result = trainer("play", "traffic_stop", "--json", "--db", str(path), stdin="Good evening. If you lie to me, you're going to jail.\n")
    assert json.loads(result.stdout.strip().splitlines()[-1])["outcome"] == "failure"
    rows = [json.loads(line) for line in trainer("sessions", "--db", str(path), "--json").stdout.splitlines()]
    assert rows[0]["outcome"] == "failure"


def test_backup_is_a_working_copy(db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "backup" / "copy.db"
    result = trainer("backup", "--db", str(db), "--to", str(copy))
    assert result.returncode == 0, result.stderr
    with sqlite3.connect(copy) as raw:
        assert raw.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 2
        assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert trainer("backup", "--db", str(db), "--to", str(db)).returncode == 2


def test_purge_says_how_many_then_deletes(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    assert trainer("play", "traffic_stop", "--db", str(path), stdin="Hello.\n").returncode == 0
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE sessions SET started_at = '2020-01-01T00:00:00+00:00'")
    assert trainer("play", "traffic_stop", "--db", str(path), stdin="Hello.\n").returncode == 0
    async_active = subprocess.run(  # an unfinished role-play started long ago is kept
        [sys.executable, "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"INSERT INTO sessions (scenario_id, scenario_digest, trainee, seed, state, mood, started_at) VALUES ('traffic_stop', '', 'x', 1, 'window', 55, '2019-01-01')\"); c.commit()", str(path)],
        check=True,
    )
    assert async_active.returncode == 0
    refused = trainer("purge", "--db", str(path), "--before", "2021-01-01")
    assert refused.returncode == 2 and "1 ended session(s) with 3 line(s)" in refused.stderr
    done = trainer("purge", "--db", str(path), "--before", "2021-01-01", "--yes")
    assert done.returncode == 0 and "deleted 1 session(s)" in done.stderr
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 2  # the recent one and the unfinished one
        assert raw.execute("SELECT COUNT(*) FROM turns WHERE session_id NOT IN (SELECT id FROM sessions)").fetchone()[0] == 0


def test_twenty_processes_on_one_database(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    lines = [
        "Good evening, ma'am. I'm Officer Smith.",
        "The reason I pulled you over is your registration expired.",
        "I understand, long shifts are hard.",
        "I'm going to write a warning; it takes five minutes.",
        "Thank you, drive safe.",
    ]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "bot", "play", "traffic_stop", "--json", "--db", str(path), "--name", f"t{i}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
        )
        for i in range(20)
    ]
    outputs = [p.communicate("\n".join(lines) + "\n", timeout=180) for p in processes]
    assert [p.returncode for p in processes] == [0] * 20, [err for _, err in outputs if err]
    results = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    with sqlite3.connect(path) as raw:
        for result in results:
            spoken = raw.execute(
                "SELECT COUNT(*) FROM turns WHERE session_id = ? AND speaker = 'trainee'", (result["session"],)
            ).fetchone()[0]
            assert spoken == result["turns"]
        assert raw.execute("SELECT COUNT(*) FROM sessions WHERE status = 'ended'").fetchone()[0] == 20
