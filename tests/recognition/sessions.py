"""Real engine sessions of the shipped scenarios, as the recognition code sees them."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bot.engine.catalog import Library
from bot.engine.scoring import Score
from bot.engine.session import Session
from bot.recognition.facts import SessionFacts, session_facts
from bot.recognition.rules import BadgeRules, load_rules
from bot.store.rows import SessionResult
from tests.scripts import COURTEOUS, RUDE

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = Library(ROOT / "dialogues")
RULES: BadgeRules = load_rules()

# Opens with a bare command (the driver turns hostile), then recovers to a good ending.
RECOVERED = [
    "License and registration.",
    "Sorry, let me start over. Good evening, ma'am, I'm Officer Smith with Metro Police.",
    "The reason I stopped you is that your registration tag expired in July.",
    "I understand, it's been a long night for you, and I appreciate your patience.",
    "I'm going to write you a warning today. It will take about five minutes, and you can renew online tonight.",
    "Thank you for your patience, ma'am. Drive safe and get home safe.",
]
# The reason after a request for ID: not "reason before request".
LATE_REASON = [
    "Good evening, ma'am. I'm Officer Smith with the Metro Police Department.",
    "Can I see your license and registration, please?",
    "The reason I pulled you over is that your registration tag expired in July.",
]
# A list of rubric phrases pasted twice: gamed.
SALAD = ["Good evening ma'am, Officer Reyes, so sorry, I understand, you're not in trouble, thank you, any questions, drive safe."] * 2
BURGLARY = [
    "Good evening, Ms. Holloway. I'm Officer Smith with the Metro police. I'm here about the break-in at your home on Tuesday.",
    "I'm so sorry this happened to you. How are you and the kids holding up?",
    "I'm sorry it took us so long to get back to you; that's on us.",
    "Here's your case number. A detective will call you this week, and don't touch the back door so we can check it for prints.",
    "Victim services can help with the lock, and we'll have patrol check on the house tonight.",
    "Take care of yourself, ma'am. Call us any time.",
]


def played(lines: list[str], scenario_id: str = "traffic_stop", seed: int = 1, persona: str | None = None) -> tuple[Session, Score]:
    scenario = LIBRARY.get(scenario_id)
    session = Session.start(scenario, LIBRARY.machine(scenario), seed=seed, persona=persona)
    for line in lines:
        if session.ended:
            break
        session.step(line)
    if not session.ended:
        session.abandon()
    return session, session.score()


def facts(lines: list[str], scenario_id: str = "traffic_stop") -> tuple[SessionFacts, Score]:
    session, score = played(lines, scenario_id)
    return session_facts(session, score, RULES), score


def result(lines: list[str], session_id: int, ended_at: str, *, scenario_id: str = "traffic_stop", mode: str = "practice",
           member_id: int = 1, seed: int = 1, persona: str | None = None) -> SessionResult:
    """A finished session as the store returns it."""
    session, score = played(lines, scenario_id, seed, persona)
    found = session_facts(session, score, RULES)
    return SessionResult(
        session_id=session_id, member_id=member_id, scenario_id=scenario_id, mode=mode, outcome=score.outcome.value,
        score=score.total, turns=len(session.turns), started_at=ended_at, ended_at=ended_at, clean=found.clean, gamed=found.gamed,
        penalties=found.penalties, critical=found.critical, start_mood=found.start_mood, peak_mood=found.peak_mood,
        end_mood=found.end_mood, shown=tuple(s.behaviour for s in found.shown),
    )


def moved(row: SessionResult, session_id: int, ended_at: str) -> SessionResult:
    return replace(row, session_id=session_id, ended_at=ended_at, started_at=ended_at)
