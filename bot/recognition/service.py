"""Recognition: what a finished session earns in public and in private, kudos, nominations
and the board. Front ends call this; it reads and writes through the store and sends
through the session service's outbox, so every post goes out exactly once.

Everything public follows the same rules:
- it comes only from practice role-plays (assessments are evaluations: they go into
  reports and training records, never into a public post);
- it comes only from a clean grade (`recognition_due` for the "well done" post; badges,
  nominations and points need no integrity note and no critical behaviour either);
- it respects each person's choice: a trainee who opted out is never posted about, and is
  left off public boards (they still earn badges, and see them privately);
- it never shows a poor result: no score below the recognition line is ever posted, a
  public board shows only its top (never its bottom half), and each person's own rank is
  told to them alone.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo

from bot.engine.scenario import Scenario
from bot.engine.scoring import Score
from bot.engine.session import Session
from bot.errors import SessionError
from bot.recognition import posts
from bot.recognition.badges import audiences_of, earned_badges
from bot.recognition.facts import SessionFacts, session_facts
from bot.recognition.leaderboard import Standing, own_standing, public_ranking, rank
from bot.recognition.nominations import nominate
from bot.recognition.rules import BadgeRules, load_rules
from bot.sessions.messages import Message
from bot.sessions.recognition import recognition_due
from bot.store import SessionRow, Store
from bot.store.recognition import KudosOutcome
from bot.store.rows import CohortRow, MemberRow, NewItem, NewNomination, SessionRecord, SessionResult, ShownRow

log = logging.getLogger("trainer.recognition")

PERIODS: dict[str, timedelta | None] = {"week": timedelta(days=7), "month": timedelta(days=30), "all": None}
NOMINATION_MODES = ("review", "auto", "off")
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True)
class WeeklyPost:
    weekday: int  # 0 = Monday
    hour: int
    zone: tzinfo


@dataclass(frozen=True)
class RecognitionSettings:
    recognition_threshold: int = 80
    nominations: str = "review"  # review: an instructor approves each; auto: posted at once; off
    nominations_per_session: int = 2
    review_channel_id: int | None = None  # where nominations wait for an instructor (None: the session's own channel)
    review_channels: Mapping[int, int] = field(default_factory=dict)  # ... per server
    zone: tzinfo = timezone.utc  # what a "day" is, for streaks and the weekly post
    kudos_per_day: int = 3
    kudos_pair_cooldown_hours: int = 24
    kudos_reason_words: int = 3  # at least this many words
    kudos_reason_chars: int = 200  # at most this many characters
    kudos_points: int = 5
    public_top: int = 5  # how many people a public board shows
    weekly_post: WeeklyPost | None = None


class KudosRefused(SessionError):
    """A kudos that the rules do not allow; the message says why, to the giver only."""


@dataclass(frozen=True)
class Board:
    heading: str
    standings: list[Standing]  # everyone with points, in the board's order
    public: list[Standing]  # those who accept public recognition, ranked among themselves

    def top(self, count: int) -> list[Standing]:
        """What a public post shows: at most `count` people, and never the bottom half of
        the board, so nobody's low standing is ever public (each person hears their own)."""
        return self.public[: min(count, math.ceil(len(self.public) / 2))]

    def standing_of(self, member_id: int) -> tuple[Standing | None, bool]:
        """(standing, public): a public member's rank among the public board, else their place overall."""
        found = own_standing(self.public, member_id)
        if found is not None:
            return found, True
        return own_standing(self.standings, member_id), False


Item = Callable[[str, int, int | None, Message], NewItem]
Mention = Callable[[int | None, str], str]


class RecognitionService:
    def __init__(
        self, store: Store, rules: BadgeRules | None = None, settings: RecognitionSettings = RecognitionSettings(), *,
        catalogue: Callable[[], Iterable[Scenario]] = lambda: (), transport_name: str = "terminal",
        mention: Mention = lambda user_id, name: name, kick: Callable[[int], None] = lambda channel: None,
    ) -> None:
        self.store = store
        self.rules = rules if rules is not None else load_rules()
        self.settings = settings
        self.catalogue = catalogue
        self.transport_name = transport_name
        self.mention = mention
        self.kick = kick

    def item(self, key: str, channel_id: int, session_id: int | None, message: Message) -> NewItem:
        return NewItem(key=key, transport=self.transport_name, channel_id=channel_id, kind=message.kind, body=message.to_json(),
                       session_id=session_id, message=message)

    # -- the end of a session --
    async def at_finish(self, row: SessionRow, scenario: Scenario, play: Session, score: Score, channel: int) -> tuple[list[NewItem], SessionRecord]:
        """What a finished session sends in recognition, and what is kept of it, to be saved
        with the session's end in one transaction."""
        facts = session_facts(play, score, self.rules)
        shown = tuple(ShownRow(s.behaviour, s.turn, s.quote) for s in facts.shown)
        if row.member_id is None:
            return [], _record(facts, shown)
        sid = row.id
        # What is read of the trainee, in one trip: nothing outside practice (no recognition there).
        inputs = await self.store.recognition_inputs(row.member_id, history=facts.recognisable) if row.mode == "practice" else None
        public = inputs is not None and inputs.public
        channels = [c for c in inputs.cohorts if c.channel_id is not None and c.guild_id == row.guild_id] if inputs is not None and public else []
        items: list[NewItem] = []
        if recognition_due(score, self.settings):
            post = _well_done(scenario, score, row, self.mention)
            items += [self.item(f"{sid}:recognition:{c.id}", _channel(c), sid, post) for c in channels]
        badges: list[tuple[str, int]] = []
        nominations: list[NewNomination] = []
        if row.mode == "practice" and facts.recognisable:
            current = SessionResult(
                session_id=sid, member_id=row.member_id, scenario_id=row.scenario_id, mode=row.mode, outcome=score.outcome.value,
                score=score.total, turns=len(play.turns), started_at=row.started_at, ended_at=_now(), clean=facts.clean,
                gamed=facts.gamed, penalties=facts.penalties, critical=facts.critical, start_mood=facts.start_mood,
                peak_mood=facts.peak_mood, end_mood=facts.end_mood, shown=tuple(s.behaviour for s in facts.shown),
            )
            assert inputs is not None  # practice
            history = [r for r in inputs.results if r.session_id != sid] + [current]
            held = {b.badge for b in inputs.badges}
            for earned in earned_badges(self.rules, history, held, self.audiences(), self.settings.zone):
                badge = earned.badge
                badges.append((badge.name, earned.session_id))
                items.append(self.item(f"{sid}:badge:{badge.name}", channel, sid, posts.badge_note(badge, public)))
                announcement = posts.badge_post(badge, row.trainee, row.trainee_id, self.mention)
                items += [self.item(f"badge:{row.member_id}:{badge.name}:{c.id}", _channel(c), sid, announcement) for c in channels]
            if channels and self.settings.nominations != "off":
                auto = self.settings.nominations == "auto"
                for nominee in nominate(scenario, score, self.settings.nominations_per_session):
                    nominations.append(NewNomination(nominee.turn, nominee.line, nominee.why, approved=auto))
                    if auto:
                        post = posts.nomination_post(scenario.title, nominee.line, nominee.why, row.trainee, row.trainee_id, self.mention)
                        items += [self.item(f"{sid}:nomination:{nominee.turn}:post:{c.id}", _channel(c), sid, post) for c in channels]
                    else:
                        review = posts.nomination_review(scenario.title, sid, nominee.turn, nominee.line, nominee.why, row.trainee, row.trainee_id, self.mention)
                        where = self.settings.review_channels.get(row.guild_id) or self.settings.review_channel_id or channel
                        items.append(self.item(f"{sid}:nomination:{nominee.turn}", where, sid, review))
        return items, _record(facts, shown, tuple(badges), tuple(nominations))

    def audiences(self) -> dict[str, set[str]]:
        return audiences_of(self.catalogue())

    # -- nominations --
    async def decide_nomination(self, session_id: int, turn: int, approved: bool, by: MemberRow, scenario: Scenario | None) -> bool:
        """An instructor's decision; an approved nomination is posted to the trainee's cohort
        channels (unless they opted out meanwhile). False when someone decided first."""
        nomination = await self.store.nomination(session_id, turn)
        if nomination is None:
            raise SessionError("That nomination no longer exists.")
        session = await self.store.get_session(session_id)
        items: list[NewItem] = []
        if approved and session is not None and session.member_id is not None and await self.store.is_public(session.member_id):
            title = scenario.title if scenario is not None else session.scenario_id
            post = posts.nomination_post(title, nomination.line, nomination.why, session.trainee, session.trainee_id, self.mention)
            items = [
                self.item(f"{session_id}:nomination:{turn}:post:{c.id}", _channel(c), session_id, post)
                for c in await self.store.cohorts_of(session.member_id) if c.channel_id is not None and c.guild_id == session.guild_id
            ]
        decided = await self.store.decide_nomination(session_id, turn, approved, by.id, items)
        if decided:
            log.info("nomination %d:%d %s by member %d", session_id, turn, "approved" if approved else "dismissed", by.id)
            for item in items:
                self.kick(item.channel_id)
        return decided

    # -- kudos --
    def check_reason(self, reason: str) -> str:
        text = " ".join(reason.split())
        words = len(text.split())
        if words < self.settings.kudos_reason_words:
            raise KudosRefused(f"Say what you saw in a few words (at least {self.settings.kudos_reason_words}), e.g. \u201cexplained the ticket calmly\u201d.")
        if len(text) > self.settings.kudos_reason_chars:
            raise KudosRefused(f"Keep the reason short: at most {self.settings.kudos_reason_chars} characters.")
        return text

    async def give_kudos(
        self, guild_id: int, giver: MemberRow, receiver: MemberRow, skill: str, reason: str, channel_id: int | None,
    ) -> KudosOutcome:
        """Record a kudos within the limits and post it where it was given (when the receiver
        accepts public recognition). KudosRefused says why not, to the giver only."""
        if giver.id == receiver.id:
            raise KudosRefused("Kudos are for someone else \u2014 but keep it up!")
        reason = self.check_reason(reason)
        public = channel_id is not None and await self.store.is_public(receiver.id)

        def items(kudos_id: int) -> list[NewItem]:
            if not public or channel_id is None:
                return []
            post = posts.kudos_post(giver.display_name, giver.discord_id, receiver.display_name, receiver.discord_id, skill, reason, self.mention)
            return [self.item(f"kudos:{kudos_id}", channel_id, None, post)]

        outcome = await self.store.give_kudos(
            guild_id, giver.id, receiver.id, skill, reason, per_day=self.settings.kudos_per_day,
            pair_cooldown_seconds=self.settings.kudos_pair_cooldown_hours * 3600, items=items,
        )
        if not outcome.given:
            when = _when(outcome.next_at, self.settings.zone)
            if outcome.refused == "daily_limit":
                raise KudosRefused(f"You have given your {self.settings.kudos_per_day} kudos for today; you can give another from {when}.")
            raise KudosRefused(f"You gave {receiver.display_name} kudos recently; you can again from {when}. Someone else, maybe?")
        if public and channel_id is not None:
            self.kick(channel_id)
        return outcome

    # -- the board --
    async def board(self, members: Sequence[MemberRow], period: str, heading: str, *, until: datetime | None = None) -> Board:
        if period not in PERIODS:
            raise SessionError(f"unknown period '{period}' (week, month or all)")
        span = PERIODS[period]
        end = until or datetime.now(timezone.utc)
        since = (end - span).isoformat(timespec="seconds") if span is not None else None
        stop = end.isoformat(timespec="seconds") if until is not None else None
        ids = [m.id for m in members]
        results = await self.store.session_results(member_ids=ids, since=since, until=stop)
        badges = [b for b in await self.store.badges_among(ids, since=since) if stop is None or b.awarded_at < stop]
        kudos = [k for k in await self.store.kudos_among(ids, since=since) if stop is None or k.created_at < stop]
        standings = rank(members, results, badges, kudos, badge_points={b.name: b.points for b in self.rules.badges},
                         kudos_points=self.settings.kudos_points)
        private = await self.store.private_members(ids)
        return Board(heading, standings, public_ranking(standings, private))

    async def members_of(self, guild_id: int, cohort: CohortRow | None) -> list[MemberRow]:
        if cohort is not None:
            return await self.store.cohort_members(cohort.id)
        return [m for m in await self.store.members(guild_id=guild_id) if m.role == "trainee"]

    # -- the weekly post --
    def latest_slot(self, now: datetime) -> datetime | None:
        """The most recent weekly post time at or before `now`, or None when there is none."""
        weekly = self.settings.weekly_post
        if weekly is None:
            return None
        local = now.astimezone(weekly.zone)
        slot = local.replace(hour=weekly.hour, minute=0, second=0, microsecond=0) - timedelta(days=(local.weekday() - weekly.weekday) % 7)
        if slot > local:
            slot -= timedelta(days=7)
        return slot

    async def post_weekly_boards(self, now: datetime, guild_ids: Iterable[int], *, late: timedelta = timedelta(hours=23)) -> int:
        """Queue the week's board for each cohort channel, once per week: when the post time is
        at most `late` ago (a restart soon after it still posts the week's board; a week-old
        board is not worth posting), and never twice. Returns how many were queued."""
        slot = self.latest_slot(now)
        if slot is None or now - slot > late:
            return 0
        queued = 0
        week = slot.date().isoformat()
        for guild_id in guild_ids:
            for cohort in await self.store.cohorts(guild_id=guild_id):
                if cohort.channel_id is None:
                    continue
                key = f"leaderboard:{cohort.id}:{week}"
                if await self.store.outbox_item(key) is not None:
                    continue
                board = await self.board(await self.store.cohort_members(cohort.id), "week", f"the week to {slot:%A %d %B}", until=slot.astimezone(timezone.utc))
                top = board.top(self.settings.public_top)
                if not top:
                    continue  # an empty board is not worth a post
                await self.store.enqueue([self.item(key, cohort.channel_id, None, posts.leaderboard_post(f"{cohort.name}, {board.heading}", top, self.mention))])
                self.kick(cohort.channel_id)
                queued += 1
        return queued


def _record(facts: SessionFacts, shown: tuple[ShownRow, ...], badges: tuple[tuple[str, int], ...] = (),
            nominations: tuple[NewNomination, ...] = ()) -> SessionRecord:
    return SessionRecord(
        clean=facts.clean, gamed=facts.gamed, penalties=facts.penalties, critical=facts.critical, start_mood=facts.start_mood,
        peak_mood=facts.peak_mood, end_mood=facts.end_mood, shown=shown, badges=badges, nominations=nominations,
    )


def _well_done(scenario: Scenario, score: Score, row: SessionRow, mention: Mention) -> Message:
    from bot.sessions import messages

    return messages.recognition(scenario, score, row.trainee, row.trainee_id, mention)


def _channel(cohort: CohortRow) -> int:
    assert cohort.channel_id is not None
    return cohort.channel_id


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _when(stamp: str | None, zone: tzinfo) -> str:
    if stamp is None:
        return "later"
    moment = datetime.fromisoformat(stamp).astimezone(zone)
    return moment.strftime("%a %d %b, %H:%M") + f" ({moment.tzname()})"
