"""Typed rows in and out of the store; no dicts leak past it."""

from __future__ import annotations

from dataclasses import dataclass, field


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
class NewItem:
    """Something to send, queued in the outbox with whatever caused it."""

    key: str  # what it is for, unique: "12:turn:3", "12:feedback"
    transport: str  # discord | terminal
    channel_id: int
    kind: str
    body: str  # the message, as JSON
    session_id: int | None = None
    # The message `body` encodes, as its caller built it: not stored, only handed on with the
    # queued item to the outbox watchers (Store.watch_outbox), so a sender need not decode it.
    message: object | None = field(default=None, compare=False, repr=False)


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
    message: object | None = field(default=None, compare=False, repr=False)  # NewItem.message, when this process queued it


@dataclass(frozen=True)
class Finish:
    """How a session ended, saved with its last turn (or on its own)."""

    outcome: str
    score: int
    skills: tuple[SkillEvidenceRow, ...] = ()
    record: SessionRecord | None = None  # what recognition keeps of it (badges, nominations)


@dataclass(frozen=True)
class PurgeCounts:
    sessions: int
    turns: int
    kudos: int
    members: int

    @property
    def anything(self) -> bool:
        return any((self.sessions, self.turns, self.kudos, self.members))


# -- recognition: what a finished session showed and earned, and what instructors decide --

@dataclass(frozen=True)
class ShownRow:
    """A behaviour of the badge rules that a session showed, with the words that showed it."""

    behaviour: str
    turn: int
    quote: str


@dataclass(frozen=True)
class NewNomination:
    """A line worth recognising: the most points, or the one that turned the scene around."""

    turn: int
    line: str
    why: str
    approved: bool = False  # posted straight away (recognition.nominations: auto)


@dataclass(frozen=True)
class SessionRecord:
    """Saved with a session's end, in the same transaction: its recognition facts, the badges
    it completed (badge name -> the session that completed the rule) and its nominations."""

    clean: bool
    gamed: bool
    penalties: int
    critical: bool
    start_mood: int
    peak_mood: int
    end_mood: int
    shown: tuple[ShownRow, ...] = ()
    badges: tuple[tuple[str, int], ...] = ()
    nominations: tuple[NewNomination, ...] = ()


@dataclass(frozen=True)
class SessionResult:
    """A finished session as recognition, reports and records see it."""

    session_id: int
    member_id: int
    scenario_id: str
    mode: str
    outcome: str
    score: int  # the score the session earned (an override is beside it, never instead)
    turns: int
    started_at: str
    ended_at: str
    clean: bool
    gamed: bool
    penalties: int
    critical: bool
    start_mood: int
    peak_mood: int
    end_mood: int
    shown: tuple[str, ...] = ()
    override: int | None = None  # the latest instructor override, if any

    @property
    def effective_score(self) -> int:
        return self.override if self.override is not None else self.score


@dataclass(frozen=True)
class BadgeRow:
    member_id: int
    badge: str
    session_id: int | None
    awarded_at: str


@dataclass(frozen=True)
class NominationRow:
    id: int
    session_id: int
    member_id: int
    turn: int
    line: str
    why: str
    status: str  # pending | approved | dismissed
    decided_by: int | None
    created_at: str


@dataclass(frozen=True)
class KudosRow:
    id: int
    guild_id: int
    from_member_id: int
    to_member_id: int
    skill: str
    reason: str
    created_at: str


@dataclass(frozen=True)
class AssignmentRow:
    id: int
    cohort_id: int
    scenario_id: str
    due_at: str
    pass_mark: int
    created_by: int | None
    created_at: str


@dataclass(frozen=True)
class OverrideRow:
    id: int
    session_id: int
    score: int
    previous: int
    reason: str
    by_member: int | None
    by_name: str
    created_at: str


@dataclass(frozen=True)
class RecordRow:
    """One finished session for training records and xAPI: who, what, when, how it went."""

    session: SessionRow
    member: MemberRow | None
    skills: tuple[SkillEvidenceRow, ...]
    override: OverrideRow | None
    instructor: str  # who started it for the trainee, or overrode its score; '' for self-practice
    clean: bool | None  # None: finished before recognition facts were kept


@dataclass(frozen=True)
class RecognitionInputs:
    """What recognition reads of a trainee as a session ends, read in one trip."""

    public: bool  # shown in their cohorts' channels (not opted out)
    cohorts: tuple[CohortRow, ...]  # their cohorts; empty when not public
    results: tuple[SessionResult, ...]  # their finished sessions, in the order they ended (when asked for)
    badges: tuple[BadgeRow, ...]  # the badges they hold (when asked for)
