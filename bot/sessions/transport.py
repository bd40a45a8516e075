"""How the session service reaches a chat: post, edit, history. Discord and the terminal implement it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from bot.sessions.messages import Message


@dataclass(frozen=True)
class Posted:
    """A message already in a channel, as its history shows it."""

    id: str
    author_id: int
    mine: bool  # posted by the trainer itself
    text: str
    fingerprint: str  # what the transport would have sent for the same Message (see Transport.fingerprint)
    written_at: float  # seconds since the epoch


class Transport(Protocol):
    """A chat the service talks through. Methods raise DeliveryError (bot.errors) on failure."""

    name: str  # stored with each outbox item: "discord", "terminal"
    keeps_history: bool  # whether `history` can show what was posted (and written) while the bot was away

    async def post(self, channel_id: int, message: Message, nonce: str) -> str:
        """Send a message; returns the platform's id for it. `nonce` is the same on every
        try of one item, so a platform that honours it never posts an item twice."""

    async def edit(self, channel_id: int, message_id: str, message: Message) -> None:
        """Change a message posted before (its buttons, or its text)."""

    def history(self, channel_id: int, after: str | None = None) -> AsyncIterator[Posted]:
        """Messages in a channel after the one with id `after` (from its start when None), oldest first."""

    def id_since(self, written_at: float) -> str | None:
        """An id to read a channel's history `after` so that the read starts at about this
        time (seconds since the epoch), where the platform's ids follow time (Discord's do);
        None where they do not (a read then starts at the channel's beginning)."""

    def fingerprint(self, message: Message) -> str:
        """What identifies this message among the trainer's own posts in a channel's history."""

    def mention(self, user_id: int | None, name: str) -> str:
        """How to name a person in a message (a ping on Discord, the name in the terminal)."""
