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
    scenarios, problems = check([path], play=True)  # as `trainer check` does: the salad check too
    assert problems == []
    transcripts = transcripts_for(scenarios[0], DIALOGUES)
    outcomes = {load_transcript(t).expect.get("outcome") for t in transcripts}
    assert {"success", "failure"} <= outcomes, "each scenario needs a success path and a failure path"


CIVILIAN = {"records", "front_desk", "civilian_staff", "call_takers", "dispatch", "victim_services"}
AUDIENCES = {  # the department's roles, each with at least one scenario
    "patrol": {"patrol"},
    "front desk / records": {"front_desk", "records"},
    "call-taking": {"call_takers", "dispatch"},
    "investigations / victim services": {"investigations", "victim_services"},
}


def test_the_curriculum_covers_the_department() -> None:
    scenarios, _ = check([DIALOGUES])
    assert len(scenarios) >= 12
    for role, tags in AUDIENCES.items():
        assert any(tags & set(s.audience) for s in scenarios), role
    assert len({s.resident.name for s in scenarios}) == len(scenarios), "each scenario has its own resident"
    for scenario in scenarios:
        if scenario.id in ("traffic_stop", "burglary_victim"):
            continue  # the first two predate personas
        assert len(scenario.personas) >= 3, scenario.id
        assert scenario.stall is not None and scenario.stall.to in scenario.states
        ends = {s.name for s in scenario.end_states}
        assert {"brushed_off", "stalled"} <= ends, f"{scenario.id}: a curt and a stalled ending"
        for skill in scenario.rubric.skills:
            assert skill.tip and skill.example, f"{scenario.id}: {skill.name} needs a tip and a sample phrasing"
        # A scenario civilian staff may play never calls the trainee "Officer".
        if CIVILIAN & set(scenario.audience) and not {"patrol", "investigations"} & set(scenario.audience):
            assert scenario.trainee_title == "", scenario.id


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.stem for p in SCENARIO_FILES])
def test_golden_transcripts_cover_the_paths(path: Path) -> None:
    """A model run, a recovery after a bad start, a failure, a curt ending and a gaming attempt."""
    scenarios, _ = check([path])
    names = {t.stem for t in transcripts_for(scenarios[0], DIALOGUES)}
    assert len(names) >= 5
    assert any(n.startswith("model") or n == "courteous" for n in names)
    assert any(n.startswith("recover") for n in names)
    assert any(n.startswith("curt") for n in names)
    assert any("salad" in n or "gaming" in n for n in names)


@pytest.mark.parametrize("path", SCENARIO_FILES, ids=[p.stem for p in SCENARIO_FILES])
def test_a_short_walk_finds_nothing(path: Path) -> None:
    """A few generated scenes per scenario (the CI-sized version of `trainer check --walk 200`):
    no crash, no scene that never ends, no gaming line that reaches success."""
    from bot.engine.walk import walk

    scenarios, _ = check([path])
    report = walk(scenarios[0], 15, seed=7)
    assert report.scenes == 15 and report.turns > 15
    assert [p for p in report.problems if p.code != "S041"] == []


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
