"""The session service: one trainee playing one scenario once, whatever the front end.

It starts, plays, ends, idles, restores and catches up sessions, owns the rule of one
session per trainee, and sends everything through the outbox. Front ends only turn
their events into calls: the Discord cog (a thread is a session's channel) and the
terminal (a session talks in a channel of its own, numbered like the session).

Each trainee line is committed, with the reply it got and everything it sends, before
anything is sent. A line that cannot be saved (the database is locked or the disk is
full) is answered by a short notice and, where the chat keeps history, played later by
catching up on the channel's history, in order; the engine's state is rebuilt from the
store so it never runs ahead of what was saved. A session is rebuilt by replaying its
stored lines with the signals stored for them through a fresh engine session with the
same seed: the engine is deterministic, so it comes back exactly as it was.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

from bot.background import spawn
from bot.engine.machine import ScenarioMachine
from bot.engine.scenario import Scenario
from bot.engine.scoring import Score, SkillStatus
from bot.engine.session import Session
from bot.engine.signals import Detection, Evidence
from bot.errors import AlreadyPlaying, DeliveryError, SessionError, StoreBusy, StoreError, StoreFull, TrainerError
from bot.sessions import messages
from bot.sessions.flood import LineLimiter
from bot.sessions.messages import Message
from bot.sessions.outbox import Outbox
from bot.sessions.transport import Transport
from bot.store import EvidenceRow, NewSession, SessionRow, Store, TurnRow
from bot.store.rows import Finish, NewItem, SessionRecord, SkillEvidenceRow

if TYPE_CHECKING:
    from bot.recognition.rules import BadgeRules
    from bot.recognition.service import RecognitionSettings

log = logging.getLogger("trainer.sessions")


@dataclass(frozen=True)
class ServiceSettings:
    recognition_threshold: int = 80
    idle_nudge_seconds: int = 300  # a scenario's own `idle` times win
    idle_abandon_seconds: int = 1800
    lines_per_minute: int = 20  # flood control; 0 turns it off
    line_burst: int = 6
    delay_notice_seconds: float = 3.0  # a line not saved after this long gets a "one moment"
    first_retry_seconds: float = 1.0
    max_retry_seconds: float = 60.0  # the longest pause between two tries of a send
    catch_up_max_retry_seconds: float = 10.0  # ... and of catching up a session whose line was not saved


@dataclass(frozen=True)
class Trainee:
    name: str
    user_id: int | None = None  # the chat's id for them; None in the terminal


class LineResult(str, Enum):
    PLAYED = "played"
    ALREADY_PLAYED = "already played"
    NOT_PLAYED = "not a line of a session in progress"  # no session here, or an observer wrote
    EMPTY = "empty"
    TOO_FAST = "too fast"
    NOT_SAVED = "not saved"  # the trainee was told; played later where the chat keeps history
    LATER = "to be played when the session catches up"


@dataclass(frozen=True)
class Said:
    """What became of one line in the terminal."""

    result: LineResult
    session: Session  # the engine session as it now is
    score: Score | None = None  # when the line ended the session


@dataclass(frozen=True)
class Started:
    row: SessionRow
    session: Session


class ScenarioSource(Protocol):
    def get(self, scenario_id: str) -> Scenario: ...
    def machine(self, scenario: Scenario) -> ScenarioMachine: ...


NOTICES = {
    "empty": "*(The resident can only read what you type: please write your words as a message.)*",
    "too_fast": "*(You are writing faster than {resident} can answer, so that line was skipped. Give it a few seconds before your next line.)*",
    "delayed": "\u23F3 *The training records are busy; the resident will answer in a moment.*",
    "later": "\u26A0\uFE0F *Your line could not be saved just now ({why}). The resident will answer it as soon as the records are back; no need to send it again.*",
    "again": "Nothing was saved ({why}); please type that line again.",
    "unrestorable": "This role-play cannot go on: it can no longer be rebuilt from what was saved (its scenario, or the trainer, changed since it started), so it has been closed without a score. Please start a new one.",
}


@dataclass(eq=False)
class _Tracked:
    """The service's bookkeeping for one session in progress."""

    row: SessionRow
    session: Session  # the engine session
    scenario: Scenario
    machine: ScenarioMachine
    channel: int
    limiter: LineLimiter
    last_activity: float
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one line at a time, catch-up first
    nudged: bool = False
    behind: bool = False  # lines may be missing: catch up on the channel's history before playing live ones
    catch_ups_asked: int = 0  # how often it fell behind: a catch-up asked for during another one runs again
    broken: bool = False  # the engine state could not be rebuilt from the store yet
    store_error: StoreError | None = None  # why the last save or rebuild failed
    retry_at: float = 0.0
    retry_delay: float = 1.0
    notified: set[str] = field(default_factory=set)  # notices shown since the last line that was saved
    catching_up: asyncio.Task[Any] | None = None
    # Chat messages this process played or set aside for the session (and those the store
    # showed it on catching up): a replayed event stops here, without a trip to the database.
    # The store checks again in the turn's own transaction, for what this process never saw.
    handled: set[str] = field(default_factory=set)


class SessionService:
    def __init__(
        self, store: Store, transport: Transport, scenarios: ScenarioSource, settings: ServiceSettings = ServiceSettings(),
        *, clock: Callable[[], float] | None = None, wall: Callable[[], float] | None = None,
        badges: BadgeRules | None = None, recognition: RecognitionSettings | None = None,
        catalogue: Callable[[], Iterable[Scenario]] | None = None,
    ) -> None:
        """`badges`: the badge rules (default: the shipped file); `recognition`: its settings
        (default: the threshold of `settings`); `catalogue`: every scenario trainees can play
        (default: those of `scenarios`), for badges that need them all."""
        self.store = store
        self.transport = transport
        self.scenarios = scenarios
        self.settings = settings
        self.outbox = Outbox(store, transport, first_retry=settings.first_retry_seconds, max_retry=settings.max_retry_seconds)
        from bot.recognition.service import RecognitionService, RecognitionSettings  # it builds on this package's messages

        self.recognition = RecognitionService(
            store, badges, recognition or RecognitionSettings(recognition_threshold=settings.recognition_threshold),
            catalogue=catalogue or (lambda: getattr(scenarios, "scenarios", {}).values()),
            transport_name=transport.name, mention=transport.mention, kick=self.outbox.kick,
        )
        # Looked up at each call, so a test harness's virtual clock (simcord's) moves idle time too.
        self._clock = clock or (lambda: time.monotonic())
        self._wall = wall or (lambda: time.time())
        self._by_channel: dict[int, _Tracked] = {}
        # The same sessions by id and by trainee, so no lookup scans every live session.
        self._by_session: dict[int, _Tracked] = {}
        self._by_trainee: dict[tuple[int, int], _Tracked] = {}
        self._guild_locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._restored = False
        self._hearing = True  # False from a dropped connection to the next (see on_disconnected)
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- looking up --
    def session_in(self, channel_id: int) -> SessionRow | None:
        tracked = self._by_channel.get(channel_id)
        return tracked.row if tracked is not None else None

    # -- starting --
    def guild_lock(self, guild_id: int) -> asyncio.Lock:
        """Held while a session is set up in a server, so a second start for the same trainee
        (a double click) waits and is then refused, and a sweep of empty threads never sees a
        thread whose session is still being saved."""
        return self._guild_locks[guild_id]

    async def check_free(self, guild_id: int, user_id: int) -> None:
        """AlreadyPlaying when the trainee has a session in progress in this server."""
        tracked = self._by_trainee.get((guild_id, user_id))
        if tracked is not None and not tracked.session.ended:
            raise _already_playing(tracked.row)
        row = await self.store.active_session_of(guild_id, user_id)
        if row is not None:
            raise _already_playing(row)

    async def start(
        self, scenario: Scenario, trainee: Trainee, *, mode: str = "practice", guild_id: int = 0,
        channel_id: int | None = None, parent_id: int | None = None, seed: int | None = None,
        persona: str | None = None,
    ) -> Started:
        """Start a session. `channel_id`: where it talks (a Discord thread); None for the terminal,
        where a session talks in a channel of its own. `persona`: the resident's variant, `random`
        for one picked with the seed, None for the default; the variant played is stored. Saved
        with its briefing and opening line before either is sent."""
        if trainee.user_id is not None:
            # Here; the store checks again in the session's transaction (one_at_a_time below).
            tracked = self._by_trainee.get((guild_id, trainee.user_id))
            if tracked is not None and not tracked.session.ended:
                raise _already_playing(tracked.row)
        seed = secrets.randbelow(2**31) if seed is None else seed
        machine = self.scenarios.machine(scenario)
        session = Session.start(scenario, machine, seed=seed, persona=persona)
        # A chat channel new to the outbox has nothing pending: it hears of the opening items
        # as they are committed, and never reads them back.
        claimed = channel_id is not None and self.outbox.claim(channel_id, fresh=True)
        try:
            # The trainee's member row is found or created in the session's own transaction.
            row = await self.store.start_session(
                NewSession(
                    scenario_id=scenario.id, scenario_digest=scenario.digest, trainee=trainee.name, seed=seed,
                    state=session.state, mood=session.mood, mode=mode, guild_id=guild_id, channel_id=parent_id,
                    thread_id=channel_id, trainee_id=trainee.user_id,
                    persona=session.persona.name if session.persona is not None else None,
                ),
                session.opening,
                lambda session_id: self._opening_items(session_id, channel_id, scenario, trainee, mode, session),
                with_member=True, one_at_a_time=True,
            )
        except BaseException:
            session.abandon()  # leaves the shared machine: a failed start leaks nothing
            if claimed:
                self.outbox.release(channel_id)  # type: ignore[arg-type]
            raise
        tracked = self._track(row, session, scenario, machine)
        self.outbox.kick(tracked.channel)
        log.info("session %d started: %s for %s", row.id, scenario.id, trainee.user_id or trainee.name)
        return Started(row, session)

    def _opening_items(self, session_id: int, channel_id: int | None, scenario: Scenario, trainee: Trainee, mode: str, session: Session) -> list[NewItem]:
        channel = channel_id if channel_id is not None else session_id
        mention = self.transport.mention
        return [
            self._item(f"{session_id}:briefing", channel, session_id, messages.briefing(scenario, trainee.name, trainee.user_id, mode, mention)),
            self._item(f"{session_id}:opening", channel, session_id, messages.resident_line(scenario, session.opening, session.mood, messages.OPENING)),
        ]

    # -- playing --
    async def handle_message(self, channel_id: int, author_id: int, text: str, message_id: str, written_at: float) -> LineResult:
        """A message in a chat channel. Only the trainee's count; observers may write freely."""
        tracked = self._by_channel.get(channel_id)
        if tracked is None or author_id != tracked.row.trainee_id:
            return LineResult.NOT_PLAYED
        async with tracked.lock:
            if tracked.behind:
                # Lines may be missing before this one: play them all, in order, from history.
                if self._clock() < tracked.retry_at:
                    self._catch_up_soon(tracked)
                    return LineResult.LATER
                return LineResult.PLAYED if await self._catch_up_locked(tracked) else LineResult.LATER
            return await self._play(tracked, text, message_id, written_at)

    async def say(self, session_id: int, text: str) -> Said:
        """A line typed in the terminal; returns once its reply has been shown."""
        tracked = self._tracked_session(session_id)
        async with tracked.lock:
            result = await self._play(tracked, text, None, self._wall())
            session = tracked.session
        await self.outbox.drain(tracked.channel)
        return Said(result, session, session.score() if result is LineResult.PLAYED and session.ended else None)

    async def _play(self, tracked: _Tracked, text: str, message_id: str | None, written_at: float) -> LineResult:
        """One line through the engine and into the store; the caller holds the session's lock."""
        if not await self._ready(tracked):
            if self._by_channel.get(tracked.channel) is not tracked:
                return LineResult.NOT_PLAYED  # closed: it could not go on
            return await self._not_saved(tracked, tracked.store_error or StoreError("the session could not be reloaded"))
        if tracked.session.ended:
            return LineResult.NOT_PLAYED
        text = _storable(text.strip())
        sid = tracked.row.id
        if message_id is not None and message_id in tracked.handled:
            return LineResult.ALREADY_PLAYED
        try:
            if not text.strip():
                if message_id is not None:
                    fresh = await self.store.ignore_message(message_id, sid, "empty", [self._notice(tracked, f"empty:{message_id}", NOTICES["empty"])])
                    tracked.handled.add(message_id)
                    if not fresh:
                        return LineResult.ALREADY_PLAYED
                    self.outbox.kick(tracked.channel)
                return LineResult.EMPTY
            if not tracked.limiter.allow(written_at):
                # One polite notice per burst; the lines themselves are set aside, not played later.
                notices = [] if "too_fast" in tracked.notified else [self._notice(
                    tracked, f"too-fast:{message_id or written_at}", NOTICES["too_fast"].format(resident=tracked.scenario.resident.name)
                )]
                if message_id is not None:
                    fresh = await self.store.ignore_message(message_id, sid, "too fast", notices)
                    tracked.handled.add(message_id)
                    if not fresh:  # seen before this process knew it: no notice, and the burst's notice still to come
                        return LineResult.ALREADY_PLAYED
                elif notices:
                    await self.store.enqueue(notices)
                tracked.notified.add("too_fast")
                self.outbox.kick(tracked.channel)
                return LineResult.TOO_FAST
        except StoreError as exc:
            return await self._not_saved(tracked, exc)
        tracked.notified.discard("too_fast")
        tracked.last_activity, tracked.nudged = self._clock(), False
        turn = tracked.session.step(text)
        items = [self._item(f"{sid}:turn:{turn.number}", tracked.channel, sid,
                            messages.resident_line(tracked.scenario, turn.reply, turn.mood_after))]
        finish = None
        try:
            if tracked.session.ended:
                score = tracked.session.score()
                closing, finish = await self._closing(tracked, score)
                items += closing
            late = self._delay_notice(tracked)
            try:
                recorded = await self.store.record_turn(
                    TurnRow(
                        session_id=sid, seq=turn.number, speaker="trainee", text=turn.trainee,
                        signals=tuple(EvidenceRow(e.signal, e.start, e.end, e.quote, e.detail) for e in turn.detection.evidence),
                        mood=turn.mood_after, state=turn.state_after, source_message_id=message_id,
                    ),
                    TurnRow(sid, turn.number, "resident", turn.reply, (), turn.mood_after, turn.state_after),
                    items, finish,
                )
            finally:
                late.cancel()
        except StoreError as exc:
            # Unsaved means unplayed: back to what the store has, and the line's flood-control
            # token back too, so its retries (the same line) never count as a flood.
            tracked.limiter.refund()
            await self._rebuild(tracked)
            return await self._not_saved(tracked, exc)
        if message_id is not None:
            tracked.handled.add(message_id)
        if not recorded:
            # Played or set aside before, unknown to this process (another process, or before a restart).
            await self._rebuild(tracked)
            return LineResult.ALREADY_PLAYED
        tracked.notified.clear()
        self._kick(items)
        if finish is not None:
            log.info("session %d ended: %s %d", sid, finish.outcome, finish.score)
            self._forget(tracked)
        return LineResult.PLAYED

    async def _not_saved(self, tracked: _Tracked, exc: StoreError) -> LineResult:
        tracked.store_error = exc
        log.warning("session %d: a line was not saved: %s", tracked.row.id, exc)
        why = "the database is busy" if isinstance(exc, StoreBusy) else "the disk is full" if isinstance(exc, StoreFull) else "a database error"
        if self.transport.keeps_history:
            self._fall_behind(tracked)
            if "later" not in tracked.notified:
                tracked.notified.add("later")
                # Sent aside, not awaited: the session's lock is held here, and a slow post
                # must not hold up its catch-up.
                notice = messages.notice(NOTICES["later"].format(why=why))
                spawn(self.outbox.post_now(tracked.channel, notice), f"notice-{tracked.row.id}", self._tasks)
        else:
            await self.outbox.post_now(tracked.channel, messages.notice(NOTICES["again"].format(why=why)))
        return LineResult.NOT_SAVED

    def _delay_notice(self, tracked: _Tracked) -> asyncio.TimerHandle:
        """A write still waiting after a few seconds (another process holds the database) gets a
        'one moment'; cancel the handle once it is done. (A plain timer, not a context manager:
        this runs at every turn.)"""

        def late() -> None:
            if "delayed" not in tracked.notified:
                tracked.notified.add("delayed")
                spawn(self.outbox.post_now(tracked.channel, messages.notice(NOTICES["delayed"])), f"notice-{tracked.row.id}", self._tasks)

        return asyncio.get_running_loop().call_later(self.settings.delay_notice_seconds, late)

    # -- hints and ending --
    def hint(self, channel_id: int, *, by: int, by_instructor: bool) -> str:
        tracked = self._by_channel.get(channel_id)
        if tracked is None:
            raise SessionError("There is no role-play in progress here.")
        if by != tracked.row.trainee_id and not by_instructor:
            raise SessionError("Hints are for the trainee of this role-play.")
        return self._hint(tracked)

    def hint_for(self, session_id: int) -> str:
        return self._hint(self._tracked_session(session_id))

    def _hint(self, tracked: _Tracked) -> str:
        """What to try next, from the first skill the rubric still misses. Not a turn: nothing is scored."""
        if tracked.row.mode != "practice":
            raise SessionError("Hints are only available in practice mode.")
        missing = [s for s in tracked.session.score().skills if s.status is SkillStatus.MISSED]
        if not missing:
            return "You have shown every skill this scenario looks for. Bring the conversation to a good close."
        skill = next(s for s in tracked.scenario.rubric.skills if s.name == missing[0].name)
        return f"**{skill.label}.** {skill.tip}" + (f"\ne.g. \u201c{skill.example}\u201d" if skill.example else "")

    def check_end(self, channel_id: int, *, by: int, by_instructor: bool) -> None:
        """SessionError saying why `by` may not end the session in this channel."""
        tracked = self._by_channel.get(channel_id)
        if tracked is None:
            raise SessionError("There is no role-play in progress here.")
        if by != tracked.row.trainee_id and not by_instructor:
            raise SessionError("Only the trainee or an instructor can end this role-play.")

    async def end(self, channel_id: int, *, by: int, by_instructor: bool) -> Score:
        self.check_end(channel_id, by=by, by_instructor=by_instructor)
        tracked = self._by_channel[channel_id]
        async with tracked.lock:
            if self._by_channel.get(channel_id) is not tracked:
                raise SessionError("This role-play has already ended.")
            return await self._abandon(tracked)

    async def end_session(self, session_id: int) -> Score:
        """End a terminal session (input ended, or /end); returns once the feedback was shown."""
        tracked = self._tracked_session(session_id)
        async with tracked.lock:
            score = await self._abandon(tracked)
        await self.outbox.drain(tracked.channel)
        return score

    async def _abandon(self, tracked: _Tracked) -> Score:
        if not await self._ready(tracked):
            if self._by_channel.get(tracked.channel) is not tracked:
                raise SessionError("This role-play could not go on, so it has been closed without a score.")
            raise StoreError("the session could not be reloaded from the database") from tracked.store_error
        if tracked.session.ended:
            return tracked.session.score()
        tracked.session.abandon()
        score = tracked.session.score()
        try:
            await self._finish(tracked, score)
        except StoreError:
            await self._rebuild(tracked)  # still in progress in the store
            raise
        return score

    async def _finish(self, tracked: _Tracked, score: Score) -> None:
        """Close a session in the store with its score and what that sends (feedback,
        recognition), then send it and forget the session."""
        items, finish = await self._closing(tracked, score)
        await self.store.finish_session(tracked.row.id, finish.outcome, finish.score, finish.skills, items, finish.record)
        self._kick(items)
        log.info("session %d ended: %s %d", tracked.row.id, finish.outcome, finish.score)
        self._forget(tracked)

    async def _closing(self, tracked: _Tracked, score: Score) -> tuple[list[NewItem], Finish]:
        """Feedback in the session's channel and the buttons taken off, with what recognition
        sends and keeps (bot/recognition/service.py), all saved with the session's end."""
        row, sid = tracked.row, tracked.row.id
        mention = self.transport.mention
        items = [
            self._item(f"{sid}:feedback", tracked.channel, sid, messages.feedback(tracked.scenario, score, row.trainee, row.trainee_id, mention)),
            self._item(f"{sid}:controls-off", tracked.channel, sid, messages.controls_off(f"{sid}:briefing")),
        ]
        try:
            recognised, record = await self.recognition.at_finish(row, tracked.scenario, tracked.session, score, tracked.channel)
        except StoreError:
            raise  # not saved: the caller retries the whole end
        except Exception:
            # Recognition is extra: a fault in it (a badge rule, say) must never keep a
            # session from ending with its feedback, nor the trainee from starting another.
            log.exception("recognition of session %d failed; the session ends without it", sid)
            return items, _finish_of(score)
        return items + recognised, _finish_of(score, record)

    # -- idle sessions --
    async def tick(self) -> None:
        """Nudge quiet trainees, end sessions left idle; retry what failed. One failure stops nothing."""
        if not self._restored and self.transport.keeps_history and self._hearing:
            try:
                await self.on_connected()
            except TrainerError as exc:
                log.warning("sessions could not be reloaded yet (%s); trying again at the next check", exc)
        now = self._clock()
        for tracked in list(self._by_channel.values()):
            try:
                await self._check_idle(tracked, now)
            except Exception:
                log.exception("idle check of session %d failed", tracked.row.id)

    async def _check_idle(self, tracked: _Tracked, now: float) -> None:
        if not self._hearing or tracked.behind or tracked.broken:
            # The trainee may have written lines the bot has not heard (or saved) yet: quiet
            # is judged once it has caught up, never from a gap in what it could hear.
            return
        idle = tracked.scenario.idle
        nudge_after = idle.after_seconds if idle else self.settings.idle_nudge_seconds
        abandon_after = idle.abandon_after_seconds if idle else self.settings.idle_abandon_seconds
        quiet = now - tracked.last_activity
        if quiet >= abandon_after:
            async with tracked.lock:
                if self._by_channel.get(tracked.channel) is tracked and not tracked.session.ended:
                    await self._abandon(tracked)
        elif quiet >= nudge_after and not tracked.nudged:
            line = tracked.session.idle_line()
            await self.store.enqueue([self._item(
                f"{tracked.row.id}:nudge:{len(tracked.session.turns)}", tracked.channel, tracked.row.id,
                messages.resident_line(tracked.scenario, line, tracked.session.mood, messages.NUDGE),
            )])
            tracked.nudged = True
            self.outbox.kick(tracked.channel)

    # -- restart and reconnection --
    def on_disconnected(self) -> None:
        """The connection to the chat dropped: until `on_connected`, nothing trainees write is
        heard, so no session is judged idle, and each must catch up before it plays a live line."""
        self._hearing = False
        for tracked in self._by_channel.values():
            _mark_behind(tracked)

    async def on_connected(self) -> None:
        """After every (re)connection to the chat: reload sessions on the first, then catch up
        on every session's channel (lines written while the bot could not hear them) and
        resume sending."""
        self._hearing = True
        for tracked in self._by_channel.values():
            _mark_behind(tracked)  # before any await: a live line heard now waits for the gap's lines
        if not self._restored:
            await self._restore()
            self._restored = True
        else:
            for channel_id in await self.store.pending_channels(self.transport.name):
                self.outbox.kick(channel_id)
        self.outbox.wake()
        for tracked in list(self._by_channel.values()):
            self._fall_behind(tracked, now=True)

    async def _restore(self) -> None:
        # First what a process that died may have posted without recording it: checked against
        # the channels' history before anything restored here (a catch-up, a closing) sends more.
        await self.outbox.recover()
        for row in await self.store.list_sessions(status="active"):
            if row.thread_id is None or row.thread_id in self._by_channel:
                continue  # terminal sessions continue with `trainer play --resume`
            await self._restore_one(row)
        for row in await self.store.feedback_owed():
            await self._owe_feedback(row)

    async def _load(self, row: SessionRow) -> tuple[Scenario, ScenarioMachine, Session]:
        scenario = self.scenarios.get(row.scenario_id)
        machine = self.scenarios.machine(scenario)
        return scenario, machine, await self._replay(row, scenario, machine)

    async def _restore_one(self, row: SessionRow) -> None:
        try:
            scenario, machine, session = await self._load(row)
        except StoreError:
            raise
        except Exception as exc:
            # It cannot go on (a TrainerError: its scenario changed), or replaying it hit a bug:
            # either way close it and tell the trainee, rather than ignore them for ever, and
            # go on with the other sessions.
            if not isinstance(exc, TrainerError):
                log.exception("session %d could not be replayed", row.id)
            await self._close_unrestorable(row, exc)
            return
        if row.thread_id in self._by_channel:  # started in this process while it was being read
            session.abandon()
            return
        # Behind until it has caught up: lines written while the bot was away come before any live one.
        tracked = self._new_tracked(row, session, scenario, machine, behind=True)
        try:
            # Lines saved by a version of the trainer without an outbox, never marked as delivered.
            legacy = await self.store.resident_lines_without_outbox(row.id)
            if legacy:
                await self.store.enqueue([
                    self._item(f"{row.id}:opening" if line.seq == 0 else f"{row.id}:turn:{line.seq}", tracked.channel, row.id,
                               messages.resident_line(scenario, line.text, line.mood, messages.OPENING if line.seq == 0 else messages.RESIDENT))
                    for line in legacy
                ])
                await self.outbox.recover([tracked.channel])  # the older version may have posted them: check first
            if session.ended:
                # Saved by an older version: the last turn was saved, the process died before the session was closed.
                await self._finish(tracked, session.score())
                return
        except BaseException:
            session.abandon()  # not tracked: the next restore tries it again from the start
            raise
        # Tracked only now: a restore that failed above is tried again whole.
        self._register(tracked)
        log.info("session %d restored in channel %d", row.id, tracked.channel)

    async def _owe_feedback(self, row: SessionRow) -> None:
        """An older version ended the session and died before posting its feedback."""
        try:
            scenario, machine, session = await self._load(row)
        except StoreError:
            raise
        except Exception as exc:
            if not isinstance(exc, TrainerError):
                log.exception("the feedback of session %d could not be rebuilt", row.id)
            else:
                log.warning("the feedback of session %d cannot be rebuilt: %s", row.id, exc)
            return
        session.abandon()  # leaves the machine; a no-op for the outcome when the replay reached an ending
        tracked = self._new_tracked(row, session, scenario, machine)
        items, finish = await self._closing(tracked, session.score())
        # Finished again with the same result: what recognition keeps is saved with what it sends.
        await self.store.finish_session(row.id, finish.outcome, finish.score, finish.skills, items, finish.record)
        # It may have been posted without being recorded: the channels' history is checked first.
        await self.outbox.recover({item.channel_id for item in items})

    async def resume(self, session_id: int, scenario: Scenario) -> Started:
        """Take up an interrupted terminal session again (nothing is sent yet: see `deliver_pending`)."""
        row = await self.store.get_session(session_id)
        if row is None:
            raise SessionError(f"there is no session {session_id}")
        if row.status != "active":
            raise SessionError(f"session {session_id} has ended ({row.outcome}, score {row.score}); nothing to resume")
        machine = self.scenarios.machine(scenario)
        session = await self._replay(row, scenario, machine)
        self._track(row, session, scenario, machine)
        return Started(row, session)

    async def deliver_pending(self, session_id: int) -> Session:
        """Send what a resumed session had queued but not sent; close it if it had reached its
        ending just before the interruption (an older version saved the two apart)."""
        tracked = self._tracked_session(session_id)
        await self.outbox.recover([tracked.channel])
        await self.outbox.drain(tracked.channel)
        session = tracked.session
        if session.ended:
            async with tracked.lock:
                await self._finish(tracked, session.score())
            await self.outbox.drain(tracked.channel)
        return session

    # -- catching up --
    def _fall_behind(self, tracked: _Tracked, now: bool = False) -> None:
        _mark_behind(tracked)
        if now:
            tracked.retry_at = 0.0
        self._catch_up_soon(tracked)

    def _catch_up_soon(self, tracked: _Tracked) -> None:
        if tracked.catching_up is None or tracked.catching_up.done():
            tracked.catching_up = spawn(self._catch_up_until_done(tracked), f"catch-up-{tracked.row.id}", self._tasks)

    async def _catch_up_until_done(self, tracked: _Tracked) -> None:
        while tracked.behind and self._by_channel.get(tracked.channel) is tracked:
            await asyncio.sleep(max(0.0, tracked.retry_at - self._clock()))
            async with tracked.lock:
                if tracked.behind and self._by_channel.get(tracked.channel) is tracked:
                    await self._catch_up_locked(tracked)

    async def _catch_up_locked(self, tracked: _Tracked) -> bool:
        """Play, in order, the trainee's lines in the channel that the store does not have."""
        asked = tracked.catch_ups_asked
        try:
            if not await self._ready(tracked):
                if self._by_channel.get(tracked.channel) is not tracked:
                    return True  # closed: it could not go on
                raise StoreError("the session could not be reloaded") from tracked.store_error
            seen = await self.store.seen_messages(tracked.row.id)
            tracked.handled |= seen
            played = 0
            async for posted in self.transport.history(tracked.channel):
                if tracked.session.ended:
                    break
                if posted.mine or posted.author_id != tracked.row.trainee_id or posted.id in seen:
                    continue
                result = await self._play(tracked, posted.text, posted.id, posted.written_at)
                if result is LineResult.NOT_SAVED:
                    raise StoreError("a line could not be saved") from tracked.store_error
                played += result is LineResult.PLAYED
        except DeliveryError as exc:
            if not exc.permanent:
                return self._catch_up_failed(tracked, exc)
            # The channel is gone, or may not be read: no retry can help. Lines it may hold
            # stay unplayed; the session is left to idle handling (which ends it in time).
            log.warning("session %d: its channel cannot be read (%s); not catching up on it", tracked.row.id, exc)
            tracked.behind = False
            return True
        except StoreError as exc:
            return self._catch_up_failed(tracked, exc)
        # Another reconnection while this ran may have brought lines its history did not show.
        tracked.behind = tracked.catch_ups_asked != asked
        tracked.retry_delay = self.settings.first_retry_seconds
        if played:
            log.info("session %d: caught up on %d line(s)", tracked.row.id, played)
        return True

    def _catch_up_failed(self, tracked: _Tracked, exc: TrainerError) -> bool:
        tracked.behind = True
        tracked.retry_at = self._clock() + tracked.retry_delay
        log.warning("session %d: catching up failed (%s); again in %.0f s", tracked.row.id, exc, tracked.retry_delay)
        tracked.retry_delay = min(tracked.retry_delay * 2, self.settings.catch_up_max_retry_seconds)
        return False

    # -- rebuilding a session from the store --
    async def _ready(self, tracked: _Tracked) -> bool:
        if tracked.broken:
            await self._rebuild(tracked)
        return not tracked.broken

    async def _rebuild(self, tracked: _Tracked) -> None:
        tracked.session.abandon()  # leaves the shared machine
        try:
            tracked.session = await self._replay(tracked.row, tracked.scenario, tracked.machine)
            tracked.broken = False
        except StoreError as exc:
            log.warning("session %d could not be reloaded yet: %s", tracked.row.id, exc)
            tracked.broken, tracked.store_error = True, exc
        except TrainerError as exc:
            # The store has it, but replaying it no longer leads where it led: no retry can
            # help, so it is closed like a session that cannot be restored (once that is saved).
            tracked.broken = True
            try:
                await self._close_unrestorable(tracked.row, exc)
            except StoreError as error:
                log.warning("session %d cannot go on, and could not be closed yet: %s", tracked.row.id, error)
                return
            self._forget(tracked)

    async def _close_unrestorable(self, row: SessionRow, exc: Exception) -> None:
        """Close a session that cannot go on and tell the trainee, rather than ignore them for ever."""
        log.warning("session %d cannot go on, closing it without a score: %s", row.id, exc)
        channel = row.thread_id if row.thread_id is not None else row.id
        await self.store.close_unrestorable(row.id, [self._item(
            f"{row.id}:unrestorable", channel, row.id, messages.notice(NOTICES["unrestorable"])
        )])
        self.outbox.kick(channel)

    async def _replay(self, row: SessionRow, scenario: Scenario, machine: ScenarioMachine | None) -> Session:
        if row.scenario_id != scenario.id:
            raise SessionError(f"session {row.id} is a '{row.scenario_id}' session, not '{scenario.id}'")
        changed = row.scenario_digest != scenario.digest
        session = Session.start(scenario, machine, seed=row.seed, persona=row.persona)
        try:
            for stored in (r for r in await self.store.turns(row.id) if r.speaker == "trainee"):
                missing = stored.state not in scenario.states
                if missing or session.ended:
                    why = f"state '{stored.state}' no longer exists" if missing else f"the scene now ends before turn {stored.seq}"
                    raise SessionError(f"cannot resume session {row.id}: {scenario.path} changed since it started and {why}")
                turn = session.step(stored.text, _stored_detection(stored))
                if (turn.state_after, turn.mood_after) != (stored.state, stored.mood):
                    cause = f"{scenario.path} changed since it started, and " if changed else ""
                    raise SessionError(
                        f"cannot resume session {row.id}: {cause}turn {stored.seq} now leads to "
                        f"'{turn.state_after}' (mood {turn.mood_after}) instead of '{stored.state}' (mood {stored.mood})"
                    )
        except BaseException:
            session.abandon()
            raise
        return session

    # -- plumbing --
    def _track(self, row: SessionRow, session: Session, scenario: Scenario, machine: ScenarioMachine) -> _Tracked:
        return self._register(self._new_tracked(row, session, scenario, machine))

    def _new_tracked(self, row: SessionRow, session: Session, scenario: Scenario, machine: ScenarioMachine, *, behind: bool = False) -> _Tracked:
        tracked = _Tracked(
            row=row, session=session, scenario=scenario, machine=machine,
            channel=row.thread_id if row.thread_id is not None else row.id,
            limiter=LineLimiter(self.settings.lines_per_minute, self.settings.line_burst),
            last_activity=self._clock(), retry_delay=self.settings.first_retry_seconds,
        )
        if behind:
            _mark_behind(tracked)
        return tracked

    def _register(self, tracked: _Tracked) -> _Tracked:
        row = tracked.row
        self._by_channel[tracked.channel] = tracked
        self._by_session[row.id] = tracked
        if row.trainee_id is not None:
            self._by_trainee[(row.guild_id, row.trainee_id)] = tracked
        self.outbox.claim(tracked.channel)  # only this service queues items in a session's channel
        return tracked

    def _forget(self, tracked: _Tracked) -> None:
        if self._by_channel.get(tracked.channel) is tracked:
            del self._by_channel[tracked.channel]
            self.outbox.release(tracked.channel)
        if self._by_session.get(tracked.row.id) is tracked:
            del self._by_session[tracked.row.id]
        if tracked.row.trainee_id is not None and self._by_trainee.get((tracked.row.guild_id, tracked.row.trainee_id)) is tracked:
            del self._by_trainee[(tracked.row.guild_id, tracked.row.trainee_id)]

    def _tracked_session(self, session_id: int) -> _Tracked:
        tracked = self._by_session.get(session_id)
        if tracked is None:
            raise SessionError(f"session {session_id} is not in progress here")
        return tracked

    def _item(self, key: str, channel_id: int, session_id: int | None, message: Message) -> NewItem:
        return NewItem(key=key, transport=self.transport.name, channel_id=channel_id, kind=message.kind,
                       body=message.to_json(), session_id=session_id, message=message)

    def _notice(self, tracked: _Tracked, what: str, text: str) -> NewItem:
        return self._item(f"{tracked.row.id}:notice:{what}", tracked.channel, tracked.row.id, messages.notice(text))

    def _kick(self, items: Iterable[NewItem]) -> None:
        for channel_id in dict.fromkeys(item.channel_id for item in items):
            self.outbox.kick(channel_id)

    async def close(self) -> None:
        """Stop background work; sessions stay in progress in the store, for the next start."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        await self.outbox.close()
        for tracked in self._by_channel.values():
            tracked.session.abandon()  # only leaves the shared machine; nothing is written
        self._by_channel.clear()
        self._by_session.clear()
        self._by_trainee.clear()


def _mark_behind(tracked: _Tracked) -> None:
    """Lines may be missing: catch up on the channel's history before playing a live one."""
    tracked.behind = True
    tracked.catch_ups_asked += 1


def _already_playing(row: SessionRow) -> AlreadyPlaying:
    return AlreadyPlaying(row.trainee, row.id, row.thread_id)


def _storable(text: str) -> str:
    """The line as the database can keep it: a lone surrogate (JSON can carry one; UTF-8
    cannot) becomes U+FFFD, so the line is still played, and quoted, as written."""
    if text.isascii():
        return text
    return "".join("\ufffd" if "\ud800" <= char <= "\udfff" else char for char in text)


def _finish_of(score: Score, record: SessionRecord | None = None) -> Finish:
    # The score's outcome, not the scene's: a critical signal fails even an abandoned scene.
    return Finish(
        score.outcome.value, score.total,
        tuple(SkillEvidenceRow(s.name, s.label, s.status.value, s.points, s.max_points, s.turn, s.quote) for s in score.skills),
        record,
    )


def _stored_detection(row: TurnRow) -> Detection:
    """The signals as detected when the line was first played, so a lexicon update cannot change history."""
    evidence = tuple(Evidence(signal=e.name, start=e.start, end=e.end, quote=e.quote, detail=e.detail) for e in row.signals)
    return Detection(text=row.text, evidence=evidence)
