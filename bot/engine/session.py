"""A live role-play: step(trainee_text) -> Turn. Pure and synchronous; front ends do I/O.

Per message: signals -> mood -> first matching transition -> escalation check ->
resident reply (a variation drawn from a generator seeded by (seed, turn), so a
session rebuilt from its stored lines replays exactly) -> the turn is recorded.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from bot.engine import mood as mood_rules
from bot.engine.machine import Fired, ScenarioMachine
from bot.engine.scenario import Line, Otherwise, Outcome, Scenario, State, Transition
from bot.engine.scoring import Score, score_session
from bot.engine.signals import MAX_MESSAGE_CHARS, Detection, detect
from bot.errors import SessionError

RANKS = re.compile(r"\b(officer|deputy|sergeant|sgt|detective|det|corporal|cpl|lieutenant|lt|trooper|captain|chief|agent)\b\.?", re.IGNORECASE)


@dataclass(frozen=True)
class Turn:
    """One trainee message and what it caused."""

    number: int  # 1 = the trainee's first message
    trainee: str
    detection: Detection
    mood_before: int
    mood_after: int
    state_before: str
    state_after: str
    rule: str  # which rule fired, for feedback and transcripts
    reply: str
    escalated: bool = False
    outcome: Outcome | None = None  # set on the turn that ended the scene

    @property
    def signals(self) -> list[str]:
        return sorted(self.detection.names)


@dataclass(eq=False)  # two sessions are never "equal": each is one trainee's play
class Session:
    """One trainee playing one scenario once (stored as a session row), moved by the scenario's shared machine."""

    scenario: Scenario
    machine: ScenarioMachine
    seed: int = 0
    state: str = ""  # set by the machine on each trigger
    mood: int = 0
    turns: list[Turn] = field(default_factory=list)
    seen: dict[str, int] = field(default_factory=dict)  # signal -> first turn shown
    said_once: set[str] = field(default_factory=set)
    officer_name: str | None = None
    outcome: Outcome | None = None
    opening: str = ""
    fired: Fired | None = None
    _current: Detection | None = None

    @classmethod
    def start(cls, scenario: Scenario, machine: ScenarioMachine | None = None, seed: int = 0) -> Session:
        machine = machine or ScenarioMachine(scenario)
        if machine.scenario is not scenario:
            raise SessionError(f"machine of '{machine.scenario.id}' cannot run '{scenario.id}'")
        play = cls(scenario=scenario, machine=machine, seed=seed, state=scenario.start, mood=scenario.resident.mood)
        play.opening = play._say(scenario.states[scenario.start].say)
        return play

    # -- what guards look at (machine.MessageContext) --
    @property
    def turn_number(self) -> int:
        return len(self.turns) + 1 if self._current is not None else len(self.turns)

    def in_message(self, name: str) -> bool:
        return self._current is not None and self._current.has(name)

    def seen_so_far(self, name: str) -> bool:
        return name in self.seen

    # -- the step --
    @property
    def ended(self) -> bool:
        return self.outcome is not None

    def step(self, text: str, detection: Detection | None = None) -> Turn:
        """Handle one trainee message. `detection` lets a replay reuse stored signals."""
        if self.ended:
            raise SessionError("this role-play has ended")
        # The line is kept verbatim; only detection is bounded (regexes on megabytes help nobody).
        detection = detection if detection is not None else detect(text[:MAX_MESSAGE_CHARS], self.scenario.signals)
        number = len(self.turns) + 1
        state_before, mood_before = self.state, self.mood
        self._current = detection
        try:
            for name in detection.names:
                self.seen.setdefault(name, number)
            self._learn_officer_name(detection)
            state = self.scenario.states[self.state]
            self.mood = mood_rules.clamp(self.mood + mood_rules.signal_delta(detection.names, self.scenario, state))
            self.state, self.fired = self.machine.trigger(ScenarioMachine.RESPOND, self.state, self)
            fired = self.fired
            rule = fired.rule if fired else state.otherwise
            self.mood = mood_rules.clamp(self.mood + (rule.mood if rule else 0))
            escalated = self._escalate_if_needed()
            reply_lines = self._reply_lines(state, rule, escalated)
            reply = self._say(reply_lines, number)
        finally:
            self._current = None
        after = self.scenario.states[self.state]
        if after.is_end:
            self.outcome = Outcome.FAILURE if self._critical_shown() else after.end
        turn = Turn(
            number=number, trainee=text, detection=detection,
            mood_before=mood_before, mood_after=self.mood,
            state_before=state_before, state_after=self.state,
            rule=self._describe(state, rule, escalated), reply=reply,
            escalated=escalated, outcome=self.outcome,
        )
        self.turns.append(turn)
        return turn

    def idle_line(self) -> str:
        """What the resident says when the trainee goes quiet: not a turn, nothing is scored."""
        lines = self.scenario.idle.say if self.scenario.idle else (Line(f"*{self.scenario.resident.name} waits for you to say something.*"),)
        # Its own seed stream and no memory of 'once' lines: nudges are not stored, so they must
        # not change what a resumed session would say next.
        return self._say(lines, turn=-(len(self.turns) + 1), remember=False)

    def abandon(self) -> None:
        """End a scene that reached no ending (input ended, trainee left, idle timeout)."""
        if not self.ended:
            self.outcome = Outcome.ABANDONED

    def score(self) -> Score:
        return score_session(self.scenario, self.turns, self.outcome or Outcome.ABANDONED)

    # -- helpers --
    def _escalate_if_needed(self) -> bool:
        escalation = self.scenario.escalate
        if escalation is None or self.mood <= escalation.above:
            return False
        if self.scenario.states[self.state].is_end or self.state == escalation.to:
            return False
        self.state, self.fired = self.machine.trigger(ScenarioMachine.ESCALATE, self.state, self)
        return True

    def _reply_lines(self, state: State, rule: Transition | Otherwise | None, escalated: bool) -> tuple[Line, ...]:
        if escalated:
            return self.scenario.states[self.state].say
        if isinstance(rule, Transition):
            return rule.say or self.scenario.states[self.state].say
        if isinstance(rule, Otherwise):
            return rule.say
        return state.say

    def _describe(self, state: State, rule: Transition | Otherwise | None, escalated: bool) -> str:
        if escalated:
            return f"mood above {self.scenario.escalate.above if self.scenario.escalate else '?'}: escalation to {self.state}"
        if isinstance(rule, Transition):
            return f"{state.name} -> {rule.to or state.name} on {rule.guard.describe()}"
        return f"{state.name}: otherwise" + (f" -> {self.state}" if self.state != state.name else "")

    def _critical_shown(self) -> bool:
        return any(name in self.seen for name in self.scenario.rubric.critical)

    def _learn_officer_name(self, detection: Detection) -> None:
        evidence = detection.first("introduction")
        if evidence is None or not evidence.detail:
            return
        name = evidence.detail.strip()
        self.officer_name = name if RANKS.search(name) else f"Officer {name}"

    def _say(self, lines: tuple[Line, ...], turn: int = 0, remember: bool = True) -> str:
        if not lines:
            return ""
        fresh = [line for line in lines if not (line.once and line.text in self.said_once)]
        pool = fresh or [line for line in lines if not line.once] or list(lines)
        # A string seed is hashed with SHA-512 by `random`, so it is stable across processes.
        line = random.Random(f"{self.seed}:{turn}").choice(pool)
        if line.once and remember:
            self.said_once.add(line.text)
        return line.text.replace("{officer}", self.officer_name or "officer").replace("{resident}", self.scenario.resident.name)
