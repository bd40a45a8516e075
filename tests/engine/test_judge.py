"""What a message earns in its context: facts, hollow lines, stacking, repetition, endings.

The integrity rules are general mechanisms of the engine and the format, so they are tested
on a small scenario written for these tests, then on the shipped ones.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.engine import judge as judge_module
from bot.engine.catalog import check, load_checked
from bot.engine.judge import History, judge, words
from bot.engine.scenario import Outcome, Scenario
from bot.engine.session import Session
from bot.engine.signals import detect

DIALOGUES = Path(__file__).resolve().parents[2] / "dialogues"

NOISE = textwrap.dedent(
    """\
    id: noise
    title: Noise complaint
    briefing: You knock about loud music at 2 am.
    resident: {name: Sam Lee, persona: A tired neighbour., mood: 50}
    trainee: {title: Deputy}
    facts:
      loud_music:
        label: the reason for the visit
        truth: a complaint about loud music
        checks: [reason_for_contact]
        required: true
        right: ["\\\\bmusic\\\\b"]
        wrong: ["\\\\bparty\\\\b", "\\\\bfight\\\\b"]
        tip: Say it was about the music.
      no_fine:
        label: whether there is a fine
        truth: there is no fine for a first complaint
        right: ["\\\\bno fine\\\\b"]
        wrong: ["\\\\byou('ll| will) (get|pay) a fine\\\\b"]
    stall: {after: 3, to: stalled}
    everywhere:
      first:
        - when: [threat]
          to: angry
        - when: [stacking]
          say: "...Are you reading that off a card?"
        - when: [repetition]
          say: "You said that."
        - when: [contradiction]
          mood: 2
          say: "A party? There's no party."
      last:
        - any: [leave_taking]
          to: dismissed
    start: door
    states:
      door:
        say: ["*The door opens.* Yes?"]
        on:
          - when: [reason_for_contact]
            to: explained
          - any: [greeting, introduction]
            say:
              - text: "It's two in the morning. I'm exhausted."
                feels: [tired]
        otherwise:
          say: "What do you want?"
      explained:
        say: "Oh. Sorry. I'll turn it down."
        on:
          - when: [closing]
            to: calm
        otherwise:
          say: "Anything else?"
      calm:
        end: success
        say: "Thanks, {officer}. Good night."
      dismissed:
        end: failure
        score_cap: 50
        summary: Sam shut the door, none the wiser.
        say: "*The door closes.*"
      stalled:
        end: failure
        say: "*Sam gives up and closes the door.*"
      angry:
        end: failure
        say: "I'm calling your supervisor."
    rubric:
      skills:
        greeting: {points: 10}
        introduction: {points: 10}
        reason_for_contact: {points: 30}
        empathy: {points: 20}
        closing: {points: 30, requires: [reason_for_contact]}
      penalties: {threat: -25, search_request: -20}
      critical: [threat]
    """
)


@pytest.fixture
def noise(tmp_path: Path) -> Scenario:
    path = tmp_path / "noise.yaml"
    path.write_text(NOISE, encoding="utf-8")
    return load_checked(path)


def play(scenario: Scenario, *lines: str, seed: int = 1) -> Session:
    session = Session.start(scenario, seed=seed)
    for line in lines:
        if not session.ended:
            session.step(line)
    return session


def test_the_test_scenario_is_clean_even_strictly(noise: Scenario) -> None:
    _, problems = check([noise.path])
    assert problems == []


# ------------------------------------------------------------------ facts


def test_a_true_reason_earns_the_skill(noise: Scenario) -> None:
    turn = play(noise, "We had a complaint about the loud music, sir.").turns[0]
    assert "reason_for_contact" in turn.judgement.credited_names()
    assert turn.state_after == "explained"


def test_a_wrong_reason_earns_nothing_and_the_resident_notices(noise: Scenario) -> None:
    session = play(noise, "We had a complaint about a party here.")
    turn = session.turns[0]
    assert "reason_for_contact" not in turn.judgement.credited_names()
    assert {"contradiction", "contradicts_loud_music"} <= turn.judgement.signals
    assert turn.reply == "A party? There's no party." and turn.state_after == "door"
    assert turn.mood_after > turn.mood_before
    score = session.score()
    assert score.skill_points()["reason_for_contact"] == 0
    assert any(n.kind == "contradiction" and "loud music" in n.text for n in score.integrity)


def test_a_negated_or_hedged_wrong_claim_is_no_contradiction(noise: Scenario) -> None:
    turn = play(noise, "It's about the music, not a party or anything.").turns[0]
    assert not turn.judgement.contradictions
    assert "reason_for_contact" in turn.judgement.credited_names()


def test_a_required_fact_makes_a_vague_reason_count_for_nothing(noise: Scenario) -> None:
    turn = play(noise, "The reason I'm here is a complaint from the building.").turns[0]
    assert "reason_for_contact" not in turn.judgement.credited_names()
    assert not turn.judgement.contradictions  # vague, not false
    why = [u.why for u in turn.judgement.uncredited if u.evidence.signal == "reason_for_contact"]
    assert why and "loud music" in why[0]


def test_a_fact_without_checks_catches_a_promise_anywhere(noise: Scenario) -> None:
    turn = play(noise, "Hello. You'll pay a fine for this.").turns[0]
    assert "contradicts_no_fine" in turn.judgement.signals
    assert not play(noise, "I can't promise you'll get a fine, honestly no idea.").turns[0].judgement.contradictions


def test_a_threat_is_never_a_reason() -> None:
    assert not detect("I stopped you because you're going to jail tonight.").has("reason_for_contact")


# ------------------------------------------------------------------ substance


def test_a_lone_i_understand_has_nothing_to_answer(noise: Scenario) -> None:
    turn = play(noise, "I understand.").turns[0]
    assert "empathy" not in turn.judgement.signals
    assert "nothing had been said" in turn.judgement.uncredited[0].why


def test_i_understand_counts_after_the_resident_says_how_she_feels(noise: Scenario) -> None:
    session = play(noise, "Good evening, I'm Deputy Ruiz.")
    assert session.turns[0].reply == "It's two in the morning. I'm exhausted."
    turn = session.step("I understand.")
    assert "empathy" in turn.judgement.credited_names()


def test_specific_empathy_needs_no_cue(noise: Scenario) -> None:
    turn = play(noise, "That must have been exhausting.").turns[0]
    assert "empathy" in turn.judgement.credited_names()


def test_a_closing_before_the_business_earns_nothing_but_ends_the_visit(noise: Scenario) -> None:
    session = play(noise, "Have a good night.")
    assert session.state == "dismissed" and session.outcome is Outcome.FAILURE
    score = session.score()
    assert score.skill_points()["closing"] == 0
    assert "came before reason for contact" in next(s.note for s in score.skills if s.name == "closing")
    good = play(noise, "Hi, we had a complaint about the music.", "Thanks for turning it down. Have a good night.")
    assert good.outcome is Outcome.SUCCESS and good.score().skill_points()["closing"] == 30


def test_a_closing_too_soon_names_only_what_was_still_missing() -> None:
    """The next steps were explained, the reason was not (a wrong one was given): the goodbye
    is told it came before the reason, not before the next steps too."""
    scenario = load_checked(Path(__file__).resolve().parents[2] / "dialogues" / "traffic_stop.yaml")
    session = play(scenario, "Good evening, ma'am. I'm Officer Diaz. The reason I stopped you is your tail light is out.",
                   "You're not in trouble; I'm going to give you a repair notice, not a ticket.",
                   "Thank you for your patience, drive safe tonight.")
    session.abandon()
    note = next(s.note for s in session.score().skills if s.name == "closing")
    assert note.endswith("came before reason for contact"), note


# ------------------------------------------------------------------ gaming


SALAD = "evening, officer x here, reason for the stop, so sorry, I get it, safe travels"


def test_a_salad_of_rubric_phrases_earns_nothing(noise: Scenario) -> None:
    turn = play(noise, SALAD).turns[0]
    assert turn.judgement.stacked and not turn.judgement.credited
    assert turn.reply == "...Are you reading that off a card?"
    assert turn.mood_after >= turn.mood_before  # never calmer


def test_a_natural_officer_saying_three_things_at_once_keeps_full_credit(noise: Scenario) -> None:
    line = "Hello, sir. I'm Deputy Ruiz. The reason I knocked is a complaint about loud music."
    turn = play(noise, line).turns[0]
    assert not turn.judgement.stacked
    assert {"greeting", "introduction", "reason_for_contact"} <= turn.judgement.credited_names()


def test_a_list_of_courtesies_is_stacking_even_without_a_false_claim(noise: Scenario) -> None:
    line = "Please and thank you, I appreciate you, you are safe, this will only take a few minutes, take your time, what questions do you have?"
    assert play(noise, line).turns[0].judgement.stacked


def test_short_clauses_with_something_particular_are_not_a_list(noise: Scenario) -> None:
    line = "Sorry, let me start over. Good evening, sir, I'm Deputy Ruiz. I knocked because of the music in apartment 4."
    turn = play(noise, line).turns[0]
    assert not turn.judgement.stacked and "reason_for_contact" in turn.judgement.credited_names()


def test_a_name_and_role_over_a_comma_are_one_clause_of_a_natural_line() -> None:
    # "I'm Jo Martinez, a community service officer" is one thing said; split at its comma it
    # looked like two set phrases, and a good first line was judged a list of them.
    crash = load_checked(DIALOGUES / "minor_crash.yaml")
    line = "Hi, I'm Jo Martinez, a community service officer with the police department. That was quite a bump. How are you feeling? Any pain anywhere?"
    turn = play(crash, line).turns[0]
    assert not turn.judgement.stacked and {"introduction", "asks_injury"} <= turn.judgement.credited_names()
    salad = "Good evening, I'm Officer Lee, so sorry, I understand, thank you, take care, have a good night."
    assert play(crash, salad).turns[0].judgement.stacked


def test_a_repeated_line_earns_nothing_the_second_time(noise: Scenario) -> None:
    session = play(noise, "Good evening, I'm Deputy Ruiz.", "Good evening, I'm Deputy Ruiz!")
    second = session.turns[1]
    assert second.judgement.repeat_of == 1 and not second.judgement.credited
    assert second.reply == "You said that." and second.mood_after >= second.mood_before


def test_near_repeats_count_and_short_lines_get_leeway() -> None:
    earlier = [words("I understand how you feel"), words("Okay.")]
    history = History(lines=earlier)
    scenario = load_checked(DIALOGUES / "traffic_stop.yaml")
    assert judge(scenario, detect("I totally understand how you feel"), history).repeat_of == 1
    assert judge(scenario, detect("Okay!"), history).repeat_of is None  # a second "okay" is just talk
    history.lines.append(words("okay"))
    assert judge(scenario, detect("okay"), history).repeat_of == 2


def test_gaming_caps_the_score_and_is_named_in_the_feedback(noise: Scenario) -> None:
    line = "Good evening, I'm Deputy Ruiz, we had a complaint about the loud music."
    session = play(noise, line, line, line)
    score = session.score()
    assert score.gamed and score.total <= noise.rubric.integrity_cap
    assert any("3 times" in n.text or "three times" in n.text for n in score.integrity)
    assert score.try_next[0].about == "repetition"


# ------------------------------------------------------------------ endings


def test_a_stalled_scene_ends_instead_of_looping(noise: Scenario) -> None:
    session = play(noise, "Hm.", "So.", "Yeah.")
    assert session.ended and session.state == "stalled"
    assert session.turns[-1].stalled and "without progress" in session.turns[-1].rule


def test_the_curt_ending_caps_the_score_and_explains_itself(noise: Scenario) -> None:
    session = play(noise, "Good evening, I'm Deputy Ruiz. We had a complaint about the loud music.")
    session.step("I understand it's late.")  # to keep the scene in 'explained'
    session.step("That's all.")
    score = session.score()
    assert session.state == "dismissed" and score.total <= 50
    assert score.ending == "Sam shut the door, none the wiser." and score.caps


# ------------------------------------------------------------------ addressing the trainee


@pytest.mark.parametrize(
    ("line", "called"),
    [
        ("Evening. Trooper Nguyen, state patrol.", "Trooper Nguyen"),
        ("hi im sgt ruiz", "Sergeant Ruiz"),
        ("Jenkins, with Metro.", "Deputy Jenkins"),  # the scenario's title for a name without a rank
    ],
)
def test_the_resident_uses_the_rank_the_trainee_gives(noise: Scenario, line: str, called: str) -> None:
    session = play(noise, line, "We had a complaint about the music.", "Thanks, have a good night.")
    assert session.officer_name == called
    assert session.turns[-1].reply == f"Thanks, {called}. Good night."


def test_civilian_staff_are_never_called_officer(noise: Scenario) -> None:
    civilian = Scenario(**{**vars(noise), "trainee_title": ""})
    session = play(civilian, "We had a complaint about the music.", "Thanks, have a good night.")
    assert session.turns[-1].reply == "Thanks. Good night."
    named = play(civilian, "Hi, I'm Pat, I work here in Records.", "It's about the music.", "Thanks, good night!")
    assert named.turns[-1].reply == "Thanks, Pat. Good night."


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["sir", "the", "light", "is", "out", "ok", "thanks", "your", "car"]), max_size=9),
       st.lists(st.sampled_from(["sir", "the", "light", "is", "out", "ok", "thanks", "your", "car"]), max_size=9))
def test_the_quick_repeat_test_agrees_with_difflib(a: list[str], b: list[str]) -> None:
    """The count that rules most pairs of lines out before difflib runs never rules out a repeat
    (`plain` is the test as it was before that count: lengths, then difflib)."""
    import difflib

    from bot.engine.judge import REPEAT_SIMILARITY, _similar

    first, second = tuple(a), tuple(b)
    matcher = difflib.SequenceMatcher(None, first, second, autojunk=False)
    plain = (bool(second) and min(len(first), len(second)) / max(len(first), len(second)) >= REPEAT_SIMILARITY
             and matcher.quick_ratio() >= REPEAT_SIMILARITY and matcher.ratio() >= REPEAT_SIMILARITY)
    assert _similar(first, second) == plain


# The judge's clause and name patterns open with a look-ahead for their matches' first
# characters, for speed only: without it, each finds exactly the same matches.
_OPENING_LOOKAHEAD = re.compile(r"^\(\?=\[[^\]]*\]\)")
_CLAUSE_TEXT = st.lists(
    st.sampled_from(list("aAzZ09 .,;:!?\n\t\u00a0٣ſKé)(") + ["Mr.", "Ms.", "Dr.", "sgt.", "1) ", "2. ", "b) ", "Ann ", "... "]),
    max_size=40,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(_CLAUSE_TEXT, st.integers(min_value=0, max_value=4))
def test_opening_look_aheads_change_no_match(text: str, pos: int) -> None:
    for pattern in (judge_module._CLAUSE_END, judge_module._LIST_MARKER, judge_module._NAME_LIKE):
        plain = re.compile(_OPENING_LOOKAHEAD.sub("", pattern.pattern), pattern.flags)
        assert plain.pattern != pattern.pattern
        assert [m.span() for m in pattern.finditer(text, pos)] == [m.span() for m in plain.finditer(text, pos)]
