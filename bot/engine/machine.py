"""One `transitions` machine per scenario, shared by all its sessions.

Each non-end state gets an ordered list of `respond` transitions (the scenario's
`everywhere.first` rules, the state's `on` rules, `everywhere.last`, then `otherwise`);
`transitions` fires the first whose guard holds. The machine
has a single model, a cursor: to trigger an event for a session, the cursor is put in
the session's state with the session as its message context, triggered, and read back.
So sessions stay plain objects: starting or ending one costs no model registration
(which would bind a trigger method per event and state to each session, and make
removal slower as sessions grow), and a machine holds no per-session data.

Each rule is also its own event (`respond:<n>`), a plain transition to its destination (an
internal one when the rule stays in its state: with no callbacks, triggering it changes
nothing, so it is not triggered: picking the rule is the whole of the turn's move). A
`respond` trigger tests the state's guards in the state's order and triggers only the event of
the first that holds: the same first match as `transitions` walking the whole `respond` list
(guards are pure), without its per-transition cost (an `execute`, condition objects and several
debug log calls for each rule that does not hold, then the guard that held tested again and a
callback to say which rule it was, which the pick already knows). `ScenarioMachine(...,
pick_first=False)` triggers the whole `respond` list instead; a test replays every golden
transcript and probe both ways.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from transitions import EventData, Machine, Transition as MachineTransition

from bot.engine.scenario import Guard, Otherwise, Scenario, Transition


class MessageContext(Protocol):
    """What a guard may look at: the model's view of the message being handled."""

    @property
    def message_signals(self) -> frozenset[str]: ...  # every signal the message shows
    def seen_so_far(self, name: str) -> bool: ...
    def count_of(self, name: str) -> int: ...
    def seen_earlier(self, name: str) -> bool: ...
    @property
    def persona_name(self) -> str: ...
    @property
    def mood(self) -> int: ...
    @property
    def turn_number(self) -> int: ...


def guard_holds(guard: Guard, ctx: MessageContext) -> bool:
    # Each test is skipped when the guard does not use it (most use two or three of them):
    # an `any(...)` over an empty tuple still builds its generator.
    heard = ctx.message_signals
    if guard.when and not heard.issuperset(guard.when):
        return False
    if guard.any and heard.isdisjoint(guard.any):
        return False
    if guard.unless and not heard.isdisjoint(guard.unless):
        return False
    if guard.seen and not all(ctx.seen_so_far(n) for n in guard.seen):
        return False
    if guard.seen_any and not any(ctx.seen_so_far(n) for n in guard.seen_any):
        return False
    if guard.not_seen and any(ctx.seen_so_far(n) for n in guard.not_seen):
        return False
    if guard.seen_before and not all(ctx.seen_earlier(n) for n in guard.seen_before):
        return False
    if guard.mood_above is not None and not ctx.mood > guard.mood_above:
        return False
    if guard.mood_below is not None and not ctx.mood < guard.mood_below:
        return False
    if guard.turn_at_least is not None and ctx.turn_number < guard.turn_at_least:
        return False
    if guard.turn_at_most is not None and ctx.turn_number > guard.turn_at_most:
        return False
    if guard.persona and ctx.persona_name not in guard.persona:
        return False
    if guard.at_least and any(ctx.count_of(name) < n for name, n in guard.at_least):
        return False
    if guard.fewer_than and any(ctx.count_of(name) >= n for name, n in guard.fewer_than):
        return False
    return True


@dataclass(frozen=True)
class Fired:
    """Which rule of the scenario a message triggered."""

    rule: Transition | Otherwise
    source: str
    dest: str


class _Cursor:
    """The machine's one model: the state and message context of the session being moved."""

    def __init__(self) -> None:
        self.state = ""
        self.context: MessageContext | None = None
        self.fired: Fired | None = None


class _Condition:
    def __init__(self, guard: Guard) -> None:
        self.guard = guard

    def __call__(self, event: EventData) -> bool:
        return guard_holds(self.guard, event.model.context)


def _does_nothing(transition: MachineTransition) -> bool:
    """An internal transition (no destination: no exit, no entry) with nothing to run."""
    return (transition.dest is None and not transition.prepare and not transition.conditions
            and not transition.before and not transition.after)


class _Record:
    def __init__(self, rule: Transition | Otherwise, source: str, dest: str) -> None:
        self.fired = Fired(rule, source, dest)

    def __call__(self, event: EventData) -> None:
        event.model.fired = self.fired


class ScenarioMachine:
    """The shared state machine of one scenario."""

    RESPOND = "respond"
    ESCALATE = "escalate"
    STALL = "stall"
    CANDIDATE_SETS = 4096  # (state, signal set) pairs whose possible rules are kept

    def __init__(self, scenario: Scenario, pick_first: bool = True) -> None:
        self.scenario = scenario
        self.pick_first = pick_first
        # state -> its respond rules in order: (guard or None for `otherwise`, the signals all of
        # which its `when` needs, those one of which its `any` needs, the rule's own event, what
        # firing it means)
        self._respond: dict[str, list[tuple[Guard | None, frozenset[str], frozenset[str], str, Fired]]] = {}
        # (state, a message's signals) -> the state's rules that those signals leave possible, in
        # order: (guard or None, own event, fired). States have about 18 rules and a message makes
        # one or two of them possible, and scenes hear the same few signal sets again and again.
        self._candidates: dict[tuple[str, frozenset[str]], tuple[tuple[Guard | None, str, Fired], ...]] = {}
        self._cursor = _Cursor()
        self._lock = threading.Lock()  # one cursor: one trigger at a time
        self._machine = Machine(
            model=self._cursor,
            states=list(scenario.states),
            initial=scenario.start,
            send_event=True,
            auto_transitions=False,
            ignore_invalid_triggers=True,  # an ended session simply does not move
        )
        for state in scenario.states.values():
            if state.is_end:
                continue
            ordered = self._respond[state.name] = []
            for rule in scenario.rules(state):
                dest = rule.to or state.name
                record = _Record(rule, state.name, dest)
                own = f"{self.RESPOND}:{len(ordered)}"
                self._machine.add_transition(self.RESPOND, state.name, dest, conditions=[_Condition(rule.guard)], after=[record])
                self._machine.add_transition(own, state.name, self._moving_to(state.name, dest))
                ordered.append((rule.guard, frozenset(rule.guard.when), frozenset(rule.guard.any), own, record.fired))
            if state.otherwise is not None:
                dest = state.otherwise.to or state.name
                record = _Record(state.otherwise, state.name, dest)
                own = f"{self.RESPOND}:{len(ordered)}"
                self._machine.add_transition(self.RESPOND, state.name, dest, after=[record])
                self._machine.add_transition(own, state.name, self._moving_to(state.name, dest))
                ordered.append((None, frozenset(), frozenset(), own, record.fired))
        if scenario.escalate is not None:
            target = scenario.escalate.to
            sources = [s.name for s in scenario.states.values() if not s.is_end and s.name != target]
            if sources:
                self._machine.add_transition(
                    self.ESCALATE, sources, target,
                    after=[_Record(Otherwise(say=(), line=0), "*", target)],
                )
        if scenario.stall is not None and scenario.stall.to in scenario.states:
            target = scenario.stall.to
            sources = [s.name for s in scenario.states.values() if not s.is_end]
            if sources:
                self._machine.add_transition(
                    self.STALL, sources, target,
                    after=[_Record(Otherwise(say=(), line=0), "*", target)],
                )
        # (state, event) pairs whose trigger changes nothing: a rule that stays in its state is an
        # internal transition, and this machine runs no callback for it. Read off the machine as
        # built, so a transition or machine given a callback is triggered again.
        self._no_ops = frozenset(self._events_that_do_nothing())

    def _events_that_do_nothing(self) -> Iterator[tuple[str, str]]:
        machine = self._machine
        if machine.prepare_event or machine.finalize_event or machine.before_state_change or machine.after_state_change:
            return
        for name, event in machine.events.items():
            for source, transitions in event.transitions.items():
                if transitions and all(_does_nothing(t) for t in transitions):
                    yield source, name

    @staticmethod
    def _moving_to(source: str, dest: str) -> str | None:
        # A rule that stays in its state is an internal transition (no destination) for
        # `transitions`: no exit and re-entry of the state, which the machine has no callbacks
        # for, and about half the cost of a trigger.
        return None if dest == source else dest

    def trigger(self, event: str, state: str, context: MessageContext) -> tuple[str, Fired | None]:
        """Fire ``event`` for a session in ``state``: (the state after, the rule that fired).

        An event with no transition from ``state`` (an ended session) leaves it as it is.
        """
        picked: Fired | None = None
        if event == self.RESPOND and self.pick_first:
            if state not in self._respond and state in self.scenario.states:
                return state, None  # an end state: nothing responds
            event = ""
            for guard, own, fired in self._possible(state, context.message_signals):
                if guard is None or guard_holds(guard, context):
                    event, picked = own, fired
                    break
            if not event and state in self.scenario.states:
                return state, None  # no rule holds and no `otherwise`: the session stays where it is
            if (state, event) in self._no_ops:
                return state, picked  # half the benchmark's turns; a trigger is a tenth of a replayed turn
            event = event or self.RESPOND  # an unknown state: fails as the plain trigger does
        cursor = self._cursor
        with self._lock:
            if cursor.state != state:
                self._machine.set_state(state, model=cursor)
            cursor.context, cursor.fired = context, None
            try:
                # The event's own trigger, as the model's `trigger(name)` calls it: one lookup
                # less for each of a session's triggers.
                found = self._machine.events.get(event)
                if found is None:
                    cursor.trigger(event)  # an unknown event: fails as the model's trigger does
                else:
                    found.trigger(cursor)
                return cursor.state, picked or cursor.fired
            finally:
                cursor.context = cursor.fired = None

    def _possible(self, state: str, heard: frozenset[str]) -> tuple[tuple[Guard | None, str, Fired], ...]:
        """The rules of `state` whose guards `heard` may satisfy: a rule missing a signal its
        `when` or `any` needs cannot hold, whatever else its guard says."""
        key = (state, heard)
        found = self._candidates.get(key)
        if found is None:
            if len(self._candidates) >= self.CANDIDATE_SETS:
                self._candidates.clear()  # a bound on the table; the usual sets come back at once
            found = self._candidates[key] = tuple(
                (guard, own, fired) for guard, needs_all, needs_any, own, fired in self._respond.get(state, ())
                if guard is None or (needs_all <= heard and (not needs_any or not needs_any.isdisjoint(heard))))
        return found

    @property
    def model_count(self) -> int:
        """Models registered with the underlying machine: always 1, whatever the sessions."""
        return len(self._machine.models)
