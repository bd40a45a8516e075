"""A live role-play: step(trainee_text) -> Turn. Pure and synchronous; front ends do I/O.

Per message: signals -> mood -> first matching transition -> escalation check ->
resident reply (a variation drawn from a generator seeded by (seed, turn), so a
session rebuilt from its stored lines replays exactly) -> the turn is recorded.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from bot.engine import mood as mood_rules
from bot.engine.cues import LEARNED
from bot.engine.judge import History, Judgement, judge, words
from bot.engine.machine import Fired, ScenarioMachine
from bot.engine.scenario import RANDOM_PERSONA, Line, Otherwise, Outcome, Persona, Scenario, State, Transition
from bot.engine.scoring import Score, score_session
from bot.engine.signals import MAX_MESSAGE_CHARS, Detection, asserted, detect, load_lexicon, mood_weight, normalise
from bot.errors import SessionError

# `{officer}` with nothing to say (a civilian trainee who gave no name): drop it with its comma.
_EMPTY_OFFICER = re.compile(r",?\s*\{officer\}")


_T = TypeVar("_T")


class _Generator(threading.local):
    """One generator per thread: sessions stepped on other threads never re-seed it mid-draw."""

    def __init__(self) -> None:
        self.rng = random.Random()


_generator = _Generator()


def seeded_choice(seed: str, items: Sequence[_T]) -> _T:
    """``random.Random(seed).choice(items)``: the same item, from this thread's generator
    seeded again (re-seeding resets the whole state), without making a generator each time.

    A string seed is hashed with SHA-512 by `random`, so the pick is stable across
    processes: a session rebuilt from its stored lines draws the lines it drew."""
    rng = _generator.rng
    rng.seed(seed)
    return rng.choice(items)


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which for a turn
# and its judgement was about 6% of a replayed turn. Nothing changes either once made.
@dataclass
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
    said_here: set[str] = field(default_factory=set)  # `once: state` lines said since the scene entered this state
    counts: dict[str, int] = field(default_factory=dict)  # counter -> messages that counted it
    persona: Persona | None = None
    officer_name: str | None = None
    officer_rank: str = ""  # the rank the trainee gave ("Sergeant"), for `{role}`
    outcome: Outcome | None = None
    opening: str = ""
    fired: Fired | None = None
    history: History = field(default_factory=History)
    turns_without_progress: int = 0
    # Since the last progress: the mood then, and the states visited. Going back and forth
    # between two states, or up and down in mood, is not progress.
    _progress_mood: int | None = None
    _run_states: set[str] = field(default_factory=set)
    _current: frozenset[str] | None = None  # what the message being handled shows, for guards
    _last_line: Line | None = None
    _final: Score | None = None  # the score, once the scene has ended: it cannot change any more

    @classmethod
    def start(cls, scenario: Scenario, machine: ScenarioMachine | None = None, seed: int = 0, persona: str | None = None) -> Session:
        """A new session. `persona`: the resident's variant by name, `random` for one picked with
        the seed ("surprise me"), None for the scenario's default (the first listed)."""
        machine = machine or ScenarioMachine(scenario)
        if machine.scenario is not scenario:
            raise SessionError(f"machine of '{machine.scenario.id}' cannot run '{scenario.id}'")
        variant = pick_persona(scenario, persona, seed)
        mood = variant.mood if variant is not None else scenario.resident.mood
        play = cls(scenario=scenario, machine=machine, seed=seed, state=scenario.start, mood=mood, persona=variant)
        play.opening = play._say(scenario.states[scenario.start].say)
        play._heard_resident()
        return play

    # -- what guards look at (machine.MessageContext) --
    @property
    def turn_number(self) -> int:
        return len(self.turns) + 1 if self._current is not None else len(self.turns)

    @property
    def message_signals(self) -> frozenset[str]:
        return self._current if self._current is not None else frozenset()

    def seen_so_far(self, name: str) -> bool:
        return name in self.seen

    def seen_earlier(self, name: str) -> bool:
        """Heard in a message before the one being handled."""
        first = self.seen.get(name)
        return first is not None and first < len(self.turns) + 1

    def count_of(self, name: str) -> int:
        return self.counts.get(name, 0)

    @property
    def persona_name(self) -> str:
        return self.persona.name if self.persona is not None else ""

    # -- the step --
    @property
    def ended(self) -> bool:
        return self.outcome is not None

    def step(self, text: str, detection: Detection | None = None) -> Turn:
        """Handle one trainee message. `detection` lets a replay reuse stored signals."""
        if self.ended:
            raise SessionError("this role-play has ended")
        # The line is kept verbatim; only detection is bounded (regexes on megabytes help nobody).
        detection = detection if detection is not None else detect_in(self.scenario, text)
        judgement = judge(self.scenario, detection, self.history)
        number = len(self.turns) + 1
        state_before, mood_before = self.state, self.mood
        self._current = judgement.signals
        stalled = False
        try:
            new_credit = self._credit(judgement)
            for name in judgement.signals:
                self.seen.setdefault(name, number)
                self.counts[name] = self.counts.get(name, 0) + 1
            self.learn_officer_name(detection)
            state = self.scenario.states[self.state]
            # How strongly the message validates, on the evidence the scene hears (credited, or
            # kept while its skill waits for its requirements), scales empathy's calming effect.
            weights = None
            if "empathy" in judgement.signals:
                heard = judgement.credited + tuple(u.evidence for u in judgement.uncredited if u.keeps_signal)
                weights = {"empathy": mood_weight(Detection(detection.text, heard))}
            overrides = self.persona.mood_effects if self.persona is not None else None
            self.mood = mood_rules.clamp(self.mood + mood_rules.signal_delta(judgement.signals, self.scenario, state, weights, overrides))
            self.state, self.fired = self.machine.trigger(ScenarioMachine.RESPOND, self.state, self)
            fired = self.fired
            rule = fired.rule if fired else state.otherwise
            for name in rule.count if isinstance(rule, Transition) else ():
                self.counts[name] = self.counts.get(name, 0) + 1
            self.mood = mood_rules.clamp(self.mood + (rule.mood if rule else 0))
            escalated = self._escalate_if_needed()
            if not escalated:
                stalled = self._stall_if_needed(progress=self._progress(new_credit, state_before, mood_before))
            if self.state != state_before:
                self.said_here.clear()  # `once: state` lines may be said again in the next visit
            reply_lines = self._reply_lines(state, rule, escalated or stalled)
            reply = self._say(reply_lines, number)
        finally:
            self._current = None
        judged = text[:MAX_MESSAGE_CHARS]
        self.history.lines.append(judgement.words if detection.text == judged else words(judged))
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
        credited = self.history.credited
        new = {e.signal for e in judgement.credited if e.signal not in credited}
        if not new:
            return False
        credited |= new
        return not new.isdisjoint(self.scenario.rubric.skill_signals)

    def _progress(self, new_credit: bool, state_before: str, mood_before: int) -> bool:
        """A message moves the scene on when it earns a new rubric behaviour, reaches a state not
        seen since the last progress, or leaves the mood below where it was then."""
        if self._progress_mood is None:
            self._progress_mood, self._run_states = mood_before, {state_before}
        moved = self.state not in self._run_states
        progress = new_credit or moved or self.mood < self._progress_mood
        if progress:
            self._progress_mood, self._run_states = self.mood, {self.state}
        else:
            self._run_states.add(self.state)
        return progress

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

    @property
    def role(self) -> str:
        """`{role}`: "the sergeant" when the trainee gave a rank, else the scenario's `trainee.role`
        ("the records clerk"), else "the officer" (its title), else "staff"."""
        if self.officer_rank:
            return f"the {self.officer_rank.lower()}"
        title = self.scenario.trainee_title
        return self.scenario.trainee_role or (f"the {title.lower()}" if title else "staff")

    def learn_officer_name(self, detection: Detection) -> None:
        """How the resident will address the trainee: the rank given with the surname ("Trooper
        Nguyen"), else the scenario's title with it ("Officer Tran"), else the name as given
        (civilian staff: "Pat")."""
        if not detection.has("introduction"):
            return  # most messages
        details = [e.detail.strip() for e in detection.evidence if e.signal == "introduction" and e.detail and e.detail != LEARNED]
        if not details:
            return
        ranks = load_lexicon().titles_longest_first
        rank, name = "", ""
        for detail in details:
            given = next((r for r in ranks if detail == r or detail.startswith(f"{r} ")), "")
            rank = rank or given
            name = name or detail[len(given):].strip()
        self.officer_rank = self.officer_rank or rank
        if not name:
            return  # "I'm a deputy": nobody to call by name yet
        title = rank or self.scenario.trainee_title
        self.officer_name = f"{title} {name.split()[-1]}" if title else name

    def _say(self, lines: tuple[Line, ...], turn: int = 0, remember: bool = True) -> str:
        if not lines:
            return ""
        if any(line.personas for line in lines):
            persona = self.persona_name
            lines = tuple(line for line in lines if not line.personas or persona in line.personas) or lines
        # Most lines are not `once` lines: then every line is fresh, and nothing needs filtering.
        if any(line.once for line in lines):
            fresh = [line for line in lines if not self._already_said(line)]
            pool = fresh or [line for line in lines if not line.once] or list(lines)
        else:
            pool = list(lines)
        last = self._last_line
        if len(pool) > 1 and last is not None:
            # Never the same line twice running. (Lines are compared by text first: that tells
            # almost every pair apart at once.)
            others = [line for line in pool if line.text != last.text or line != last]
            if len(others) < len(pool):
                pool = others
        # Each draw is seeded by its own turn, so a pool of one (its only line) needs no draw.
        line = pool[0] if len(pool) == 1 else seeded_choice(f"{self.seed}:{turn}", pool)
        if line.once and remember:
            (self.said_here if line.once == "state" else self.said_once).add(line.text)
        if remember:
            self._last_line = line
        return self._render(line.text)

    def _already_said(self, line: Line) -> bool:
        if line.once == "state":
            return line.text in self.said_here
        return bool(line.once) and line.text in self.said_once

    def _render(self, text: str) -> str:
        if "{" not in text:
            return text  # most lines name nobody
        text = text.replace("{resident}", self.scenario.resident.name).replace("{role}", self.role)
        officer = self.officer_name or self.scenario.trainee_title.lower()
        return text.replace("{officer}", officer) if officer else _EMPTY_OFFICER.sub("", text)


def pick_persona(scenario: Scenario, name: str | None, seed: int) -> Persona | None:
    """The persona variant `name`; `random` picks one with the seed, so it replays; None is the default."""
    if not scenario.personas:
        if name not in (None, RANDOM_PERSONA):
            raise SessionError(f"'{scenario.id}' has no persona variants (asked for '{name}')")
        return None
    if name == RANDOM_PERSONA:
        return seeded_choice(f"{seed}:persona", scenario.personas)
    found = scenario.persona(name)
    if found is None:
        known = ", ".join(p.name for p in scenario.personas)
        raise SessionError(f"'{scenario.id}' has no persona '{name}' (it has: {known}, or {RANDOM_PERSONA})")
    return found


def detect_in(scenario: Scenario, text: str) -> Detection:
    """The signals of a trainee line in this scenario: built-in and scenario detectors, less the
    built-ins the scenario switches off, and its `asserted` signals only where said as a fact."""
    detection = detect(text[:MAX_MESSAGE_CHARS], scenario.signals)
    if not scenario.signals_off and not scenario.asserted_signals:
        return detection
    norm = normalise(detection.text)
    kept = tuple(
        e for e in detection.evidence
        if e.signal not in scenario.signals_off
        and not (e.signal in scenario.asserted_signals and not asserted(norm, e.start))
    )
    return Detection(text=detection.text, evidence=kept)
