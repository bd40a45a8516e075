"""Cohorts: groups of trainees with a channel where their good work is recognised."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app.checks import is_instructor, refuse
from bot.errors import AlreadyExists, StoreError
from bot.store.rows import CohortRow

if TYPE_CHECKING:
    from bot.discord_app.client import TrainerBot

log = logging.getLogger("trainer.discord")


class CohortCog(commands.Cog):
    cohort = app_commands.Group(
        name="cohort", description="Manage training cohorts (instructors)", guild_only=True,
        default_permissions=discord.Permissions(manage_threads=True),
    )

    def __init__(self, bot: TrainerBot) -> None:
        self.bot = bot

    async def interaction_check(self, interaction: discord.Interaction) -> bool:  # type: ignore[override]
        if is_instructor(interaction.user, self.bot.settings):
            return True
        await refuse(interaction, f"Only members with the {self.bot.settings.instructor_role_in(interaction.guild_id)} role can manage cohorts.")
        return False

    @cohort.command(name="create")
    @app_commands.describe(name="Cohort name, e.g. 'Spring academy'", channel="Where the cohort's recognition posts go")
    async def create(self, interaction: discord.Interaction, name: app_commands.Range[str, 1, 80], channel: discord.TextChannel) -> None:
        """Create a cohort and choose its recognition channel."""
        assert interaction.guild is not None
        await interaction.response.defer(ephemeral=True, thinking=True)  # a write may queue behind another process
        try:
            await self.bot.store.create_cohort(name.strip(), guild_id=interaction.guild.id, channel_id=channel.id)
        except AlreadyExists as exc:
            return await refuse(interaction, str(exc).capitalize() + ".")
        except StoreError as exc:
            # The error names the database file: for the log, not for the server.
            log.warning("/cohort create %r: %s", name, exc)
            return await refuse(interaction, "The training records could not be written just now, so no cohort was created (the error has been logged); please try again in a minute.")
        await interaction.followup.send(f"Cohort **{name.strip()}** created; recognition posts go to {channel.mention}.", ephemeral=True)

    @cohort.command(name="add")
    async def add(self, interaction: discord.Interaction, cohort: str, member: discord.Member) -> None:
        """Add a member to a cohort."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await cohort_named(self.bot, interaction, cohort)
        if found is None:
            return
        if member.bot:
            return await refuse(interaction, "Bots cannot join cohorts.")
        row = await self.bot.store.ensure_member(member.display_name, guild_id=found.guild_id, discord_id=member.id)
        added = await self.bot.store.add_to_cohort(found.id, row.id)
        text = f"{member.mention} joined **{found.name}**." if added else f"{member.mention} is already in **{found.name}**."
        await interaction.followup.send(text, ephemeral=True)

    @cohort.command(name="remove")
    async def remove(self, interaction: discord.Interaction, cohort: str, member: discord.Member) -> None:
        """Remove a member from a cohort."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await cohort_named(self.bot, interaction, cohort)
        if found is None:
            return
        row = await self.bot.store.ensure_member(member.display_name, guild_id=found.guild_id, discord_id=member.id)
        removed = await self.bot.store.remove_from_cohort(found.id, row.id)
        text = f"{member.mention} left **{found.name}**." if removed else f"{member.mention} was not in **{found.name}**."
        await interaction.followup.send(text, ephemeral=True)

    @add.autocomplete("cohort")
    @remove.autocomplete("cohort")
    async def cohort_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await cohort_choices(self.bot, interaction, current)

async def cohort_named(bot: TrainerBot, interaction: discord.Interaction, name: str) -> CohortRow | None:
    """The server's cohort of that name; None, and the user told so, when there is none."""
    assert interaction.guild is not None
    found = await bot.store.cohort(name, guild_id=interaction.guild.id)
    if found is None:
        await refuse(interaction, f"There is no cohort named '{name}' in this server.")
    return found


async def cohort_choices(bot: TrainerBot, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
    if interaction.guild is None:
        return []
    needle = current.lower()
    return [app_commands.Choice(name=c.name, value=c.name) for c in await bot.store.cohorts(guild_id=interaction.guild.id) if needle in c.name.lower()][:25]


async def setup(bot: TrainerBot) -> None:
    await bot.add_cog(CohortCog(bot))
