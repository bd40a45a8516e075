"""Buttons that keep working after a restart (what they act on lives in the custom_id): under a
session's briefing, and under a nomination waiting for an instructor."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import discord

if TYPE_CHECKING:
    from bot.discord_app.cogs.instructors import InstructorCog
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


class NominationButton(discord.ui.DynamicItem[discord.ui.Button[Any]],
                       template=r"trainer:nomination:(?P<action>approve|dismiss):(?P<session>[0-9]+):(?P<turn>[0-9]+)"):
    def __init__(self, action: str, session_id: int, turn: int) -> None:
        approve = action == "approve"
        super().__init__(discord.ui.Button(
            label="Post to the cohort" if approve else "Dismiss", style=discord.ButtonStyle.success if approve else discord.ButtonStyle.secondary,
            custom_id=f"trainer:nomination:{action}:{session_id}:{turn}",
        ))
        self.action, self.session_id, self.turn = action, session_id, turn

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str]) -> NominationButton:
        return cls(match["action"], int(match["session"]), int(match["turn"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        cog: InstructorCog = interaction.client.get_cog("InstructorCog")  # type: ignore[attr-defined]
        await cog.decide(interaction, self.session_id, self.turn, self.action == "approve")


def nomination_controls(session_id: int, turn: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(NominationButton("approve", session_id, turn))
    view.add_item(NominationButton("dismiss", session_id, turn))
    return view


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
