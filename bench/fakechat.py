"""A chat platform in memory for the benchmarks: channels that keep their history, and the
transport the session service posts through (what the Discord transport does, without
the network). Every post is recorded with the outbox item it carried (its nonce), so a
benchmark can check that each item reached the chat exactly once.

Optionally slow, like the real thing: `latency` seconds per request, and at most
`rate_limit` requests a second for the whole bot (Discord's global limit is about 50).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

BOT = 1
# Message ids unique across every chat of a process: a benchmark that makes a new chat on
# the same database must not write a message id the store has already seen.
_IDS = itertools.count(10**6)


@dataclass
class ChatMessage:
    id: int
    author: int
    text: str
    written_at: float
    kind: str = ""  # what the bot sent: the Message kind ("resident", "feedback", ...)
    message: Any = None


class FakeChat:
    """The transport (bot.sessions.transport.Transport) and the chat behind it."""

    name = "discord"
    keeps_history = True

    def __init__(self, latency: float = 0.0, rate_limit: float = 0.0) -> None:
        self.latency = latency
        self.channels: defaultdict[int, list[ChatMessage]] = defaultdict(list)
        self.nonces: Counter[str] = Counter()  # outbox item -> times it was posted
        self.requests = 0
        self.posted_at: defaultdict[int, list[tuple[str, float]]] = defaultdict(list)  # channel -> (kind, when)
        # What a benchmarked trainee waits for, kept as counts with the futures waiting on them:
        # the harness's own cost, not the transport's, so it stays out of the measured turn.
        self._counts: Counter[tuple[int, str]] = Counter()  # (channel, kind) -> bot messages
        self._waiters: defaultdict[tuple[int, str], list[tuple[int, asyncio.Future[None]]]] = defaultdict(list)
        self._interval = 1.0 / rate_limit if rate_limit > 0 else 0.0
        self._next_slot = 0.0

    # -- what trainees do --
    def write(self, channel_id: int, author: int, text: str) -> ChatMessage:
        message = ChatMessage(next(_IDS), author, text, time.time())
        self.channels[channel_id].append(message)
        return message

    def count(self, channel_id: int, kind: str) -> int:
        return self._counts[channel_id, kind]

    async def wait_for(self, channel_id: int, kind: str, count: int, timeout: float) -> bool:
        """Until the channel holds `count` bot messages of `kind`; False on timeout."""
        key = (channel_id, kind)
        if self._counts[key] >= count:
            return True
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        waiter = (count, future)
        self._waiters[key].append(waiter)
        timer = loop.call_later(timeout, lambda: future.done() or future.set_result(None))
        try:
            await future
        finally:
            timer.cancel()
            waiting = self._waiters.get(key)
            if waiting is not None and waiter in waiting:
                waiting.remove(waiter)
                if not waiting:
                    del self._waiters[key]
        return self._counts[key] >= count

    def _posted(self, channel_id: int, kind: str) -> None:
        key = (channel_id, kind)
        self._counts[key] += 1
        for count, future in self._waiters.get(key, ()):
            if count <= self._counts[key] and not future.done():
                future.set_result(None)

    # -- the transport --
    async def _request(self) -> None:
        self.requests += 1
        if self._interval:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + self._interval
            if slot > now:
                await asyncio.sleep(slot - now)
        if self.latency:
            await asyncio.sleep(self.latency)

    async def post(self, channel_id: int, message: Any, nonce: str) -> str:
        await self._request()
        text = f"**{message.speaker}:** {message.text}" if message.speaker else message.text
        posted = ChatMessage(next(_IDS), BOT, text, time.time(), message.kind, message)
        self.channels[channel_id].append(posted)
        if nonce:
            self.nonces[nonce] += 1
        self.posted_at[channel_id].append((message.kind, time.perf_counter()))
        self._posted(channel_id, message.kind)
        return str(posted.id)

    async def edit(self, channel_id: int, message_id: str, message: Any) -> None:
        await self._request()

    async def history(self, channel_id: int, after: str | None = None) -> AsyncIterator[Any]:
        from bot.sessions.transport import Posted

        for found in list(self.channels[channel_id]):
            if after is not None and found.id <= int(after):
                continue
            yield Posted(
                id=str(found.id), author_id=found.author, mine=found.author == BOT, text=found.text,
                fingerprint=self.fingerprint(found.message) if found.message is not None else found.text,
                written_at=found.written_at,
            )

    def id_since(self, written_at: float) -> str | None:
        return None  # ids are a counter: a read starts at the channel's beginning

    def fingerprint(self, message: Any) -> str:
        return str(message.to_json())

    def mention(self, user_id: int | None, name: str) -> str:
        return f"<@{user_id}>" if user_id is not None else name
