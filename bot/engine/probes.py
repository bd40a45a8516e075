"""Probes: scripted trainees that test the grader against what the department expects.

A probe file (YAML) is a list of scripted trainees, each with a `kind` that says what must
happen, so the integrity rules can be measured on lines written by other people:

    - scenario: traffic_stop
      kind: good            # good | department_example | rank | salad | repeat | curt |
                            # wrong_reason | overreach
      lines: [...]          # good, department_example, rank, salad, repeat, curt
      called: Trooper Nguyen                # rank: how the resident must address them
      opening: [...]                        # wrong_reason: lines before the reason
      true_reason: "..."
      false_reason: "..."
      baseline: [...]                       # overreach: a decent contact...
      with_overreach: [...]                 # ...and the same with overreach inserted

What each kind must do (the integrity issue's acceptance criteria, then the curriculum's):
- good, department_example: success at GOOD_SCORE or more;
- rank: the same, and the resident calls the trainee by the rank or role given;
- salad, repeat: never success, and at most GAMED_SCORE;
- curt: the scene ends (not abandoned) at CURT_SCORE or less, which is below any recognition
  threshold worth the name (a lawful stop done coldly may still end as a completed stop);
- wrong_reason: the false reason earns no reason skill and gets a different reply from the
  true one;
- overreach: costs at least OVERREACH_COST points against the same scene without it;
- courteous: a generic courteous contact, not written for the scenario: COURTEOUS_SCORE or
  more, and not a failure;
- commanding: a commanding, dismissive contact: COMMANDING_SCORE or less, or a failure.
(A `salad` pasted three times is a salad like any other.) Any scene may name its `persona`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.engine.scenario import Outcome, Scenario
from bot.engine.session import Session

GOOD_SCORE = 70
GAMED_SCORE = 40
CURT_SCORE = 55
OVERREACH_COST = 20
COURTEOUS_SCORE = 60
COMMANDING_SCORE = 35
REASON_SKILL = "reason_for_contact"
KINDS = ("good", "department_example", "rank", "salad", "repeat", "curt", "wrong_reason", "overreach", "courteous", "commanding")


@dataclass(frozen=True)
class ProbeResult:
    scenario: str
    kind: str
    description: str
    passed: bool
    detail: str  # what happened, in one line


def load_probes(path: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text("utf-8"))
    if not isinstance(data, list):
        raise ValueError(f"{path}: a probe file is a list of scripted trainees")
    return data


def _play(scenario: Scenario, lines: list[str], seed: int, persona: str | None = None) -> Session:
    session = Session.start(scenario, seed=seed, persona=persona)
    for line in lines:
        if session.ended:
            break
        session.step(str(line))
    if not session.ended:
        session.abandon()
    return session


def check_probe(scenario: Scenario, scene: dict[str, Any], seed: int = 1) -> ProbeResult:
    kind = str(scene["kind"])
    description = str(scene.get("description", ""))
    persona = scene.get("persona")

    def result(passed: bool, detail: str) -> ProbeResult:
        return ProbeResult(scenario.id, kind, description, passed, detail)

    if kind in ("good", "department_example", "rank", "salad", "repeat", "curt", "courteous", "commanding"):
        session = _play(scenario, list(scene["lines"]), seed, persona)
        score = session.score()
        detail = f"{score.outcome.value} {score.total} in '{session.state}'"
        if kind in ("good", "department_example"):
            return result(score.outcome is Outcome.SUCCESS and score.total >= GOOD_SCORE, detail)
        if kind == "rank":
            called = str(scene["called"])
            detail += f", called {session.officer_name!r} (expected {called!r})"
            ok = score.outcome is Outcome.SUCCESS and score.total >= GOOD_SCORE
            return result(ok and (session.officer_name or "").lower() == called.lower(), detail)
        if kind == "courteous":
            return result(score.outcome is not Outcome.FAILURE and score.total >= COURTEOUS_SCORE, detail)
        if kind == "commanding":
            return result(score.outcome is Outcome.FAILURE or score.total <= COMMANDING_SCORE, detail)
        if kind in ("salad", "repeat"):
            return result(score.outcome is not Outcome.SUCCESS and score.total <= GAMED_SCORE, detail)
        return result(session.ended and score.outcome is not Outcome.ABANDONED and score.total <= CURT_SCORE, detail)
    if kind == "wrong_reason":
        opening = list(scene.get("opening") or [])
        true_play = Session.start(scenario, seed=seed, persona=persona)
        false_play = Session.start(scenario, seed=seed, persona=persona)
        for line in opening:
            true_play.step(str(line))
            false_play.step(str(line))
        true_turn = true_play.step(str(scene["true_reason"]))
        false_turn = false_play.step(str(scene["false_reason"]))
        for session in (true_play, false_play):
            if not session.ended:
                session.abandon()
        earned = false_play.score().skill_points().get(REASON_SKILL, 0)
        different = true_turn.reply != false_turn.reply
        detail = f"false reason earned {earned}, replies {'differ' if different else 'are the same'}"
        return result(earned == 0 and different, detail)
    if kind == "overreach":
        base = _play(scenario, list(scene["baseline"]), seed, persona).score().total
        over = _play(scenario, list(scene["with_overreach"]), seed, persona).score().total
        return result(base - over >= OVERREACH_COST, f"baseline {base}, with overreach {over}")
    raise ValueError(f"unknown probe kind {kind!r} (known: {', '.join(KINDS)})")
