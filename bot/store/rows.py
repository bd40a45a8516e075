"""Typed rows in and out of the store; no dicts leak past it."""

from __future__ import annotations

from dataclasses import dataclass


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
    member_id: int | None = None
    persona: str | None = None  # the resident's variant, for scenarios that have them


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
    member_id: int | None = None
    persona: str | None = None


@dataclass(frozen=True)
class EvidenceRow:
    """A signal detected in a trainee line, with the words that showed it."""

    name: str
    start: int
    end: int
    quote: str
    detail: str | None = None


@dataclass(frozen=True)
class TurnRow:
    """One line of a session: the trainee's message or the resident's reply."""

    session_id: int
    seq: int  # the trainee's turn number; 0 = the resident's opening line
    speaker: str  # trainee | resident
    text: str
    signals: tuple[EvidenceRow, ...] = ()
    mood: int = 0  # after this line
    state: str = ""  # after this line
    source_message_id: str | None = None
    created_at: str = ""


@dataclass(frozen=True)
class MemberRow:
    id: int
    guild_id: int
    discord_id: int | None
    display_name: str
    role: str  # trainee | instructor


@dataclass(frozen=True)
class CohortRow:
    id: int
    guild_id: int
    name: str
    channel_id: int | None


@dataclass(frozen=True)
class SkillEvidenceRow:
    skill: str
    label: str
    status: str  # earned | late | out_of_order | missed
    points: int
    max_points: int
    turn: int | None
    quote: str


@dataclass(frozen=True)
class ExportTurn:
    """A line of a session with what an instructor's spreadsheet needs beside it."""

    session_id: int
    scenario_id: str
    trainee: str
    seq: int
    speaker: str
    text: str
    signals: str  # names, space-separated
    mood: int
    state: str
    created_at: str


@dataclass(frozen=True)
class LeaderboardRow:
    """Recognition only: people appear for what they did well, never ranked by failures."""

    member_id: int
    display_name: str
    discord_id: int | None
    successes: int
    best_score: int
    kudos: int


@dataclass(frozen=True)
class SkillSummary:
    skill: str
    label: str
    shown: int  # sessions where the skill was earned (in time or late)
    sessions: int


@dataclass(frozen=True)
class MemberReport:
    member: MemberRow
    sessions: int
    ended: int
    successes: int
    average_score: float | None
    recent: tuple[SessionRow, ...]
    skills: tuple[SkillSummary, ...]
    kudos_received: int


@dataclass(frozen=True)
class NewItem:
    """Something to send, queued in the outbox with whatever caused it."""

    key: str  # what it is for, unique: "12:turn:3", "12:feedback"
    transport: str  # discord | terminal
    channel_id: int
    kind: str
    body: str  # the message, as JSON
    session_id: int | None = None


@dataclass(frozen=True)
class OutboxItem:
    id: int
    key: str
    transport: str
    channel_id: int
    session_id: int | None
    kind: str
    body: str
    status: str  # pending | delivered | undeliverable
    message_id: str | None
    error: str | None
    created_at: str


@dataclass(frozen=True)
class Finish:
    """How a session ended, saved with its last turn (or on its own)."""

    outcome: str
    score: int
    skills: tuple[SkillEvidenceRow, ...] = ()


@dataclass(frozen=True)
class PurgeCounts:
    sessions: int
    turns: int
    kudos: int
    members: int

    @property
    def anything(self) -> bool:
        return any((self.sessions, self.turns, self.kudos, self.members))
