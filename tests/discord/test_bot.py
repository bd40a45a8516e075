"""The real TrainerBot driven through simcord: discord.py's own parsers, command tree and
views against an in-memory Discord, with the real store on a temporary SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest
import simcord
from discord import app_commands

from bot.config import Settings
from bot.discord_app.client import TrainerBot
from bot.engine.catalog import Library
from bot.engine.session import Session
from bot.sessions import messages
from bot.store import Store, TurnRow
from bot.store.rows import NewItem
from tests.discord import simharness as sh
from tests.scripts import COURTEOUS, RUDE

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = Library(ROOT / "dialogues")


def make_settings(db: Path, **changes: object) -> Settings:
    values: dict[str, object] = dict(
        token="test-token-" + "x" * 30, guild_id=None, instructor_role="Instructor", practice_channel_id=None,
        allow_self_practice=True, owner_ids=frozenset(), database=db, dialogues=ROOT / "dialogues",
        recognition_threshold=80, idle_nudge_seconds=300, idle_abandon_seconds=1800, log_level="INFO", log_file=None,
    )
    values.update(changes)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def store(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    # parametrize("store", [seconds], indirect=True) for a short busy timeout
    async with Store.open(tmp_path / "bot.db", busy_timeout=getattr(request, "param", 30.0)) as opened:
        yield opened


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "bot.db")


@pytest.fixture
def simcord_bot(settings: Settings, store: Store) -> TrainerBot:
    return TrainerBot(settings, store, LIBRARY)


@pytest.fixture
def world(simcord_env: simcord.Env) -> sh.World:
    # Instructors moderate practice threads, so they hold Manage Threads (docs/deploy.md).
    return sh.build_world(simcord_env, instructor_permissions=discord.Permissions(manage_threads=True))


def moderator(world: sh.World) -> simcord.MemberActor:
    """Can see private threads and instructor commands, but is not an instructor."""
    role = world.guild.create_role("Moderator", permissions=discord.Permissions(manage_threads=True))
    return world.guild.add_member(world.env.create_user("mo"), roles=[role])


async def start_scene(world: sh.World, actor: simcord.MemberActor | None = None, **options: object) -> simcord.ChannelHandle:
    before = {t.id for t in world.practice.threads}
    result = await world.slash(actor or world.trainee, "roleplay start", scenario="traffic_stop", **options)
    assert result.ephemeral and "Role-play started" in (result.response.content or ""), result.response.content
    (thread,) = [t for t in world.practice.threads if t.id not in before]
    return thread


async def play(world: sh.World, thread: simcord.ChannelHandle, lines: list[str], actor: simcord.MemberActor | None = None) -> list[discord.Message]:
    replies: list[discord.Message] = []
    for line in lines:
        replies.extend(await world.say(actor or world.trainee, thread, line))
    return replies


def embeds_in(world: sh.World, thread: simcord.ChannelHandle) -> list[discord.Embed]:
    return [e for m in sh.bot_messages(world.env, thread) for e in m.embeds]


def feedback(world: sh.World, thread: simcord.ChannelHandle) -> discord.Embed:
    found = [e for e in embeds_in(world, thread) if (e.title or "").startswith("Feedback")]
    assert len(found) == 1, [e.title for e in embeds_in(world, thread)]
    return found[0]


# -- commands and the thread flow --

async def test_commands_are_synced_once_and_listed(world: sh.World, store: Store) -> None:
    trainee_sees = set(world.trainee.available_commands(world.practice))
    assert {"roleplay start", "roleplay end", "roleplay hint", "scenario list", "leaderboard", "kudos",
            "recognition opt-out", "recognition opt-in", "recognition badges", "recognition assignments"} <= trainee_sees
    # default_permissions hide them
    assert not trainee_sees & {"cohort create", "report member", "report cohort", "assignment create", "override", "admin sync"}
    assert {"cohort create", "cohort add", "cohort remove", "report member", "report cohort", "assignment create", "assignment list",
            "override"} <= set(world.instructor.available_commands(world.practice))
    assert await store.get_meta("commands:global") is not None
    syncs = [r for r in world.env.http_requests if r.method == "PUT" and r.path.endswith("/commands")]
    assert len(syncs) == 1
    listing = await world.slash(world.trainee, "scenario list")
    assert listing.ephemeral and "traffic_stop" in (listing.response.content or "")


async def test_scenario_autocomplete(world: sh.World) -> None:
    choices = await world.trainee.autocomplete(world.practice, "roleplay start", "scenario", "traf")
    assert [c["value"] for c in choices] == ["traffic_stop"]
    assert await world.trainee.autocomplete(world.practice, "roleplay start", "scenario", "zzz") == []


async def test_self_practice_runs_in_a_private_thread_to_feedback(world: sh.World, store: Store) -> None:
    thread = await start_scene(world)
    assert sh.bot_thread(world.env, thread).type is discord.ChannelType.private_thread
    assert world.trainee.id in sh.thread_member_ids(world.env, thread)
    opening = sh.bot_messages(world.env, thread)
    assert opening[0].embeds[0].title == "Traffic stop: expired registration"
    assert opening[0].content == f"<@{world.trainee.id}>"
    assert opening[1].content.startswith("**Denise Carter:**")
    replies = await play(world, thread, COURTEOUS)
    badge_notes = [r for r in replies if r.content.startswith("\U0001F3C5 Badge earned")]  # after the feedback
    assert badge_notes and all(r.content.startswith("**Denise Carter:**") for r in replies if r.content and r not in badge_notes)
    result = feedback(world, thread)
    assert "outcome **success**" in (result.description or "")
    assert "/100" in (result.description or "")
    assert any("Good evening" in (field.value or "") for field in result.fields)
    (session,) = await store.list_sessions()
    assert (session.status, session.outcome, session.thread_id) == ("ended", "success", thread.id)
    assert session.score is not None and session.score >= 70 and f"{session.score}/100" in (result.description or "")


async def test_only_the_trainee_moves_the_scene(world: sh.World, store: Store) -> None:
    thread = await start_scene(world)
    assert await world.say(world.instructor, thread, "Keep it up and you're going to jail.") == []
    (session,) = await store.list_sessions()
    assert session.turns == 0 and session.status == "active"


async def test_rude_trainee_gets_failure_feedback_and_no_public_post(world: sh.World, store: Store) -> None:
    cohort_channel = world.guild.create_text_channel("academy-wins")
    await world.slash(world.instructor, "cohort create", name="Spring", channel=cohort_channel)
    await world.slash(world.instructor, "cohort add", cohort="Spring", member=world.trainee)
    thread = await start_scene(world)
    await play(world, thread, RUDE)
    assert "outcome **failure**" in (feedback(world, thread).description or "")
    assert sh.bot_messages(world.env, cohort_channel) == []


async def test_good_result_is_recognised_in_the_cohort_channel(world: sh.World) -> None:
    cohort_channel = world.guild.create_text_channel("academy-wins")
    await world.slash(world.instructor, "cohort create", name="Spring", channel=cohort_channel)
    added = await world.slash(world.instructor, "cohort add", cohort="Spring", member=world.trainee)
    assert added.ephemeral and "joined" in (added.response.content or "")
    thread = await start_scene(world)
    await play(world, thread, COURTEOUS)
    post, *badges = sh.bot_messages(world.env, cohort_channel)
    assert f"<@{world.trainee.id}>" in post.content and "Traffic stop" in post.content
    assert "greeted the driver" in post.content
    assert badges and all("badge" in b.content for b in badges)


async def test_instructor_starts_an_assessment_for_a_trainee(world: sh.World, store: Store) -> None:
    thread = await start_scene(world, world.instructor, trainee=world.trainee, mode="assessment")
    assert world.trainee.id in sh.thread_member_ids(world.env, thread)
    (session,) = await store.list_sessions()
    assert session.trainee_id == world.trainee.id and session.mode == "assessment"
    hint = await world.trainee.slash(thread, "roleplay hint")
    assert hint.ephemeral and "only available in practice" in (hint.response.content or "")


async def test_an_instructor_picks_a_persona_or_a_surprise(world: sh.World, store: Store) -> None:
    before = {t.id for t in world.practice.threads}
    result = await world.slash(world.instructor, "roleplay start", scenario="neighbour_noise", trainee=world.trainee, persona="angry")
    assert "Role-play started" in (result.response.content or "")
    (session,) = await store.list_sessions()
    assert session.persona == "angry" and session.scenario_id == "neighbour_noise"
    (thread,) = [t for t in world.practice.threads if t.id not in before]
    await world.trainee.slash(thread, "roleplay end")
    other = world.member("pia")
    await world.slash(world.instructor, "roleplay start", scenario="minor_crash", trainee=other, persona="random")
    surprise = next(s for s in await store.list_sessions() if s.scenario_id == "minor_crash")
    assert surprise.persona in ("shaken", "rushed", "composed")
    refused = await world.slash(world.instructor, "roleplay start", scenario="minor_crash", trainee=world.member("quinn"), persona="furious")
    assert refused.ephemeral and "no persona 'furious'" in (refused.response.content or "")


async def test_trainees_cannot_start_for_others_or_assess(world: sh.World, store: Store) -> None:
    other = world.member("olga")
    refused = await world.slash(world.trainee, "roleplay start", scenario="traffic_stop", trainee=other)
    assert refused.ephemeral and "Only instructors" in (refused.response.content or "")
    refused = await world.slash(world.trainee, "roleplay start", scenario="traffic_stop", mode="assessment")
    assert refused.ephemeral and "Only instructors" in (refused.response.content or "")
    assert await store.list_sessions() == []


async def test_self_practice_switch_cannot_be_bypassed(simcord_env: simcord.Env, store: Store, tmp_path: Path) -> None:
    bot = simcord_env.bot
    bot.settings = make_settings(tmp_path / "bot.db", allow_self_practice=False)
    world = sh.build_world(simcord_env, instructor_permissions=discord.Permissions(manage_threads=True))
    for options in ({}, {"trainee": world.trainee}):
        refused = await world.slash(world.trainee, "roleplay start", scenario="traffic_stop", **options)
        assert refused.ephemeral and "Self-practice is turned off" in (refused.response.content or "")
    assert await store.list_sessions() == []
    thread = await start_scene(world, world.instructor, trainee=world.trainee)
    assert {world.trainee.id, world.instructor.id} <= sh.thread_member_ids(world.env, thread)  # the instructor can watch


async def test_one_scene_at_a_time_and_unknown_scenarios(world: sh.World) -> None:
    await start_scene(world)
    again = await world.slash(world.trainee, "roleplay start", scenario="traffic_stop")
    assert again.ephemeral and "already has a role-play" in (again.response.content or "")
    unknown = await world.slash(world.instructor, "roleplay start", scenario="trafic_stop")
    assert unknown.ephemeral and "did you mean 'traffic_stop'" in (unknown.response.content or "")


async def test_hint_and_end_by_command(world: sh.World, store: Store) -> None:
    thread = await start_scene(world)
    hint = await world.trainee.slash(thread, "roleplay hint")
    assert hint.ephemeral and "Greeted the driver" in (hint.response.content or "")
    ended = await world.trainee.slash(thread, "roleplay end")
    assert ended.ephemeral
    assert "outcome **abandoned**" in (feedback(world, thread).description or "")
    (session,) = await store.list_sessions()
    assert session.outcome == "abandoned"


async def test_end_button_and_who_may_press_it(world: sh.World) -> None:
    thread = await start_scene(world)
    briefing = sh.bot_messages(world.env, thread)[0]
    refused = await moderator(world).click(briefing, label="End role-play")
    assert refused.ephemeral and "Only the trainee or an instructor" in (refused.response.content or "")
    ended = await world.instructor.click(briefing, label="End role-play")
    assert ended.acknowledged
    assert "abandoned" in (feedback(world, thread).description or "")


async def test_empty_and_long_messages(world: sh.World, store: Store) -> None:
    thread = await start_scene(world)
    replies = await world.say(world.trainee, thread, "Hello " + "very " * 380 + "long")
    assert len(replies) == 1
    (session,) = await store.list_sessions()
    assert session.turns == 1


# -- permissions and mentions --

async def test_missing_thread_permission_gets_a_clear_answer(simcord_env: simcord.Env, store: Store) -> None:
    world = sh.build_world(simcord_env, bot_overwrite=discord.PermissionOverwrite(create_private_threads=False))
    result = await world.slash(world.trainee, "roleplay start", scenario="traffic_stop")
    assert result.ephemeral and "missing a permission" in (result.response.content or "")
    simcord.assert_error(simcord_env, app_commands.CommandInvokeError)
    assert await store.list_sessions() == []


async def test_cohort_commands_are_for_instructors(world: sh.World, simcord_env: simcord.Env) -> None:
    assert "cohort create" not in world.trainee.available_commands(world.practice)
    refused = await world.slash(moderator(world), "cohort create", name="X", channel=world.practice)
    assert refused.ephemeral and "Instructor role" in (refused.response.content or "")
    simcord.assert_error(simcord_env, app_commands.CheckFailure)
    created = await world.slash(world.instructor, "cohort create", name="Spring", channel=world.practice)
    assert created.ephemeral and "created" in (created.response.content or "")
    duplicate = await world.slash(world.instructor, "cohort create", name="Spring", channel=world.practice)
    assert "already exists" in (duplicate.response.content or "")
    choices = await world.instructor.autocomplete(world.practice, "cohort add", "cohort", "spr")
    assert [c["value"] for c in choices] == ["Spring"]
    assert "joined" in ((await world.slash(world.instructor, "cohort add", cohort="Spring", member=world.trainee)).response.content or "")
    assert "left" in ((await world.slash(world.instructor, "cohort remove", cohort="Spring", member=world.trainee)).response.content or "")
    missing = await world.slash(world.instructor, "cohort add", cohort="Nope", member=world.trainee)
    assert "no cohort named 'Nope'" in (missing.response.content or "")


@pytest.mark.parametrize("store", [0.2], indirect=True)
async def test_cohort_create_on_a_locked_database_says_so_without_the_file(world: sh.World, store: Store, settings: Settings) -> None:
    other = sqlite3.connect(settings.database, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")  # another program holds the write lock
    try:
        refused = await world.slash(world.instructor, "cohort create", name="Spring", channel=world.practice)
    finally:
        other.rollback()
        other.close()
    text = refused.response.content or ""
    assert refused.ephemeral and "no cohort was created" in text
    assert str(settings.database) not in text and "bot.db" not in text  # the path stays in the log
    assert await store.cohorts(guild_id=world.guild.id) == []


async def test_report_is_private_and_for_instructors(world: sh.World) -> None:
    thread = await start_scene(world)
    await play(world, thread, COURTEOUS)
    refused = await world.slash(moderator(world), "report member", member=world.trainee)
    assert refused.ephemeral and "Only members with the Instructor role" in (refused.response.content or "")
    simcord.assert_error(world.env, app_commands.CheckFailure)
    report = await world.slash(world.instructor, "report member", member=world.trainee)
    assert report.ephemeral
    (embed,) = report.response.embeds
    assert "1 role-play (1 finished)" in (embed.description or "")


@pytest.mark.parametrize("store", [0.2], indirect=True)
async def test_report_and_leaderboard_answer_while_another_program_holds_the_write_lock(
    world: sh.World, settings: Settings, simcord_env: simcord.Env,
) -> None:
    thread = await start_scene(world)
    await play(world, thread, COURTEOUS)
    other = sqlite3.connect(settings.database, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    try:
        report = await world.slash(world.instructor, "report member", member=world.trainee)
        (embed,) = report.response.embeds
        assert "1 role-play (1 finished)" in (embed.description or "")
        nobody = await world.slash(world.instructor, "report member", member=world.instructor)
        assert "no role-plays or kudos here yet" in (nobody.response.content or "")
        board = await world.slash(world.trainee, "leaderboard")
        assert board.response.embeds
    finally:
        other.rollback()
        other.close()


async def test_kudos_and_leaderboard_celebrate_only(world: sh.World) -> None:
    thread = await start_scene(world)
    await play(world, thread, COURTEOUS)
    struggling = world.member("rita")
    rita_thread = await start_scene(world, struggling)
    await play(world, rita_thread, RUDE, actor=struggling)
    kudos = await world.slash(world.instructor, "kudos", member=world.trainee, skill="Acknowledged how she feels", reason="@everyone listen: great empathy")
    assert kudos.ephemeral and "Kudos given" in (kudos.response.content or "")
    (post,) = [m for m in sh.bot_messages(world.env, world.practice) if "gave kudos" in m.content]
    assert not post.mention_everyone
    self_kudos = await world.slash(world.trainee, "kudos", member=world.trainee, skill="x", reason="me")
    assert self_kudos.ephemeral
    unknown_skill = await world.slash(world.instructor, "kudos", member=world.trainee, skill="juggling", reason="nice")
    assert unknown_skill.ephemeral and "Pick a skill" in (unknown_skill.response.content or "")
    board = await world.slash(world.trainee, "leaderboard", period="week")
    (embed,) = board.response.embeds
    assert f"<@{world.trainee.id}>" in (embed.description or "") and "1 scenario" in (embed.description or "")
    assert f"<@{struggling.id}>" not in (embed.description or "")  # never shamed by a poor result


async def test_bot_never_pings_everyone_or_roles(world: sh.World) -> None:
    thread = await start_scene(world)
    await play(world, thread, ["@everyone @here <@&123> good evening ma'am"])
    for body in sh.message_posts(world.env, thread):
        mentions = body.get("allowed_mentions", {})
        assert "everyone" not in mentions.get("parse", []) and "roles" not in mentions.get("parse", [])


# -- restart safety and idle sessions --

async def test_restart_catches_up_on_messages_written_while_down(world: sh.World, settings: Settings, tmp_path: Path) -> None:
    thread = await start_scene(world)
    await play(world, thread, COURTEOUS[:1])
    async with Store.open(tmp_path / "bot.db") as second_store:
        async with sh.downtime(world.env, lambda: TrainerBot(settings, second_store, LIBRARY)):
            await world.trainee.send(thread, COURTEOUS[1])
            await world.trainee.send(thread, COURTEOUS[2])
        await settle_until(lambda: len(sh.bot_messages(world.env, thread)) >= 5)
        texts = [m.content for m in sh.bot_messages(world.env, thread)]
        assert len([t for t in texts if t.startswith("**Denise Carter:**")]) == 4  # opening + 3 replies
        (session,) = await second_store.list_sessions()
        assert session.turns == 3 and session.state == "understood"
        replies = await play(world, thread, COURTEOUS[3:])
        assert replies
        assert "outcome **success**" in (feedback(world, thread).description or "")
        await world.env.bot.close()


async def test_crash_between_posting_and_recording_does_not_post_twice(world: sh.World, settings: Settings, tmp_path: Path) -> None:
    thread = await start_scene(world)
    await play(world, thread, COURTEOUS[:1])
    before = [m.id for m in sh.bot_messages(world.env, thread)]
    async with Store.open(tmp_path / "bot.db") as second_store:
        async with sh.downtime(world.env, lambda: TrainerBot(settings, second_store, LIBRARY)):
            forget_delivery(tmp_path / "bot.db", "%:turn:1")
        await settle_until(lambda: world.env.bot.sessions.session_in(thread.id) is not None)
        await settle_until(lambda: not _undelivered_sync(tmp_path / "bot.db"))
        assert [m.id for m in sh.bot_messages(world.env, thread)] == before
        (reply,) = [item for item in await second_store.outbox((await second_store.list_sessions())[0].id) if item.key.endswith(":turn:1")]
        assert reply.status == "delivered" and int(reply.message_id or 0) in before  # found in the history, recorded
        await world.env.bot.close()


async def test_reply_saved_but_never_posted_goes_out_after_restart(world: sh.World, settings: Settings, tmp_path: Path) -> None:
    thread = await start_scene(world)
    scenario = LIBRARY.get("traffic_stop")
    async with Store.open(tmp_path / "bot.db") as second_store:
        async with sh.downtime(world.env, lambda: TrainerBot(settings, second_store, LIBRARY)):
            (session,) = await second_store.list_sessions()
            turn = Session.start(scenario, seed=session.seed).step(COURTEOUS[0])
            # What a process killed after committing a turn, before posting its reply, leaves.
            line = messages.resident_line(scenario, turn.reply, turn.mood_after)
            assert await second_store.record_turn(
                TurnRow(session.id, 1, "trainee", turn.trainee, (), turn.mood_after, turn.state_after, source_message_id="1"),
                TurnRow(session.id, 1, "resident", turn.reply, (), turn.mood_after, turn.state_after),
                [NewItem(f"{session.id}:turn:1", "discord", thread.id, line.kind, line.to_json(), session.id)],
            )
        await settle_until(lambda: any(m.content.endswith(turn.reply) for m in sh.bot_messages(world.env, thread)))
        assert len([m for m in sh.bot_messages(world.env, thread) if m.content.endswith(turn.reply)]) == 1
        await world.env.bot.close()


def forget_delivery(db: Path, key: str) -> None:
    """What a crash right after posting a reply leaves behind: the reply is not marked as posted."""
    with sqlite3.connect(db) as raw:
        raw.execute("UPDATE outbox SET status = 'pending', message_id = NULL, delivered_at = NULL WHERE key LIKE ?", (key,))


def _undelivered_sync(db: Path) -> bool:
    with sqlite3.connect(db) as raw:
        return raw.execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending'").fetchone()[0] > 0


async def test_feedback_owed_after_a_crash_is_posted_once(world: sh.World, settings: Settings, tmp_path: Path) -> None:
    """A database written by a version without an outbox: an ended session whose feedback was
    never recorded as posted. The feedback is queued again, found in the thread, not posted twice."""
    thread = await start_scene(world)
    await play(world, thread, COURTEOUS)
    first = feedback(world, thread)
    async with Store.open(tmp_path / "bot.db") as second_store:
        async with sh.downtime(world.env, lambda: TrainerBot(settings, second_store, LIBRARY)):
            with sqlite3.connect(tmp_path / "bot.db") as raw:
                raw.execute("UPDATE sessions SET feedback_message_id = NULL")
                # A version without an outbox kept no record of the feedback, nor of what followed it.
                raw.execute("DELETE FROM outbox WHERE id >= (SELECT MIN(id) FROM outbox WHERE kind = 'feedback')")
        await settle_until(lambda: not _undelivered_sync(tmp_path / "bot.db") and world.env.bot.is_ready())
        assert await second_store.feedback_owed() == []
        assert feedback(world, thread).description == first.description  # still exactly one
        await world.env.bot.close()


async def test_buttons_work_after_restart(world: sh.World, settings: Settings, tmp_path: Path) -> None:
    thread = await start_scene(world)
    briefing = sh.bot_messages(world.env, thread)[0]
    async with Store.open(tmp_path / "bot.db") as second_store:
        await sh.restart(world.env, lambda: TrainerBot(settings, second_store, LIBRARY))
        await settle_until(lambda: world.env.bot.sessions.session_in(thread.id) is not None)
        hint = await world.trainee.click(briefing, label="Hint")
        assert hint.ephemeral and "Greeted the driver" in (hint.response.content or "")
        assert await second_store.get_meta("commands:global") is not None
        await world.env.bot.close()


async def test_idle_nudge_then_abandon(world: sh.World, store: Store) -> None:
    thread = await start_scene(world)
    await play(world, thread, COURTEOUS[:1])
    idle = LIBRARY.get("traffic_stop").idle
    assert idle is not None
    await world.env.advance_time(idle.after_seconds + 20)
    nudges = [m for m in sh.bot_messages(world.env, thread) if m.content.startswith("**Denise Carter:**")]
    assert len(nudges) == 3  # opening, reply, nudge
    await world.env.advance_time(idle.abandon_after_seconds)
    assert "abandoned" in (feedback(world, thread).description or "")
    (session,) = await store.list_sessions()
    assert session.outcome == "abandoned"


async def test_servers_never_mix(world: sh.World, store: Store) -> None:
    other_guild = world.env.create_guild("Second department")
    other_channel = other_guild.create_text_channel("practice")
    other_role = other_guild.create_role("Instructor", permissions=discord.Permissions(manage_threads=True))
    other_instructor = other_guild.add_member(world.env.create_user("ola"), roles=[other_role])
    await world.slash(world.instructor, "cohort create", name="Spring", channel=world.practice)
    created = await other_instructor.slash(other_channel, "cohort create", name="Spring", channel=other_channel)
    assert "created" in (created.response.content or "")  # same name, another server
    thread = await start_scene(world)
    await play(world, thread, COURTEOUS)
    board = await other_instructor.slash(other_channel, "leaderboard", period="all")
    assert "Nobody on the board yet" in (board.response.embeds[0].description or "")
    assert {c.guild_id for c in await store.cohorts(guild_id=world.guild.id)} == {world.guild.id}


async def settle_until(condition: object, timeout: float = 10.0) -> None:
    """Background work (a catch-up after restart) is not an actor's reaction; wait for its effect."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():  # type: ignore[operator]
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)


# -- review defects and abuse --

async def test_a_kudos_reason_pings_nobody_else(world: sh.World) -> None:
    bystander = world.member("bea")
    await world.slash(world.instructor, "kudos", member=world.trainee, skill="Acknowledged how she feels", reason=f"as <@{bystander.id}> said, well done")
    (sent,) = [body for body in sh.message_posts(world.env, world.practice) if "gave kudos" in body.get("content", "")]
    allowed = sent.get("allowed_mentions", {})
    assert "users" not in allowed.get("parse", []) and "everyone" not in allowed.get("parse", [])
    assert {str(u) for u in allowed.get("users", [])} == {str(world.instructor.id), str(world.trainee.id)}


async def test_every_command_naming_a_cohort_refuses_one_that_does_not_exist(world: sh.World) -> None:
    # (The board answers in the channel, so its refusal does too; the instructors' answers are private.)
    for actor, command, private in ((world.trainee, "leaderboard", False), (world.instructor, "report cohort", True),
                                    (world.instructor, "assignment list", True)):
        missing = await world.slash(actor, command, cohort="Nope")
        assert "no cohort named 'Nope'" in (missing.response.content or ""), command
        assert missing.ephemeral or not private, command


async def test_leaderboard_answers_discord_before_reading(world: sh.World) -> None:
    board = await world.slash(world.trainee, "leaderboard", period="all")
    callbacks = [r.json for r in world.env.http_requests if r.method == "POST" and r.path.endswith("/callback")]
    assert callbacks[-1]["type"] == 5  # deferred first: a slow read never misses Discord's 3 s
    assert "Nobody on the board yet" in (board.response.embeds[0].description or "")


async def test_no_second_role_play_inside_a_thread(world: sh.World) -> None:
    thread = await start_scene(world)
    for actor in (world.trainee, world.instructor):  # the only people who can see a private thread
        refused = await actor.slash(thread, "roleplay start", scenario="traffic_stop")
        assert refused.ephemeral and "already holds a role-play" in (refused.response.content or "")
    assert len(world.practice.threads) == 1


async def test_a_non_trainee_in_the_thread_moves_nothing(world: sh.World, store: Store) -> None:
    thread = await start_scene(world, world.instructor, trainee=world.trainee)
    assert await world.say(world.instructor, thread, "Keep talking and you're going to jail.") == []
    replies = await world.say(world.trainee, thread, COURTEOUS[0])
    assert len(replies) == 1
    (session,) = await store.list_sessions()
    assert session.turns == 1 and (await store.turns(session.id))[1].text == COURTEOUS[0]


async def test_each_server_has_its_own_instructor_role(simcord_env: simcord.Env, store: Store, tmp_path: Path) -> None:
    from bot.config import ServerSettings

    world = sh.build_world(simcord_env, instructor_role="Training staff", instructor_permissions=discord.Permissions(manage_threads=True))
    simcord_env.bot.settings = make_settings(tmp_path / "bot.db", servers={world.guild.id: ServerSettings(instructor_role="Training staff")})
    thread = await start_scene(world, world.instructor, trainee=world.trainee, mode="assessment")
    (session,) = await store.list_sessions()
    assert session.mode == "assessment" and session.thread_id == thread.id
    other = simcord_env.create_guild("Second department")  # the global role name still applies elsewhere
    channel = other.create_text_channel("practice")
    staff = other.add_member(simcord_env.create_user("sam"), roles=[other.create_role("Training staff")])
    refused = await staff.slash(channel, "roleplay start", scenario="traffic_stop", mode="assessment")
    assert refused.ephemeral and "Only instructors" in (refused.response.content or "")


async def test_each_server_opens_its_threads_in_its_own_practice_channel(simcord_env: simcord.Env, store: Store, tmp_path: Path) -> None:
    from bot.config import ServerSettings

    # The first server names its own practice channel; the second has none and uses the global one.
    # In both, /roleplay start is run from another channel, so only the setting can put the thread there.
    world = sh.build_world(simcord_env)
    lobby = world.guild.create_text_channel("lobby")
    other = simcord_env.create_guild("Second department")
    other_lobby, other_practice = other.create_text_channel("lobby"), other.create_text_channel("training")
    other_trainee = other.add_member(simcord_env.create_user("una"))
    simcord_env.bot.settings = make_settings(
        tmp_path / "bot.db", practice_channel_id=other_practice.id,
        servers={world.guild.id: ServerSettings(practice_channel_id=world.practice.id)},
    )
    cases = ((world.guild, world.trainee, lobby, world.practice), (other, other_trainee, other_lobby, other_practice))
    for guild, trainee, started_in, practice in cases:
        result = await trainee.slash(started_in, "roleplay start", scenario="traffic_stop")
        assert result.ephemeral and "Role-play started" in (result.response.content or ""), result.response.content
        assert not started_in.threads, "the thread opened where the command was run, not in the practice channel"
        (thread,) = practice.threads
        assert sh.bot_thread(simcord_env, thread).type is discord.ChannelType.private_thread
        (session,) = await store.list_sessions(guild_id=guild.id)
        assert (session.channel_id, session.thread_id, session.trainee_id) == (practice.id, thread.id, trainee.id)


async def test_the_bot_logs_a_failed_event_handler(simcord_bot: TrainerBot, caplog: pytest.LogCaptureFixture) -> None:
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        await simcord_bot.on_error("on_message")
    assert "handling the on_message event failed" in caplog.text and "boom" in caplog.text
