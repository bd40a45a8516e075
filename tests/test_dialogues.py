"""Every shipped scenario loads clean, has golden transcripts, and they replay."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.engine.catalog import check, load, scenario_files
from bot.engine.golden import load_transcript, record, replay, transcripts_for

ROOT = Path(__file__).resolve().parents[1]
DIALOGUES = ROOT / "dialogues"
SCENARIO_FILES = scenario_files([DIALOGUES])
GOLDEN = sorted((DIALOGUES / "golden").rglob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.stem for p in SCENARIO_FILES])
def test_scenario_is_clean_and_has_golden_transcripts(path: Path) -> None:
    scenarios, problems = check([path])
    assert problems == []
    transcripts = transcripts_for(scenarios[0], DIALOGUES)
    outcomes = {load_transcript(t).expect.get("outcome") for t in transcripts}
    assert {"success", "failure"} <= outcomes, "each scenario needs a success path and a failure path"


@pytest.mark.parametrize("path", GOLDEN, ids=[f"{p.parent.name}/{p.stem}" for p in GOLDEN])
def test_golden_transcript_replays(path: Path) -> None:
    transcript = load_transcript(path)
    assert replay(load(transcript.scenario, DIALOGUES), transcript) == []


def test_record_then_replay_round_trips(tmp_path: Path) -> None:
    scenario = load("traffic_stop", DIALOGUES)
    data = record(scenario, ["Hello, ma'am.", "Your tag expired, that's why I stopped you."], seed=9)
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert replay(scenario, load_transcript(path)) == []
    data["turns"][1]["state"] = "window"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert any("expected 'window'" in diff for diff in replay(scenario, load_transcript(path)))


def test_replay_command_reports_failures(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "bot", "replay"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert ok.returncode == 0 and f"{len(GOLDEN)} passed, 0 failed" in ok.stderr
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump({"scenario": "traffic_stop", "seed": 1, "turns": [{"officer": "Hello.", "state": "resolved"}]}), encoding="utf-8")
    bad = subprocess.run([sys.executable, "-m", "bot", "replay", str(broken)], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert bad.returncode == 1 and "FAIL" in bad.stdout and "expected 'resolved'" in bad.stdout
