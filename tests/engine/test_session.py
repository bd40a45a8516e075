"""The engine: one shared machine, sessions as models, deterministic replies and moods."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest

from bot.engine.catalog import load_checked
from bot.engine.machine import ScenarioMachine
from bot.engine.scenario import Outcome, Scenario
from bot.engine.session import Session, seeded_choice
from bot.errors import SessionError

DIALOGUES = Path(__file__).resolve().parents[2] / "dialogues"


@pytest.fixture(scope="module")
def traffic_stop() -> Scenario:
    return load_checked(DIALOGUES / "traffic_stop.yaml")


COURTEOUS = [
    "Good evening, ma'am. I'm Officer Smith with the Metro Police Department.",
    "The reason I pulled you over is that your registration tag expired in July.",
    "May I please see your license and registration?",
    "I understand, a twelve-hour shift is exhausting. I appreciate your patience.",
    "I'm going to write you a warning today. It will take about five minutes, and you can renew online tonight.",
    "Thank you for your patience, ma'am. Drive safe and get home safe.",
]
RUDE = [
    "License and registration.",
    "I said license and registration. Now.",
    "Calm down, I don't have all night.",
    "Keep it up and you're going to jail.",
]


def play_lines(scenario: Scenario, lines: list[str], seed: int = 1, machine: ScenarioMachine | None = None) -> Session:
    play = Session.start(scenario, machine, seed=seed)
    for line in lines:
        if play.ended:
            break
        play.step(line)
    if not play.ended:
        play.abandon()
    return play


def test_courteous_officer_succeeds(traffic_stop: Scenario) -> None:
    play = play_lines(traffic_stop, COURTEOUS)
    score = play.score()
    assert play.outcome is Outcome.SUCCESS and play.state == "resolved"
    assert score.total >= 80
    assert play.mood < traffic_stop.resident.mood


def test_rude_officer_fails(traffic_stop: Scenario) -> None:
    play = play_lines(traffic_stop, RUDE)
    score = play.score()
    assert play.outcome is Outcome.FAILURE and play.state == "complaint"
    assert score.total <= 35


def test_replies_are_deterministic_per_seed(traffic_stop: Scenario) -> None:
    first = [t.reply for t in play_lines(traffic_stop, COURTEOUS, seed=3).turns]
    again = [t.reply for t in play_lines(traffic_stop, COURTEOUS, seed=3).turns]
    assert first == again
    openings = {Session.start(traffic_stop, seed=s).opening for s in range(20)}
    assert len(openings) > 1  # the seed really picks among variations


def test_seeded_choice_picks_what_a_fresh_generator_picks() -> None:
    # Stored sessions and golden transcripts were drawn with `random.Random(seed).choice`: a
    # re-seeded generator must pick exactly the same, whatever was drawn with it before.
    pools = [tuple(range(size)) for size in (2, 3, 5, 7, 16, 33)]
    for session_seed in (0, 1, 7, 2**31 - 1):
        for turn in (*range(-3, 40), 1000):
            seed = f"{session_seed}:{turn}"
            for pool in pools:
                assert seeded_choice(seed, pool) == random.Random(seed).choice(pool)
    assert seeded_choice("5:persona", ("a", "b", "c")) == random.Random("5:persona").choice(("a", "b", "c"))


def test_seeded_choice_is_the_same_on_every_thread() -> None:
    seeds = [f"{k}:{k % 9}" for k in range(400)]
    pool = tuple(range(11))
    expected = [random.Random(seed).choice(pool) for seed in seeds]
    results: dict[int, list[int]] = {}

    def draw(worker: int) -> None:
        results[worker] = [seeded_choice(seed, pool) for seed in seeds]

    threads = [threading.Thread(target=draw, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {worker: expected for worker in range(4)}


def test_sessions_share_one_machine_and_do_not_interfere(traffic_stop: Scenario) -> None:
    machine = ScenarioMachine(traffic_stop)
    polite = Session.start(traffic_stop, machine, seed=1)
    rude = Session.start(traffic_stop, machine, seed=1)
    assert machine.model_count == 1  # live sessions are not models of the machine
    for kind, other in zip(COURTEOUS, RUDE):
        polite.step(kind)
        if not rude.ended:
            rude.step(other)
    assert rude.state == "complaint" and polite.state != "complaint"
    alone = play_lines(traffic_stop, COURTEOUS[: len(polite.turns)], seed=1)
    assert [t.reply for t in polite.turns] == [t.reply for t in alone.turns]
    polite.abandon()
    # Sessions are not registered with the machine: its one model is its cursor.
    assert machine.model_count == 1


def test_escalation_by_mood(traffic_stop: Scenario) -> None:
    play = Session.start(traffic_stop, seed=1)
    lines = ["License and registration.", "Whatever. Calm down.", "I don't care, just do it.", "Whatever, not my problem."]
    turns = [play.step(line) for line in lines if not play.ended]
    assert play.state == "complaint"
    assert any(t.escalated for t in turns)
    assert all(0 <= t.mood_after <= 100 for t in turns)


def test_negated_threat_is_not_critical(traffic_stop: Scenario) -> None:
    play = Session.start(traffic_stop, seed=1)
    turn = play.step("Good evening, ma'am. I'm not going to arrest you; I stopped you because your tag is expired.")
    assert "threat" not in turn.detection.names
    assert turn.state_after == "explained"


def test_officer_name_in_replies(traffic_stop: Scenario) -> None:
    play = play_lines(traffic_stop, COURTEOUS)
    assert "Officer Smith" in play.turns[-1].reply or "{officer}" not in str(traffic_stop.states["resolved"].say)


def test_stepping_an_ended_scene_is_an_error(traffic_stop: Scenario) -> None:
    play = play_lines(traffic_stop, RUDE)
    with pytest.raises(SessionError):
        play.step("Sorry.")


def test_empty_and_huge_messages(traffic_stop: Scenario) -> None:
    play = Session.start(traffic_stop, seed=1)
    assert play.step("").reply
    huge = "hello " * 10_000
    turn = play.step(huge)
    assert turn.trainee == huge and turn.reply  # kept verbatim; detection reads a bounded head
