"""Typed, immutable model of a scenario file (see docs/authoring.md for the YAML format)."""

from __future__ import annotations

import re
from collections.abc import Callable, Container
from dataclasses import dataclass, field
from functools import cached_property
from enum import Enum
from typing import Generic, TypeVar

_T = TypeVar("_T")


RANDOM_PERSONA = "random"  # "surprise me": a persona picked with the session's seed


class Outcome(str, Enum):
    """How a role-play ended."""

    SUCCESS = "success"
    FAILURE = "failure"
    ABANDONED = "abandoned"


@dataclass(frozen=True)
class Line:
    """One variation of something the resident can say."""

    text: str
    once: str = ""  # "" any time; "session": at most once per session; "state": once per visit of its state
    feels: tuple[str, ...] = ()  # feelings it expresses, which a trainee's empathy can answer
    personas: tuple[str, ...] = ()  # said only by these persona variants (empty: by all)


@dataclass(frozen=True)
class Guard:
    """When a transition may fire; every non-empty condition must hold."""

    when: tuple[str, ...] = ()  # all of these signals in this message
    any: tuple[str, ...] = ()  # at least one of these in this message
    unless: tuple[str, ...] = ()  # none of these in this message
    seen: tuple[str, ...] = ()  # all shown at some point, this message included
    seen_any: tuple[str, ...] = ()  # at least one shown at some point, this message included
    not_seen: tuple[str, ...] = ()  # none shown so far, this message included
    seen_before: tuple[str, ...] = ()  # all shown in an earlier message (this one does not count)
    mood_above: int | None = None  # mood after this message's effects
    mood_below: int | None = None
    turn_at_least: int | None = None  # 1 = the trainee's first message
    turn_at_most: int | None = None
    persona: tuple[str, ...] = ()  # only for these persona variants
    at_least: tuple[tuple[str, int], ...] = ()  # counter -> N: counted N times or more, this message included
    fewer_than: tuple[tuple[str, int], ...] = ()  # counter -> N: counted fewer than N times

    def signal_names(self) -> tuple[str, ...]:
        return self.when + self.any + self.unless + self.seen + self.seen_any + self.not_seen + self.seen_before

    def describe(self) -> str:
        return self._description

    @cached_property
    def _description(self) -> str:
        # Worked out once: every turn describes the rule that fired, for its transcript line.
        parts: list[str] = []
        if self.when:
            parts.append(" + ".join(self.when))
        if self.any:
            parts.append("any of " + "/".join(self.any))
        if self.unless:
            parts.append("unless " + "/".join(self.unless))
        if self.seen:
            parts.append("after " + " + ".join(self.seen))
        if self.seen_any:
            parts.append("after any of " + "/".join(self.seen_any))
        if self.not_seen:
            parts.append("before any " + "/".join(self.not_seen))
        if self.seen_before:
            parts.append("after an earlier " + " + ".join(self.seen_before))
        if self.mood_above is not None:
            parts.append(f"mood > {self.mood_above}")
        if self.mood_below is not None:
            parts.append(f"mood < {self.mood_below}")
        if self.turn_at_least is not None:
            parts.append(f"turn >= {self.turn_at_least}")
        if self.turn_at_most is not None:
            parts.append(f"turn <= {self.turn_at_most}")
        parts += [f"{name} x{count}+" for name, count in self.at_least]
        parts += [f"{name} under x{count}" for name, count in self.fewer_than]
        if self.persona:
            parts.append("persona " + "/".join(self.persona))
        return ", ".join(parts) or "always"


@dataclass(frozen=True)
class Transition:
    """An ordered rule of a state: the first whose guard holds decides the reply."""

    guard: Guard
    to: str | None  # None: stay in the current state
    mood: int = 0  # extra mood change on top of the signals' own
    say: tuple[Line, ...] = ()  # overrides the target state's lines
    line: int = 0  # source line, for diagnostics
    to_line: int = 0
    scope: str = ""  # "" for a state's own rule; "first"/"last" for a rule of `everywhere`
    count: tuple[str, ...] = ()  # counters this rule adds one to when it fires


@dataclass(frozen=True)
class Otherwise:
    """The reply when no transition matches."""

    say: tuple[Line, ...]
    mood: int = 0
    to: str | None = None
    line: int = 0
    to_line: int = 0


@dataclass(frozen=True)
class State:
    name: str
    say: tuple[Line, ...]
    on: tuple[Transition, ...] = ()
    otherwise: Otherwise | None = None
    end: Outcome | None = None  # set on end states only
    mood_effects: dict[str, int] = field(default_factory=dict)
    line: int = 0
    score_cap: int | None = None  # an ending may cap the score (e.g. the resident left dissatisfied)
    summary: str = ""  # an ending in one sentence, for the feedback

    @property
    def is_end(self) -> bool:
        return self.end is not None


@dataclass(frozen=True)
class Resident:
    name: str
    persona: str
    mood: int  # 0 at ease .. 100 hostile


@dataclass(frozen=True)
class Persona:
    """A named variant of the resident (cooperative, anxious, angry...): its own starting mood,
    mood effects and lines; chosen by the instructor or at random, and stored with the session."""

    name: str
    label: str
    description: str
    mood: int
    mood_effects: dict[str, int] = field(default_factory=dict)
    line: int = 0


@dataclass(frozen=True)
class Escalation:
    above: int
    to: str


@dataclass(frozen=True)
class Idle:
    after_seconds: int
    say: tuple[Line, ...]
    abandon_after_seconds: int


@dataclass(frozen=True)
class Stall:
    """A scene that goes nowhere for `after` trainee turns in a row ends in `to`."""

    after: int
    to: str


@dataclass(frozen=True)
class Fact:
    """Something true in the scene, which trainee claims can match or contradict.

    Wording that matches `right` shows the fact as a signal of its own name. When a message
    makes one of the `checks` claims (e.g. gives a reason for the contact) and also says
    something in `wrong` (asserted: not negated or hedged), the claim is contradicted: it
    earns nothing, the resident hears a contradiction, and the feedback says what is true
    instead. Without `checks`, any asserted `wrong` wording contradicts the scene (a promise
    that cannot be kept). With `required`, a checked claim must also match `right` to count.
    """

    name: str
    label: str  # what the fact is about: "the reason for the stop"
    truth: str  # what is true, said to the trainee in feedback
    right: tuple[re.Pattern[str], ...]
    wrong: tuple[re.Pattern[str], ...] = ()
    checks: tuple[str, ...] = ()  # claim signals this fact checks; empty: every message
    required: bool = False
    tip: str = ""
    line: int = 0

    @property
    def contradiction_signal(self) -> str:
        return f"contradicts_{self.name}"


@dataclass(frozen=True)
class Skill:
    """A rubric item: points for showing a behaviour, in time and in order."""

    name: str
    label: str
    signals: tuple[str, ...]  # any of these earns the skill
    points: int
    by_turn: int | None = None  # full points only if shown by this turn
    before: tuple[str, ...] = ()  # full points only if shown before any of these
    requires: tuple[str, ...] = ()  # signals or skills, all shown first (earlier or in the same message)
    tip: str = ""
    example: str = ""


@dataclass(frozen=True)
class Rubric:
    skills: tuple[Skill, ...]
    penalties: dict[str, int]  # signal -> points (negative), per message it appears in
    critical: tuple[str, ...]  # any occurrence fails the scenario
    critical_cap: int = 30  # highest score possible after a critical failure
    late_fraction: float = 0.5  # share of points for a skill shown late or out of order
    penalty_coaching: dict[str, tuple[str, str]] = field(default_factory=dict)  # signal -> (tip, example)
    penalty_labels: dict[str, str] = field(default_factory=dict)  # signal -> how feedback names the cost
    integrity_cap: int = 40  # highest score possible when the scene was gamed (stacked or repeated lines)

    @property
    def max_points(self) -> int:
        return sum(skill.points for skill in self.skills)

    @cached_property
    def _skills_by_name(self) -> dict[str, Skill]:
        # Built once: `unmet` is asked per evidence while judging and per turn and skill while scoring.
        return {other.name: other for other in self.skills}

    @cached_property
    def skill_signals(self) -> frozenset[str]:
        """Every signal some skill is earned by."""
        return frozenset(name for skill in self.skills for name in skill.signals)

    @cached_property
    def rival_signals(self) -> frozenset[str]:
        """Every signal some skill must come before (its `before`)."""
        return frozenset(name for skill in self.skills for name in skill.before)

    @cached_property
    def _skills_by_signal(self) -> dict[str, tuple[Skill, ...]]:
        found: dict[str, list[Skill]] = {}
        for skill in self.skills:
            for name in dict.fromkeys(skill.signals):
                found.setdefault(name, []).append(skill)
        return {name: tuple(skills) for name, skills in found.items()}

    def skills_with(self, signal: str) -> tuple[Skill, ...]:
        """The skills `signal` earns, in the rubric's order (asked per evidence of every message)."""
        return self._skills_by_signal.get(signal, ())

    def unmet(self, skill: Skill, shown: Container[str]) -> tuple[str, ...]:
        """The skill's `requires` not yet shown: a signal, or a skill none of whose signals was."""
        if not skill.requires:
            return ()
        by_name = self._skills_by_name

        def met(name: str) -> bool:
            other = by_name.get(name)
            return name in shown or (other is not None and any(signal in shown for signal in other.signals))

        return tuple(name for name in skill.requires if not met(name))


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    briefing: str
    resident: Resident
    start: str
    states: dict[str, State]
    rubric: Rubric
    audience: tuple[str, ...] = ()
    signals: dict[str, tuple[re.Pattern[str], ...]] = field(default_factory=dict)
    mood_effects: dict[str, int] = field(default_factory=dict)
    escalate: Escalation | None = None
    idle: Idle | None = None
    path: str = ""
    digest: str = ""  # sha256 of the file, so a stored session knows what it ran
    key_lines: dict[str, int] = field(default_factory=dict)  # "start", "rubric.skills.x"... -> line
    facts: tuple[Fact, ...] = ()
    first: tuple[Transition, ...] = ()  # `everywhere.first`: before every state's own rules
    last: tuple[Transition, ...] = ()  # `everywhere.last`: after them, before 'otherwise'
    stall: Stall | None = None
    trainee_title: str = "Officer"  # how the resident addresses a trainee who gave no rank ("" for civilian staff)
    trainee_role: str = ""  # `{role}`: what the resident calls the trainee's job ("" : the title in lower case)
    personas: tuple[Persona, ...] = ()  # the first is the default
    signals_off: frozenset[str] = frozenset()  # built-in signals this scenario does not detect
    asserted_signals: frozenset[str] = frozenset()  # scenario signals that count only when said as a fact

    def persona(self, name: str | None) -> Persona | None:
        """The persona variant called `name` (None: the default, the first listed)."""
        if not self.personas:
            return None
        if name is None:
            return self.personas[0]
        return next((p for p in self.personas if p.name == name), None)

    @property
    def end_states(self) -> tuple[State, ...]:
        return tuple(state for state in self.states.values() if state.is_end)

    def rules(self, state: State) -> tuple[Transition, ...]:
        """The transitions a message is checked against in `state`, in order."""
        if state.is_end:
            return ()
        return self.first + state.on + self.last


class PerScenario(Generic[_T]):
    """`build(scenario)`, worked out once per scenario object and kept: what the engine asks of
    a scenario on every message (the judge's lookups, the scoring plan) depends on nothing else.

    Kept outside the frozen scenario, so a scenario stays plain data (copied, compared, sent to
    a worker process as it is). A library reload makes new scenario objects; the oldest are
    then dropped together once `kept` are held.
    """

    def __init__(self, build: Callable[[Scenario], _T], kept: int = 256) -> None:
        self._build = build
        self._kept = kept
        self._found: dict[int, tuple[Scenario, _T]] = {}

    def __call__(self, scenario: Scenario) -> _T:
        found = self._found.get(id(scenario))
        if found is not None and found[0] is scenario:  # holding the scenario keeps its id from reuse
            return found[1]
        if len(self._found) >= self._kept:
            self._found.clear()
        value = self._build(scenario)
        self._found[id(scenario)] = (scenario, value)
        return value
