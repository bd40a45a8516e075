"""Recognition in the real TrainerBot through simcord: the board and each person's own rank,
kudos limits, opting out, nominations approved with a button, reports with their charts,
assignments, overrides, and the weekly post with the clock under the test's control."""

from __future__ import annotations

import csv
import io
import sqlite3
from pathlib import Path

import discord
import pytest
import simcord
from discord import app_commands

from bot.config import Settings
from bot.discord_app.client import TrainerBot
from bot.store import Store
from tests.discord import simharness as sh
from tests.discord.test_bot import COURTEOUS, LIBRARY, RUDE, make_settings, play, start_scene

RECOVERED = [
    "License and registration.",
    "Sorry, let me start over. Good evening, ma'am, I'm Officer Smith with Metro Police.",
    "The reason I stopped you is that your registration tag expired in July.",
    "I understand, it's been a long night for you, and I appreciate your patience.",
    "I'm going to write you a warning today. It will take about five minutes, and you can renew online tonight.",
    "Thank you for your patience, ma'am. Drive safe and get home safe.",
]


@pytest.fixture
async def store(tmp_path: Path):  # type: ignore[no-untyped-def]
    async with Store.open(tmp_path / "bot.db") as opened:
        yield opened


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # The weekly board on Thursdays at 9:00 UTC: simcord's clock starts on Thursday 2026-01-01 at midnight.
    return make_settings(tmp_path / "bot.db", weekly_day=3, weekly_hour=9)


@pytest.fixture
def simcord_bot(settings: Settings, store: Store) -> TrainerBot:
    return TrainerBot(settings, store, LIBRARY)


@pytest.fixture
def world(simcord_env: simcord.Env) -> sh.World:
    return sh.build_world(simcord_env, instructor_permissions=discord.Permissions(manage_threads=True))


async def cohort(world: sh.World, *members: simcord.MemberActor) -> simcord.ChannelHandle:
    wins = world.guild.create_text_channel("academy-wins")
    await world.slash(world.instructor, "cohort create", name="Spring", channel=wins)
    for member in members:
        await world.slash(world.instructor, "cohort add", cohort="Spring", member=member)
    return wins


def texts(world: sh.World, channel: simcord.ChannelHandle) -> list[str]:
    return [m.content for m in sh.bot_messages(world.env, channel)]


async def test_the_board_is_public_and_each_rank_private(world: sh.World) -> None:
    rita = world.member("rita")
    await cohort(world, world.trainee, rita)
    await play(world, await start_scene(world), COURTEOUS)
    await play(world, await start_scene(world, rita), RUDE, actor=rita)
    board = await world.slash(world.trainee, "leaderboard", cohort="Spring", period="week")
    assert not board.ephemeral
    (embed,) = board.response.embeds
    assert f"<@{world.trainee.id}>" in (embed.description or "") and "140 points" in (embed.description or "")
    assert f"<@{rita.id}>" not in (embed.description or "")  # nobody's poor result is public
    (own,) = board.followups
    assert own.ephemeral and "#1 of 1" in (own.content or "")
    hers = await world.slash(rita, "leaderboard", cohort="Spring")
    assert "no points in this period yet" in (hers.followups[0].content or "") and hers.followups[0].ephemeral


async def test_kudos_limits_and_pings(world: sh.World) -> None:
    people = [world.member(name) for name in ("kim", "lee", "mo", "ned")]
    skill = "Acknowledged how she feels"
    short = await world.slash(world.instructor, "kudos", member=people[0], skill=skill, reason="nice")
    assert short.ephemeral and "at least 3" in (short.response.content or "")
    bot = world.guild.add_member(world.env.create_user("otherbot", bot=True))
    assert "for people" in ((await world.slash(world.instructor, "kudos", member=bot, skill=skill, reason="a very good bot")).response.content or "")
    for person in people[:3]:
        given = await world.slash(world.instructor, "kudos", member=person, skill=skill, reason=f"@everyone <@{people[3].id}> saw it, well done")
        assert given.ephemeral and "Kudos given" in (given.response.content or "")
    again = await world.slash(world.instructor, "kudos", member=people[3], skill=skill, reason="a warm and clear close")
    assert again.ephemeral and "your 3 kudos for today" in (again.response.content or "")
    pair = await world.slash(world.trainee, "kudos", member=people[0], skill=skill, reason="thanks for the help today")
    assert "Kudos given" in (pair.response.content or "")
    twice = await world.slash(world.trainee, "kudos", member=people[0], skill=skill, reason="and again for the help")
    assert twice.ephemeral and "recently" in (twice.response.content or "")
    posts = [body for body in sh.message_posts(world.env, world.practice) if "gave kudos" in body.get("content", "")]
    assert len(posts) == 4
    for body in posts:
        allowed = body["allowed_mentions"]
        assert allowed.get("parse", []) == [] and str(people[3].id) not in {str(u) for u in allowed.get("users", [])}
    assert not any(m.mention_everyone for m in sh.bot_messages(world.env, world.practice))


async def test_opting_out_keeps_a_trainee_out_of_every_public_post(world: sh.World, store: Store) -> None:
    wins = await cohort(world, world.trainee)
    out = await world.slash(world.trainee, "recognition opt-out")
    assert out.ephemeral and "Nothing about you will be posted" in (out.response.content or "")
    thread = await start_scene(world)
    await play(world, thread, COURTEOUS)
    assert texts(world, wins) == []
    notes = [t for t in texts(world, thread) if t.startswith("\U0001F3C5")]
    assert len(notes) == 3 and all("opted out" in t for t in notes)
    badges = await world.slash(world.trainee, "recognition badges")
    (embed,) = badges.response.embeds
    assert badges.ephemeral and "3 of 8 earned" in (embed.description or "")
    kudos = await world.slash(world.instructor, "kudos", member=world.trainee, skill="Greeted the driver", reason="a warm hello every time")
    assert "kept private" in (kudos.response.content or "")
    assert not [t for t in texts(world, world.practice) if "gave kudos" in t]
    board = await world.slash(world.trainee, "leaderboard", period="all")
    assert "Nobody on the board" in (board.response.embeds[0].description or "")
    assert "opted out" in (board.followups[0].content or "")
    assert (await world.slash(world.trainee, "recognition opt-in")).ephemeral
    await play(world, await start_scene(world), COURTEOUS)
    assert any(t.startswith("\U0001F389 Well done") for t in texts(world, wins))


async def test_a_nomination_is_approved_with_a_button_and_posted_quoting_the_line(world: sh.World, store: Store) -> None:
    wins = await cohort(world, world.trainee)
    thread = await start_scene(world)
    await play(world, thread, RECOVERED)
    reviews = [m for m in sh.bot_messages(world.env, thread) if m.embeds and (m.embeds[0].title or "").startswith("Caught doing it right?")]
    assert reviews
    review = next(m for m in reviews if "turned the scene around" in str(m.embeds[0].fields[0].value))
    refused = await world.trainee.click(review, label="Post to the cohort")
    assert refused.ephemeral and "An instructor decides" in (refused.response.content or "")
    approved = await world.instructor.click(review, label="Post to the cohort")
    assert approved.acknowledged
    line = (review.embeds[0].description or "").strip("\u201c\u201d")
    (post,) = [t for t in texts(world, wins) if "Caught doing it right" in t]
    assert line in post and f"<@{world.trainee.id}>" in post
    edited = await world.bot.get_channel(thread.id).fetch_message(review.id)  # type: ignore[union-attr]
    assert edited.components == [] and "Approved by ines" in (edited.embeds[0].footer.text or "")
    (nomination,) = [n for n in await store.nominations() if n.status == "approved"]
    assert nomination.line == line


async def test_reports_are_private_with_their_charts(world: sh.World, store: Store) -> None:
    await cohort(world, world.trainee)
    await play(world, await start_scene(world), RUDE)
    await play(world, await start_scene(world), COURTEOUS)
    report = await world.slash(world.instructor, "report member", member=world.trainee)
    assert report.ephemeral
    (embed,) = report.response.embeds
    assert "2 role-plays (2 finished)" in (embed.description or "") and embed.image.url == "attachment://progress.png"
    assert any("first 0 \u00b7 best 100 \u00b7 latest 100" in (f.value or "") for f in embed.fields)
    sessions = await store.list_sessions()
    latest = next(f for f in embed.fields if f.name == "Latest sessions")
    assert (latest.value or "").startswith(f"session {sessions[-1].id}: traffic_stop, success, 100")
    (chart,) = report.response.attachments
    assert (await chart.read())[:8] == b"\x89PNG\r\n\x1a\n"
    cohort_report = await world.slash(world.instructor, "report cohort", cohort="Spring")
    assert cohort_report.ephemeral
    files = {a.filename: a for a in cohort_report.response.attachments}
    assert set(files) == {"Spring.csv", "Spring-skills.png"}
    assert (await files["Spring-skills.png"].read())[:8] == b"\x89PNG\r\n\x1a\n"
    rows = list(csv.DictReader(io.StringIO((await files["Spring.csv"].read()).decode("utf-8-sig"), newline="")))
    assert [r["trainee"] for r in rows] == ["tom"] and rows[0]["role-plays"] == "2"
    with pytest.raises(simcord.SetupError):  # hidden from trainees by default_permissions
        await world.slash(world.trainee, "report cohort", cohort="Spring")


async def test_assignments_and_overrides(world: sh.World, store: Store) -> None:
    await cohort(world, world.trainee)
    made = await world.slash(world.instructor, "assignment create", cohort="Spring", scenario="traffic_stop", due="2026-01-31", pass_mark=90)
    assert made.ephemeral and "Assignment 1" in (made.response.content or "")
    bad = await world.slash(world.instructor, "assignment create", cohort="Spring", scenario="traffic_stop", due="next week")
    assert "not a date" in (bad.response.content or "")
    mine = await world.slash(world.trainee, "recognition assignments")
    assert mine.ephemeral and "1 open, 0 passed" in (mine.response.embeds[0].description or "")
    await play(world, await start_scene(world), RECOVERED)  # 75: under the pass mark
    listing = await world.slash(world.instructor, "assignment list", cohort="Spring")
    assert "not passed yet: tom" in (listing.response.content or "")
    (session,) = await store.list_sessions()
    changed = await world.slash(world.instructor, "override", session=session.id, score=92, reason="the driver's line was misheard")
    assert changed.ephemeral and "75 \u2192 **92**" in (changed.response.content or "")
    assert "not passed yet: nobody" in ((await world.slash(world.instructor, "assignment list", cohort="Spring")).response.content or "")
    assert "0 open, 1 passed" in ((await world.slash(world.trainee, "recognition assignments")).response.embeds[0].description or "")
    report = await world.slash(world.instructor, "report member", member=world.trainee)
    overrides = next(f for f in report.response.embeds[0].fields if f.name.startswith("Score overrides"))
    assert "75 \u2192 92 by ines: the driver's line was misheard" in (overrides.value or "")
    assert (await store.get_session(session.id)).score == 75  # type: ignore[union-attr]
    refused = await world.slash(world.instructor, "override", session=9999, score=50, reason="no such session here")
    assert "no session 9999" in (refused.response.content or "")


async def test_the_weekly_board_is_posted_once_at_the_configured_time(world: sh.World, store: Store, tmp_path: Path) -> None:
    wins = await cohort(world, world.trainee)
    await play(world, await start_scene(world), COURTEOUS)
    with sqlite3.connect(tmp_path / "bot.db") as raw:
        # The store stamps real time; move the session into the week before the virtual clock's Thursday.
        raw.execute("UPDATE sessions SET ended_at = '2025-12-30T12:00:00+00:00', started_at = '2025-12-30T11:55:00+00:00'")
        raw.execute("UPDATE badges SET awarded_at = '2025-12-30T12:00:00+00:00'")
    before = len(texts(world, wins))
    await world.env.advance_time(8 * 3600)  # 08:00: not yet
    assert len(texts(world, wins)) == before
    await world.env.advance_time(3600 + 60)  # 09:01 on Thursday
    boards = [m for m in sh.bot_messages(world.env, wins) if m.embeds and "Recognition board" in (m.embeds[0].title or "")]
    assert len(boards) == 1
    assert f"<@{world.trainee.id}>" in (boards[0].embeds[0].description or "")
    (body,) = [b for b in sh.message_posts(world.env, wins) if b.get("embeds") and "Recognition board" in b["embeds"][0]["title"]]
    assert body["allowed_mentions"].get("users", []) == [] and body["allowed_mentions"].get("parse", []) == []
    await world.env.advance_time(24 * 3600)  # Friday: nothing more
    assert len([m for m in sh.bot_messages(world.env, wins) if m.embeds and "Recognition board" in (m.embeds[0].title or "")]) == 1


async def test_a_busy_database_at_the_weekly_hour_delays_the_board_by_one_check(
    world: sh.World, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.errors import StoreBusy

    wins = await cohort(world, world.trainee)
    await play(world, await start_scene(world), COURTEOUS)
    with sqlite3.connect(tmp_path / "bot.db") as raw:
        raw.execute("UPDATE sessions SET ended_at = '2025-12-30T12:00:00+00:00', started_at = '2025-12-30T11:55:00+00:00'")
        raw.execute("UPDATE badges SET awarded_at = '2025-12-30T12:00:00+00:00'")
    recognition = world.bot.recognition  # type: ignore[attr-defined]
    real = recognition.post_weekly_boards
    failures = []

    async def busy_once(*args: object, **kwargs: object) -> int:
        if not failures:
            failures.append(True)
            raise StoreBusy("the database is busy")
        return await real(*args, **kwargs)

    await world.env.advance_time(8 * 3600 + 60)  # 08:01
    monkeypatch.setattr(recognition, "post_weekly_boards", busy_once)

    def boards() -> int:
        return len([m for m in sh.bot_messages(world.env, wins) if m.embeds and "Recognition board" in (m.embeds[0].title or "")])

    await world.env.advance_time(3600 - 90)  # 08:59:30
    assert boards() == 0
    await world.env.advance_time(40)  # 09:00:10: busy, nothing posted yet
    assert failures and boards() == 0
    await world.env.advance_time(61)  # the retry a minute later posts it, once
    assert boards() == 1
    await world.env.advance_time(24 * 3600)
    assert boards() == 1


async def test_instructor_commands_refuse_others(world: sh.World, simcord_env: simcord.Env) -> None:
    role = world.guild.create_role("Moderator", permissions=discord.Permissions(manage_threads=True))
    mod = world.guild.add_member(world.env.create_user("mo"), roles=[role])
    refused = await world.slash(mod, "assignment list", cohort="Spring")
    assert refused.ephemeral and "Only members with the Instructor role" in (refused.response.content or "")
    simcord.assert_error(simcord_env, app_commands.CheckFailure)


async def test_an_assessment_is_never_public_and_its_record_names_the_instructor(world: sh.World, store: Store) -> None:
    wins = await cohort(world, world.trainee)
    thread = await start_scene(world, world.instructor, trainee=world.trainee, mode="assessment")
    await play(world, thread, COURTEOUS)
    assert texts(world, wins) == []  # an evaluation: reports and records only
    assert await store.badges_of((await store.list_sessions())[0].member_id or 0) == []
    (record,) = await store.records()
    assert record.instructor == "ines" and record.session.mode == "assessment" and record.session.score == 100
