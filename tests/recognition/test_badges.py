"""Every shipped badge rule, on real sessions of the shipped scenarios; and what never earns one."""

from __future__ import annotations

from datetime import timezone
from zoneinfo import ZoneInfo

import pytest

from bot.engine.golden import load_transcript
from bot.recognition.badges import audiences_of, earned_badges
from tests.recognition.sessions import (
    BURGLARY, COURTEOUS, LATE_REASON, LIBRARY, RECOVERED, ROOT, RUDE, RULES, SALAD, facts, moved, result,
)

AUDIENCES = {"patrol": {"traffic_stop", "burglary_victim"}, "recruits": {"burglary_victim"}}
DAY = "2026-03-0{}T15:00:00+00:00"


def names(history: list, held: tuple[str, ...] = (), zone=timezone.utc) -> set[str]:  # type: ignore[no-untyped-def]
    return {e.badge.name for e in earned_badges(RULES, history, held, AUDIENCES, zone)}


def test_the_shipped_rules_name_the_oakland_five() -> None:
    assert RULES.oakland_five == ("greet_and_introduce", "reason_early", "safety_concern", "reassurance", "formal_titles")
    assert {b.name for b in RULES.badges} == {
        "perfect_opening", "reason_first_five", "calmed_hostile", "clean_run", "practice_streak", "patrol_complete", "civilian_staff_complete",
        "all_five",
    }


def test_a_courteous_stop_shows_all_five_behaviours_with_the_words_that_showed_them() -> None:
    found, score = facts(COURTEOUS)
    shown = {s.behaviour: (s.turn, s.quote) for s in found.shown}
    assert set(RULES.oakland_five) <= set(shown)
    assert shown["reason_early"] == (2, "The reason I pulled")
    assert shown["safety_concern"][1] == "Drive safe"
    assert found.clean and not found.critical and found.penalties == 0 and score.outcome.value == "success"


def test_perfect_opening_clean_run_and_all_five_from_one_session() -> None:
    assert names([result(COURTEOUS, 1, DAY.format(1))]) == {"perfect_opening", "clean_run", "all_five"}


def test_a_reason_after_a_request_is_no_perfect_opening() -> None:
    found, _ = facts(LATE_REASON)
    assert "reason_early" not in {s.behaviour for s in found.shown}
    assert "perfect_opening" not in names([result(LATE_REASON, 1, DAY.format(1))])


def test_the_burglary_scenario_uses_its_own_rubric_for_the_reason() -> None:
    # "about the break-in" is the burglary scenario's own signal for the reason, through its rubric skill.
    found, _ = facts(BURGLARY, "burglary_victim")
    assert {"greeting", "introduction", "reason_early"} <= {s.behaviour for s in found.shown}


def test_calm_in_the_storm_needs_a_hostile_resident_brought_to_a_good_ending() -> None:
    recovered = result(RECOVERED, 1, DAY.format(1))
    assert recovered.peak_mood >= 70 and recovered.outcome == "success"
    assert names([recovered]) == {"calmed_hostile"}  # a bare command first: no clean run, no perfect opening
    assert "calmed_hostile" not in names([result(COURTEOUS, 1, DAY.format(1))])  # never hostile
    assert "calmed_hostile" not in names([result(RUDE, 1, DAY.format(1))])  # hostile, and stayed so


def test_reason_first_five_times_running() -> None:
    good = result(COURTEOUS, 1, DAY.format(1))
    late = result(LATE_REASON, 1, DAY.format(1))
    four = [moved(good, i, f"2026-03-01T1{i}:00:00+00:00") for i in range(4)]
    assert "reason_first_five" not in names(four)
    five = four + [moved(good, 5, "2026-03-01T15:00:00+00:00")]
    (earned,) = [e for e in earned_badges(RULES, five, (), AUDIENCES, timezone.utc) if e.badge.name == "reason_first_five"]
    assert earned.session_id == 5  # the session that completed the run
    broken = four[:2] + [moved(late, 10, "2026-03-01T12:30:00+00:00")] + four[2:] + [moved(good, 5, "2026-03-01T15:00:00+00:00")]
    assert "reason_first_five" not in names(broken)  # a miss in between starts the run again


def test_a_gamed_session_breaks_a_run_and_an_assessment_neither_counts_nor_breaks() -> None:
    good = result(COURTEOUS, 1, DAY.format(1))
    gamed = result(SALAD, 9, "2026-03-01T12:30:00+00:00")
    assert gamed.gamed and not gamed.clean
    run = [moved(good, i, f"2026-03-01T1{i}:00:00+00:00") for i in range(5)]
    assert "reason_first_five" not in names(run[:2] + [gamed] + run[2:])
    assessment = moved(result(LATE_REASON, 8, DAY.format(1), mode="assessment"), 8, "2026-03-01T12:30:00+00:00")
    assert "reason_first_five" in names(run[:2] + [assessment] + run[2:])


def test_three_day_streak_in_the_configured_time_zone() -> None:
    good = result(COURTEOUS, 1, DAY.format(1))
    days = [moved(good, i, f"2026-03-0{i}T15:00:00+00:00") for i in (1, 2, 3)]
    assert "practice_streak" in names(days)
    assert "practice_streak" not in names([days[0], days[2]])  # a day missed
    assert "practice_streak" not in names([days[0], moved(good, 9, "2026-03-01T20:00:00+00:00"), days[1]])  # two on one day
    # 01:30 UTC on the 3rd is still the 2nd in Chicago, so there the three sessions cover only two days.
    late_night = [days[0], days[1], moved(good, 3, "2026-03-03T01:30:00+00:00")]
    assert "practice_streak" in names(late_night)
    assert "practice_streak" not in names(late_night, zone=ZoneInfo("America/Chicago"))


def test_every_patrol_scenario_needs_a_good_ending_in_each() -> None:
    traffic = result(COURTEOUS, 1, DAY.format(1))
    burglary = result(BURGLARY, 2, DAY.format(2), scenario_id="burglary_victim")
    assert burglary.outcome == "success"
    assert "patrol_complete" not in names([traffic])
    assert "patrol_complete" not in names([traffic, result(RUDE, 3, DAY.format(3), scenario_id="burglary_victim")])
    (earned,) = [e for e in earned_badges(RULES, [traffic, burglary], (), AUDIENCES, timezone.utc) if e.badge.name == "patrol_complete"]
    assert earned.session_id == 2


@pytest.mark.parametrize(("audience", "badge", "least"), [("patrol", "patrol_complete", 9), ("civilian_staff", "civilian_staff_complete", 3)])
def test_every_scenario_of_an_audience_of_the_shipped_curriculum(audience: str, badge: str, least: int) -> None:
    # The audiences come from the scenario files: patrol is most of the curriculum.
    audiences = audiences_of(LIBRARY.scenarios.values())
    wanted = sorted(audiences[audience])
    assert len(wanted) >= least
    assert "suspicious_person_call" not in wanted  # a call-taker's scenario
    history = []
    for number, scenario_id in enumerate(wanted, start=1):
        if scenario_id == "traffic_stop":
            lines, seed, persona = COURTEOUS, 1, None
        else:  # each scenario's model golden transcript, with its persona
            (path,) = (ROOT / "dialogues" / "golden" / scenario_id).glob("model_*.yaml")
            transcript = load_transcript(path)
            lines, seed, persona = [t.officer for t in transcript.turns], transcript.seed, transcript.persona
        played = result(lines, number, f"2026-03-01T{number:02d}:00:00+00:00", scenario_id=scenario_id, seed=seed, persona=persona)
        assert played.outcome == "success" and played.clean, scenario_id
        earned = {e.badge.name: e.session_id for e in earned_badges(RULES, [*history, played], (), audiences, timezone.utc)}
        assert (badge in earned) == (number == len(wanted)), scenario_id
        history.append(played)
    assert earned[badge] == len(wanted)


def test_a_curt_lawful_ending_is_no_good_ending() -> None:
    # The curriculum ends some brush-offs as a "success" with a capped score: no badge for a good ending.
    curt = []
    for number, scenario_id in enumerate(["burglary_victim", "minor_crash"], start=1):
        transcript = load_transcript(ROOT / "dialogues" / "golden" / scenario_id / "curt_ending.yaml")
        played = result([t.officer for t in transcript.turns], number, DAY.format(number), scenario_id=scenario_id,
                        seed=transcript.seed, persona=transcript.persona)
        assert played.outcome == "success" and played.score <= 25 and played.clean
        curt.append(played)
    assert curt[0].penalties == 0  # without a single penalised line, even so
    assert not names(curt) & {"clean_run", "calmed_hostile", "patrol_complete", "civilian_staff_complete"}


def test_the_mood_starts_where_the_persona_puts_it() -> None:
    (path,) = (ROOT / "dialogues" / "golden" / "filming_resident").glob("model_*.yaml")
    lines = [t.officer for t in load_transcript(path).turns]
    calm = result(lines, 1, DAY.format(1), scenario_id="filming_resident", persona="curious")
    hostile = result(lines, 2, DAY.format(2), scenario_id="filming_resident", persona="confrontational")
    assert (calm.start_mood, hostile.start_mood) == (50, 72)
    assert hostile.peak_mood >= 72


def test_nothing_gamed_or_from_an_assessment_earns_a_badge_and_none_is_earned_twice() -> None:
    assert names([result(SALAD, 1, DAY.format(1))]) == set()
    assert names([result(COURTEOUS, 1, DAY.format(1), mode="assessment")]) == set()
    assert names([result(COURTEOUS, 1, DAY.format(1))], held=("perfect_opening", "clean_run")) == {"all_five"}
