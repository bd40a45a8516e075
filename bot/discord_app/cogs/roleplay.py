"""Role-plays in private threads: start, play each trainee message, end with feedback."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.discord_app import embeds
from bot.discord_app.checks import is_instructor, refuse
from bot.discord_app.live import LiveSession
from bot.discord_app.views import scene_controls
from bot.engine.scenario import Outcome, Scenario
from bot.engine.scoring import Score, SkillStatus
from bot.errors import TrainerError
from bot.runner import SceneRunner
from bot.store.rows import SessionRow

if TYPE_CHECKING:
    from bot.discord_app.client import TrainerBot

log = logging.getLogger("trainer.discord.roleplay")

IDLE_CHECK_SECONDS = 15


class RolePlayCog(commands.Cog):
    roleplay = app_commands.Group(name="roleplay", description="Practise a conversation with a resident", guild_only=True)
    scenario = app_commands.Group(name="scenario", description="Role-play scenarios", guild_only=True)

    def __init__(self, bot: TrainerBot) -> None:
        self.bot = bot

    async def cog_load(self) -> None:
        await self.restore_sessions()
        self.idle_check.start()

    async def cog_unload(self) -> None:
        self.idle_check.cancel()

    # -- commands --
    @roleplay.command(name="start")
    @app_commands.describe(
        scenario="Which scenario to play",
        trainee="Instructors: the member who will play (default: you)",
        mode="practice (hints allowed) or assessment",
    )
    async def start(
        self,
        interaction: discord.Interaction,
        scenario: str,
        trainee: discord.Member | None = None,
        mode: Literal["practice", "assessment"] = "practice",
    ) -> None:
        """Start a role-play in a private thread."""
        settings = self.bot.settings
        user = interaction.user
        instructor = is_instructor(user, settings)
        if trainee is not None and trainee.id != user.id and not instructor:
            return await refuse(interaction, "Only instructors can start a role-play for someone else.")
        if (trainee is None or trainee.id == user.id) and not instructor and not settings.allow_self_practice:
            return await refuse(interaction, "Self-practice is turned off here; ask an instructor to start a role-play for you.")
        if mode == "assessment" and not instructor:
            return await refuse(interaction, "Only instructors can start an assessment.")
        player = trainee or user
        if not isinstance(player, discord.Member) or interaction.guild is None:
            return await refuse(interaction, "Role-plays run in a server channel.")
        if player.bot:
            return await refuse(interaction, "A bot cannot be a trainee.")
        try:
            chosen = self.bot.library.get(scenario)
        except TrainerError as exc:
            return await refuse(interaction, str(exc))
        running = self.bot.live.of_trainee(interaction.guild.id, player.id)
        if running is not None:
            return await refuse(interaction, f"{player.display_name} already has a role-play in progress: <#{running.thread_id}>. End it first with /roleplay end.")
        channel = self.practice_channel(interaction)
        if channel is None:
            return await refuse(interaction, "Use this command in a text channel (threads are created there).")
        if not self.bot.live.reserve(interaction.guild.id, player.id):
            return await refuse(interaction, f"A role-play for {player.display_name} is being set up already.")
        try:
            await self.open_scene(interaction, chosen, player, channel, mode)
        finally:
            self.bot.live.release(interaction.guild.id, player.id)

    async def open_scene(self, interaction: discord.Interaction, chosen: Scenario, player: discord.Member, channel: discord.TextChannel, mode: str) -> None:
        assert interaction.guild is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        thread = await channel.create_thread(
            name=embeds.clip(f"{chosen.title} \u2014 {player.display_name}", 100),
            type=discord.ChannelType.private_thread,
            invitable=False,
            auto_archive_duration=1440,
        )
        # The instructor who starts a role-play for someone can watch it (without moving the scene).
        for person in {player, interaction.user} if is_instructor(interaction.user, self.bot.settings) else {player}:
            try:
                await thread.add_user(person)
            except discord.HTTPException as exc:  # the mention below also brings the trainee in, on Discord
                log.warning("could not add %s to thread %d: %s", person.id, thread.id, exc)
        runner = await SceneRunner.start(
            self.bot.store, chosen, trainee=player.display_name, machine=self.bot.library.machines[chosen.id],
            mode=mode, guild_id=interaction.guild.id, channel_id=channel.id, thread_id=thread.id, trainee_id=player.id,
        )
        live = LiveSession(runner=runner, thread_id=thread.id, guild_id=interaction.guild.id, trainee_id=player.id)
        self.bot.live.add(live)
        async with live.lock:
            await thread.send(
                player.mention,  # notifies the trainee (and adds them to a private thread)
                embed=embeds.briefing_embed(chosen, player, mode), view=scene_controls(thread.id, mode == "practice"),
            )
            sent = await thread.send(embeds.resident_line(chosen, runner.play.opening))
            await self.bot.store.mark_delivered(runner.session_id, 0, str(sent.id))
        log.info("session %d started: %s for %s in thread %d", runner.session_id, chosen.id, player.id, thread.id)
        await interaction.followup.send(f"Role-play started in {thread.mention}.", ephemeral=True)

    @start.autocomplete("scenario")
    async def scenario_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        needle = current.lower()
        return [
            app_commands.Choice(name=embeds.clip(f"{s.title} ({s.id})", 100), value=s.id)
            for s in self.bot.library.scenarios.values()
            if needle in s.id.lower() or needle in s.title.lower()
        ][:25]

    @roleplay.command(name="end")
    async def end(self, interaction: discord.Interaction) -> None:
        """End the role-play in this thread and get feedback."""
        await self.end_scene(interaction, interaction.channel_id or 0)

    @roleplay.command(name="hint")
    async def hint(self, interaction: discord.Interaction) -> None:
        """A coaching hint for this role-play (practice mode only)."""
        await self.give_hint(interaction, interaction.channel_id or 0)

    @scenario.command(name="list")
    async def list_scenarios(self, interaction: discord.Interaction) -> None:
        """The scenarios you can play."""
        lines = [f"**{s.id}** \u2014 {s.title}" for s in sorted(self.bot.library.scenarios.values(), key=lambda s: s.id)]
        await interaction.response.send_message("\n".join(lines) or "No scenarios are installed.", ephemeral=True)

    # -- shared by commands and buttons --
    async def end_scene(self, interaction: discord.Interaction, thread_id: int) -> None:
        live = self.bot.live.get(thread_id)
        if live is None:
            return await refuse(interaction, "There is no role-play in progress here.")
        if interaction.user.id != live.trainee_id and not is_instructor(interaction.user, self.bot.settings):
            return await refuse(interaction, "Only the trainee or an instructor can end this role-play.")
        await interaction.response.send_message("Ending the role-play\u2026", ephemeral=True)
        async with live.lock:
            if live.runner.ended:
                return
            score = await live.runner.abandon()
            await self.conclude(live, score)

    async def give_hint(self, interaction: discord.Interaction, thread_id: int) -> None:
        live = self.bot.live.get(thread_id)
        if live is None:
            return await refuse(interaction, "There is no role-play in progress here.")
        if interaction.user.id != live.trainee_id and not is_instructor(interaction.user, self.bot.settings):
            return await refuse(interaction, "Hints are for the trainee of this role-play.")
        if live.runner.session.mode != "practice":
            return await refuse(interaction, "Hints are only available in practice mode.")
        score = live.runner.play.score()
        missing = [s for s in score.skills if s.status is SkillStatus.MISSED]
        if not missing:
            text = "You have shown every skill this scenario looks for. Bring the conversation to a good close."
        else:
            skill = next(s for s in live.runner.play.scenario.rubric.skills if s.name == missing[0].name)
            text = f"**{skill.label}.** {skill.tip}" + (f"\ne.g. \u201c{skill.example}\u201d" if skill.example else "")
        await interaction.response.send_message(text, ephemeral=True)

    def practice_channel(self, interaction: discord.Interaction) -> discord.TextChannel | None:
        configured = self.bot.settings.practice_channel_id
        if configured and interaction.guild is not None:
            channel = interaction.guild.get_channel(configured)
            if isinstance(channel, discord.TextChannel):
                return channel
        return interaction.channel if isinstance(interaction.channel, discord.TextChannel) else None

    # -- the scene itself --
    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot:
            return
        live = self.bot.live.get(message.channel.id)  # only session threads are live; nothing else to check
        if live is None or message.author.id != live.trainee_id:
            return  # observers (instructors) may write without affecting the scene
        async with live.lock:
            await self.play_message(live, message)

    async def play_message(self, live: LiveSession, message: discord.Message) -> None:
        """One trainee message through the engine; the caller holds the session's lock."""
        if live.runner.ended:
            return
        thread = message.channel
        text = message.content.strip()
        if not text:
            await thread.send("*(The resident can only read what you type: please write your words as a message.)*")
            return
        live.touch()
        turn = await live.runner.step(text, source_message_id=str(message.id))
        if turn is None:
            return  # already played (a replayed event or catch-up overlap)
        scenario = live.runner.play.scenario
        sent = await thread.send(embeds.resident_line(scenario, turn.reply))
        await self.bot.store.mark_delivered(live.runner.session_id, turn.number, str(sent.id))
        if live.runner.ended:
            await self.conclude(live, live.runner.play.score())

    async def conclude(self, live: LiveSession, score: Score) -> None:
        """Feedback in the thread; recognition in the cohort channel, only for a good result."""
        self.bot.live.remove(live.thread_id)
        user = self.bot.get_user(live.trainee_id) or _Mentionable(live.trainee_id)
        try:
            thread = self.bot.get_channel(live.thread_id) or await self.bot.fetch_channel(live.thread_id)
            if isinstance(thread, discord.abc.Messageable):
                sent = await thread.send(embed=embeds.feedback_embed(live.runner.play.scenario, score, user))
                await self.bot.store.mark_feedback_posted(live.runner.session_id, str(sent.id))
        except (discord.NotFound, discord.Forbidden) as exc:  # the thread was deleted or locked meanwhile
            log.warning("feedback of session %d could not be posted: %s", live.runner.session_id, exc)
            await self.bot.store.mark_feedback_posted(live.runner.session_id, "undeliverable")
        log.info("session %d ended: %s %d", live.runner.session_id, score.outcome.value, score.total)
        if score.outcome is Outcome.SUCCESS and score.total >= self.bot.settings.recognition_threshold:
            await self.recognise(live, score, user)

    async def recognise(self, live: LiveSession, score: Score, user: discord.abc.User | _Mentionable) -> None:
        scenario = live.runner.play.scenario
        session = live.runner.session
        if session.member_id is None:
            return
        for cohort in await self.bot.store.cohorts_of(session.member_id):
            if cohort.channel_id is None or cohort.guild_id != live.guild_id:
                continue
            channel = self.bot.get_channel(cohort.channel_id)
            if isinstance(channel, discord.abc.Messageable):
                await channel.send(embeds.recognition_text(scenario, score, user))

    # -- idle sessions --
    @tasks.loop(seconds=IDLE_CHECK_SECONDS)
    async def idle_check(self) -> None:
        for live in self.bot.live.all():
            try:
                await self.check_idle(live)
            except (discord.HTTPException, TrainerError) as exc:  # one bad thread must not stop the loop for all
                log.warning("idle check of session %d failed: %s", live.runner.session_id, exc)

    async def check_idle(self, live: LiveSession) -> None:
        scenario = live.runner.play.scenario
        nudge_after = scenario.idle.after_seconds if scenario.idle else self.bot.settings.idle_nudge_seconds
        abandon_after = scenario.idle.abandon_after_seconds if scenario.idle else self.bot.settings.idle_abandon_seconds
        idle = live.idle_for()
        if idle >= abandon_after:
            async with live.lock:
                if not live.runner.ended:
                    score = await live.runner.abandon()
                    await self.conclude(live, score)
        elif idle >= nudge_after and not live.nudged:
            live.nudged = True
            thread = self.bot.get_channel(live.thread_id)
            if isinstance(thread, discord.abc.Messageable):
                await thread.send(embeds.resident_line(scenario, live.runner.play.idle_line()))

    @idle_check.before_loop
    async def before_idle_check(self) -> None:
        await self.bot.wait_until_ready()

    @idle_check.error
    async def idle_check_failed(self, exc: BaseException) -> None:
        log.exception("idle check failed", exc_info=exc)

    # -- restart safety --
    async def restore_sessions(self) -> None:
        """Reload active sessions from the store and catch up on messages written while down."""
        for session in await self.bot.store.list_sessions(status="active"):
            if session.thread_id is None or session.trainee_id is None:
                continue
            try:
                scenario = self.bot.library.get(session.scenario_id)
                runner = await SceneRunner.resume(self.bot.store, session.id, scenario, self.bot.library.machines[scenario.id])
            except TrainerError as exc:
                log.warning("session %d cannot be restored: %s", session.id, exc)
                continue
            live = LiveSession(runner=runner, thread_id=session.thread_id, guild_id=session.guild_id, trainee_id=session.trainee_id)
            self.bot.live.add(live)
            self.bot.loop.create_task(self.catch_up(live, session), name=f"catch-up-{session.id}")
        for session in await self.bot.store.feedback_owed():
            self.bot.loop.create_task(self.post_owed_feedback(session), name=f"feedback-{session.id}")

    async def post_owed_feedback(self, session: SessionRow) -> None:
        """The process died between ending a role-play and posting its feedback."""
        assert session.thread_id is not None and session.trainee_id is not None
        try:
            scenario = self.bot.library.get(session.scenario_id)
            runner, score = await SceneRunner.reopen_ended(self.bot.store, session.id, scenario)
            live = LiveSession(runner=runner, thread_id=session.thread_id, guild_id=session.guild_id, trainee_id=session.trainee_id)
            await self.conclude(live, score)
        except (TrainerError, discord.HTTPException) as exc:
            log.warning("owed feedback of session %d cannot be posted: %s", session.id, exc)

    async def catch_up(self, live: LiveSession, session: SessionRow) -> None:
        async with live.lock:
            try:
                thread = await self.bot.fetch_channel(live.thread_id)
                if not isinstance(thread, discord.Thread):
                    return
                await self.redeliver_last_reply(live, thread)
                if live.runner.ended:  # it ended just before the crash: the feedback is still owed
                    await self.conclude(live, live.runner.play.score())
                    return
                after = await self.bot.store.last_trainee_message_id(session.id)
                async for message in thread.history(limit=None, after=discord.Object(int(after) if after else live.thread_id), oldest_first=True):
                    if message.author.id == live.trainee_id and not live.runner.ended:
                        await self.play_message(live, message)
                log.info("session %d restored in thread %d", session.id, live.thread_id)
            except discord.HTTPException as exc:
                log.warning("catch-up of session %d failed: %s", session.id, exc)

    async def redeliver_last_reply(self, live: LiveSession, thread: discord.Thread) -> None:
        """A reply committed but never recorded as posted goes out now, unless it did reach the
        thread (the process died between posting it and recording that): then it is recorded."""
        rows = await self.bot.store.turns(live.runner.session_id)
        last = next((row for row in reversed(rows) if row.speaker == "resident"), None)
        if last is None or last.source_message_id is not None:
            return
        line = embeds.resident_line(live.runner.play.scenario, last.text)
        asked = next((row.source_message_id for row in rows if row.speaker == "trainee" and row.seq == last.seq), None)
        after = discord.Object(int(asked) if asked else live.thread_id)
        me = self.bot.user.id if self.bot.user else 0
        async for message in thread.history(limit=50, after=after, oldest_first=True):
            if message.author.id == me and message.content == line:
                await self.bot.store.mark_delivered(live.runner.session_id, last.seq, str(message.id))
                return
        sent = await thread.send(line)
        await self.bot.store.mark_delivered(live.runner.session_id, last.seq, str(sent.id))


class _Mentionable:
    """A user we only know by id, enough for a mention."""

    def __init__(self, user_id: int) -> None:
        self.id = user_id
        self.mention = f"<@{user_id}>"


async def setup(bot: TrainerBot) -> None:
    await bot.add_cog(RolePlayCog(bot))
