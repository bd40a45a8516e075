"""Which badges a trainee's finished sessions earn. Pure: rules + history in, badges out.

Only practice role-plays count, and only those that could be recognised in public (a clean
grade and no critical behaviour): nothing gamed or contradicted ever earns a badge, and a
gamed session breaks a run. The whole history is evaluated each time, so a badge added to
the rules file is earned by what a trainee already did, and a badge is never earned twice
(the caller passes the badges already held).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from bot.engine.scenario import Outcome, Scenario
from bot.recognition.rules import Badge, BadgeRules, SessionCondition
from bot.store.rows import SessionResult


@dataclass(frozen=True)
class Earned:
    badge: Badge
    session_id: int  # the session that completed the rule


def audiences_of(scenarios: Iterable[Scenario]) -> dict[str, set[str]]:
    """Audience -> the ids of its scenarios, for badges such as "every patrol scenario"."""
    found: dict[str, set[str]] = {}
    for scenario in scenarios:
        for audience in scenario.audience:
            found.setdefault(audience, set()).add(scenario.id)
    return found


def counts(result: SessionResult) -> bool:
    """A session that recognition may look at: practice, played, clean, nothing critical."""
    return result.mode == "practice" and result.turns > 0 and result.clean and not result.critical


def meets(result: SessionResult, condition: SessionCondition) -> bool:
    if not counts(result):
        return False
    if condition.outcome is not None and result.outcome != condition.outcome.value:
        return False
    if not set(condition.shows) <= set(result.shown):
        return False
    if condition.min_score is not None and result.score < condition.min_score:
        return False
    if condition.max_penalties is not None and result.penalties > condition.max_penalties:
        return False
    if condition.peak_mood_at_least is not None and result.peak_mood < condition.peak_mood_at_least:
        return False
    if condition.start_mood_at_least is not None and result.start_mood < condition.start_mood_at_least:
        return False
    return True


def earned_badges(
    rules: BadgeRules, history: Sequence[SessionResult], held: Iterable[str], audiences: Mapping[str, Iterable[str]], zone: tzinfo,
) -> list[Earned]:
    """Badges the history earns that are not held yet. `history`: the trainee's finished
    sessions in the order they ended; `audiences`: audience -> scenario ids."""
    have = set(held)
    ordered = sorted(history, key=lambda r: (r.ended_at, r.session_id))
    found = []
    for badge in rules.badges:
        if badge.name in have:
            continue
        session_id = _earned_by(badge, ordered, audiences, zone)
        if session_id is not None:
            found.append(Earned(badge, session_id))
    return found


def _earned_by(badge: Badge, history: Sequence[SessionResult], audiences: Mapping[str, Iterable[str]], zone: tzinfo) -> int | None:
    if badge.days_in_a_row is not None:
        return _day_streak(history, badge.days_in_a_row, zone)
    condition = badge.session
    assert condition is not None  # the rules reader guarantees a rule
    if badge.in_a_row is not None:
        run = 0
        for result in history:
            if result.mode != "practice" or result.turns == 0:
                continue  # an assessment or an empty session is neither part of a run nor breaks one
            run = run + 1 if meets(result, condition) else 0
            if run >= badge.in_a_row:
                return result.session_id
        return None
    if badge.every_scenario_of is not None:
        wanted = set(audiences.get(badge.every_scenario_of, ()))
        if not wanted:
            return None
        done: set[str] = set()
        for result in history:
            if result.scenario_id in wanted and meets(result, condition):
                done.add(result.scenario_id)
                if done == wanted:
                    return result.session_id
        return None
    return next((result.session_id for result in history if meets(result, condition)), None)


def _day_streak(history: Sequence[SessionResult], days: int, zone: tzinfo) -> int | None:
    run, previous = 0, None
    for result in history:
        if not counts(result):
            continue
        day = local_day(result.ended_at, zone)
        if previous is not None and day == previous:
            continue
        run = run + 1 if previous is not None and day - previous == timedelta(days=1) else 1
        previous = day
        if run >= days:
            return result.session_id
    return None


def local_day(stamp: str, zone: tzinfo) -> date:
    return datetime.fromisoformat(stamp).astimezone(zone).date()


def outcome_success(result: SessionResult) -> bool:
    return result.outcome == Outcome.SUCCESS.value
