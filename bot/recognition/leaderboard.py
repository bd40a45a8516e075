"""The recognition board: points from each scenario's best attempt, badges and kudos. Pure.

- Each scenario counts once, with the trainee's best clean attempt in the period (an
  instructor's override replaces the earned score): retrying can only raise a best, never
  lower it, and playing the same scenario again and again adds nothing.
- Gamed or contradicted sessions, and sessions with a critical behaviour, add nothing;
  people with no points are not on the board at all.
- Badges add their points once each; kudos add a few points each (kudos are limited per
  giver and pair, so they cannot be farmed).
- Ties go to whoever reached their total first, then by name: the order is stable, and
  a later attempt that only equals a best changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bot.recognition.badges import counts
from bot.store.rows import BadgeRow, KudosRow, MemberRow, SessionResult

DEFAULT_BADGE_POINTS = 10


@dataclass(frozen=True)
class Standing:
    rank: int
    member_id: int
    name: str
    discord_id: int | None
    points: int
    best_points: int  # the sum of each scenario's best
    badge_points: int
    kudos_points: int
    scenarios: Mapping[str, int] = field(default_factory=dict)  # scenario -> best score
    badges: int = 0
    kudos: int = 0
    reached_at: str = ""

    def summary(self) -> str:
        parts = [f"{len(self.scenarios)} scenario{'s' if len(self.scenarios) != 1 else ''}"] if self.scenarios else []
        if self.badges:
            parts.append(f"{self.badges} badge{'s' if self.badges != 1 else ''}")
        if self.kudos:
            parts.append(f"{self.kudos} kudos")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, object]:
        return {
            "rank": self.rank, "name": self.name, "points": self.points, "best_attempts": self.best_points,
            "badges": self.badge_points, "kudos": self.kudos_points, "scenarios": dict(self.scenarios),
        }


def rank(
    members: Iterable[MemberRow], results: Iterable[SessionResult], badges: Iterable[BadgeRow], kudos: Iterable[KudosRow],
    *, badge_points: Mapping[str, int], kudos_points: int,
) -> list[Standing]:
    """Everyone of `members` with points, best first. The rows passed are those of the period."""
    people = {m.id: m for m in members}
    best: dict[int, dict[str, tuple[int, str]]] = {}
    for result in results:
        if result.member_id not in people or not counts(result):
            continue
        score = result.effective_score
        mine = best.setdefault(result.member_id, {})
        held = mine.get(result.scenario_id)
        # The earliest session that reached the best keeps it: an equal retry changes nothing.
        if held is None or score > held[0] or (score == held[0] and result.ended_at < held[1]):
            mine[result.scenario_id] = (score, result.ended_at)
    earned: dict[int, list[BadgeRow]] = {}
    for badge in badges:
        if badge.member_id in people:
            earned.setdefault(badge.member_id, []).append(badge)
    praised: dict[int, list[KudosRow]] = {}
    for item in kudos:
        if item.to_member_id in people:
            praised.setdefault(item.to_member_id, []).append(item)
    standings = []
    for member_id, member in people.items():
        scenarios = best.get(member_id, {})
        held_badges = earned.get(member_id, [])
        got_kudos = praised.get(member_id, [])
        best_points = sum(score for score, _ in scenarios.values())
        badge_total = sum(badge_points.get(b.badge, DEFAULT_BADGE_POINTS) for b in held_badges)
        kudos_total = kudos_points * len(got_kudos)
        points = best_points + badge_total + kudos_total
        if points <= 0:
            continue
        moments = [at for _, at in scenarios.values()] + [b.awarded_at for b in held_badges] + [k.created_at for k in got_kudos]
        standings.append(Standing(
            rank=0, member_id=member_id, name=member.display_name, discord_id=member.discord_id, points=points,
            best_points=best_points, badge_points=badge_total, kudos_points=kudos_total,
            scenarios={scenario: score for scenario, (score, _) in sorted(scenarios.items())},
            badges=len(held_badges), kudos=len(got_kudos), reached_at=max(moments) if moments else "",
        ))
    standings.sort(key=lambda s: (-s.points, s.reached_at, s.name.casefold(), s.member_id))
    return [Standing(**{**s.__dict__, "rank": place}) for place, s in enumerate(standings, start=1)]


def public_ranking(standings: Sequence[Standing], private: Iterable[int]) -> list[Standing]:
    """The board as the cohort sees it: only people who accept public recognition, ranked
    among themselves (a public post shows its top)."""
    hidden = set(private)
    shown = [s for s in standings if s.member_id not in hidden]
    return [Standing(**{**s.__dict__, "rank": place}) for place, s in enumerate(shown, start=1)]


def own_standing(standings: Sequence[Standing], member_id: int) -> Standing | None:
    return next((s for s in standings if s.member_id == member_id), None)
