"""Nominations, assignment states and record fields, on their own (pure functions)."""

from __future__ import annotations

from datetime import datetime, timezone

from bot.recognition.nominations import nominate
from bot.recognition.records import iso_duration, record_rows, xapi_statements
from bot.recognition.reports import Attempt, assignment_status
from bot.store.rows import AssignmentRow, MemberRow, OverrideRow, RecordRow, SessionRow, SkillEvidenceRow
from tests.recognition.sessions import COURTEOUS, LIBRARY, RECOVERED, RUDE, played


def test_nominations_are_the_turn_around_and_the_line_that_earned_the_most() -> None:
    scenario = LIBRARY.get("traffic_stop")
    _, score = played(RECOVERED)
    found = nominate(scenario, score, 2)
    assert [n.turn for n in found] == [2, 5]
    assert found[0].line == RECOVERED[1] and "turned the scene around" in found[0].why and "mood 70 \u2192 53" in found[0].why
    assert found[1].line == RECOVERED[4] and "points" in found[1].why
    assert len(nominate(scenario, score, 1)) == 1 and nominate(scenario, score, 0) == []
    _, courteous = played(COURTEOUS)
    (best,) = [n for n in nominate(scenario, courteous, 2) if "points" in n.why]
    assert best.turn == 1 and "greeted the driver" in best.why.lower()  # greeting and introduction in one line
    _, rude = played(RUDE)
    assert nominate(scenario, rude, 2) == []  # nothing earned, nothing calmed


def attempt(session_id: int, ended_at: str, score: int, override: int | None = None) -> Attempt:
    changed = OverrideRow(1, session_id, override, score, "why", None, "Ines", ended_at) if override is not None else None
    return Attempt(session_id, "traffic_stop", "practice", ended_at, "success", score, changed)


def test_assignment_states() -> None:
    due = AssignmentRow(1, 1, "traffic_stop", "2026-03-10T23:59:59+00:00", 80, None, "2026-03-01T00:00:00+00:00")
    before_due = datetime(2026, 3, 5, tzinfo=timezone.utc)
    after_due = datetime(2026, 3, 12, tzinfo=timezone.utc)
    assert assignment_status(due, "S", [], before_due).state == "open"
    assert assignment_status(due, "S", [], after_due).state == "overdue"
    older = attempt(1, "2026-02-20T10:00:00+00:00", 95)  # before the assignment was set: does not count
    low = attempt(2, "2026-03-03T10:00:00+00:00", 70)
    assert assignment_status(due, "S", [older, low], before_due).state == "open"
    assert assignment_status(due, "S", [older, low], before_due).best == 70
    passed = assignment_status(due, "S", [low, attempt(3, "2026-03-04T10:00:00+00:00", 85)], after_due)
    assert (passed.state, passed.session_id) == ("passed", 3)
    assert assignment_status(due, "S", [attempt(4, "2026-03-11T10:00:00+00:00", 90)], after_due).state == "passed late"
    assert assignment_status(due, "S", [attempt(5, "2026-03-04T10:00:00+00:00", 70, override=82)], after_due).state == "passed"


def record(outcome: str, score: int, name: str = "=cmd|' /C calc'!A0") -> RecordRow:
    session = SessionRow(
        id=7, scenario_id="traffic_stop", scenario_digest="d", trainee=name, seed=1, state="s", mood=10, turns=3, mode="practice",
        status="ended", outcome=outcome, score=score, guild_id=0, channel_id=None, thread_id=None, trainee_id=None,
        started_at="2026-03-01T10:00:00+00:00", ended_at="2026-03-01T10:12:30+00:00", member_id=1,
    )
    skills = (SkillEvidenceRow("greeting", "Greeted the driver", "earned", 10, 10, 1, "Good evening"),
              SkillEvidenceRow("closing", "Closed well", "missed", 0, 10, None, ""))
    return RecordRow(session, MemberRow(1, 0, None, name, "trainee"), skills, None, "", True)


def test_xapi_verbs_duration_and_evidence() -> None:
    (abandoned,) = xapi_statements([record("abandoned", 20)], {"traffic_stop": "Traffic stop"}, "https://a.example")
    assert abandoned["verb"]["id"] == "http://adlnet.gov/expapi/verbs/terminated"
    assert abandoned["result"]["completion"] is False and abandoned["result"]["success"] is False
    assert abandoned["result"]["duration"] == "PT12M30S" and abandoned["result"]["score"]["scaled"] == 0.2
    assert abandoned["actor"]["account"] == {"homePage": "https://a.example/members", "name": "=cmd|' /C calc'!A0"}
    assert iso_duration(3725) == "PT1H2M5S" and iso_duration(0) == "PT0S"


def test_a_good_ending_with_a_low_score_is_no_pass() -> None:
    # A scene can end lawfully but curtly (capped at 15 or 25): that is not filed as passed.
    curt, good = xapi_statements([record("success", 25), record("success", 70)], {})
    assert (curt["verb"]["display"]["en-US"], curt["result"]["success"], curt["result"]["completion"]) == ("failed", False, True)
    assert (good["verb"]["display"]["en-US"], good["result"]["success"]) == ("passed", True)
    (lenient,) = xapi_statements([record("success", 25)], {}, pass_mark=20)
    assert lenient["verb"]["display"]["en-US"] == "passed"
    assert lenient["context"]["extensions"]["https://trainer.invalid/xapi/extensions/session"]["pass_mark"] == 20
    _, rows = record_rows([record("success", 25), record("success", 70), record("failure", 90)], {})
    assert [r["pass"] for r in rows] == ["no", "yes", "no"]


def test_record_rows_have_the_checklist_and_pass() -> None:
    columns, rows = record_rows([record("success", 85), record("failure", 90)], {}, pass_mark=80)
    assert columns[-2:] == ["skill: greeting", "skill: closing"]
    assert [r["pass"] for r in rows] == ["yes", "no"]
    assert rows[0]["skill: greeting"] == "yes" and rows[0]["skill: closing"] == "no" and rows[0]["minutes"] == 12.5
    _, strict = record_rows([record("success", 75)], {}, pass_mark=80)
    assert strict[0]["pass"] == "no"
