"""Role-plays in progress on Discord, keyed by their thread id."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from bot.runner import SceneRunner


@dataclass
class LiveSession:
    runner: SceneRunner
    thread_id: int
    guild_id: int
    trainee_id: int
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one message at a time, catch-up first
    last_activity: float = field(default_factory=time.monotonic)
    nudged: bool = False

    def touch(self) -> None:
        self.last_activity = time.monotonic()
        self.nudged = False

    def idle_for(self) -> float:
        return time.monotonic() - self.last_activity


class LiveSessions:
    def __init__(self) -> None:
        self._by_thread: dict[int, LiveSession] = {}
        self._starting: set[tuple[int, int]] = set()  # (guild, trainee) while a thread is being set up

    def reserve(self, guild_id: int, trainee_id: int) -> bool:
        """Claim a trainee before the first await of a start, so a double click opens one scene."""
        key = (guild_id, trainee_id)
        if key in self._starting:
            return False
        self._starting.add(key)
        return True

    def release(self, guild_id: int, trainee_id: int) -> None:
        self._starting.discard((guild_id, trainee_id))

    def add(self, live: LiveSession) -> None:
        self._by_thread[live.thread_id] = live

    def get(self, thread_id: int) -> LiveSession | None:
        return self._by_thread.get(thread_id)

    def remove(self, thread_id: int) -> None:
        self._by_thread.pop(thread_id, None)

    def all(self) -> list[LiveSession]:
        return list(self._by_thread.values())

    def of_trainee(self, guild_id: int, trainee_id: int) -> LiveSession | None:
        for live in self._by_thread.values():
            if live.guild_id == guild_id and live.trainee_id == trainee_id:
                return live
        return None
