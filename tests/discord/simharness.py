"""Small helpers for testing the Discord bot with simcord (PyPI ``simcord>=3.2,<4``).

simcord runs discord.py's real parsers, command tree and views against an
in-memory Discord. See ``docs/simcord-notes.md`` for what it models and what it
does not. The helpers here only wrap simcord's public API (``simcord.Env``,
``GuildHandle``, ``ChannelHandle``, ``MemberActor``, ``InteractionResult``).

Typical use in a test module::

    import pytest
    from tests.discord import simharness as sh

    @pytest.fixture
    def simcord_bot():            # consumed by simcord's own ``simcord_env`` fixture
        return make_my_bot()

    @pytest.fixture
    def world(simcord_env):
        return sh.build_world(simcord_env)

    async def test_ping(world):
        result = await sh.slash(world.trainee, world.practice, "ping")
        assert result.ephemeral and result.response.content == "pong"

Everything an actor does (``send``, ``slash``, ``click``...) waits until the
bot has finished reacting, so no sleeps are needed anywhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import discord
from simcord import ChannelHandle, Env, GuildHandle, InteractionResult, MemberActor, RoleHandle

__all__ = [
    "World",
    "bot_messages",
    "bot_thread",
    "build_world",
    "downtime",
    "message_posts",
    "new_threads",
    "restart",
    "say",
    "slash",
    "thread_member_ids",
]


@dataclass(frozen=True)
class World:
    """The standard cast for a bot test: one guild, one practice channel, two people."""

    env: Env
    guild: GuildHandle
    practice: ChannelHandle
    instructor_role: RoleHandle
    instructor: MemberActor
    trainee: MemberActor

    @property
    def bot(self) -> discord.Client:
        """The *current* bot instance (changes after :func:`restart`)."""
        return self.env.bot

    async def slash(self, actor: MemberActor, command: str, /, **options: Any) -> InteractionResult:
        """``/command`` as ``actor`` in the practice channel."""
        return await slash(actor, self.practice, command, **options)

    async def say(self, actor: MemberActor, channel: ChannelHandle, text: str) -> list[discord.Message]:
        """``actor`` posts ``text`` in ``channel``; returns the bot's replies."""
        return await say(self.env, actor, channel, text)

    def member(self, name: str, *, instructor: bool = False) -> MemberActor:
        """Add another member (fires GUILD_MEMBER_ADD, like a real join)."""
        roles = [self.instructor_role] if instructor else []
        return self.guild.add_member(self.env.create_user(name), roles=roles)


def build_world(
    env: Env,
    *,
    guild_name: str = "Academy",
    channel_name: str = "practice",
    instructor_role: str = "Instructor",
    instructor_permissions: discord.Permissions | None = None,
    bot_overwrite: discord.PermissionOverwrite | None = None,
) -> World:
    """Create guild, practice channel, the instructor role, an instructor and a trainee.

    simcord gives the bot a managed role with every permission except
    ``administrator``. To test the bot *without* a permission, pass
    ``bot_overwrite`` (a channel overwrite for the bot user on the practice
    channel), e.g. ``discord.PermissionOverwrite(create_private_threads=False)``.
    """
    guild = env.create_guild(guild_name)
    role = guild.create_role(instructor_role, permissions=instructor_permissions or discord.Permissions.none())
    overwrites: dict[Any, discord.PermissionOverwrite] = {}
    if bot_overwrite is not None:
        overwrites[env.bot.user] = bot_overwrite
    practice = guild.create_text_channel(channel_name, overwrites=overwrites or None)
    instructor = guild.add_member(env.create_user("ines"), roles=[role])
    trainee = guild.add_member(env.create_user("tom"))
    return World(env, guild, practice, role, instructor, trainee)


async def slash(actor: MemberActor, channel: ChannelHandle, command: str, /, **options: Any) -> InteractionResult:
    """Run ``/command`` as ``actor`` in ``channel``.

    ``command`` may name a subcommand path: ``"roleplay start"``. Options are
    given by their (renamed) option name; members/channels/roles are passed as
    simcord handles. Read the result with ``result.response.content``,
    ``result.response.embeds``, ``result.ephemeral``, ``result.followups``.
    """
    return await actor.slash(channel, command, **options)


def bot_messages(env: Env, channel: ChannelHandle, *, after: int | None = None) -> list[discord.Message]:
    """Non-ephemeral, non-system messages the bot posted in ``channel`` (oldest first)."""
    bot_id = env.bot.user.id
    return [
        m
        for m in channel.history()
        if m.author.id == bot_id
        and not m.flags.ephemeral
        and not m.is_system()
        and (after is None or m.id > after)
    ]


async def say(env: Env, actor: MemberActor, channel: ChannelHandle, text: str) -> list[discord.Message]:
    """Post ``text`` as ``actor`` and return what the bot posted in reply (may be empty).

    The bot's ``on_message`` (and anything it awaits) has finished when this returns.
    """
    sent = await actor.send(channel, text)
    return bot_messages(env, channel, after=sent.id)


def new_threads(env: Env, channel: ChannelHandle, *, private: bool | None = None) -> list[ChannelHandle]:
    """Threads under ``channel`` as simcord handles (usable with actor.send / history)."""
    threads = channel.threads
    if private is None:
        return threads
    kind = discord.ChannelType.private_thread
    return [t for t in threads if (bot_thread(env, t).type is kind) == private]


def bot_thread(env: Env, thread: ChannelHandle) -> discord.Thread:
    """The bot's cached ``discord.Thread`` for a thread handle."""
    channel = env.bot.get_channel(thread.id)
    assert isinstance(channel, discord.Thread), f"bot has no cached thread {thread!r}"
    return channel


def thread_member_ids(env: Env, thread: ChannelHandle) -> set[int]:
    """Member ids of a thread as the bot's cache sees them (THREAD_MEMBERS_UPDATE)."""
    return {m.id for m in bot_thread(env, thread).members}


def message_posts(env: Env, channel: ChannelHandle) -> list[dict[str, Any]]:
    """JSON bodies of every ``POST /channels/{id}/messages`` the bot made to ``channel``.

    This is the only public place where the ``allowed_mentions`` the bot *sent*
    is visible (discord.py merges the bot-wide default into each request).
    """
    path = f"/channels/{channel.id}/messages"
    return [r.json or {} for r in env.http_requests if r.method == "POST" and r.path == path]


async def restart(env: Env, make_bot: Callable[[], discord.Client]) -> discord.Client:
    """Restart: drain and detach the current bot, connect a fresh one to the same world.

    Guilds, channels, threads, messages and members persist; the new bot gets
    READY + GUILD_CREATE and runs its ``setup_hook`` again (so persistent views
    must be re-added there). The old bot's ``close()`` is *not* called.
    """
    bot = make_bot()
    await env.restart_bot(bot)
    return bot


@asynccontextmanager
async def downtime(env: Env, make_bot: Callable[[], discord.Client]) -> AsyncIterator[None]:
    """Take the bot offline; whatever the test does inside the block happens while it is down.

    Users can keep posting (``await trainee.send(thread, ...)``): messages are
    stored but no gateway event reaches any bot. On exit a fresh bot from
    ``make_bot`` connects to the same world, and can catch up with
    ``channel.history(after=...)``.
    """
    await env.shutdown()
    yield
    env.bot = make_bot()
    await env.start()
