"""Typed rows in and out of the store; no dicts leak past it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class NewSession:
    scenario_id: str
    scenario_digest: str
    trainee: str
    seed: int
    state: str
    mood: int
    mode: str = "practice"
    guild_id: int = 0  # 0: not on Discord (terminal)
    channel_id: int | None = None
    thread_id: int | None = None
    trainee_id: int | None = None  # Discord user id


@dataclass(frozen=True)
class SessionRow:
    id: int
    scenario_id: str
    scenario_digest: str
    trainee: str
    seed: int
    state: str
    mood: int
    turns: int
    mode: str
    status: str  # active | ended
    outcome: str | None
    score: int | None
    guild_id: int
    channel_id: int | None
    thread_id: int | None
    trainee_id: int | None
    started_at: str
    ended_at: str | None


@dataclass(frozen=True)
class TurnRow:
    """One line of a session: the trainee's message or the resident's reply."""

    session_id: int
    seq: int  # the trainee's turn number; 0 = the resident's opening line
    speaker: str  # trainee | resident
    text: str
    signals: tuple[dict[str, Any], ...] = ()  # name, start, end, quote, detail
    mood: int = 0  # after this line
    state: str = ""  # after this line
    source_message_id: str | None = None
    created_at: str = ""
