"""The machine's quick `respond` (the first rule whose guard holds, triggered as its own event)
against `transitions` walking the whole `respond` list: the same turns, replies and scores."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
from transitions import Event

from bot.engine.catalog import load_checked
from bot.engine.golden import load_transcript, transcripts_for
from bot.engine.machine import ScenarioMachine
from bot.engine.probes import load_probes
from bot.engine.scenario import Scenario
from bot.engine.session import Session

ROOT = Path(__file__).resolve().parents[2]
DIALOGUES = ROOT / "dialogues"
SCENARIOS = {s.id: s for s in (load_checked(path) for path in sorted(DIALOGUES.glob("*.yaml")))}
TUNING = sorted((ROOT / "tests" / "data").glob("probes*tune*.yaml"))


def _scripts(scene: dict[str, Any]) -> list[list[str]]:
    """Every scripted line list of a probe (`lines`, `baseline`, `opening` + a reason...)."""
    lists = [[str(x) for x in value] for value in scene.values() if isinstance(value, list) and value and all(isinstance(x, str) for x in value)]
    opening = [str(x) for x in scene.get("opening", [])]
    lists += [opening + [str(scene[key])] for key in ("true_reason", "false_reason") if isinstance(scene.get(key), str)]
    return lists


def _cases() -> list[Any]:
    cases = []
    for scenario in SCENARIOS.values():
        for path in transcripts_for(scenario, DIALOGUES):
            transcript = load_transcript(path)
            lines = [turn.officer for turn in transcript.turns]
            cases.append(pytest.param(scenario.id, lines, transcript.seed, transcript.persona, id=f"golden:{scenario.id}/{path.stem}"))
    for path in TUNING:
        for i, scene in enumerate(load_probes(path)):
            for k, lines in enumerate(_scripts(scene)):
                persona = scene.get("persona")
                cases.append(pytest.param(scene["scenario"], lines, 1, persona, id=f"{path.stem}:{i}:{k}"))
    return cases


def _play(scenario: Scenario, machine: ScenarioMachine, lines: list[str], seed: int, persona: str | None) -> list[Any]:
    session = Session.start(scenario, machine, seed=seed, persona=persona)
    seen: list[Any] = [session.opening]
    for line in lines:
        if session.ended:
            break
        turn = session.step(line)
        seen.append((turn, session.fired))
    session.abandon()
    seen.append(session.score().as_dict())
    return seen


QUICK = {sid: ScenarioMachine(s) for sid, s in SCENARIOS.items()}
PLAIN = {sid: ScenarioMachine(s, pick_first=False) for sid, s in SCENARIOS.items()}


@pytest.mark.parametrize(("scenario_id", "lines", "seed", "persona"), _cases())
def test_quick_respond_plays_as_transitions_does(scenario_id: str, lines: list[str], seed: int, persona: str | None) -> None:
    scenario = SCENARIOS[scenario_id]
    assert _play(scenario, QUICK[scenario_id], lines, seed, persona) == _play(scenario, PLAIN[scenario_id], lines, seed, persona)


class _Context:
    """A message context drawn at random: what guards can look at, nothing else."""

    def __init__(self, rng: random.Random, names: list[str]) -> None:
        self.now = frozenset(rng.sample(names, rng.randint(0, min(6, len(names)))))
        self.seen = self.now | frozenset(rng.sample(names, rng.randint(0, min(6, len(names)))))
        self.earlier = frozenset(n for n in self.seen if rng.random() < 0.5)
        self.counts = {n: rng.randint(0, 3) for n in self.seen}
        self.mood = rng.randint(0, 100)
        self.turn_number = rng.randint(1, 12)
        self.persona_name = ""

    @property
    def message_signals(self) -> frozenset[str]:
        return self.now

    def seen_so_far(self, name: str) -> bool:
        return name in self.seen

    def seen_earlier(self, name: str) -> bool:
        return name in self.earlier

    def count_of(self, name: str) -> int:
        return self.counts.get(name, 0)


@pytest.mark.parametrize("scenario_id", sorted(SCENARIOS))
def test_quick_respond_fires_the_rule_transitions_fires(scenario_id: str) -> None:
    """Every state, with random messages weighted to the signals its guards name."""
    scenario = SCENARIOS[scenario_id]
    rng = random.Random(scenario_id)
    for state in scenario.states.values():
        rules = scenario.rules(state) if not state.is_end else []
        names = sorted({n for rule in rules for n in rule.guard.signal_names()} | {n for rule in rules for n, _ in rule.guard.at_least + rule.guard.fewer_than}) or ["empathy"]
        personas = [p.name for p in scenario.personas] or [""]
        for _ in range(60):
            context = _Context(rng, names)
            context.persona_name = rng.choice(personas)
            quick = QUICK[scenario_id].trigger(ScenarioMachine.RESPOND, state.name, context)
            plain = PLAIN[scenario_id].trigger(ScenarioMachine.RESPOND, state.name, context)
            assert quick == plain, (state.name, sorted(context.now))


def test_the_table_of_possible_rules_stays_bounded_and_answers_the_same() -> None:
    """A machine keeps the rules each (state, signal set) leaves possible, up to its bound: past
    it, the table starts afresh, and every trigger still fires what `transitions` fires."""
    scenario = SCENARIOS["traffic_stop"]
    machine = ScenarioMachine(scenario)
    machine.CANDIDATE_SETS = 3
    rng = random.Random(9)
    names = sorted({n for state in scenario.states.values() for rule in scenario.rules(state) for n in rule.guard.signal_names()})
    for _ in range(200):
        state = rng.choice([s.name for s in scenario.states.values() if not s.is_end])
        context = _Context(rng, names)
        assert machine.trigger(ScenarioMachine.RESPOND, state, context) == PLAIN["traffic_stop"].trigger(ScenarioMachine.RESPOND, state, context)
        assert len(machine._candidates) <= 3


class _CountingTriggers:
    """Counts `transitions` event triggers (every machine's, while the test runs)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = Event.trigger

        def counted(event: Event, model: object, *args: Any, **kwargs: Any) -> bool:
            self.count += 1
            return original(event, model, *args, **kwargs)

        monkeypatch.setattr(Event, "trigger", counted)


def _respond_at_random(machine: ScenarioMachine, triggers: _CountingTriggers, seed: str) -> tuple[list[int], list[int]]:
    """Random messages in every state: the triggers each firing of a staying and a moving rule took."""
    rng = random.Random(seed)
    stayed: list[int] = []
    moved: list[int] = []
    for state in machine.scenario.states.values():
        rules = machine.scenario.rules(state) if not state.is_end else []
        names = sorted({n for rule in rules for n in rule.guard.signal_names()}) or ["empathy"]
        for _ in range(40):
            before = triggers.count
            after, fired = machine.trigger(ScenarioMachine.RESPOND, state.name, _Context(rng, names))
            if fired is not None:
                assert after == fired.dest
                (stayed if fired.dest == state.name else moved).append(triggers.count - before)
    return stayed, moved


@pytest.mark.parametrize("scenario_id", sorted(SCENARIOS))
def test_a_rule_that_stays_is_not_triggered_and_one_that_moves_is(scenario_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A staying rule is an internal transition with no callbacks: triggering it would change
    nothing, so only rules that move go through `transitions` (the answers are the same: above)."""
    stayed, moved = _respond_at_random(ScenarioMachine(SCENARIOS[scenario_id]), _CountingTriggers(monkeypatch), scenario_id)
    assert stayed and set(stayed) == {0}
    assert moved and set(moved) == {1}


def test_a_staying_rule_given_a_callback_is_triggered(monkeypatch: pytest.MonkeyPatch) -> None:
    """What is skipped is read off the machine: a transition with something to run is triggered."""
    machine = ScenarioMachine(SCENARIOS["traffic_stop"])
    ran: list[str] = []
    for event in machine._machine.events.values():
        for group in event.transitions.values():
            for transition in group:
                transition.add_callback("after", lambda event_data: ran.append(event_data.event.name))
    machine._no_ops = frozenset(machine._events_that_do_nothing())
    assert not machine._no_ops
    stayed, moved = _respond_at_random(machine, _CountingTriggers(monkeypatch), "callbacks")
    assert stayed and set(stayed) == {1}
    assert len(ran) == len(stayed) + len(moved)
