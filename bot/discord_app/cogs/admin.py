"""Owner-only maintenance."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app.checks import refuse

if TYPE_CHECKING:
    from bot.discord_app.client import TrainerBot


class AdminCog(commands.Cog):
    admin = app_commands.Group(
        name="admin", description="Bot maintenance (owners)", guild_only=True,
        default_permissions=discord.Permissions(administrator=True),
    )

    def __init__(self, bot: TrainerBot) -> None:
        self.bot = bot

    @admin.command(name="sync")
    async def sync(self, interaction: discord.Interaction) -> None:
        """Re-register the slash commands with Discord now."""
        if interaction.user.id not in self.bot.settings.owner_ids and not await self.bot.is_owner(interaction.user):
            return await refuse(interaction, "Only the bot's owners can do that.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        await self.bot.sync_commands_if_changed(force=True)
        await interaction.followup.send("Slash commands re-registered.", ephemeral=True)


async def setup(bot: TrainerBot) -> None:
    await bot.add_cog(AdminCog(bot))
