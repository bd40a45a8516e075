"""Discord as a transport of the session service: sending, changing and reading messages.

Discord's errors become DeliveryError: permanent when retrying cannot help (the thread
is gone, the bot may not post there, the request itself is wrong), uncertain when
Discord may have posted the message anyway (a 5xx after discord.py's own retries, a
dropped connection), with the wait a rate limit asks for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from typing import Any, NoReturn

import aiohttp
import discord

from bot.discord_app.embeds import card_embed, clip
from bot.discord_app.views import nomination_controls, session_controls
from bot.errors import DeliveryError
from bot.recognition.posts import NOMINATION_CONTROL
from bot.sessions.messages import HINT, Message
from bot.sessions.transport import Posted


class DiscordTransport:
    name = "discord"
    keeps_history = True

    def __init__(self, client: discord.Client) -> None:
        self.client = client

    async def post(self, channel_id: int, message: Message, nonce: str) -> str:
        kwargs = _rendered(message, channel_id)
        try:
            # With a nonce, Discord returns the message it already has instead of a second one
            # (discord.py sends enforce_nonce), e.g. when it retries a 5xx itself.
            sent = await self._channel(channel_id).send(nonce=nonce or None, **kwargs)
        except Exception as exc:
            _reraise(exc, f"posting to channel {channel_id}")
        return str(sent.id)

    async def edit(self, channel_id: int, message_id: str, message: Message) -> None:
        kwargs: dict[str, Any] = {"view": _view(message, channel_id)}
        rendered = _rendered(message, channel_id)
        if message.text:
            kwargs["content"] = rendered["content"]
        if message.card is not None:
            kwargs["embed"] = rendered["embed"]
        try:
            await self._channel(channel_id).get_partial_message(int(message_id)).edit(**kwargs)
        except Exception as exc:
            _reraise(exc, f"changing message {message_id}")

    async def history(self, channel_id: int, after: str | None = None) -> AsyncIterator[Posted]:
        me = self.client.user.id if self.client.user else 0
        since = discord.Object(int(after)) if after else None
        try:
            async for found in self._channel(channel_id).history(limit=None, after=since, oldest_first=True):
                embed = found.embeds[0] if found.embeds else None
                yield Posted(
                    id=str(found.id), author_id=found.author.id, mine=found.author.id == me, text=found.content,
                    fingerprint=_fingerprint(found.content, embed.title if embed else None, embed.description if embed else None),
                    written_at=found.created_at.timestamp(),
                )
        except Exception as exc:
            _reraise(exc, f"reading the history of channel {channel_id}")

    def id_since(self, written_at: float) -> str | None:
        # A snowflake is the time it was made: the lowest one of that millisecond comes before every message since.
        return str(discord.utils.time_snowflake(datetime.fromtimestamp(max(written_at, 1_420_070_400), timezone.utc)))

    def fingerprint(self, message: Message) -> str:
        rendered = _rendered(message, 0)
        embed: discord.Embed | None = rendered.get("embed")
        return _fingerprint(rendered.get("content") or "", embed.title if embed else None, embed.description if embed else None)

    def mention(self, user_id: int | None, name: str) -> str:
        return f"<@{user_id}>" if user_id is not None else name

    def _channel(self, channel_id: int) -> discord.abc.Messageable:
        channel = self.client.get_channel(channel_id)
        if isinstance(channel, discord.abc.Messageable):
            return channel
        return self.client.get_partial_messageable(channel_id)  # sending needs no cached channel


def _rendered(message: Message, channel_id: int) -> dict[str, Any]:
    content = f"**{message.speaker}:** {message.text}" if message.speaker else message.text
    kwargs: dict[str, Any] = {
        "content": clip(content, 2000) if content else None,
        # Only the people the message is about may be pinged, whatever a trainee wrote.
        "allowed_mentions": discord.AllowedMentions(
            everyone=False, roles=False, replied_user=False, users=[discord.Object(user_id) for user_id in message.mentions],
        ),
    }
    if message.card is not None:
        kwargs["embed"] = card_embed(message.card)
    view = _view(message, channel_id)
    if view is not None:
        kwargs["view"] = view
    return kwargs


def _view(message: Message, channel_id: int) -> discord.ui.View | None:
    for control in message.controls:
        if control.startswith(NOMINATION_CONTROL + ":"):  # "nomination:<session>:<turn>"
            _, session_id, turn = control.split(":")
            return nomination_controls(int(session_id), int(turn))
    return session_controls(channel_id, HINT in message.controls) if message.controls else None


def _fingerprint(content: str, title: str | None, description: str | None) -> str:
    return "\x1f".join(((content or "").strip(), (title or "").strip(), (description or "").strip()))


def _reraise(exc: Exception, doing: str) -> NoReturn:
    error = _delivery_error(exc, doing)
    if error is None:
        raise exc  # not a delivery problem: a bug, to the log with its traceback
    raise error from exc


def _delivery_error(exc: Exception, doing: str) -> DeliveryError | None:
    if isinstance(exc, discord.RateLimited):
        return DeliveryError(f"{doing}: rate limited", retry_after=exc.retry_after)
    if isinstance(exc, discord.DiscordServerError):
        return DeliveryError(f"{doing}: Discord answered {exc.status}", uncertain=True)
    if isinstance(exc, discord.HTTPException):
        if exc.status == 429:  # a Cloudflare limit (no Via header): discord.py does not wait for it
            return DeliveryError(f"{doing}: rate limited by Cloudflare", retry_after=_retry_after(exc))
        if exc.status >= 500:
            return DeliveryError(f"{doing}: Discord answered {exc.status}", uncertain=True)
        return DeliveryError(f"{doing}: {exc.status} {exc.text or exc}", permanent=True)
    if isinstance(exc, (aiohttp.ClientError, asyncio.TimeoutError, OSError)):
        return DeliveryError(f"{doing}: {exc.__class__.__name__}: {exc}", uncertain=True)
    if isinstance(exc, discord.ClientException):  # e.g. the HTTP session is being closed
        return DeliveryError(f"{doing}: {exc}", uncertain=True)
    if isinstance(exc, (TypeError, ValueError)):  # a message discord.py refuses to build: retrying cannot help
        return DeliveryError(f"{doing}: {exc}", permanent=True)
    return None


def _retry_after(exc: discord.HTTPException) -> float | None:
    try:
        return float(exc.response.headers.get("Retry-After", ""))
    except (AttributeError, TypeError, ValueError):
        return None
