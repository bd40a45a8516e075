"""An in-memory chat for testing the session service: channels that keep their history,
and a transport to it that can fail the way a chat platform does."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from bot.errors import DeliveryError
from bot.sessions.messages import Message
from bot.sessions.transport import Posted

BOT = 1


@dataclass
class ChatMessage:
    id: int
    author: int
    text: str
    message: Message | None = None  # what the bot sent
    written_at: float = field(default_factory=time.time)


class Chat:
    """Channels of messages, oldest first; ids grow like Discord's."""

    def __init__(self) -> None:
        self.channels: dict[int, list[ChatMessage]] = defaultdict(list)
        self._ids = itertools.count(1000)

    def write(self, channel: int, author: int, text: str, written_at: float | None = None) -> ChatMessage:
        found = ChatMessage(next(self._ids), author, text, written_at=written_at if written_at is not None else time.time())
        self.channels[channel].append(found)
        return found

    def bot_messages(self, channel: int) -> list[ChatMessage]:
        return [m for m in self.channels[channel] if m.author == BOT]

    def kinds(self, channel: int) -> list[str]:
        return [m.message.kind for m in self.bot_messages(channel) if m.message is not None]


Fault = Callable[[str, int, Message], DeliveryError | None]


class ChatTransport:
    """Posts into a Chat. `faults` are checked in order before each post: each returns the
    error to raise (once) or None; `after_post` runs after a post is stored, before it returns."""

    name = "discord"
    keeps_history = True

    def __init__(self, chat: Chat) -> None:
        self.chat = chat
        self.faults: list[Fault] = []
        self.after_post: Callable[[ChatMessage], None] | None = None
        self.posts = 0
        self.edits: list[tuple[int, str, Message]] = []
        self.history_fails = 0
        self.history_error = DeliveryError("history unavailable", uncertain=True)  # raised by the failing reads
        self.history_reads = 0
        self.history_shown: list[tuple[str | None, int]] = []  # per read: (after, how many messages it yielded)
        self.honours_nonces = False  # like Discord with enforce_nonce (off: the outbox must not need it)
        self._nonces: dict[str, ChatMessage] = {}
        self.latency = 0.0  # seconds each post takes, like a request over the network

    def fail(self, times: int, error: DeliveryError, *, kind: str | None = None, after_posting: bool = False) -> None:
        """The next `times` posts (of `kind`) fail; with `after_posting`, the message lands first."""
        left = [times]

        def fault(stage: str, channel: int, message: Message) -> DeliveryError | None:
            if left[0] and stage == ("after" if after_posting else "before") and kind in (None, message.kind):
                left[0] -= 1
                return error
            return None

        self.faults.append(fault)

    async def post(self, channel_id: int, message: Message, nonce: str) -> str:
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.honours_nonces and nonce in self._nonces:  # the message it already has
            return str(self._nonces[nonce].id)
        self._check("before", channel_id, message)
        text = f"**{message.speaker}:** {message.text}" if message.speaker else message.text
        posted = self.chat.write(channel_id, BOT, text)
        posted.message = message
        if nonce:
            self._nonces[nonce] = posted
        self.posts += 1
        self._check("after", channel_id, message)
        if self.after_post is not None:
            self.after_post(posted)
        return str(posted.id)

    def _check(self, stage: str, channel_id: int, message: Message) -> None:
        for fault in self.faults:
            error = fault(stage, channel_id, message)
            if error is not None:
                raise error

    async def edit(self, channel_id: int, message_id: str, message: Message) -> None:
        self.edits.append((channel_id, message_id, message))

    async def history(self, channel_id: int, after: str | None = None) -> AsyncIterator[Posted]:
        self.history_reads += 1
        if self.history_fails:
            self.history_fails -= 1
            raise self.history_error
        shown = len(self.history_shown)
        self.history_shown.append((after, 0))
        for found in list(self.chat.channels[channel_id]):
            if after is not None and found.id <= int(after):
                continue
            self.history_shown[shown] = (after, self.history_shown[shown][1] + 1)
            yield Posted(
                id=str(found.id), author_id=found.author, mine=found.author == BOT, text=found.text,
                fingerprint=self.fingerprint(found.message) if found.message is not None else found.text,
                written_at=found.written_at,
            )

    def id_since(self, written_at: float) -> str | None:
        # Like Discord's snowflakes: the id just before the first message written at or after then.
        earlier = [m.id for messages in self.chat.channels.values() for m in messages if m.written_at < written_at]
        return str(max(earlier)) if earlier else None

    def fingerprint(self, message: Message) -> str:
        return message.to_json()

    def mention(self, user_id: int | None, name: str) -> str:
        return f"<@{user_id}>" if user_id is not None else name
