"""Golden transcripts: a scripted trainee, the expected scene, replayed by the test suite.

File format (`dialogues/golden/<scenario_id>/<name>.yaml`):

    scenario: traffic_stop
    seed: 1
    persona: anxious                    # optional: the resident's variant (default: the first)
    description: What this path shows.
    turns:
      - officer: "Good evening, ma'am."
        state: greeted                  # optional: state after this line
        signals: [greeting, formal_address]   # optional: must all be detected
        absent: [command]               # optional: must not be detected
        resident: "exact reply"         # optional: pins the line variation
    expect:
      outcome: success
      final_state: resolved
      score_at_least: 70                # and/or score_at_most
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.engine.machine import ScenarioMachine
from bot.engine.scenario import Scenario
from bot.engine.session import Session
from bot.engine.yamlnodes import load_plain
from bot.errors import TrainerError


@dataclass(frozen=True)
class ExpectedTurn:
    officer: str
    state: str | None = None
    signals: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    resident: str | None = None


@dataclass(frozen=True)
class Transcript:
    path: Path
    scenario: str
    seed: int
    description: str
    turns: tuple[ExpectedTurn, ...]
    expect: dict[str, Any] = field(default_factory=dict)
    persona: str | None = None


class TranscriptError(TrainerError):
    """A golden transcript file is malformed."""


def load_transcript(path: Path) -> Transcript:
    try:
        data = load_plain(path.read_text("utf-8"))  # YAML 1.2, as scenarios: 'officer: No' is the word No
        turns = tuple(
            ExpectedTurn(
                officer=str(item["officer"]), state=item.get("state"),
                signals=tuple(item.get("signals", ())), absent=tuple(item.get("absent", ())),
                resident=item.get("resident"),
            )
            for item in data["turns"]
        )
        return Transcript(
            path=path, scenario=str(data["scenario"]), seed=int(data.get("seed", 0)),
            description=str(data.get("description", "")), turns=turns, expect=dict(data.get("expect", {})),
            persona=str(data["persona"]) if data.get("persona") is not None else None,
        )
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise TranscriptError(f"{path}: not a golden transcript: {exc}") from exc


def record(scenario: Scenario, lines: list[str], seed: int, description: str = "", persona: str | None = None) -> dict[str, Any]:
    """Play `lines` and write down everything that happened, as a golden transcript's data."""
    play = Session.start(scenario, seed=seed, persona=persona)
    turns: list[dict[str, Any]] = []
    for line in lines:
        if play.ended:
            break
        turn = play.step(line)
        turns.append({"officer": turn.trainee, "state": turn.state_after, "signals": turn.signals, "resident": turn.reply})
    if not play.ended:
        play.abandon()
    score = play.score()
    expect: dict[str, Any] = {"outcome": score.outcome.value, "final_state": play.state}
    expect["score_at_least" if score.total >= 50 else "score_at_most"] = score.total
    head: dict[str, Any] = {"scenario": scenario.id, "seed": seed}
    if play.persona is not None:
        head["persona"] = play.persona.name
    return {**head, "description": description or "Recorded transcript.", "turns": turns, "expect": expect}


def transcripts_for(scenario: Scenario, dialogues_dir: Path) -> list[Path]:
    folder = dialogues_dir / "golden" / scenario.id
    return sorted(folder.glob("*.yaml")) if folder.is_dir() else []


def replay(scenario: Scenario, transcript: Transcript, machine: ScenarioMachine | None = None) -> list[str]:
    """Play the transcript; returns the differences from what it expects (empty = pass)."""
    play = Session.start(scenario, machine, seed=transcript.seed, persona=transcript.persona)
    diffs: list[str] = []
    for index, expected in enumerate(transcript.turns, start=1):
        if play.ended:
            diffs.append(f"turn {index}: the scene already ended in '{play.state}' before \u201c{expected.officer}\u201d")
            break
        turn = play.step(expected.officer)
        where = f"turn {index} \u201c{expected.officer}\u201d"
        if expected.state is not None and turn.state_after != expected.state:
            diffs.append(f"{where}: state {turn.state_after!r}, expected {expected.state!r} (rule: {turn.rule})")
        missing = [s for s in expected.signals if s not in turn.detection.names]
        if missing:
            diffs.append(f"{where}: signals {sorted(turn.detection.names)} lack {missing}")
        extra = [s for s in expected.absent if s in turn.detection.names]
        if extra:
            diffs.append(f"{where}: signals {extra} should not be detected")
        if expected.resident is not None and turn.reply != expected.resident:
            diffs.append(f"{where}: resident said \u201c{turn.reply}\u201d, expected \u201c{expected.resident}\u201d")
    if not play.ended:
        play.abandon()
    score = play.score()
    expect = transcript.expect
    if "outcome" in expect and score.outcome.value != expect["outcome"]:
        diffs.append(f"outcome {score.outcome.value}, expected {expect['outcome']}")
    if "final_state" in expect and play.state != expect["final_state"]:
        diffs.append(f"final state {play.state!r}, expected {expect['final_state']!r}")
    if "score_at_least" in expect and score.total < int(expect["score_at_least"]):
        diffs.append(f"score {score.total}, expected at least {expect['score_at_least']}")
    if "score_at_most" in expect and score.total > int(expect["score_at_most"]):
        diffs.append(f"score {score.total}, expected at most {expect['score_at_most']}")
    return diffs
