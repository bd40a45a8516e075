"""Rubric -> Score: every point with the line that earned it. Pure; no I/O but the tips file.

Rules, so an instructor can explain any number:
- a skill earns its points the first time one of its signals shows; only part of them
  (`late_fraction`) when it came after `by_turn` or after one of its `before` signals;
- each penalised signal costs its points once per message it appears in;
- score = (earned + penalties) / the rubric's maximum, as 0..100;
- a critical signal fails the scene and caps the score at `critical_cap`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import yaml

from bot.engine.scenario import Outcome, Scenario, Skill

if TYPE_CHECKING:
    from bot.engine.session import Turn

TURNING_POINT = 10  # a mood change of at least this much in one message is worth showing


class SkillStatus(str, Enum):
    EARNED = "earned"
    LATE = "late"
    OUT_OF_ORDER = "out_of_order"
    MISSED = "missed"


@dataclass(frozen=True)
class SkillResult:
    name: str
    label: str
    status: SkillStatus
    points: int
    max_points: int
    turn: int | None = None
    quote: str = ""  # the span that showed the behaviour
    line: str = ""  # the whole trainee message
    note: str = ""


@dataclass(frozen=True)
class Hit:
    """A penalised or critical signal in one message."""

    signal: str
    points: int
    turn: int
    quote: str
    line: str


@dataclass(frozen=True)
class Tip:
    about: str
    tip: str
    example: str = ""


@dataclass(frozen=True)
class TurningPoint:
    turn: int
    mood_before: int
    mood_after: int
    line: str
    signals: tuple[str, ...]


@dataclass(frozen=True)
class Score:
    total: int  # 0..100
    outcome: Outcome
    earned: int
    penalty: int  # <= 0
    max_points: int
    skills: tuple[SkillResult, ...]
    penalties: tuple[Hit, ...]
    critical: tuple[Hit, ...]
    went_well: tuple[str, ...]
    try_next: tuple[Tip, ...]
    turning_points: tuple[TurningPoint, ...]

    def skill_points(self) -> dict[str, int]:
        return {skill.name: skill.points for skill in self.skills}

    def as_dict(self) -> dict[str, Any]:
        return {
            "score": self.total,
            "outcome": self.outcome.value,
            "earned": self.earned,
            "penalty": self.penalty,
            "max_points": self.max_points,
            "skills": [
                {"name": s.name, "label": s.label, "status": s.status.value, "points": s.points,
                 "max_points": s.max_points, "turn": s.turn, "quote": s.quote, "line": s.line, "note": s.note}
                for s in self.skills
            ],
            "penalties": [vars_of(hit) for hit in self.penalties],
            "critical": [vars_of(hit) for hit in self.critical],
            "went_well": list(self.went_well),
            "try_next": [vars_of(tip) for tip in self.try_next],
            "turning_points": [
                {"turn": t.turn, "mood_before": t.mood_before, "mood_after": t.mood_after,
                 "line": t.line, "signals": list(t.signals)}
                for t in self.turning_points
            ],
        }


def round_half_up(value: float) -> int:
    """Rounding as instructors do it by hand (Python's round() sends 2.5 to 2)."""
    return math.floor(value + 0.5)


def vars_of(item: Hit | Tip) -> dict[str, Any]:
    return dict(vars(item))


@lru_cache(maxsize=1)
def coaching() -> Mapping[str, Tip]:
    text = (resources.files("bot.engine") / "lexicon" / "coaching.yaml").read_text("utf-8")
    return {name: Tip(about=name, tip=spec["tip"], example=spec.get("example", "")) for name, spec in yaml.safe_load(text).items()}


def score_session(scenario: Scenario, turns: Sequence[Turn], outcome: Outcome) -> Score:
    rubric = scenario.rubric
    skills = tuple(_skill_result(skill, turns, rubric.late_fraction) for skill in rubric.skills)
    penalties = tuple(_hits(turns, rubric.penalties))
    critical = tuple(_hits(turns, {name: 0 for name in rubric.critical}))
    earned = sum(s.points for s in skills)
    penalty = sum(hit.points for hit in penalties)
    total = round_half_up(100 * (earned + penalty) / rubric.max_points) if rubric.max_points else 0
    total = max(0, min(100, total))
    if critical:
        total = min(total, rubric.critical_cap)
        outcome = Outcome.FAILURE
    return Score(
        total=total, outcome=outcome, earned=earned, penalty=penalty, max_points=rubric.max_points,
        skills=skills, penalties=penalties, critical=critical,
        went_well=tuple(_went_well(skills)),
        try_next=tuple(_try_next(rubric.skills, skills, penalties, critical, rubric.penalty_coaching)),
        turning_points=tuple(_turning_points(turns)),
    )


def _first_position(turns: Sequence[Turn], signals: Sequence[str]) -> tuple[int, int, Turn, str] | None:
    """(turn number, character offset, turn, quote) of the earliest of `signals`."""
    best: tuple[int, int, Turn, str] | None = None
    for turn in turns:
        for evidence in turn.detection.evidence:
            if evidence.signal in signals:
                key = (turn.number, evidence.start)
                if best is None or key < best[:2]:
                    best = (turn.number, evidence.start, turn, evidence.quote)
        if best is not None:
            return best
    return None


def _skill_result(skill: Skill, turns: Sequence[Turn], late_fraction: float) -> SkillResult:
    found = _first_position(turns, skill.signals)
    if found is None:
        return SkillResult(skill.name, skill.label, SkillStatus.MISSED, 0, skill.points)
    number, offset, turn, quote = found
    status, note = SkillStatus.EARNED, ""
    if skill.before:
        rival = _first_position(turns, skill.before)
        if rival is not None and rival[:2] < (number, offset):
            status = SkillStatus.OUT_OF_ORDER
            note = f"came after {_signal_at(rival)} (\u201c{rival[3]}\u201d, turn {rival[0]})"
    if skill.by_turn is not None and number > skill.by_turn:
        status = SkillStatus.LATE if status is SkillStatus.EARNED else status
        note = (note + "; " if note else "") + f"came in turn {number}, aim for turn {skill.by_turn} or earlier"
    points = skill.points if status is SkillStatus.EARNED else round_half_up(skill.points * late_fraction)
    return SkillResult(skill.name, skill.label, status, points, skill.points, number, quote, turn.trainee, note)


def _signal_at(found: tuple[int, int, Turn, str]) -> str:
    _, offset, turn, _ = found
    for evidence in turn.detection.evidence:
        if evidence.start == offset:
            return evidence.signal
    return "?"


def _hits(turns: Sequence[Turn], signals: Mapping[str, int]) -> list[Hit]:
    hits: list[Hit] = []
    for turn in turns:
        for name, points in signals.items():
            evidence = turn.detection.first(name)
            if evidence is not None:
                hits.append(Hit(name, points, turn.number, evidence.quote, turn.trainee))
    return hits


def _went_well(skills: Sequence[SkillResult]) -> list[str]:
    """One entry per line that earned a skill in full: the line quoted once, then what it did.
    (Late or out-of-order skills belong to 'try next', not here.)"""
    by_turn: dict[int, list[SkillResult]] = {}
    for skill in skills:
        if skill.status is SkillStatus.EARNED and skill.turn is not None:
            by_turn.setdefault(skill.turn, []).append(skill)
    entries = []
    for turn in sorted(by_turn):
        earned = by_turn[turn]
        labels = [earned[0].label] + [_lower_first(s.label) for s in earned[1:]]
        entries.append(f"{', '.join(labels)}: \u201c{earned[0].line}\u201d (turn {turn})")
    return entries


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _try_next(
    rubric_skills: Sequence[Skill], skills: Sequence[SkillResult], penalties: Sequence[Hit], critical: Sequence[Hit],
    own_coaching: Mapping[str, tuple[str, str]],
) -> list[Tip]:
    by_name = {skill.name: skill for skill in rubric_skills}
    tips: list[Tip] = []
    for result in skills:
        if result.status is SkillStatus.EARNED:
            continue
        skill = by_name[result.name]
        prefix = {
            SkillStatus.MISSED: "",
            SkillStatus.LATE: "Sooner: ",
            SkillStatus.OUT_OF_ORDER: "In order: ",
        }[result.status]
        tips.append(Tip(result.name, prefix + (skill.tip or f"Show '{skill.label}'."), skill.example))
    library = coaching()
    for name in dict.fromkeys(hit.signal for hit in (*critical, *penalties)):
        if name in own_coaching:  # the scenario's own words beat the generic ones
            tip, example = own_coaching[name]
            tips.append(Tip(name, tip, example))
        elif name in library:
            tips.append(library[name])
    return tips


def _turning_points(turns: Sequence[Turn]) -> list[TurningPoint]:
    return [
        TurningPoint(t.number, t.mood_before, t.mood_after, t.trainee, tuple(t.signals))
        for t in turns
        if abs(t.mood_after - t.mood_before) >= TURNING_POINT
    ]
