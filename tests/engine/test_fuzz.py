"""Property tests: whatever arrives, a clear error or a reply, never a crash."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.engine.catalog import load_checked
from bot.engine.lint import lint
from bot.engine.loader import parse_scenario
from bot.engine.machine import ScenarioMachine
from bot.engine.scenario import Outcome
from bot.engine.session import Session

ROOT = Path(__file__).resolve().parents[2]
TRAFFIC_STOP = load_checked(ROOT / "dialogues" / "traffic_stop.yaml")
MACHINE = ScenarioMachine(TRAFFIC_STOP)
BASE: dict[str, Any] = yaml.safe_load((ROOT / "dialogues" / "traffic_stop.yaml").read_text("utf-8").replace("\non:", "\n'on':"))

messages = st.text(max_size=300) | st.sampled_from([
    "License and registration.", "Good evening, ma'am. I'm Officer Smith.", "Calm down!",
    "I'm not going to arrest you.", "Keep it up and you're going to jail.", "Drive safe.", "\U0001F697\U0001F6A8", "",
])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages, max_size=12), st.integers(min_value=0, max_value=2**31))
def test_engine_always_replies(lines: list[str], seed: int) -> None:
    play = Session.start(TRAFFIC_STOP, MACHINE, seed=seed)
    for line in lines:
        if play.ended:
            break
        turn = play.step(line)
        assert turn.reply and 0 <= turn.mood_after <= 100
        assert turn.state_after in TRAFFIC_STOP.states
    play.abandon()
    score = play.score()
    assert 0 <= score.total <= 100 and score.outcome in Outcome
    assert MACHINE.model_count == 1  # sessions come and go; the machine keeps only its cursor


yaml_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_loader_never_crashes_on_text(text: str) -> None:
    scenario, problems = parse_scenario(text, "fuzz.yaml")
    assert (scenario is None) == bool(problems)
    assert all(p.line >= 1 and p.code.startswith("S") for p in problems)


def _set(data: dict[str, Any], path: list[str], value: Any) -> None:
    node: Any = data
    for key in path[:-1]:
        if not isinstance(node, dict):
            return
        node = node.setdefault(key, {})
    if isinstance(node, dict):
        node[path[-1]] = value


PATHS = [
    ["resident", "mood"], ["start"], ["states", "window", "on"], ["states", "window", "say"],
    ["states", "window", "otherwise"], ["rubric", "skills"], ["rubric", "penalties"], ["escalate"],
    ["signals"], ["idle"], ["states", "complaint", "end"], ["mood_effects"], ["states"], ["rubric"],
]


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])  # each parses a whole file
@given(st.sampled_from(PATHS), yaml_values)
def test_mutated_scenarios_give_problems_or_a_scenario(path: list[str], value: Any) -> None:
    data = copy.deepcopy(BASE)
    _set(data, path, value)
    text = yaml.safe_dump(data, allow_unicode=True)
    scenario, problems = parse_scenario(text, "traffic_stop.yaml")
    if scenario is None:
        assert problems
        return
    if lint(scenario):  # the second pass must cope with whatever passed the first
        return
    play = Session.start(scenario, seed=1)  # and a clean scenario must play
    for line in ("License and registration.", "Hello, I'm Officer Smith. Your tag expired.", "Drive safe."):
        if not play.ended:
            assert play.step(line).state_after in scenario.states
    play.abandon()
    assert 0 <= play.score().total <= 100
