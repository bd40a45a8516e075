"""Instructors' reports: one trainee's progress, and a cohort's skills side by side.

Private data: shown to instructors only (ephemeral on Discord), never posted. Scores are
never averaged across scenarios (a hard scenario would drag an average down): each
scenario shows its first, best and latest attempt. An instructor's override is shown
beside the score the session earned, which is kept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from bot.store import Store
from bot.store.rows import AssignmentRow, CohortRow, MemberRow, OverrideRow, SkillEvidenceRow

ASSIGNMENT_STATES = ("passed", "passed late", "open", "overdue")


@dataclass(frozen=True)
class Attempt:
    session_id: int
    scenario_id: str
    mode: str
    ended_at: str
    outcome: str
    score: int  # as earned
    override: OverrideRow | None = None

    @property
    def effective(self) -> int:
        return self.override.score if self.override is not None else self.score


@dataclass(frozen=True)
class ScenarioProgress:
    scenario_id: str
    title: str
    attempts: tuple[Attempt, ...]  # finished ones, oldest first

    @property
    def first(self) -> Attempt:
        return self.attempts[0]

    @property
    def latest(self) -> Attempt:
        return self.attempts[-1]

    @property
    def best(self) -> Attempt:
        # The earliest of the best, so an equal retry does not move it.
        return max(self.attempts, key=lambda a: (a.effective, -self.attempts.index(a)))

    @property
    def successes(self) -> int:
        return sum(a.outcome == "success" for a in self.attempts)


@dataclass(frozen=True)
class SkillTally:
    skill: str
    label: str
    sessions: int  # finished sessions whose rubric has the skill
    earned: int  # earned in full (in time, in order)
    late: int  # late or out of order
    missed: int

    @property
    def earned_share(self) -> float:
        return self.earned / self.sessions if self.sessions else 0.0


@dataclass(frozen=True)
class AssignmentStatus:
    assignment: AssignmentRow
    cohort: str
    state: str  # passed | passed late | open | overdue
    best: int | None  # the best score since it was set
    session_id: int | None  # the session that passed it


@dataclass(frozen=True)
class ProgressReport:
    member: MemberRow
    started: int  # sessions begun
    finished: int
    scenarios: tuple[ScenarioProgress, ...]
    skills: tuple[SkillTally, ...]  # most often missed first
    all_five: int  # finished sessions showing every one of the Oakland five
    all_five_known: int  # finished sessions with recognition facts (since the trainer kept them)
    badges: tuple[str, ...]  # titles, in the order earned
    kudos: int
    assignments: tuple[AssignmentStatus, ...]
    overrides: tuple[OverrideRow, ...]

    @property
    def all_five_rate(self) -> float | None:
        return self.all_five / self.all_five_known if self.all_five_known else None

    def as_dict(self) -> dict[str, object]:
        return {
            "trainee": self.member.display_name, "guild": self.member.guild_id, "sessions": self.started, "finished": self.finished,
            "scenarios": [
                {"scenario": p.scenario_id, "attempts": len(p.attempts), "first": p.first.effective, "best": p.best.effective,
                 "latest": p.latest.effective, "successes": p.successes}
                for p in self.scenarios
            ],
            "skills": [{"skill": s.skill, "label": s.label, "sessions": s.sessions, "earned": s.earned, "late": s.late, "missed": s.missed} for s in self.skills],
            "all_five": {"sessions": self.all_five, "of": self.all_five_known,
                         "rate": None if self.all_five_rate is None else round(self.all_five_rate, 3)},
            "badges": list(self.badges), "kudos": self.kudos,
            "assignments": [{"scenario": a.assignment.scenario_id, "cohort": a.cohort, "due": a.assignment.due_at,
                             "pass_mark": a.assignment.pass_mark, "state": a.state, "best": a.best} for a in self.assignments],
            "overrides": [{"session": o.session_id, "from": o.previous, "to": o.score, "reason": o.reason, "by": o.by_name, "at": o.created_at}
                          for o in self.overrides],
        }


@dataclass(frozen=True)
class CohortRowReport:
    member: MemberRow
    progress: ProgressReport


@dataclass(frozen=True)
class CohortReport:
    cohort: CohortRow
    rows: tuple[CohortRowReport, ...]
    skills: tuple[tuple[str, str], ...]  # (skill, label) columns, in rubric order of first appearance
    scenarios: tuple[str, ...]
    assignments: tuple[AssignmentRow, ...] = field(default=())

    def share(self, row: CohortRowReport, skill: str) -> float | None:
        tally = next((s for s in row.progress.skills if s.skill == skill), None)
        return tally.earned_share if tally is not None and tally.sessions else None

    def skills_hardest_first(self) -> list[tuple[str, str]]:
        """The skills by how rarely the cohort earned them in full (what to reteach first)."""
        def share(skill: str) -> float:
            tallies = [t for row in self.rows for t in row.progress.skills if t.skill == skill]
            sessions = sum(t.sessions for t in tallies)
            return sum(t.earned for t in tallies) / sessions if sessions else 1.0

        order = {skill: index for index, (skill, _) in enumerate(self.skills)}
        return sorted(self.skills, key=lambda item: (share(item[0]), order[item[0]]))

    def not_done(self, assignment: AssignmentRow) -> list[str]:
        """Who has not passed an assignment yet."""
        return [
            row.member.display_name for row in self.rows
            if not any(a.assignment.id == assignment.id and a.state.startswith("passed") for a in row.progress.assignments)
        ]


async def progress_report(store: Store, member: MemberRow, *, five: Sequence[str], titles: Mapping[str, str], badge_titles: Mapping[str, str], now: datetime | None = None) -> ProgressReport:
    sessions = await store.sessions_of([member.id])
    finished = [s for s in sessions if s.status == "ended" and s.score is not None and s.outcome is not None]
    overrides = await store.overrides(s.id for s in finished)
    evidence = await store.evidence_of(s.id for s in finished)
    results = {r.session_id: r for r in await store.session_results(member_ids=[member.id])}
    attempts = [
        Attempt(s.id, s.scenario_id, s.mode, s.ended_at or s.started_at, s.outcome or "", s.score or 0, (overrides.get(s.id) or [None])[-1])
        for s in finished
    ]
    by_scenario: dict[str, list[Attempt]] = {}
    for attempt in attempts:
        by_scenario.setdefault(attempt.scenario_id, []).append(attempt)
    scenarios = tuple(ScenarioProgress(sid, titles.get(sid, sid), tuple(items)) for sid, items in sorted(by_scenario.items()))
    known = [results[s.id] for s in finished if s.id in results]
    all_five = sum(set(five) <= set(r.shown) for r in known) if five else 0
    cohorts = await store.cohorts_of(member.id)
    assignments = await store.assignments(cohort_ids=[c.id for c in cohorts])
    names = {c.id: c.name for c in cohorts}
    return ProgressReport(
        member=member, started=len(sessions), finished=len(finished),
        scenarios=scenarios, skills=tuple(_tallies(evidence.values())),
        all_five=all_five, all_five_known=len(known) if five else 0,
        badges=tuple(badge_titles.get(b.badge, b.badge) for b in await store.badges_of(member.id)),
        kudos=len(await store.kudos_among([member.id])),
        assignments=tuple(assignment_status(a, names.get(a.cohort_id, ""), attempts, now or datetime.now(timezone.utc)) for a in assignments),
        overrides=tuple(o for s in finished for o in overrides.get(s.id, ())),
    )


async def cohort_report(store: Store, cohort: CohortRow, *, five: Sequence[str], titles: Mapping[str, str], badge_titles: Mapping[str, str], now: datetime | None = None) -> CohortReport:
    members = [m for m in await store.cohort_members(cohort.id)]
    rows = tuple([
        CohortRowReport(m, await progress_report(store, m, five=five, titles=titles, badge_titles=badge_titles, now=now)) for m in members
    ])
    skills: dict[str, str] = {}
    scenarios: dict[str, None] = {}
    for row in rows:
        for tally in row.progress.skills:
            # Scenarios word a skill their own way ("Greeted the driver"); the cohort sees the skill.
            skills.setdefault(tally.skill, tally.skill.replace("_", " ").capitalize())
        for progress in row.progress.scenarios:
            scenarios.setdefault(progress.scenario_id, None)
    return CohortReport(cohort, rows, tuple(skills.items()), tuple(sorted(scenarios)), tuple(await store.assignments(cohort_ids=[cohort.id])))


def assignment_status(assignment: AssignmentRow, cohort: str, attempts: Sequence[Attempt], now: datetime) -> AssignmentStatus:
    """Passed by the first attempt of the scenario since the assignment was set with a score at
    the pass mark (an override counts); on time if it ended by the due date."""
    relevant = [a for a in attempts if a.scenario_id == assignment.scenario_id and a.ended_at >= assignment.created_at]
    best = max((a.effective for a in relevant), default=None)
    passing = [a for a in relevant if a.effective >= assignment.pass_mark]
    due = datetime.fromisoformat(assignment.due_at)
    if passing:
        first = min(passing, key=lambda a: a.ended_at)
        late = datetime.fromisoformat(first.ended_at) > due
        return AssignmentStatus(assignment, cohort, "passed late" if late else "passed", best, first.session_id)
    return AssignmentStatus(assignment, cohort, "overdue" if now > due else "open", best, None)


def _tallies(sessions: Iterable[Sequence[SkillEvidenceRow]]) -> list[SkillTally]:
    counts: dict[str, list[int]] = {}
    labels: dict[str, str] = {}
    for rows in sessions:
        for row in rows:
            labels.setdefault(row.skill, row.label)
            tally = counts.setdefault(row.skill, [0, 0, 0, 0])
            tally[0] += 1
            tally[1 if row.status == "earned" else 2 if row.status in ("late", "out_of_order") else 3] += 1
    tallies = [SkillTally(skill, labels[skill], *values) for skill, values in counts.items()]
    # Most often missed first; the order of the rubric among equals.
    return sorted(tallies, key=lambda t: (-(t.missed + t.late) / t.sessions if t.sessions else 0, -t.missed))

