"""Who may do what. Instructor = a member with the server's configured role (by name or id)."""

from __future__ import annotations

import discord

from bot.config import Settings


def is_instructor(user: discord.abc.User, settings: Settings) -> bool:
    if not isinstance(user, discord.Member):
        return False
    wanted = settings.instructor_role_in(user.guild.id).strip()
    return any(role.name == wanted or str(role.id) == wanted for role in user.roles)


async def refuse(interaction: discord.Interaction, text: str) -> None:
    """An ephemeral refusal, whether or not the interaction was already answered."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True)
    else:
        await interaction.response.send_message(text, ephemeral=True)
