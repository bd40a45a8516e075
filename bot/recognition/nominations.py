"""'Caught doing it right': the lines of a session worth showing the cohort. Pure.

Two kinds of line are nominated: the one that turned the scene around (the biggest drop of
the resident's mood in one message, at least a turning point's worth) and the one that
earned the most rubric points in full. An instructor approves a nomination before it is
posted (or the config posts them straight away); only clean sessions nominate anything.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.engine.scenario import Scenario
from bot.engine.scoring import Score, SkillStatus

MIN_SHARE = 0.2  # a line earning less than this share of the rubric is not worth a nomination on points alone
MIN_SKILLS = 2  # ...unless it showed this many skills at once


@dataclass(frozen=True)
class Nominee:
    turn: int
    line: str
    why: str


def nominate(scenario: Scenario, score: Score, limit: int) -> list[Nominee]:
    if limit <= 0:
        return []
    found: list[Nominee] = []
    calming = [p for p in score.turning_points if p.mood_after < p.mood_before]
    if calming:
        best = max(calming, key=lambda p: (p.mood_before - p.mood_after, -p.turn))
        found.append(Nominee(best.turn, best.line, f"turned the scene around: {scenario.resident.name} calmed down (mood {best.mood_before} \u2192 {best.mood_after})"))
    by_turn: dict[int, list[tuple[str, int, str]]] = {}
    for skill in score.skills:
        if skill.status is SkillStatus.EARNED and skill.turn is not None:
            by_turn.setdefault(skill.turn, []).append((skill.label, skill.points, skill.line))
    # The line that earned the most, or the next one when that line already turned the scene around.
    ranked = sorted(by_turn.items(), key=lambda item: (-sum(points for _, points, _ in item[1]), item[0]))
    for turn, earned in ranked:
        points = sum(p for _, p, _ in earned)
        if not (score.max_points and (points >= MIN_SHARE * score.max_points or len(earned) >= MIN_SKILLS)):
            break
        if any(n.turn == turn for n in found):
            continue
        labels = [label for label, _, _ in earned]
        listed = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + _lower(labels[-1])
        found.append(Nominee(turn, earned[0][2], f"{_lower(listed)} in one line ({points} points)"))
        break
    return found[:limit]


def _lower(text: str) -> str:
    return text[:1].lower() + text[1:] if text[1:2].islower() else text
