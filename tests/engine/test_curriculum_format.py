"""The format added for the curriculum: personas, counters, once per state, {role},
switched-off and asserted signals, seen_before, penalty labels, and the lint codes for them."""

from __future__ import annotations

import textwrap

import pytest

from bot.engine.lint import lint
from bot.engine.loader import parse_scenario
from bot.engine.scenario import Scenario
from bot.engine.session import Session, pick_persona
from bot.errors import SessionError

BASE = """
id: mini
title: Mini
briefing: A small scene.
resident: {name: Ana Ruiz, persona: A resident., mood: 50}
{extra}
stall: {after: 4, to: stalled}
everywhere:
  first:
    - when: [threat]
      to: upset
    - when: [stacking]
      say: "Hm?"
    - when: [repetition]
      say: "You said that."
  last:
    - when: [leave_taking]
      seen: [greeting]
      to: done
    - any: [leave_taking]
      to: upset
start: door
states:
  door:
    say: "Hello?"
    on:
{rules}
    otherwise:
      say: ["What is it?", "Yes?"]
  done: {{end: success, say: "Bye."}}
  upset: {{end: failure, say: "No."}}
  stalled: {{end: failure, say: "..."}}
rubric:
  skills:
    greeting: {{points: 10}}
    closing: {{points: 10}}
{penalties}
"""


def build(extra: str = "", rules: str = "      - when: [greeting]\n        say: \"Hi.\"", penalties: str = "") -> tuple[Scenario | None, list[str]]:
    text = BASE.replace("{{", "{").replace("}}", "}")
    text = text.replace("{extra}", extra).replace("{rules}", rules).replace("{penalties}", penalties)
    scenario, problems = parse_scenario(textwrap.dedent(text), "mini.yaml")
    codes = [p.code for p in problems]
    if scenario is not None:
        codes += [p.code for p in lint(scenario)]
    return scenario, codes


PERSONAS = """
personas:
  calm: {label: Calm, mood: 20}
  angry: {label: Angry, mood: 80, mood_effects: {greeting: 5}}
"""


def test_personas_set_the_starting_mood_effects_lines_and_rules() -> None:
    rules = textwrap.indent(textwrap.dedent("""\
        - when: [greeting]
          persona: angry
          say: "What do YOU want?"
        - when: [greeting]
          say:
            - text: "Oh, hi there."
              persona: [calm]
    """), "      ")
    scenario, codes = build(PERSONAS, rules)
    assert scenario is not None and codes == []
    calm = Session.start(scenario, seed=3)  # the default is the first listed
    assert calm.persona is not None and calm.persona.name == "calm" and calm.mood == 20
    assert calm.step("Hello.").reply == "Oh, hi there."
    angry = Session.start(scenario, seed=3, persona="angry")
    turn = angry.step("Hello.")
    assert turn.reply == "What do YOU want?" and turn.mood_after == 85  # the persona's +5, not the default -3


def test_random_persona_is_picked_with_the_seed_and_unknown_ones_are_refused() -> None:
    scenario, _ = build(PERSONAS)
    assert scenario is not None
    picks = {seed: pick_persona(scenario, "random", seed) for seed in range(20)}
    assert {p.name for p in picks.values() if p} == {"calm", "angry"}
    assert all(pick_persona(scenario, "random", seed) == persona for seed, persona in picks.items())
    with pytest.raises(SessionError, match="no persona 'sad'"):
        Session.start(scenario, persona="sad")


def test_unknown_persona_in_a_rule_or_line_is_s036_and_a_mood_above_escalation_is_s005() -> None:
    _, codes = build(PERSONAS, "      - when: [greeting]\n        persona: [sad]\n        say: \"Hi.\"")
    assert "S036" in codes
    _, codes = build(PERSONAS + "escalate: {above: 70, to: upset}\n")
    assert "S005" in codes
    _, codes = build("personas:\n  random: {label: R, mood: 10}\n")
    assert "S002" in codes  # 'random' means "surprise me"


def test_counters_count_signals_and_rules() -> None:
    rules = textwrap.indent(textwrap.dedent("""\
        - when: [gratitude]
          at_least: {gratitude: 3}
          to: upset
        - when: [gratitude]
          count: [thanked]
          say: "You're welcome."
        - when: [apology]
          at_least: {thanked: 2}
          fewer_than: {apology: 2}
          say: "Twice thanked, first apology."
    """), "      ")
    scenario, codes = build(rules=rules)
    assert scenario is not None and codes == []
    play = Session.start(scenario, seed=1)
    assert play.step("Thanks for waiting.").reply == "You're welcome."
    assert play.step("Thank you for your time, really.").reply == "You're welcome."
    assert play.step("Sorry about the noise earlier.").reply == "Twice thanked, first apology."
    assert play.step("I appreciate you talking with me.").state_after == "upset"
    _, codes = build(rules="      - at_least: {nowhere: 1}\n        say: \"Hm.\"")
    assert "S011" in codes  # a counter nothing counts


def test_once_state_lines_come_back_in_the_next_visit() -> None:
    text = textwrap.dedent("""\
        id: mini
        title: Mini
        briefing: B.
        resident: {name: Ana, persona: P., mood: 50}
        stall: {after: 9, to: stuck}
        everywhere:
          first:
            - when: [stacking]
              say: "Hm?"
            - when: [repetition]
              say: "Again?"
            - when: [leave_taking]
              seen: [greeting]
              to: done
        start: a
        states:
          a:
            say: "In a."
            on:
              - when: [greeting]
                to: b
            otherwise:
              say:
                - {text: "Story.", once: state}
                - "Plain."
          b:
            say: "In b."
            otherwise: {say: "Still b.", to: a}
          done: {end: success, say: "Bye."}
          stuck: {end: failure, say: "..."}
        rubric: {skills: {greeting: {points: 5}}}
        """)
    scenario, problems = parse_scenario(text, "mini.yaml")
    assert scenario is not None and problems == [] and lint(scenario) == []
    assert scenario.states["a"].otherwise is not None and scenario.states["a"].otherwise.say[0].once == "state"
    play = Session.start(scenario, seed=2)
    first = [play.step(f"line number {n} here").reply for n in range(3)]
    assert first.count("Story.") == 1  # once in this visit
    play.step("Hello there.")  # to b
    play.step("something else entirely")  # back to a: a new visit
    again = [play.step(f"another line {n} please").reply for n in range(3)]
    assert again.count("Story.") == 1


def test_role_placeholder_and_civilian_title() -> None:
    scenario, codes = build("trainee: {title: \"\", role: the records clerk}\n",
                            "      - when: [greeting]\n        say: \"Are you {role}?\"")
    assert scenario is not None and codes == []
    assert Session.start(scenario, seed=1).step("Hi there.").reply == "Are you the records clerk?"
    play = Session.start(scenario, seed=1)
    play.step("I'm Sergeant Ruiz.")
    assert play.role == "the sergeant"


def test_switched_off_signals_are_not_detected_and_may_not_be_used() -> None:
    scenario, codes = build("signals_off: [command]\n", penalties="  penalties: {profanity: -5}")
    assert scenario is not None and codes == []
    turn = Session.start(scenario, seed=1).step("Stay inside and lock the door.")
    assert "command" not in turn.signals
    _, codes = build("signals_off: [command]\n", penalties="  penalties: {command: -5}")
    assert "S030" in codes
    _, codes = build("signals_off: [commnad]\n")
    assert "S011" in codes


def test_asserted_scenario_signals_skip_negated_and_hedged_matches() -> None:
    extra = 'signals:\n  promise: {patterns: ["\\\\bwe will find it\\\\b"], asserted: true}\n'
    scenario, codes = build(extra, "      - when: [promise]\n        say: \"Promise?\"")
    assert scenario is not None
    play = Session.start(scenario, seed=1)
    assert "promise" in play.step("Don't worry, we will find it.").signals
    assert "promise" not in Session.start(scenario, seed=1).step("I can't promise we will find it.").signals


def test_seen_before_needs_an_earlier_message() -> None:
    rules = "      - when: [gratitude]\n        seen_before: [greeting]\n        say: \"Earlier.\""
    scenario, codes = build(rules=rules)
    assert scenario is not None and codes == []
    assert Session.start(scenario, seed=1).step("Hello, and thanks.").reply != "Earlier."
    play = Session.start(scenario, seed=1)
    play.step("Hello.")
    assert play.step("Thank you for that.").reply == "Earlier."


def test_penalty_label_names_the_cost() -> None:
    scenario, codes = build(penalties="  penalties:\n    profanity: {points: -5, label: Swore at her}")
    assert scenario is not None and codes == []
    play = Session.start(scenario, seed=1)
    play.step("What the hell is this?")
    play.abandon()
    assert [hit.label for hit in play.score().penalties] == ["Swore at her"]


@pytest.mark.parametrize(("extra", "rules", "code"), [
    ('signals:\n  unused_one: ["\\\\bzebra\\\\b"]\n', None, "S031"),
    ("", "      - when: [greeting]\n        say: \"Hi.\"\n      - when: [greeting, gratitude]\n        say: \"Hi again.\"", "S021"),
    ("", "      - when: [greeting]\n        say: [\"Hi.\", \"Hi.\"]", "S033"),
    ('signals:\n  zebra: "\\bzebra\\b"\n', "      - when: [zebra]\n        say: \"Hm.\"", "S007"),
])
def test_new_lint_codes(extra: str, rules: str | None, code: str) -> None:
    _, codes = build(extra, rules) if rules is not None else build(extra)
    assert code in codes


def test_a_skill_nothing_can_award_is_s032() -> None:
    text = BASE.replace("{{", "{").replace("}}", "}")
    text = text.replace("{extra}", "").replace("{rules}", "      - when: [greeting]\n        say: \"Hi.\"").replace("{penalties}", "")
    text = text.replace("    closing: {points: 10}", "    closing: {points: 10}\n    gamed: {points: 5, signals: [stacking]}\n    loop_a: {points: 5, signal: greeting, requires: [loop_b]}\n    loop_b: {points: 5, signal: closing, requires: [loop_a]}")
    scenario, problems = parse_scenario(text, "mini.yaml")
    assert scenario is not None, problems
    messages = [p.message for p in lint(scenario) if p.code == "S032"]
    assert any("'gamed'" in m for m in messages) and any("'loop_a'" in m for m in messages)


def test_free_success_is_s034() -> None:
    scenario, codes = build(rules="      - when: [open_question]\n        to: done")
    assert "S034" in codes


def test_a_success_that_needs_a_rubric_signal_earlier_is_not_s034() -> None:
    # `seen_before` asks for the behaviour as much as `seen` does: "the reason came before the goodbye".
    scenario, codes = build(rules="      - when: [open_question]\n        seen_before: [greeting]\n        to: done")
    assert scenario is not None and "S034" not in codes
