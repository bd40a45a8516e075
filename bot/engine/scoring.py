"""Rubric -> Score: every point with the line that earned it. Pure; no I/O but the tips file.

Rules, so an instructor can explain any number:
- a skill earns its points the first time one of its signals is *credited* (see judge.py:
  not contradicted, not hollow, not stacked, not a repeat), and only once its `requires`
  were shown; only part of them (`late_fraction`) when it came after `by_turn` or after one
  of its `before` signals;
- each penalised signal costs its points once per message it appears in;
- score = (earned + penalties) / the rubric's maximum, as 0..100;
- a critical signal fails the scene and caps the score at `critical_cap`; stacked or
  repeated lines fail it too and cap it at `integrity_cap`; an ending may cap it at its
  `score_cap`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from bot.engine.yamlnodes import load_safe

from bot.engine.scenario import Outcome, PerScenario, Rubric, Scenario, Skill, State

from bot.engine.cues import LEARNED

if TYPE_CHECKING:
    from bot.engine.judge import Contradiction, Uncredited
    from bot.engine.session import Turn
    from bot.engine.signals import Evidence

TURNING_POINT = 10  # a mood change of at least this much in one message is worth showing
GAMED_REPEATS = 2  # repeated lines that make a scene gamed (one accidental double send is not)


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
    label: str = ""  # how the feedback names it: the penalty's `label`, else the signal's name


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
class IntegrityNote:
    """Why part of a scene earned nothing: a gamed or contradicted line. Any note keeps the
    result out of public recognition."""

    kind: str  # repetition | stacking | contradiction
    turns: tuple[int, ...]
    text: str
    gamed: bool = False  # part of gaming the grade: the scene fails and is capped


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
    integrity: tuple[IntegrityNote, ...] = ()  # empty: nothing was gamed or contradicted
    ending: str = ""  # the ending's summary, when the scenario gives one
    caps: tuple[str, ...] = ()  # why the total is lower than the points (critical, gaming, the ending)

    @property
    def gamed(self) -> bool:
        return any(note.gamed for note in self.integrity)

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
            "integrity": [{"kind": n.kind, "turns": list(n.turns), "text": n.text} for n in self.integrity],
            "ending": self.ending,
            "caps": list(self.caps),
        }


def round_half_up(value: float) -> int:
    """Rounding as instructors do it by hand (Python's round() sends 2.5 to 2)."""
    return math.floor(value + 0.5)


def vars_of(item: Hit | Tip) -> dict[str, Any]:
    return dict(vars(item))


@lru_cache(maxsize=1)
def coaching() -> Mapping[str, Tip]:
    text = (resources.files("bot.engine") / "lexicon" / "coaching.yaml").read_text("utf-8")
    return {name: Tip(about=name, tip=spec["tip"], example=spec.get("example", "")) for name, spec in load_safe(text).items()}


def score_session(scenario: Scenario, turns: Sequence[Turn], outcome: Outcome) -> Score:
    rubric = scenario.rubric
    plan = _plan(scenario)
    tally = _Tally(turns, plan)
    skills = tuple(_skill_result(skill, index, tally, plan, rubric) for index, skill in enumerate(rubric.skills))
    penalties, critical = tuple(tally.penalties), tuple(tally.critical)
    earned = sum(s.points for s in skills)
    penalty = sum(hit.points for hit in penalties)
    max_points = plan.max_points
    total = round_half_up(100 * (earned + penalty) / max_points) if max_points else 0
    total = max(0, min(100, total))
    integrity = tuple(_integrity(tally))
    caps: list[str] = []
    if critical:
        total = min(total, rubric.critical_cap)
        outcome = Outcome.FAILURE
        caps.append(f"a critical behaviour fails the scene: at most {rubric.critical_cap}")
    if any(note.gamed for note in integrity):
        # A gamed scene fails, whatever the resident was brought to say.
        outcome = Outcome.FAILURE
        if total > rubric.integrity_cap:
            total = rubric.integrity_cap
            caps.append(f"stacked or repeated lines: at most {rubric.integrity_cap}")
    ending = scenario.states.get(turns[-1].state_after) if turns else None
    if ending is not None and ending.is_end and ending.score_cap is not None and total > ending.score_cap:
        total = ending.score_cap
        caps.append(f"this ending scores at most {ending.score_cap}")
    return Score(
        total=total, outcome=outcome, earned=earned, penalty=penalty, max_points=max_points,
        skills=skills, penalties=penalties, critical=critical,
        went_well=tuple(_went_well(skills)),
        try_next=tuple(_try_next(plan, skills, penalties, critical, integrity)),
        turning_points=tuple(tally.turning_points),
        integrity=integrity, ending=_ending_summary(ending, outcome, critical, integrity),
        caps=tuple(caps),
    )


def _ending_summary(ending: State | None, outcome: Outcome, critical: Sequence[Hit], integrity: Sequence[IntegrityNote]) -> str:
    """The ending in one sentence. A success ending reached in a scene that failed (a critical
    behaviour, a gamed grade) must not read as a success next to "outcome failure"."""
    if ending is None or not ending.is_end:
        return ""
    if ending.end is not Outcome.SUCCESS or outcome is not Outcome.FAILURE:
        return ending.summary
    if critical:
        hit = critical[0]
        what = hit.label or hit.signal.replace("_", " ")
        return (f"The scene reached a good ending, but turn {hit.turn} fails it whatever else went well: "
                f"\u201c{hit.quote}\u201d ({what}).")
    if any(note.gamed for note in integrity):
        return ("The scene reached a good ending, but stacked or repeated lines fail it: the resident was "
                "brought there by lines that game the grade, not by the contact.")
    return ending.summary


class _Plan:
    """What scoring asks of a scenario's rubric for every session, worked out once per scenario."""

    def __init__(self, scenario: Scenario) -> None:
        rubric = scenario.rubric
        self.max_points = rubric.max_points
        self.rivals = rubric.rival_signals
        # signal -> (points, how feedback names it), in the rubric's order; critical ones cost nothing themselves
        self.penalties = {name: (points, rubric.penalty_labels.get(name, name)) for name, points in rubric.penalties.items()}
        self.critical = {name: (0, rubric.penalty_labels.get(name, name)) for name in rubric.critical}
        self.costs = frozenset(self.penalties) | frozenset(self.critical)
        self.watched = self.rivals | self.costs  # the detected signals scoring looks at
        by_name = {skill.name: skill for skill in rubric.skills}
        self.skills_by_name = by_name
        # For each skill, in the rubric's order: per requirement in its `requires`, the signals any
        # of which meets it (its own name, and a skill's signals), as `Rubric.unmet` reads them.
        self.requirements: list[tuple[tuple[str, ...], ...]] = [
            tuple((name, *(by_name[name].signals if name in by_name else ())) for name in skill.requires)
            for skill in rubric.skills
        ]
        # Most skills of most sessions are missed with nothing to say why: one result, and one tip, each.
        self.missed = [SkillResult(skill.name, skill.label, SkillStatus.MISSED, 0, skill.points) for skill in rubric.skills]
        self.missed_tips = {name: Tip(name, skill.tip or f"Show '{skill.label}'.", skill.example) for name, skill in by_name.items()}
        # The scenario's own words for a cost beat the generic ones (coaching.yaml).
        self.cost_tips = {name: Tip(name, tip, example) for name, (tip, example) in rubric.penalty_coaching.items()}


_plan = PerScenario(_Plan)

# (turn index, character offset, place in the message's evidence, evidence)
_First = tuple[int, int, int, "Evidence"]


class _Tally:
    """One pass over a session's turns for everything the score quotes:
    - `credited`: per signal, its earliest credited evidence in each turn that has some, in turn
      order (each skill then looks up only its own signals);
    - `rivals`: the earliest detected evidence of each `before` rival, earned or not;
    - `not_counted`: per signal, the first line that looked like it and why it did not count;
    - the penalised and critical hits, the integrity findings and the turning points."""

    def __init__(self, turns: Sequence[Turn], plan: _Plan) -> None:
        self.turns = turns
        credited: dict[str, list[_First]] = {}
        rivals: dict[str, _First] = {}
        not_counted: dict[str, tuple[int, int, Turn, Uncredited]] = {}
        self.penalties: list[Hit] = []
        self.critical: list[Hit] = []
        self.stacked: list[int] = []
        self.repeats: dict[int, list[int]] = {}  # the turn repeated -> the turns that repeated it
        self.contradictions: list[tuple[Turn, Contradiction]] = []
        self.turning_points: list[TurningPoint] = []
        self.credited, self.rivals, self.not_counted = credited, rivals, not_counted
        watched, rival_signals, costs = plan.watched, plan.rivals, plan.costs
        for k, turn in enumerate(turns):
            judgement, detection = turn.judgement, turn.detection
            for place, e in enumerate(judgement.credited if judgement is not None else detection.evidence):
                entries = credited.get(e.signal)
                if entries is None:
                    credited[e.signal] = [(k, e.start, place, e)]
                elif entries[-1][0] != k:
                    entries.append((k, e.start, place, e))
                elif e.start < entries[-1][1]:
                    entries[-1] = (k, e.start, place, e)
            # Only rules cost points; a learned cue is for analysis (judge.py). The first such
            # evidence of each costly signal, in one pass over the message.
            costly: dict[str, Evidence] | None = None
            for place, e in enumerate(detection.evidence):
                signal = e.signal
                if signal not in watched:
                    continue
                if signal in rival_signals:
                    known = rivals.get(signal)
                    if known is None or (known[0] == k and e.start < known[1]):
                        rivals[signal] = (k, e.start, place, e)
                if signal in costs and e.detail != LEARNED:
                    if costly is None:
                        costly = {}
                    costly.setdefault(signal, e)
            derived = judgement.signals if judgement is not None else frozenset()
            if costly is not None or not derived.isdisjoint(costs):  # most messages cost nothing
                self._hits(turn, costly or {}, derived, plan.penalties, self.penalties)
                self._hits(turn, costly or {}, derived, plan.critical, self.critical)
            if judgement is not None:
                if judgement.uncredited:
                    for place, item in enumerate(judgement.uncredited):
                        not_counted.setdefault(item.evidence.signal, (k, place, turn, item))
                if judgement.stacked:
                    self.stacked.append(turn.number)
                if judgement.repeat_of is not None:
                    self.repeats.setdefault(judgement.repeat_of, []).append(turn.number)
                if judgement.contradictions:
                    self.contradictions.extend((turn, contradiction) for contradiction in judgement.contradictions)
            if abs(turn.mood_after - turn.mood_before) >= TURNING_POINT:
                self.turning_points.append(TurningPoint(turn.number, turn.mood_before, turn.mood_after, turn.trainee, tuple(turn.signals)))

    @staticmethod
    def _hits(turn: Turn, first: Mapping[str, Evidence], derived: frozenset[str],
              signals: Mapping[str, tuple[int, str]], hits: list[Hit]) -> None:
        """A message's hits of `signals`: detected ones, and those the judge derived (a
        contradiction quotes the words that contradicted the scene)."""
        for name, (points, label) in signals.items():
            evidence = first.get(name)
            if evidence is not None:
                hits.append(Hit(name, points, turn.number, evidence.quote, turn.trainee, label))
            elif name in derived and not turn.detection.has(name):
                hits.append(Hit(name, points, turn.number, _derived_quote(turn, name), turn.trainee, label))

    def since(self, requirements: tuple[tuple[str, ...], ...]) -> int:
        """The first turn (index) by the end of which every requirement was shown (credited,
        earlier or in the same message); len(turns) when one never was. What is shown only
        grows, so that is the latest of the turns each requirement was first met."""
        credited, latest = self.credited, 0
        for names in requirements:
            met = min((credited[name][0][0] for name in names if name in credited), default=None)
            if met is None:
                return len(self.turns)
            latest = max(latest, met)
        return latest

    def first(self, signals: Sequence[str], since: int = 0) -> tuple[int, int, Turn, str, str] | None:
        """(turn number, character offset, turn, quote, signal) of the earliest credited evidence
        of `signals`, from turn index `since` on."""
        best: _First | None = None
        credited = self.credited
        for name in signals:
            entries = credited.get(name)
            if not entries:
                continue
            found = entries[0] if since == 0 else next((f for f in entries if f[0] >= since), None)
            if found is not None and (best is None or found[:3] < best[:3]):
                best = found
        return self._quoted(best)

    def first_rival(self, signals: Sequence[str]) -> tuple[int, int, Turn, str, str] | None:
        """As `first`, among all that was detected of `signals` (a skill's `before` rivals)."""
        best: _First | None = None
        for name in signals:
            found = self.rivals.get(name)
            if found is not None and (best is None or found[:3] < best[:3]):
                best = found
        return self._quoted(best)

    def _quoted(self, found: _First | None) -> tuple[int, int, Turn, str, str] | None:
        if found is None:
            return None
        turn = self.turns[found[0]]
        return turn.number, found[1], turn, found[3].quote, found[3].signal

    def why_not(self, skill: Skill) -> str:
        """For a missed skill: the first line that looked like one of its signals, and why it did not count."""
        if not self.not_counted:
            return ""  # most sessions: everything that looked like a behaviour counted
        found = None
        for name in skill.signals:
            candidate = self.not_counted.get(name)
            if candidate is not None and (found is None or candidate[:2] < found[:2]):
                found = candidate
        if found is None:
            return ""
        _, _, turn, item = found
        return f"not counted: \u201c{item.evidence.quote}\u201d (turn {turn.number}) {item.why}"


def _skill_result(skill: Skill, index: int, tally: _Tally, plan: _Plan, rubric: Rubric) -> SkillResult:
    """One skill's verdict (the rubric's `index`-th): from what the judge credited, turn by
    turn; an earlier rival counts whether or not it earned anything."""
    requirements = plan.requirements[index]
    found = tally.first(skill.signals, tally.since(requirements) if requirements else 0)
    if found is None:
        note = tally.why_not(skill)
        if not note:
            return plan.missed[index]
        return SkillResult(skill.name, skill.label, SkillStatus.MISSED, 0, skill.points, note=note)
    number, offset, turn, quote, _ = found
    status, note = SkillStatus.EARNED, ""
    if skill.before:
        rival = tally.first_rival(skill.before)
        if rival is not None and rival[:2] < (number, offset):
            status = SkillStatus.OUT_OF_ORDER
            note = f"came after {rival[4].replace('_', ' ')} (\u201c{rival[3]}\u201d, turn {rival[0]})"
    if skill.by_turn is not None and number > skill.by_turn:
        status = SkillStatus.LATE if status is SkillStatus.EARNED else status
        note = (note + "; " if note else "") + f"came in turn {number}, aim for turn {skill.by_turn} or earlier"
    points = skill.points if status is SkillStatus.EARNED else round_half_up(skill.points * rubric.late_fraction)
    return SkillResult(skill.name, skill.label, status, points, skill.points, number, quote, turn.trainee, note)


def _integrity(tally: _Tally) -> list[IntegrityNote]:
    notes: list[IntegrityNote] = []
    stacked = tally.stacked
    if stacked:
        notes.append(IntegrityNote("stacking", tuple(stacked), (
            f"Turn{'s' if len(stacked) > 1 else ''} {_numbers(stacked)} strung set phrases together with nothing "
            "said between them; a list of rubric words earns nothing. Say each thing and mean it."), gamed=True))
    repeats = tally.repeats
    total_repeats = sum(len(again) for again in repeats.values())
    if total_repeats >= GAMED_REPEATS:
        for first, again in repeats.items():
            times = len(again) + 1
            notes.append(IntegrityNote("repetition", (first, *again), (
                f"The same line {_times(times)} (turns {_numbers([first, *again])}) earns nothing after the first; "
                "the resident heard it already."), gamed=True))
    elif total_repeats:
        first, again = next(iter(repeats.items()))
        notes.append(IntegrityNote("repetition", (first, *again), (
            f"Turn {again[0]} repeated turn {first} and earned nothing; say something new instead.")))
    for turn, contradiction in tally.contradictions:
        fact = contradiction.fact
        notes.append(IntegrityNote("contradiction", (turn.number,), (
            f"Turn {turn.number}: \u201c{contradiction.quote}\u201d goes against the scene: {fact.label} is "
            f"{fact.truth}. " + (fact.tip or "Say only what is true; a made-up reason costs trust.")).strip()))
    return notes


def _numbers(numbers: Sequence[int]) -> str:
    items = [str(n) for n in numbers]
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _times(count: int) -> str:
    return {2: "twice", 3: "three times"}.get(count, f"{count} times")


def _derived_quote(turn: Turn, name: str) -> str:
    assert turn.judgement is not None
    for contradiction in turn.judgement.contradictions:
        if name in ("contradiction", contradiction.fact.contradiction_signal):
            return contradiction.quote
    return turn.trainee


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
    plan: _Plan, skills: Sequence[SkillResult], penalties: Sequence[Hit], critical: Sequence[Hit],
    integrity: Sequence[IntegrityNote] = (),
) -> list[Tip]:
    by_name = plan.skills_by_name
    tips: list[Tip] = [Tip(note.kind, note.text) for note in integrity]
    for result in skills:
        status = result.status
        if status is SkillStatus.EARNED:
            continue
        if status is SkillStatus.MISSED:
            tips.append(plan.missed_tips[result.name])
            continue
        skill = by_name[result.name]
        # Say what was wrong with the timing, so a tip written for "missed" is not misread
        # ("give the reason before asking" when it was given before, only a turn late).
        if status is SkillStatus.LATE:
            prefix = f"Sooner ({result.note}): " if result.note else "Sooner: "
        else:
            prefix = f"In order ({result.note}): " if result.note else "In order: "
        tips.append(Tip(result.name, prefix + (skill.tip or f"Show '{skill.label}'."), skill.example))
    if critical or penalties:
        library, own = coaching(), plan.cost_tips
        for name in dict.fromkeys(hit.signal for hit in (*critical, *penalties)):
            if name in own:  # the scenario's own words beat the generic ones
                tips.append(own[name])
            elif name in library:
                tips.append(library[name])
    return tips
