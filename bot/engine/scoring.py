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
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from bot.engine.yamlnodes import load_safe

from bot.engine.scenario import Outcome, Rubric, Scenario, Skill, State

from bot.engine.cues import LEARNED

if TYPE_CHECKING:
    from bot.engine.judge import Uncredited
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
    # Rivals (`before`) count whether or not they earned anything: only their signals are
    # looked up in all that was detected.
    credited, detected = _Firsts(turns, credited=True), _Firsts(turns, credited=False, only=rubric.rival_signals)
    not_counted = _NotCounted(turns)
    skills = tuple(_skill_result(skill, credited, detected, not_counted, rubric) for skill in rubric.skills)
    penalties = tuple(_hits(turns, rubric.penalties, rubric.penalty_labels))
    critical = tuple(_hits(turns, {name: 0 for name in rubric.critical}, rubric.penalty_labels))
    earned = sum(s.points for s in skills)
    penalty = sum(hit.points for hit in penalties)
    total = round_half_up(100 * (earned + penalty) / rubric.max_points) if rubric.max_points else 0
    total = max(0, min(100, total))
    integrity = tuple(_integrity(turns))
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
        total=total, outcome=outcome, earned=earned, penalty=penalty, max_points=rubric.max_points,
        skills=skills, penalties=penalties, critical=critical,
        went_well=tuple(_went_well(skills)),
        try_next=tuple(_try_next(rubric.skills, skills, penalties, critical, rubric.penalty_coaching, integrity, turns)),
        turning_points=tuple(_turning_points(turns)),
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


def _credited(turn: Turn) -> tuple[Evidence, ...]:
    return turn.judgement.credited if turn.judgement is not None else turn.detection.evidence


class _Firsts:
    """The earliest evidence of each signal, turn by turn, found in one pass over the session for
    all the skills (each skill then looks up only its own signals), and, for `requires`, what
    had been shown by the end of each turn."""

    def __init__(self, turns: Sequence[Turn], *, credited: bool, only: Container[str] | None = None) -> None:
        """`only`: the signals that will be asked about (None: all of them; `shown` then holds
        every signal shown, as a skill's `requires` may name any)."""
        self.turns = turns
        # signal -> (turn index, character offset, place in the message's evidence, evidence) of
        # its earliest evidence in each turn that has some, in turn order
        self.by_signal: dict[str, list[tuple[int, int, int, Evidence]]] = {}
        self._signals_by_turn: list[list[str]] = []
        self._shown: list[frozenset[str]] | None = None
        if only is not None and not only:
            return
        for k, turn in enumerate(turns):
            firsts: dict[str, tuple[int, int, int, Evidence]] = {}
            for place, e in enumerate(_credited(turn) if credited else turn.detection.evidence):
                if only is not None and e.signal not in only:
                    continue
                known = firsts.get(e.signal)
                if known is None or e.start < known[1]:
                    firsts[e.signal] = (k, e.start, place, e)
            for name, found in firsts.items():
                self.by_signal.setdefault(name, []).append(found)
            self._signals_by_turn.append(list(firsts))

    @property
    def shown(self) -> list[frozenset[str]]:
        """Signals shown in the turns up to each one (built on first need: few skills have `requires`)."""
        if self._shown is None:
            self._shown, so_far = [], frozenset[str]()
            for names in self._signals_by_turn:
                so_far = so_far.union(names)
                self._shown.append(so_far)
        return self._shown

    def first(self, signals: Sequence[str], *, skill: Skill | None = None,
              rubric: Rubric | None = None) -> tuple[int, int, Turn, str, str] | None:
        """(turn number, character offset, turn, quote, signal) of the earliest of `signals`.

        With a skill, only once its `requires` were shown (earlier or in the same message):
        what is shown only grows, so that is from one turn on."""
        since = 0
        if skill is not None and rubric is not None and skill.requires:
            since = next((k for k, shown in enumerate(self.shown) if not rubric.unmet(skill, shown)), len(self.turns))
        best: tuple[int, int, int, Evidence] | None = None
        by_signal = self.by_signal
        for name in signals:
            entries = by_signal.get(name)
            if not entries:
                continue
            found = entries[0] if since == 0 else next((f for f in entries if f[0] >= since), None)
            if found is not None and (best is None or found[:3] < best[:3]):
                best = found
        if best is None:
            return None
        turn = self.turns[best[0]]
        return turn.number, best[1], turn, best[3].quote, best[3].signal


def _skill_result(skill: Skill, credited: _Firsts, detected: _Firsts, not_counted: _NotCounted, rubric: Rubric) -> SkillResult:
    """One skill's verdict. `credited`: what the judge credited, turn by turn; `detected`: all
    that was detected (an earlier rival counts whether or not it earned anything)."""
    late_fraction = rubric.late_fraction
    found = credited.first(skill.signals, skill=skill, rubric=rubric)
    if found is None:
        return SkillResult(skill.name, skill.label, SkillStatus.MISSED, 0, skill.points, note=not_counted.why_not(skill))
    number, offset, turn, quote, _ = found
    status, note = SkillStatus.EARNED, ""
    if skill.before:
        rival = detected.first(skill.before)
        if rival is not None and rival[:2] < (number, offset):
            status = SkillStatus.OUT_OF_ORDER
            note = f"came after {rival[4].replace('_', ' ')} (\u201c{rival[3]}\u201d, turn {rival[0]})"
    if skill.by_turn is not None and number > skill.by_turn:
        status = SkillStatus.LATE if status is SkillStatus.EARNED else status
        note = (note + "; " if note else "") + f"came in turn {number}, aim for turn {skill.by_turn} or earlier"
    points = skill.points if status is SkillStatus.EARNED else round_half_up(skill.points * late_fraction)
    return SkillResult(skill.name, skill.label, status, points, skill.points, number, quote, turn.trainee, note)


class _NotCounted:
    """For missed skills: the first line that looked like each signal, and why it did not count."""

    def __init__(self, turns: Sequence[Turn]) -> None:
        # signal -> (turn index, place among the turn's uncredited, turn, what was not credited)
        self._first: dict[str, tuple[int, int, Turn, Uncredited]] = {}
        for k, turn in enumerate(turns):
            for place, item in enumerate(turn.judgement.uncredited if turn.judgement is not None else ()):
                self._first.setdefault(item.evidence.signal, (k, place, turn, item))

    def why_not(self, skill: Skill) -> str:
        found = None
        for name in skill.signals:
            candidate = self._first.get(name)
            if candidate is not None and (found is None or candidate[:2] < found[:2]):
                found = candidate
        if found is None:
            return ""
        _, _, turn, item = found
        return f"not counted: \u201c{item.evidence.quote}\u201d (turn {turn.number}) {item.why}"


def _integrity(turns: Sequence[Turn]) -> list[IntegrityNote]:
    notes: list[IntegrityNote] = []
    stacked = [t.number for t in turns if t.judgement is not None and t.judgement.stacked]
    if stacked:
        notes.append(IntegrityNote("stacking", tuple(stacked), (
            f"Turn{'s' if len(stacked) > 1 else ''} {_numbers(stacked)} strung set phrases together with nothing "
            "said between them; a list of rubric words earns nothing. Say each thing and mean it."), gamed=True))
    repeats: dict[int, list[int]] = {}
    for turn in turns:
        if turn.judgement is not None and turn.judgement.repeat_of is not None:
            repeats.setdefault(turn.judgement.repeat_of, []).append(turn.number)
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
    for turn in turns:
        for contradiction in turn.judgement.contradictions if turn.judgement is not None else ():
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


def _hits(turns: Sequence[Turn], signals: Mapping[str, int], labels: Mapping[str, str]) -> list[Hit]:
    """Penalised signals per message: detected ones, and those the judge derived (a
    contradiction quotes the words that contradicted the scene)."""
    hits: list[Hit] = []
    if not signals:
        return hits
    for turn in turns:
        derived = turn.judgement.signals if turn.judgement is not None else frozenset()
        # Only rules cost points; a learned cue is for analysis (judge.py). The first such
        # evidence of each signal, in one pass over the message rather than one per signal.
        first: dict[str, Evidence] = {}
        for e in turn.detection.evidence:
            if e.signal in signals and e.detail != LEARNED:
                first.setdefault(e.signal, e)
        if not first and derived.isdisjoint(signals):
            continue  # most messages cost nothing
        for name, points in signals.items():
            evidence = first.get(name)
            if evidence is None and name not in derived:
                continue
            label = labels.get(name, name)
            if evidence is not None:
                hits.append(Hit(name, points, turn.number, evidence.quote, turn.trainee, label))
            elif name in derived and not turn.detection.has(name):
                hits.append(Hit(name, points, turn.number, _derived_quote(turn, name), turn.trainee, label))
    return hits


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
    rubric_skills: Sequence[Skill], skills: Sequence[SkillResult], penalties: Sequence[Hit], critical: Sequence[Hit],
    own_coaching: Mapping[str, tuple[str, str]], integrity: Sequence[IntegrityNote] = (), turns: Sequence[Turn] = (),
) -> list[Tip]:
    by_name = {skill.name: skill for skill in rubric_skills}
    tips: list[Tip] = [Tip(note.kind, note.text) for note in integrity]
    for result in skills:
        if result.status is SkillStatus.EARNED:
            continue
        skill = by_name[result.name]
        # Say what was wrong with the timing, so a tip written for "missed" is not misread
        # ("give the reason before asking" when it was given before, only a turn late).
        prefix = {
            SkillStatus.MISSED: "",
            SkillStatus.LATE: f"Sooner ({result.note}): " if result.note else "Sooner: ",
            SkillStatus.OUT_OF_ORDER: f"In order ({result.note}): " if result.note else "In order: ",
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
