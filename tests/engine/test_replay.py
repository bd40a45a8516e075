"""A session replayed from its stored signals plays exactly as it was played live, and what the
judge and scoring work out once per scenario agrees with the rules it stands for."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from bot.engine import judge as judging
from bot.engine import scoring
from bot.engine import walk
from bot.engine.catalog import Library
from bot.engine.machine import ScenarioMachine
from bot.engine.mood import default_effects
from bot.engine.scenario import Scenario
from bot.engine.session import Session
from bot.engine.signals import Detection, Evidence, load_lexicon

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = Library(ROOT / "dialogues")
SCENARIOS = sorted(LIBRARY.scenarios.values(), key=lambda s: s.id)
WALKS = 12  # generated sessions per scenario (every style, every persona, a random one)


def walked(scenario: Scenario, machine: ScenarioMachine) -> list[Session]:
    """Generated sessions as `trainer check --walk` plays them: good, bad, off-topic and gaming
    lines, the scenario's own phrasings, repeats, and its rubric said as one salad."""
    bank, own = walk.bank(), walk.own_lines(scenario)
    pools = {"good": bank.good + own, "bad": bank.bad, "off_topic": bank.off_topic, "gaming": bank.gaming + (walk.salad(scenario),)}
    personas = [p.name for p in scenario.personas] or [None]
    sessions = []
    for index in range(WALKS):
        rng = random.Random(f"replay:{scenario.id}:{index}")
        style = sorted(walk.STYLES)[index % len(walk.STYLES)]
        persona = "random" if scenario.personas and index % 4 == 3 else personas[index % len(personas)]
        session = Session.start(scenario, machine, seed=rng.randrange(2**31), persona=persona)
        kinds, weights = zip(*walk.STYLES[style].items())
        said: list[str] = []
        while not session.ended and len(said) < 25:
            kind = rng.choices(kinds, weights)[0]
            line = rng.choice(said) if kind == "repeat" and said else rng.choice(pools["good" if kind == "repeat" else kind])
            session.step(line)
            said.append(line)
        session.abandon()
        sessions.append(session)
    return sessions


def stored(detection: Detection) -> Detection:
    """The signals as the store gives them back: new objects, equal in value."""
    return Detection(detection.text, tuple(Evidence(e.signal, e.start, e.end, e.quote, e.detail) for e in detection.evidence))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_a_session_replayed_from_its_stored_signals_plays_as_it_was_played(scenario: Scenario) -> None:
    machine = ScenarioMachine(scenario)
    for live in walked(scenario, machine):
        again = Session.start(scenario, machine, seed=live.seed, persona=live.persona_name or None)
        assert again.opening == live.opening
        for turn in live.turns:
            again.step(turn.trainee, stored(turn.detection))
        again.abandon()
        assert again.turns == live.turns  # evidence, judgement, moods, states, rules and replies
        assert again.score() == live.score()
        assert (again.officer_name, again.mood, again.state, again.seen, again.counts) == (
            live.officer_name, live.mood, live.state, live.seen, live.counts)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_the_judges_tables_of_a_scenario_agree_with_its_rules(scenario: Scenario) -> None:
    """The costly signals are a set worked out once; evidence can come too early (`requires`)
    only for a signal every skill of which has requirements."""
    lookups = judging._lookups(scenario)
    rubric = scenario.rubric
    names = ({rule.name for rule in load_lexicon().rules} | set(scenario.signals) | {f.name for f in scenario.facts}
             | set(default_effects()) | set(scenario.mood_effects) | set(rubric.penalties) | set(rubric.critical)
             | set(judging.DERIVED_SIGNALS) | rubric.skill_signals)
    assert {name for name in names if judging._costly(scenario, name)} == lookups.costly
    for name in names:
        skills = rubric.skills_with(name)
        # What the judge's requires test needs: all of the skills unmet for some set shown.
        can_come_early = bool(skills) and all(rubric.unmet(skill, set()) for skill in skills)
        assert (name in lookups.gated) == can_come_early, name


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_a_skills_requirements_are_met_from_the_turn_scoring_says(scenario: Scenario) -> None:
    """The turn from which a skill's `requires` hold, as scoring finds it (the latest of the
    turns each requirement was first credited), against its definition: the first turn by the
    end of which `Rubric.unmet` finds nothing, on all that was credited so far."""
    rubric = scenario.rubric
    plan = scoring._plan(scenario)
    checked = 0
    for session in walked(scenario, ScenarioMachine(scenario)):
        tally = scoring._Tally(session.turns, plan)
        shown: set[str] = set()
        so_far = []
        for turn in session.turns:
            shown |= {e.signal for e in turn.judgement.credited}
            so_far.append(set(shown))
        for index, skill in enumerate(rubric.skills):
            if skill.requires:
                expected = next((k for k, names in enumerate(so_far) if not rubric.unmet(skill, names)), len(session.turns))
                assert tally.since(plan.requirements[index]) == expected, skill.name
                checked += 1
    assert checked or not any(skill.requires for skill in rubric.skills)
