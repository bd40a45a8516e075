"""Recognition through the session service on a real SQLite file and an in-memory chat:
what is posted where, and what never is; the board; kudos limits; nominations; the weekly post."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.recognition.service import KudosRefused, RecognitionSettings, WeeklyPost
from bot.sessions import ServiceSettings, SessionService, Trainee
from bot.store import Store
from tests.recognition.sessions import COURTEOUS, LIBRARY, RECOVERED, RUDE, SALAD
from tests.sessions.chat import Chat, ChatTransport

GUILD, PARENT, COHORT_CHANNEL, REVIEW = 7, 400, 900, 950
FAST = ServiceSettings(first_retry_seconds=0.01, max_retry_seconds=0.05, lines_per_minute=0)
SCENARIO = LIBRARY.get("traffic_stop")


class Desk:
    """A service with its chat and database, and people in one cohort."""

    def __init__(self, store: Store, chat: Chat, recognition: RecognitionSettings) -> None:
        self.store, self.chat = store, chat
        self.service = SessionService(store, ChatTransport(chat), LIBRARY, FAST, recognition=recognition)
        self.threads = iter(range(10_000, 20_000))
        self.cohort_id = 0

    async def join(self, name: str, user_id: int) -> int:
        member = await self.store.ensure_member(name, guild_id=GUILD, discord_id=user_id)
        if not self.cohort_id:
            self.cohort_id = (await self.store.create_cohort("Spring", guild_id=GUILD, channel_id=COHORT_CHANNEL)).id
        await self.store.add_to_cohort(self.cohort_id, member.id)
        return member.id

    async def play(self, name: str, user_id: int, lines: list[str], *, mode: str = "practice", scenario_id: str = "traffic_stop") -> int:
        thread = next(self.threads)
        started = await self.service.start(LIBRARY.get(scenario_id), Trainee(name, user_id), mode=mode, guild_id=GUILD,
                                           channel_id=thread, parent_id=PARENT, seed=1)
        for line in lines:
            written = self.chat.write(thread, user_id, line)
            await self.service.handle_message(thread, user_id, line, str(written.id), written.written_at)
        if self.service.session_in(thread) is not None:
            await self.service.end(thread, by=user_id, by_instructor=False)
        await self.settle()
        return started.row.id

    async def settle(self) -> None:
        for _ in range(400):
            await asyncio.sleep(0)
            busy = [t for t in self.service._tasks | self.service.outbox._tasks if not t.done()]
            if not busy:
                return
            await asyncio.wait(busy, timeout=0.05)
        raise AssertionError("the service never settled")

    def posts(self, channel: int = COHORT_CHANNEL) -> list[str]:
        return [m.text or (m.message.card.title if m.message and m.message.card else "") for m in self.chat.bot_messages(channel)]

    def kinds(self, channel: int = COHORT_CHANNEL) -> list[str]:
        return self.chat.kinds(channel)

    async def board(self, period: str = "all") -> list[tuple[str, int]]:
        members = await self.service.recognition.members_of(GUILD, await self.store.cohort("Spring", guild_id=GUILD))
        board = await self.service.recognition.board(members, period, period)
        return [(s.name, s.points) for s in board.public]


@pytest.fixture
async def desk(tmp_path: Path) -> AsyncIterator[Desk]:
    async with Store.open(tmp_path / "r.db") as store:
        desk = Desk(store, Chat(), RecognitionSettings(review_channel_id=REVIEW))
        yield desk
        await desk.service.close()


# -- what is posted, where --

async def test_a_clean_success_is_celebrated_with_its_badges_once(desk: Desk) -> None:
    await desk.join("tom", 42)
    await desk.play("tom", 42, COURTEOUS)
    assert desk.kinds() == ["recognition", "badge", "badge", "badge"], "\n".join(desk.posts())
    assert all("<@42>" in text for text in desk.posts())
    assert any("**All five**" in text for text in desk.posts())
    await desk.play("tom", 42, COURTEOUS)  # the same again: celebrated, but no badge twice
    assert desk.kinds() == ["recognition", "badge", "badge", "badge", "recognition"]
    assert [b.badge for b in await desk.store.badges_of(1)] == ["perfect_opening", "clean_run", "all_five"]


async def test_what_a_sessions_end_reads_in_one_trip_is_what_the_single_reads_give(desk: Desk) -> None:
    member = await desk.join("tom", 42)
    await desk.play("tom", 42, COURTEOUS)
    inputs = await desk.store.recognition_inputs(member, history=True)
    assert inputs.public is await desk.store.is_public(member) is True
    assert list(inputs.cohorts) == await desk.store.cohorts_of(member) and inputs.cohorts
    assert list(inputs.results) == await desk.store.session_results(member_ids=[member]) and inputs.results
    assert list(inputs.badges) == await desk.store.badges_of(member) and inputs.badges
    assert (await desk.store.recognition_inputs(member, history=False)).results == ()
    await desk.store.set_public(member, False)
    assert (await desk.store.recognition_inputs(member, history=False)).cohorts == ()


async def test_poor_gamed_and_assessed_results_are_never_public(desk: Desk) -> None:
    await desk.join("rita", 43)
    await desk.play("rita", 43, RUDE)
    await desk.play("rita", 43, SALAD)
    await desk.play("rita", 43, COURTEOUS, mode="assessment")  # an evaluation: for reports and records only
    assert desk.posts() == []
    assert await desk.store.badges_of(1) == []
    assert await desk.store.nominations() == []
    assert await desk.board() == []  # no points from any of them


async def test_opting_out_keeps_everything_private_but_the_badges_are_still_earned(desk: Desk) -> None:
    member = await desk.join("tom", 42)
    await desk.store.set_public(member, False)
    sid = await desk.play("tom", 42, COURTEOUS)
    assert desk.posts() == [] and desk.posts(REVIEW) == []
    assert len(await desk.store.badges_of(member)) == 3
    notes = [m.text for m in desk.chat.bot_messages(10_000) if m.message is not None and m.message.kind == "badge_note"]
    assert len(notes) == 3 and all("opted out" in note for note in notes)
    assert await desk.board() == []  # not on the public board...
    members = await desk.service.recognition.members_of(GUILD, None)
    board = await desk.service.recognition.board(members, "all", "all")
    standing, public = board.standing_of(member)
    assert standing is not None and not public  # ...but they can see where they stand
    assert sid


# -- the board --

async def test_best_attempt_per_scenario_retries_only_help_and_grinding_does_not_climb(desk: Desk) -> None:
    await desk.join("ana", 1)
    await desk.join("ben", 2)
    await desk.play("ana", 1, RECOVERED)  # a success at 75 with a penalty
    await desk.play("ben", 2, COURTEOUS)  # 100 and three badges
    before = dict(await desk.board())
    await desk.play("ana", 1, RUDE)  # a poor retry
    assert dict(await desk.board())["ana"] == before["ana"]
    for _ in range(3):
        await desk.play("ben", 2, COURTEOUS)  # grinding the same scenario
    assert dict(await desk.board())["ben"] == before["ben"] == 100 + 10 + 10 + 20
    await desk.play("ana", 1, COURTEOUS)  # a better retry raises the best, and earns badges
    assert dict(await desk.board())["ana"] == 100 + 15 + 10 + 10 + 20
    assert [name for name, _ in await desk.board()] == ["ana", "ben"]


async def test_ties_go_to_whoever_got_there_first(desk: Desk, tmp_path: Path) -> None:
    await desk.join("zoe", 1)
    await desk.join("adam", 2)
    await desk.play("zoe", 1, COURTEOUS)
    await desk.play("adam", 2, COURTEOUS)
    with sqlite3.connect(tmp_path / "r.db") as raw:  # zoe finished a minute before adam
        raw.execute("UPDATE sessions SET ended_at = '2026-03-01T10:00:00+00:00' WHERE trainee = 'zoe'")
        raw.execute("UPDATE badges SET awarded_at = '2026-03-01T10:00:00+00:00' WHERE member_id = 1")
        raw.execute("UPDATE sessions SET ended_at = '2026-03-01T10:01:00+00:00' WHERE trainee = 'adam'")
        raw.execute("UPDATE badges SET awarded_at = '2026-03-01T10:01:00+00:00' WHERE member_id = 2")
    assert await desk.board() == [("zoe", 140), ("adam", 140)]
    await desk.play("adam", 2, COURTEOUS)  # an equal retry later changes nothing
    assert await desk.board() == [("zoe", 140), ("adam", 140)]


async def test_the_period_counts_only_what_happened_in_it(desk: Desk, tmp_path: Path) -> None:
    await desk.join("ana", 1)
    await desk.play("ana", 1, COURTEOUS)
    old = (datetime.now(timezone.utc) - timedelta(days=10)).isoformat(timespec="seconds")
    with sqlite3.connect(tmp_path / "r.db") as raw:
        raw.execute("UPDATE sessions SET ended_at = ?", (old,))
        raw.execute("UPDATE badges SET awarded_at = ?", (old,))
    assert await desk.board("week") == []
    assert await desk.board("month") == [("ana", 140)]


# -- kudos --

async def test_kudos_limits(desk: Desk) -> None:
    recognition = desk.service.recognition
    ids = [await desk.join(name, 100 + i) for i, name in enumerate(["gus", "kim", "lee", "mo", "ned"])]
    gus, kim, lee, mo, ned = [await desk.store.member(i) for i in ids]
    assert gus and kim and lee and mo and ned
    with pytest.raises(KudosRefused, match="someone else"):
        await recognition.give_kudos(GUILD, gus, gus, "Empathy", "great work on that stop", 300)
    with pytest.raises(KudosRefused, match="at least 3"):
        await recognition.give_kudos(GUILD, gus, kim, "Empathy", "nice", 300)
    with pytest.raises(KudosRefused, match="at most 200"):
        await recognition.give_kudos(GUILD, gus, kim, "Empathy", "word " * 60, 300)
    await recognition.give_kudos(GUILD, gus, kim, "Empathy", "calm and kind with the driver", 300)
    with pytest.raises(KudosRefused, match="recently"):  # the same pair again
        await recognition.give_kudos(GUILD, gus, kim, "Empathy", "again, calm and kind", 300)
    await recognition.give_kudos(GUILD, gus, lee, "Empathy", "explained the ticket clearly", 300)
    await recognition.give_kudos(GUILD, gus, mo, "Empathy", "gave the reason first", 300)
    with pytest.raises(KudosRefused, match="your 3 kudos for today"):
        await recognition.give_kudos(GUILD, gus, ned, "Empathy", "a warm and clear close", 300)
    await recognition.give_kudos(GUILD, kim, gus, "Empathy", "thanks for the kind words", 300)  # others still may
    await desk.settle()
    assert len(desk.posts(300)) == 4 and len(await desk.store.kudos_among(ids)) == 4
    assert all(m.message is not None and set(m.message.mentions) <= {100, 101, 102, 103} for m in desk.chat.bot_messages(300))


async def test_kudos_to_someone_who_opted_out_is_kept_but_not_posted(desk: Desk) -> None:
    gus = await desk.store.member(await desk.join("gus", 100))
    kim_id = await desk.join("kim", 101)
    await desk.store.set_public(kim_id, False)
    kim = await desk.store.member(kim_id)
    assert gus and kim
    await desk.service.recognition.give_kudos(GUILD, gus, kim, "Empathy", "calm and kind with the driver", 300)
    await desk.settle()
    assert desk.posts(300) == [] and len(await desk.store.kudos_among([kim_id])) == 1


# -- nominations --

async def test_nominated_lines_wait_for_an_instructor_then_are_posted_quoting_the_line(desk: Desk) -> None:
    await desk.join("tom", 42)
    instructor = await desk.store.ensure_member("ines", guild_id=GUILD, discord_id=7, role="instructor")
    sid = await desk.play("tom", 42, RECOVERED)
    nominations = await desk.store.nominations(status="pending")
    assert [n.turn for n in nominations] == [2, 5]  # the turn-around, and the next line that earned the most
    reviews = desk.chat.bot_messages(REVIEW)
    assert len(reviews) == len(nominations) and all(m.message and m.message.kind == "nomination_review" for m in reviews)
    turn_around = next(n for n in nominations if "turned the scene around" in n.why)
    assert turn_around.line == RECOVERED[turn_around.turn - 1]
    assert await desk.service.recognition.decide_nomination(sid, turn_around.turn, True, instructor, SCENARIO)
    await desk.settle()
    (post,) = [t for t in desk.posts() if "Caught doing it right" in t]
    assert f"\u201c{turn_around.line}\u201d" in post and "<@42>" in post
    assert not await desk.service.recognition.decide_nomination(sid, turn_around.turn, False, instructor, SCENARIO)  # decided already
    others = [n for n in nominations if n.turn != turn_around.turn]
    for other in others:
        assert await desk.service.recognition.decide_nomination(sid, other.turn, False, instructor, SCENARIO)
    await desk.settle()
    assert len([t for t in desk.posts() if "Caught doing it right" in t]) == 1  # a dismissed one is never posted


async def test_nominations_can_be_posted_straight_away(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "a.db") as store:
        desk = Desk(store, Chat(), RecognitionSettings(nominations="auto"))
        await desk.join("tom", 42)
        await desk.play("tom", 42, RECOVERED)
        assert {n.status for n in await store.nominations()} == {"approved"}
        assert any("Caught doing it right" in t for t in desk.posts())
        await desk.service.close()


# -- the weekly post --

def test_the_weekly_post_time_in_the_configured_zone() -> None:
    from bot.recognition.service import RecognitionService

    chicago = ZoneInfo("America/Chicago")
    service = RecognitionService.__new__(RecognitionService)
    service.settings = RecognitionSettings(weekly_post=WeeklyPost(0, 9, chicago))  # Mondays 9:00 in Chicago
    monday_9 = datetime(2026, 3, 2, 9, 0, tzinfo=chicago)
    assert service.latest_slot(monday_9) == monday_9
    assert service.latest_slot(monday_9 - timedelta(minutes=1)) == monday_9 - timedelta(days=7)
    assert service.latest_slot(datetime(2026, 3, 5, 12, 0, tzinfo=timezone.utc)) == monday_9
    summer = datetime(2026, 7, 6, 14, 0, tzinfo=timezone.utc)  # 9:00 CDT
    assert service.latest_slot(summer) == datetime(2026, 7, 6, 9, 0, tzinfo=chicago)


async def test_the_weekly_board_is_queued_once_a_week_and_only_when_due(desk: Desk) -> None:
    recognition = desk.service.recognition
    recognition.settings = RecognitionSettings(weekly_post=WeeklyPost(0, 9, timezone.utc))
    await desk.join("ana", 1)
    await desk.join("rita", 2)
    now = datetime.now(timezone.utc)
    slot = recognition.latest_slot(now)
    assert slot is not None
    assert await recognition.post_weekly_boards(slot + timedelta(minutes=1), [GUILD]) == 0  # an empty board is not posted
    await desk.play("ana", 1, COURTEOUS)
    await desk.play("rita", 2, RUDE)
    next_slot = slot + timedelta(days=7)
    assert await recognition.post_weekly_boards(next_slot - timedelta(hours=1), [GUILD]) == 0  # not due yet (the last one is long gone)
    assert await recognition.post_weekly_boards(next_slot + timedelta(minutes=1), [GUILD]) == 1
    assert await recognition.post_weekly_boards(next_slot + timedelta(hours=3), [GUILD]) == 0  # never twice
    await desk.settle()
    (board,) = [m for m in desk.chat.bot_messages(COHORT_CHANNEL) if m.message and m.message.kind == "leaderboard"]
    assert board.message is not None and board.message.card is not None
    assert "<@1>" in board.message.card.description and "<@2>" not in board.message.card.description  # nobody's low score
    assert board.message.mentions == ()  # names, no pings


async def test_an_unfinished_attempt_counts_its_score_and_a_public_board_never_shows_its_bottom_half(desk: Desk) -> None:
    from tests.recognition.sessions import LATE_REASON

    for name, user in (("ana", 1), ("ben", 2), ("cat", 3)):
        await desk.join(name, user)
    await desk.play("ana", 1, COURTEOUS)
    await desk.play("ben", 2, LATE_REASON)  # input ends before an ending: abandoned, with what it earned
    await desk.play("cat", 3, LATE_REASON[:1])
    ranked = await desk.board()
    assert [name for name, _ in ranked] == ["ana", "ben", "cat"]
    assert 0 < ranked[2][1] < ranked[1][1] < ranked[0][1]
    members = await desk.service.recognition.members_of(GUILD, await desk.store.cohort("Spring", guild_id=GUILD))
    board = await desk.service.recognition.board(members, "all", "all")
    assert [s.name for s in board.top(5)] == ["ana", "ben"]  # three on the board: the top two in public
    standing, public = board.standing_of(3)
    assert standing is not None and public and standing.rank == 3  # cat hears it privately
