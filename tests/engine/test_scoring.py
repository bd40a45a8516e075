"""Scoring rules: quoted evidence, deadlines, order, penalties, critical failures."""

from __future__ import annotations

import textwrap
from pathlib import Path

from bot.engine.catalog import load_checked
from bot.engine.scenario import Outcome, Scenario
from bot.engine.scoring import SkillStatus
from bot.engine.session import Session

SCENE = textwrap.dedent(
    """\
    id: scene
    title: Scene
    briefing: Practice.
    resident: {name: Pat Doe, persona: A caller., mood: 50}
    start: talk
    states:
      talk:
        say: "Yes?"
        on:
          - when: [closing]
            to: done
        otherwise: {say: "Go on."}
      done:
        end: success
        say: "Bye."
    rubric:
      skills:
        greeting: {points: 20, by_turn: 1, tip: "Greet first.", example: "Hello."}
        reason_for_contact: {points: 40, before: [command], tip: "Reason first."}
        closing: {points: 40}
      penalties: {command: -10}
      critical: [threat]
      critical_cap: 25
    """
)


def scene(tmp_path: Path) -> Scenario:
    path = tmp_path / "scene.yaml"
    path.write_text(SCENE, encoding="utf-8")
    return load_checked(path)


def run(scenario: Scenario, *lines: str) -> Session:
    play = Session.start(scenario, seed=0)
    for line in lines:
        if not play.ended:
            play.step(line)
    play.abandon()
    return play


def test_full_marks_with_quotes(tmp_path: Path) -> None:
    play = run(scene(tmp_path), "Hello there.", "The reason I stopped you is your tag expired.", "Drive safe.")
    score = play.score()
    assert score.total == 100 and score.outcome is Outcome.SUCCESS
    greeting = score.skill_points()
    assert greeting == {"greeting": 20, "reason_for_contact": 40, "closing": 40}
    skill = score.skills[0]
    assert skill.status is SkillStatus.EARNED and skill.turn == 1 and skill.quote.lower().startswith("hello")
    assert any("Hello there." in item for item in score.went_well)


def test_late_and_out_of_order_get_partial_points(tmp_path: Path) -> None:
    play = run(scene(tmp_path), "License and registration.", "Hello. The reason I stopped you is your tag expired.", "Drive safe.")
    score = play.score()
    by_name = {s.name: s for s in score.skills}
    assert by_name["greeting"].status is SkillStatus.LATE and by_name["greeting"].points == 10
    assert by_name["reason_for_contact"].status is SkillStatus.OUT_OF_ORDER and by_name["reason_for_contact"].points == 20
    assert "command" in by_name["reason_for_contact"].note
    assert score.penalty == -10
    assert score.total == round(100 * (10 + 20 + 40 - 10) / 100)
    assert any(tip.about == "reason_for_contact" and tip.tip.startswith("In order") for tip in score.try_next)
    assert any(tip.about == "command" for tip in score.try_next)
    assert not any("Hello." in item for item in score.went_well)  # partial credit is 'try next', not 'went well'


def test_the_came_after_note_names_the_rival_that_came_first(tmp_path: Path) -> None:
    # With several signals in `before:`, the note must name the one the trainee said first,
    # not the first one listed: here `id_request` (listed second) came before `command`.
    text = SCENE.replace("before: [command]", "before: [command, id_request]")
    assert text != SCENE
    path = tmp_path / "scene.yaml"
    path.write_text(text, encoding="utf-8")
    scenario = load_checked(path)
    in_earlier_turns = run(scenario, "I need your license and registration.", "Step out of the car.",
                           "The reason I stopped you is your tag expired.")
    result = {s.name: s for s in in_earlier_turns.score().skills}["reason_for_contact"]
    assert result.status is SkillStatus.OUT_OF_ORDER
    assert result.note == "came after id request (\u201cneed your license\u201d, turn 1)"
    in_one_message = run(scenario, "I need your license. Step out of the car.",
                         "The reason I stopped you is your tag expired.")
    result = {s.name: s for s in in_one_message.score().skills}["reason_for_contact"]
    assert result.status is SkillStatus.OUT_OF_ORDER
    assert result.note == "came after id request (\u201cneed your license\u201d, turn 1)"


def test_partial_points_round_half_up(tmp_path: Path) -> None:
    text = SCENE.replace("greeting: {points: 20,", "greeting: {points: 5,")
    path = tmp_path / "scene.yaml"
    path.write_text(text, encoding="utf-8")
    play = run(load_checked(path), "License and registration.", "Hello.")
    assert {s.name: s.points for s in play.score().skills}["greeting"] == 3  # 2.5 -> 3, as by hand


def test_reason_before_command_in_the_same_message_is_in_order(tmp_path: Path) -> None:
    play = run(scene(tmp_path), "Hi. The reason I stopped you is your tag expired. License and registration.")
    result = {s.name: s for s in play.score().skills}["reason_for_contact"]
    assert result.status is SkillStatus.EARNED


def test_critical_signal_fails_and_caps(tmp_path: Path) -> None:
    play = run(scene(tmp_path), "Hello. The reason I stopped you is your tag expired.", "Keep it up and you're going to jail.", "Drive safe.")
    score = play.score()
    assert play.outcome is Outcome.FAILURE and score.outcome is Outcome.FAILURE
    assert score.total == 25 and score.critical[0].signal == "threat"


def test_abandoned_scene_scores_what_was_shown(tmp_path: Path) -> None:
    play = run(scene(tmp_path), "Hello there.")
    score = play.score()
    assert score.outcome is Outcome.ABANDONED and score.total == 20
    assert {t.about for t in score.try_next} == {"reason_for_contact", "closing"}


def test_turning_points_record_big_mood_swings(tmp_path: Path) -> None:
    play = run(scene(tmp_path), "Keep it up and you're going to jail.")
    points = play.score().turning_points
    assert points and points[0].mood_after > points[0].mood_before


def test_scenario_coaching_replaces_the_generic_tip(tmp_path: Path) -> None:
    text = SCENE.replace("  penalties: {command: -10}", "  penalties:\n    command: {points: -10, tip: 'Ask for the ID politely.', example: 'May I see your ID?'}")
    assert text != SCENE
    path = tmp_path / "scene.yaml"
    path.write_text(text, encoding="utf-8")
    score = run(load_checked(path), "License and registration.").score()
    assert score.penalty == -10
    assert [(t.tip, t.example) for t in score.try_next if t.about == "command"] == [("Ask for the ID politely.", "May I see your ID?")]


def test_a_success_ending_in_a_failed_scene_does_not_read_as_a_success(tmp_path: Path) -> None:
    # The resident's good ending was reached, but a critical behaviour came first: the feedback
    # must not show the success summary next to "outcome failure".
    path = tmp_path / "scene.yaml"
    path.write_text(SCENE.replace('    end: success\n', '    end: success\n    summary: "She left happy."\n'), encoding="utf-8")
    failed = run(load_checked(path), "Hello. The reason I stopped you is your tag expired.", "Keep it up and you're going to jail.", "Drive safe.").score()
    assert failed.outcome is Outcome.FAILURE and "She left happy" not in failed.ending
    assert "turn 2" in failed.ending and "going to jail" in failed.ending
    fine = run(load_checked(path), "Hello there.", "The reason I stopped you is your tag expired.", "Drive safe.").score()
    assert fine.outcome is Outcome.SUCCESS and fine.ending == "She left happy."
