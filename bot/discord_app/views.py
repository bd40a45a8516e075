"""Buttons under a session's briefing that keep working after a restart: the thread id lives in the custom_id."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord

if TYPE_CHECKING:
    from bot.discord_app.cogs.roleplay import RolePlayCog


class EndSessionButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"trainer:end:(?P<thread>[0-9]+)"):
    def __init__(self, thread_id: int) -> None:
        super().__init__(discord.ui.Button(label="End role-play", style=discord.ButtonStyle.secondary, custom_id=f"trainer:end:{thread_id}"))
        self.thread_id = thread_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str]) -> EndSessionButton:
        return cls(int(match["thread"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _cog(interaction).end_session(interaction, self.thread_id)


class HintButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"trainer:hint:(?P<thread>[0-9]+)"):
    def __init__(self, thread_id: int) -> None:
        super().__init__(discord.ui.Button(label="Hint", style=discord.ButtonStyle.primary, custom_id=f"trainer:hint:{thread_id}"))
        self.thread_id = thread_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str]) -> HintButton:
        return cls(int(match["thread"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await _cog(interaction).give_hint(interaction, self.thread_id)


def session_controls(thread_id: int, practice: bool) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    if practice:
        view.add_item(HintButton(thread_id))
    view.add_item(EndSessionButton(thread_id))
    return view


def _cog(interaction: discord.Interaction) -> RolePlayCog:
    cog = interaction.client.get_cog("RolePlayCog")  # type: ignore[attr-defined]
    assert cog is not None
    return cog  # type: ignore[no-any-return]
