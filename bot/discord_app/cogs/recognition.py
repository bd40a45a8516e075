"""Celebrating what people do right: the leaderboard, kudos, and instructors' reports."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app import embeds
from bot.discord_app.checks import is_instructor, refuse
from bot.discord_app.cogs.cohorts import cohort_choices

if TYPE_CHECKING:
    from bot.discord_app.client import TrainerBot

PERIODS = {"week": timedelta(days=7), "month": timedelta(days=30)}


class RecognitionCog(commands.Cog):
    def __init__(self, bot: TrainerBot) -> None:
        self.bot = bot

    @app_commands.command(name="leaderboard")
    @app_commands.guild_only()
    @app_commands.describe(cohort="Only this cohort", period="week, month or all time")
    async def leaderboard(self, interaction: discord.Interaction, cohort: str | None = None, period: Literal["week", "month", "all"] = "week") -> None:
        """Who has been doing it right: successful role-plays and kudos."""
        assert interaction.guild is not None
        # Answer Discord now (it allows 3 s): the reads below can take longer on a busy database.
        await interaction.response.defer(thinking=True)
        cohort_id = None
        if cohort is not None:
            found = await self.bot.store.cohort(cohort, guild_id=interaction.guild.id)
            if found is None:
                return await refuse(interaction, f"There is no cohort named '{cohort}' in this server.")
            cohort_id = found.id
        since = (datetime.now(timezone.utc) - PERIODS[period]).isoformat(timespec="seconds") if period in PERIODS else None
        rows = await self.bot.store.leaderboard(guild_id=interaction.guild.id, cohort_id=cohort_id, since=since)
        heading = {"week": "this week", "month": "this month", "all": "all time"}[period] + (f" \u00b7 {cohort}" if cohort else "")
        await interaction.followup.send(embed=embeds.leaderboard_embed(rows, heading), allowed_mentions=discord.AllowedMentions.none())

    @leaderboard.autocomplete("cohort")
    async def leaderboard_cohorts(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await cohort_choices(self.bot, interaction, current)

    @app_commands.command(name="kudos")
    @app_commands.guild_only()
    @app_commands.describe(member="Who did it right", skill="What they did well", reason="What you saw")
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
        await interaction.response.defer(thinking=True)  # a write may queue behind another process
        giver = await self.bot.store.ensure_member(interaction.user.display_name, guild_id=interaction.guild.id, discord_id=interaction.user.id)
        receiver = await self.bot.store.ensure_member(member.display_name, guild_id=interaction.guild.id, discord_id=member.id)
        await self.bot.store.add_kudos(interaction.guild.id, giver.id, receiver.id, skill, reason)
        await interaction.followup.send(
            embeds.clip(f"\U0001F44F {interaction.user.mention} gave kudos to {member.mention} for **{skill}**: {reason}", 2000),
            # Only the two people named by the command: a '<@id>' in the reason pings nobody.
            allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=[interaction.user, member]),
        )

    def skill_labels(self) -> list[str]:
        return sorted({skill.label for s in self.bot.library.scenarios.values() for skill in s.rubric.skills})

    @kudos.autocomplete("skill")
    async def skill_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        needle = current.lower()
        return [app_commands.Choice(name=embeds.clip(label, 100), value=embeds.clip(label, 100)) for label in self.skill_labels() if needle in label.lower()][:25]

    @app_commands.command(name="report")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_threads=True)
    async def report(self, interaction: discord.Interaction, member: discord.Member) -> None:
        """A trainee's progress (instructors; only you see it)."""
        assert interaction.guild is not None
        if not is_instructor(interaction.user, self.bot.settings):
            return await refuse(interaction, f"Only members with the {self.bot.settings.instructor_role_in(interaction.guild_id)} role can read reports.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        # Only reads (on the second connection): a report answers while another program holds the write lock.
        row = await self.bot.store.member_of(guild_id=interaction.guild.id, discord_id=member.id)
        report = await self.bot.store.member_report(row.id) if row is not None else None
        if report is None:
            return await refuse(interaction, f"{member.display_name} has no role-plays or kudos here yet.")
        await interaction.followup.send(embed=embeds.report_embed(report), ephemeral=True)


async def setup(bot: TrainerBot) -> None:
    await bot.add_cog(RecognitionCog(bot))
