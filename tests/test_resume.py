"""Crash safety of `trainer play`: SIGKILL after any turn, then --resume, equals an uninterrupted run."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import IO

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINES = [
    "Good evening, ma'am. I'm Officer Smith with the Metro Police Department.",
    "Do you know why I stopped you?",
    "The reason I pulled you over is that your registration tag expired in July.",
    "May I please see your license and registration?",
    "I understand, a twelve-hour shift is exhausting. I appreciate your patience.",
    "I'm going to write you a warning today. It will take about five minutes, and you can renew online tonight.",
    "Thank you for your patience, ma'am. Drive safe and get home safe.",
]
SEED = "11"


def trainer(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot", *args]


def transcript(db: Path, session: int) -> list[tuple[int, str, str, int, str]]:
    with sqlite3.connect(db) as raw:
        return raw.execute(
            "SELECT seq, speaker, text, mood, state FROM turns WHERE session_id = ? ORDER BY seq, speaker DESC", (session,)
        ).fetchall()


def final(stdout: str) -> dict[str, object]:
    return json.loads(stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, object], list[tuple[int, str, str, int, str]]]:
    db = tmp_path_factory.mktemp("whole") / "t.db"
    done = subprocess.run(
        trainer("play", "traffic_stop", "--json", "--seed", SEED, "--db", str(db)),
        input="\n".join(LINES) + "\n", capture_output=True, text=True, timeout=60, cwd=ROOT, check=True,
    )
    result = final(done.stdout)
    return result, transcript(db, int(str(result["session"])))


def kill_after(db: Path, turns: int, scenario: str = "traffic_stop") -> int:
    """Start a scene, send `turns` lines, wait for each reply (so it is committed), then SIGKILL."""
    with subprocess.Popen(
        trainer("play", scenario, "--json", "--seed", SEED, "--db", str(db)),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
    ) as process:
        assert process.stdin is not None and process.stdout is not None
        match = re.search(r"\(session (\d+)\)", process.stdout.readline())
        assert match
        await_resident(process.stdout)  # the opening line
        for line in LINES[:turns]:
            process.stdin.write(line + "\n")
            process.stdin.flush()
            await_resident(process.stdout)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    return int(match.group(1))


def await_resident(stdout: IO[str]) -> None:
    while True:
        line = stdout.readline()
        assert line, "the process ended early"
        if line.startswith("Denise Carter:"):
            return


@pytest.mark.parametrize("turns", range(0, 7))
def test_kill_after_any_turn_then_resume(tmp_path: Path, turns: int, uninterrupted: tuple[dict[str, object], list[tuple[int, str, str, int, str]]]) -> None:
    expected, expected_transcript = uninterrupted
    db = tmp_path / "t.db"
    session = kill_after(db, turns)
    resumed = subprocess.run(
        trainer("play", "--resume", str(session), "--json", "--db", str(db)),
        input="\n".join(LINES[turns:]) + "\n", capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert resumed.returncode == 0, resumed.stderr
    result = final(resumed.stdout)
    for key in ("outcome", "score", "skills", "turns", "final_state"):
        assert result[key] == expected[key], key
    assert transcript(db, session) == expected_transcript
    assert "resuming session" in resumed.stdout


def test_resume_refuses_ended_and_unknown_sessions(tmp_path: Path, uninterrupted: tuple[dict[str, object], list[tuple[int, str, str, int, str]]]) -> None:
    db = tmp_path / "t.db"
    subprocess.run(trainer("play", "traffic_stop", "--db", str(db)), input="Hello.\n", capture_output=True, text=True, timeout=60, cwd=ROOT, check=True)
    ended = subprocess.run(trainer("play", "--resume", "1", "--db", str(db)), input="", capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert ended.returncode == 2 and "has ended" in ended.stderr and "Traceback" not in ended.stderr
    unknown = subprocess.run(trainer("play", "--resume", "99", "--db", str(db)), input="", capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert unknown.returncode == 2 and "no session 99" in unknown.stderr


def test_resume_after_scenario_edit_explains_why_not(tmp_path: Path) -> None:
    scenario = tmp_path / "traffic_stop.yaml"
    scenario.write_text((ROOT / "dialogues" / "traffic_stop.yaml").read_text("utf-8"), encoding="utf-8")
    db = tmp_path / "t.db"
    session = kill_after(db, 1, str(scenario))
    text = scenario.read_text("utf-8").replace("  greeted:\n", "  welcomed:\n").replace("to: greeted", "to: welcomed")
    scenario.write_text(text, encoding="utf-8")
    resumed = subprocess.run(
        trainer("play", str(scenario), "--resume", str(session), "--db", str(db)),
        input="", capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert resumed.returncode == 2
    assert "state 'greeted' no longer exists" in resumed.stderr and "changed since it started" in resumed.stderr


def test_resume_closes_a_scene_that_ended_just_before_a_crash(tmp_path: Path, uninterrupted: tuple[dict[str, object], list[tuple[int, str, str, int, str]]]) -> None:
    expected, _ = uninterrupted
    db = tmp_path / "t.db"
    done = subprocess.run(
        trainer("play", "traffic_stop", "--json", "--seed", SEED, "--db", str(db)),
        input="\n".join(LINES) + "\n", capture_output=True, text=True, timeout=60, cwd=ROOT, check=True,
    )
    session = final(done.stdout)["session"]
    with sqlite3.connect(db) as raw:  # what a crash between the last turn and closing the session leaves
        raw.execute("UPDATE sessions SET status = 'active', outcome = NULL, score = NULL, ended_at = NULL")
    resumed = subprocess.run(
        trainer("play", "--resume", str(session), "--json", "--db", str(db)), input="", capture_output=True, text=True, timeout=60, cwd=ROOT,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert final(resumed.stdout)["outcome"] == expected["outcome"] and final(resumed.stdout)["score"] == expected["score"]
    with sqlite3.connect(db) as raw:
        assert raw.execute("SELECT status, outcome, score FROM sessions").fetchone() == ("ended", expected["outcome"], expected["score"])
