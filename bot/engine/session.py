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
from bot.engine.cues import LEARNED
from bot.engine.judge import History, Judgement, judge, words
from bot.engine.machine import Fired, ScenarioMachine
from bot.engine.scenario import Line, Otherwise, Outcome, Scenario, State, Transition
from bot.engine.scoring import Score, score_session
from bot.engine.signals import MAX_MESSAGE_CHARS, Detection, detect, load_lexicon
from bot.errors import SessionError

# `{officer}` with nothing to say (a civilian trainee who gave no name): drop it with its comma.
_EMPTY_OFFICER = re.compile(r",?\s*\{officer\}")


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
    judgement: Judgement | None = None  # what the message earned in its context (None: not judged)
    stalled: bool = False  # the scene ended because it had gone nowhere

    @property
    def signals(self) -> list[str]:
        """Everything detected in the line."""
        return sorted(self.detection.names)

    @property
    def heard(self) -> list[str]:
        """What the scene reacted to: credited and costly signals, plus derived ones."""
        return sorted(self.judgement.signals if self.judgement else self.detection.names)


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
    history: History = field(default_factory=History)
    turns_without_progress: int = 0
    _current: frozenset[str] | None = None  # what the message being handled shows, for guards
    _last_line: Line | None = None
    _final: Score | None = None  # the score, once the scene has ended: it cannot change any more

    @classmethod
    def start(cls, scenario: Scenario, machine: ScenarioMachine | None = None, seed: int = 0) -> Session:
        machine = machine or ScenarioMachine(scenario)
        if machine.scenario is not scenario:
            raise SessionError(f"machine of '{machine.scenario.id}' cannot run '{scenario.id}'")
        play = cls(scenario=scenario, machine=machine, seed=seed, state=scenario.start, mood=scenario.resident.mood)
        play.opening = play._say(scenario.states[scenario.start].say)
        play._heard_resident()
        return play

    # -- what guards look at (machine.MessageContext) --
    @property
    def turn_number(self) -> int:
        return len(self.turns) + 1 if self._current is not None else len(self.turns)

    def in_message(self, name: str) -> bool:
        return self._current is not None and name in self._current

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
        judgement = judge(self.scenario, detection, self.history)
        number = len(self.turns) + 1
        state_before, mood_before = self.state, self.mood
        self._current = judgement.signals
        stalled = False
        try:
            new_credit = self._credit(judgement)
            for name in judgement.signals:
                self.seen.setdefault(name, number)
            self.learn_officer_name(detection)
            state = self.scenario.states[self.state]
            self.mood = mood_rules.clamp(self.mood + mood_rules.signal_delta(judgement.signals, self.scenario, state))
            self.state, self.fired = self.machine.trigger(ScenarioMachine.RESPOND, self.state, self)
            fired = self.fired
            rule = fired.rule if fired else state.otherwise
            self.mood = mood_rules.clamp(self.mood + (rule.mood if rule else 0))
            escalated = self._escalate_if_needed()
            if not escalated:
                stalled = self._stall_if_needed(progress=new_credit or self.state != state_before or self.mood < mood_before)
            reply_lines = self._reply_lines(state, rule, escalated or stalled)
            reply = self._say(reply_lines, number)
        finally:
            self._current = None
        self.history.lines.append(words(text[:MAX_MESSAGE_CHARS]))
        self._heard_resident()
        after = self.scenario.states[self.state]
        if after.is_end:
            self.outcome = Outcome.FAILURE if self._critical_shown() else after.end
        turn = Turn(
            number=number, trainee=text, detection=detection,
            mood_before=mood_before, mood_after=self.mood,
            state_before=state_before, state_after=self.state,
            rule=self._describe(state, rule, escalated, stalled), reply=reply,
            escalated=escalated, outcome=self.outcome, judgement=judgement, stalled=stalled,
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
        """The rubric's verdict so far; computed once for an ended scene, however often it is asked."""
        if self._final is not None:
            return self._final
        score = score_session(self.scenario, self.turns, self.outcome or Outcome.ABANDONED)
        if self.ended:
            self._final = score
        return score

    # -- helpers --
    def _credit(self, judgement: Judgement) -> bool:
        """Record what the message earned; True when it earned a rubric behaviour not shown before."""
        rubric = {name for skill in self.scenario.rubric.skills for name in skill.signals}
        new = judgement.credited_names() - self.history.credited
        self.history.credited |= new
        return bool(new & rubric)

    def _stall_if_needed(self, progress: bool) -> bool:
        """End a scene that has gone nowhere for `stall.after` turns, rather than loop on one reply."""
        stall = self.scenario.stall
        self.turns_without_progress = 0 if progress else self.turns_without_progress + 1
        if stall is None or self.turns_without_progress < stall.after or self.scenario.states[self.state].is_end:
            return False
        self.state, self.fired = self.machine.trigger(ScenarioMachine.STALL, self.state, self)
        return True

    def _heard_resident(self) -> None:
        """What the resident's last line expressed, so the next message's empathy can answer it."""
        self.history.feelings = self._last_line.feels if self._last_line else ()

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

    def _describe(self, state: State, rule: Transition | Otherwise | None, escalated: bool, stalled: bool = False) -> str:
        if escalated:
            return f"mood above {self.scenario.escalate.above if self.scenario.escalate else '?'}: escalation to {self.state}"
        if stalled:
            return f"{self.turns_without_progress} turns without progress: stalled, to {self.state}"
        if isinstance(rule, Transition):
            where = f"everywhere.{rule.scope}: " if rule.scope else ""
            return f"{where}{state.name} -> {rule.to or state.name} on {rule.guard.describe()}"
        return f"{state.name}: otherwise" + (f" -> {self.state}" if self.state != state.name else "")

    def _critical_shown(self) -> bool:
        return any(name in self.seen for name in self.scenario.rubric.critical)

    def learn_officer_name(self, detection: Detection) -> None:
        """How the resident will address the trainee: the rank given with the surname ("Trooper
        Nguyen"), else the scenario's title with it ("Officer Tran"), else the name as given
        (civilian staff: "Pat")."""
        details = [e.detail.strip() for e in detection.evidence if e.signal == "introduction" and e.detail and e.detail != LEARNED]
        if not details:
            return
        ranks = [rank for rank in load_lexicon().ranks.values() if rank]
        rank, name = "", ""
        for detail in details:
            given = next((r for r in sorted(ranks, key=len, reverse=True) if detail == r or detail.startswith(f"{r} ")), "")
            rank = rank or given
            name = name or detail[len(given):].strip()
        if not name:
            return  # "I'm a deputy": nobody to call by name yet
        title = rank or self.scenario.trainee_title
        self.officer_name = f"{title} {name.split()[-1]}" if title else name

    def _say(self, lines: tuple[Line, ...], turn: int = 0, remember: bool = True) -> str:
        if not lines:
            return ""
        fresh = [line for line in lines if not (line.once and line.text in self.said_once)]
        pool = fresh or [line for line in lines if not line.once] or list(lines)
        if len(pool) > 1 and self._last_line in pool:
            pool = [line for line in pool if line != self._last_line]  # never the same line twice running
        # A string seed is hashed with SHA-512 by `random`, so it is stable across processes.
        line = random.Random(f"{self.seed}:{turn}").choice(pool)
        if line.once and remember:
            self.said_once.add(line.text)
        if remember:
            self._last_line = line
        return self._render(line.text)

    def _render(self, text: str) -> str:
        text = text.replace("{resident}", self.scenario.resident.name)
        officer = self.officer_name or self.scenario.trainee_title.lower()
        return text.replace("{officer}", officer) if officer else _EMPTY_OFFICER.sub("", text)
