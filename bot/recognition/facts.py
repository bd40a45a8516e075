"""What one finished session showed, for badges, the leaderboard and reports. Pure.

Computed once, when the session ends, from the engine's values (its turns as judged and its
Score), and stored with the session, so recognition never replays a session and a later
change of the lexicon or the rules file does not rewrite what was earned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.engine.scenario import Scenario
from bot.engine.scoring import Score, SkillStatus
from bot.engine.session import Session, Turn
from bot.recognition.rules import Behaviour, BadgeRules


@dataclass(frozen=True)
class Shown:
    """A behaviour, where it was first shown and the words that showed it."""

    behaviour: str
    turn: int
    quote: str


@dataclass(frozen=True)
class SessionFacts:
    clean: bool  # no integrity notes: nothing stacked, repeated or contradicted
    gamed: bool
    penalties: int  # penalised lines
    critical: bool
    start_mood: int
    peak_mood: int
    end_mood: int
    shown: tuple[Shown, ...]

    @property
    def recognisable(self) -> bool:
        """Whether anything public may ever come of this session (badges, nominations, points)."""
        return self.clean and not self.critical


def session_facts(play: Session, score: Score, rules: BadgeRules) -> SessionFacts:
    scenario, turns = play.scenario, play.turns
    # The resident's persona sets where the mood starts (an angry variant starts hostile).
    start = play.persona.mood if play.persona is not None else scenario.resident.mood
    moods = [start, *(turn.mood_after for turn in turns)]
    return SessionFacts(
        clean=not score.integrity,
        gamed=score.gamed,
        penalties=len({hit.turn for hit in score.penalties}),
        critical=bool(score.critical),
        start_mood=start,
        peak_mood=max(moods),
        end_mood=moods[-1],
        shown=tuple(shown_behaviours(scenario, turns, score, rules.behaviours)),
    )


def shown_behaviours(scenario: Scenario, turns: Sequence[Turn], score: Score, behaviours: Mapping[str, Behaviour]) -> list[Shown]:
    found: dict[str, Shown] = {}
    pending = dict(behaviours)
    # Combined behaviours after their parts; the rules file refuses cycles.
    while pending:
        progressed = False
        for name, behaviour in list(pending.items()):
            if any(part in pending for part in behaviour.all):
                continue
            shown = _shown(scenario, turns, score, behaviour, found)
            if shown is not None:
                found[name] = shown
            del pending[name]
            progressed = True
        if not progressed:
            break
    return [found[name] for name in behaviours if name in found]


def _shown(scenario: Scenario, turns: Sequence[Turn], score: Score, behaviour: Behaviour, found: Mapping[str, Shown]) -> Shown | None:
    if behaviour.all:
        parts = [found.get(part) for part in behaviour.all]
        if any(part is None for part in parts):
            return None
        last = max((part for part in parts if part is not None), key=lambda part: part.turn)
        return Shown(behaviour.name, last.turn, last.quote)
    rubric = {skill.name for skill in scenario.rubric.skills}
    own = [name for name in behaviour.skills if name in rubric]
    if own:
        # The scenario's own rubric decides timing and order for the skills it has.
        earned = [s for s in score.skills if s.name in own and s.status is SkillStatus.EARNED and s.turn is not None]
        if not earned:
            return None
        first = min(earned, key=lambda s: s.turn or 0)
        return Shown(behaviour.name, first.turn or 0, first.quote)
    if not behaviour.signals:
        return None
    position = _first_credited(turns, behaviour)
    if position is None:
        return None
    turn, start, quote = position
    if behaviour.before:
        rival = min(
            ((t.number, e.start) for t in turns for e in t.detection.evidence if e.signal in behaviour.before), default=None
        )
        if rival is not None and rival < (turn, start):
            return None
    return Shown(behaviour.name, turn, quote)


def _first_credited(turns: Sequence[Turn], behaviour: Behaviour) -> tuple[int, int, str] | None:
    for turn in turns:
        if behaviour.by_turn is not None and turn.number > behaviour.by_turn:
            return None
        credited = turn.judgement.credited if turn.judgement is not None else turn.detection.evidence
        for evidence in sorted(credited, key=lambda e: e.start):
            if evidence.signal not in behaviour.signals:
                continue
            if behaviour.words is not None and not behaviour.words.search(evidence.quote):
                continue
            return turn.number, evidence.start, evidence.quote
    return None
