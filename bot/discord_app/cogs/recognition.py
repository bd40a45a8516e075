"""Celebrating what people do right: the board (and its weekly post), kudos, badges, and
each trainee's choice about public recognition. The rules are bot/recognition/'s; this cog
turns commands into its calls and answers privately wherever private data is involved."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.discord_app import embeds
from bot.discord_app.checks import refuse
from bot.discord_app.cogs.cohorts import cohort_choices, cohort_named
from bot.errors import TrainerError
from bot.recognition.service import Board, KudosRefused

if TYPE_CHECKING:
    from bot.discord_app.client import TrainerBot

WEEKLY_ATTEMPTS = 30
WEEKLY_RETRY_SECONDS = 60

log = logging.getLogger("trainer.discord.recognition")

PERIOD_WORDS = {"week": "the last 7 days", "month": "the last 30 days", "all": "all time"}


class RecognitionCog(commands.Cog):
    recognition = app_commands.Group(name="recognition", description="Your badges, and whether you are celebrated in public", guild_only=True)

    def __init__(self, bot: TrainerBot) -> None:
        self.bot = bot
        self.service = bot.recognition

    async def cog_load(self) -> None:
        weekly = self.service.settings.weekly_post
        if weekly is not None:
            # Every day at the hour; the service posts only on the configured day (and catches up once after downtime).
            self.weekly_board.change_interval(time=dt.time(hour=weekly.hour, tzinfo=weekly.zone))
            self.weekly_board.start()

    async def cog_unload(self) -> None:
        self.weekly_board.cancel()

    # -- the board --
    @app_commands.command(name="leaderboard")
    @app_commands.guild_only()
    @app_commands.describe(cohort="Only this cohort", period="week, month or all time")
    async def leaderboard(self, interaction: discord.Interaction, cohort: str | None = None, period: Literal["week", "month", "all"] = "week") -> None:
        """Who has been doing it right: the top of the board, and your own standing (only you see it)."""
        assert interaction.guild is not None
        # Answer Discord now (it allows 3 s): the reads below can take longer on a busy database.
        await interaction.response.defer(thinking=True)
        found = None
        if cohort is not None:
            found = await cohort_named(self.bot, interaction, cohort)
            if found is None:
                return None
        heading = PERIOD_WORDS[period] + (f" \u00b7 {cohort}" if cohort else "")
        board = await self.service.board(await self.service.members_of(interaction.guild.id, found), period, heading)
        await interaction.followup.send(
            embed=embeds.board_embed(board, self.service.settings.public_top), allowed_mentions=discord.AllowedMentions.none(),
        )
        await interaction.followup.send(await self.own_standing(interaction, board), ephemeral=True)

    async def own_standing(self, interaction: discord.Interaction, board: Board) -> str:
        # Only reads: the board answers while another program holds the write lock.
        me = await self.bot.store.member_of(guild_id=interaction.guild_id or 0, discord_id=interaction.user.id)
        standing, public = board.standing_of(me.id) if me is not None else (None, True)
        if standing is None:
            return "You have no points in this period yet: a finished practice role-play, a badge or a kudos puts you on the board."
        total = len(board.public) if public else len(board.standings)
        where = f"#{standing.rank} of {total}" + ("" if public else " (you opted out, so you are not shown on the public board)")
        return (f"Your standing: **{where}**, {standing.points} points: best attempts {standing.best_points}, "
                f"badges {standing.badge_points}, kudos {standing.kudos_points}.")

    @leaderboard.autocomplete("cohort")
    async def leaderboard_cohorts(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await cohort_choices(self.bot, interaction, current)

    @tasks.loop(hours=24)  # at the configured hour (cog_load): the service posts only on the day
    async def weekly_board(self) -> None:
        # A busy database just then is retried for a while: the next run is a day away, past
        # the time the week's board is still worth posting. The outbox never queues it twice.
        for attempt in range(WEEKLY_ATTEMPTS):
            try:
                queued = await self._queue_weekly_boards()
            except TrainerError as exc:
                log.warning("the weekly board could not be queued (attempt %d of %d): %s", attempt + 1, WEEKLY_ATTEMPTS, exc)
                await asyncio.sleep(WEEKLY_RETRY_SECONDS)
                continue
            if queued:
                log.info("weekly board queued for %d cohort channel(s)", queued)
            return
        log.error("the weekly board could not be queued; a restart within the day posts it")

    async def _queue_weekly_boards(self) -> int:
        return await self.service.post_weekly_boards(discord.utils.utcnow(), [guild.id for guild in self.bot.guilds])

    @weekly_board.before_loop
    async def before_weekly_board(self) -> None:
        await self.bot.wait_until_ready()
        try:
            await self._queue_weekly_boards()
        except TrainerError as exc:  # a post time missed while the bot was down, if it was recent
            log.warning("could not check for a missed weekly board: %s", exc)

    @weekly_board.error
    async def weekly_board_failed(self, exc: BaseException) -> None:
        # Not a database error but a bug: logged, and the loop started again in a minute (a
        # loop whose task has finished cannot be restarted, only started).
        log.error("the weekly board check failed", exc_info=exc)
        self.bot.loop.call_later(60, self._start_weekly_board)

    def _start_weekly_board(self) -> None:
        if not self.weekly_board.is_running():
            self.weekly_board.start()

    # -- kudos --
    @app_commands.command(name="kudos")
    @app_commands.guild_only()
    @app_commands.describe(member="Who did it right", skill="What they did well (from the rubrics)", reason="What you saw, in a few words")
    async def kudos(self, interaction: discord.Interaction, member: discord.Member, skill: str, reason: app_commands.Range[str, 1, 300]) -> None:
        """Recognise a colleague for doing it right."""
        assert interaction.guild is not None
        if member.id == interaction.user.id:
            return await refuse(interaction, "Kudos are for someone else \u2014 but keep it up!")
        if member.bot:
            return await refuse(interaction, "Kudos are for people.")
        labels = {label.lower(): label for label in self.skill_labels()}
        if skill.strip().lower() not in labels:
            return await refuse(interaction, "Pick a skill from the list (start typing to see them), e.g. " + ", ".join(sorted(labels.values())[:3]) + ".")
        skill = labels[skill.strip().lower()]
        try:
            self.service.check_reason(reason)
        except KudosRefused as exc:
            return await refuse(interaction, str(exc))
        await interaction.response.defer(ephemeral=True, thinking=True)  # a write may queue behind another process
        giver = await self.bot.store.ensure_member(interaction.user.display_name, guild_id=interaction.guild.id, discord_id=interaction.user.id)
        receiver = await self.bot.store.ensure_member(member.display_name, guild_id=interaction.guild.id, discord_id=member.id)
        public = await self.bot.store.is_public(receiver.id)
        try:
            await self.service.give_kudos(interaction.guild.id, giver, receiver, skill, reason, interaction.channel_id)
        except KudosRefused as exc:
            return await refuse(interaction, str(exc))
        where = "posted here" if public else f"kept private: {member.display_name} opted out of public recognition"
        await interaction.followup.send(f"Kudos given to {member.display_name} for **{skill}** ({where}).", ephemeral=True)

    def skill_labels(self) -> list[str]:
        return sorted({skill.label for s in self.bot.library.scenarios.values() for skill in s.rubric.skills})

    @kudos.autocomplete("skill")
    async def skill_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        needle = current.lower()
        return [app_commands.Choice(name=embeds.clip(label, 100), value=embeds.clip(label, 100)) for label in self.skill_labels() if needle in label.lower()][:25]

    # -- each trainee's own --
    @recognition.command(name="opt-out")
    async def opt_out(self, interaction: discord.Interaction) -> None:
        """Stop public posts about you (badges are still earned, and shown to you alone)."""
        await self.set_public(interaction, False)

    @recognition.command(name="opt-in")
    async def opt_in(self, interaction: discord.Interaction) -> None:
        """Allow posts about what you do well in your cohort's channel (the default)."""
        await self.set_public(interaction, True)

    async def set_public(self, interaction: discord.Interaction, public: bool) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        me = await self.bot.store.ensure_member(interaction.user.display_name, guild_id=interaction.guild_id or 0, discord_id=interaction.user.id)
        await self.bot.store.set_public(me.id, public)
        text = ("You will be celebrated in your cohort's channel when you do well." if public else
                "Nothing about you will be posted in public any more, and you are left off public boards. "
                "You still earn badges; /recognition badges shows them to you.")
        await interaction.followup.send(text, ephemeral=True)

    @recognition.command(name="badges")
    async def badges(self, interaction: discord.Interaction) -> None:
        """Your badges, and the ones still to earn (only you see this)."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        me = await self.bot.store.ensure_member(interaction.user.display_name, guild_id=interaction.guild_id or 0, discord_id=interaction.user.id)
        held = {b.badge for b in await self.bot.store.badges_of(me.id)}
        public = await self.bot.store.is_public(me.id)
        await interaction.followup.send(embed=embeds.badges_embed(self.service.rules.badges, held, public), ephemeral=True)

    @recognition.command(name="assignments")
    async def assignments(self, interaction: discord.Interaction) -> None:
        """Your open assignments: scenarios your cohort must pass, and by when (only you see this)."""
        from bot.recognition.reports import progress_report

        await interaction.response.defer(ephemeral=True, thinking=True)
        me = await self.bot.store.ensure_member(interaction.user.display_name, guild_id=interaction.guild_id or 0, discord_id=interaction.user.id)
        titles = {s.id: s.title for s in self.bot.library.scenarios.values()}
        try:
            report = await progress_report(self.bot.store, me, five=(), titles=titles, badge_titles={})
        except TrainerError as exc:
            return await refuse(interaction, str(exc))
        await interaction.followup.send(embed=embeds.assignments_embed(report.assignments, titles), ephemeral=True)


async def setup(bot: TrainerBot) -> None:
    await bot.add_cog(RecognitionCog(bot))
