"""The unmodified `trainer run` in a child process against the loopback fake of Discord,
with what an end-to-end test needs to drive it, break it and check what it did."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
from pathlib import Path
from typing import Any

from tests.fakediscord import FakeDiscord
from tests.scripts import COURTEOUS

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "e2e-test-token-" + "x" * 40
MANAGE_THREADS = 1 << 34
RESIDENT = "**Denise Carter:**"
Json = dict[str, Any]


def resident(message: Json) -> bool:
    return str(message.get("content", "")).startswith(RESIDENT)


def is_feedback(message: Json) -> bool:
    return any(str(embed.get("title", "")).startswith("Feedback") for embed in message.get("embeds") or [])


class BotProcess:
    """`python -m bot run` as a child process, its log kept for failure messages."""

    def __init__(self, config: Path, fake: FakeDiscord, log: Path) -> None:
        self.config, self.fake, self.log = config, fake, log
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        env = {**os.environ, **self.fake.env(), "DISCORD_TOKEN": TOKEN, "TRAINER_GUILD_READY_TIMEOUT": "0.1"}
        with self.log.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", "--config", str(self.config),
                env=env, cwd=ROOT, stdout=log, stderr=log,
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> int:
        assert self.process is not None
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), timeout=20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        return self.process.returncode or 0

    def output(self) -> str:
        return self.log.read_text("utf-8", errors="replace") if self.log.exists() else ""


def write_config(folder: Path, guild_id: str, database: Path, extra: str = "") -> Path:
    config = folder / "config.yaml"
    config.write_text(
        f"discord:\n  guild_id: {guild_id}\n  instructor_role: Instructor\n"
        f"database:\n  path: {database}\n  busy_timeout_seconds: 1\n"
        f"dialogues:\n  path: {ROOT / 'dialogues'}\n"
        "logging:\n  level: INFO\n" + extra,
        encoding="utf-8",
    )
    return config


class Rig:
    """One fake Discord, one server, one bot process on one database: tests add trainees."""

    def __init__(self, fake: FakeDiscord, folder: Path, database: Path, extra_config: str = "") -> None:
        self.fake = fake
        self.database = database
        self.guild = fake.add_guild("Metro PD")
        self.practice = fake.add_text_channel(self.guild, "practice")
        self.instructor_role = fake.add_role(self.guild, "Instructor", permissions=MANAGE_THREADS)
        self.instructor = fake.add_member(self.guild, "ines", roles=[self.instructor_role])
        self.bot = BotProcess(write_config(folder, self.guild["id"], database, extra_config), fake, folder / "bot.log")
        self.identifies = 0
        self._names = 0

    # -- the bot --
    async def start(self) -> None:
        await self.bot.start()
        self.identifies += 1
        await self.fake.wait_for_bot_ready(timeout=60, identifies=self.identifies)

    async def kill(self) -> None:
        await self.bot.kill()

    async def restart(self) -> None:
        if self.bot.running:
            await self.kill()
        await self.start()

    # -- people and sessions --
    def trainee(self) -> Json:
        self._names += 1
        return self.fake.add_member(self.guild, f"trainee{self._names}")

    async def start_session(self, actor: Json, **options: Any) -> Json:
        """`actor` runs /roleplay start (an instructor may pass trainee=...)."""
        before = {t["id"] for t in self.fake.threads(parent=self.practice)}
        started = await self.fake.invoke_slash(
            self.practice, actor, "roleplay", subcommand="start", options={"scenario": "traffic_stop", **options}, timeout=30,
        )
        reply = await self.fake.wait_for_reply(started, timeout=30)
        assert "Role-play started" in str(reply.get("content")), reply
        thread = await self.fake.wait_for_thread(parent=self.practice, predicate=lambda t: t["id"] not in before, timeout=30)
        await self.fake.wait_for_message(thread, resident, timeout=30)  # the opening line
        return thread

    async def say(self, thread: Json, trainee: Json, text: str) -> Json:
        """The trainee writes a line and the resident answers it."""
        sent = await self.fake.user_message(thread, trainee, text)
        await self.fake.wait_for_message(thread, resident, after=sent, timeout=30)
        return sent

    async def play_out(self, thread: Json, trainee: Json, lines: list[str]) -> None:
        for line in lines:
            await self.say(thread, trainee, line)
        await self.fake.wait_for_message(thread, is_feedback, timeout=30)

    # -- what happened --
    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=10)

    def session_of(self, thread: Json) -> tuple[int, str] | None:
        with self.db() as raw:
            row = raw.execute("SELECT id, status FROM sessions WHERE thread_id = ?", (int(thread["id"]),)).fetchone()
        return (int(row[0]), str(row[1])) if row else None

    async def settled(self, timeout: float = 60) -> None:
        """Until the bot has nothing left to do: every line in every session's thread played or
        set aside (while the session is in progress), and every queued item delivered."""
        def done() -> bool:
            with self.db() as raw:
                if raw.execute("SELECT COUNT(*) FROM outbox WHERE status = 'pending'").fetchone()[0]:
                    return False
                sessions = raw.execute("SELECT id, thread_id, trainee_id FROM sessions WHERE status = 'active' AND thread_id IS NOT NULL").fetchall()
                seen = {row[0] for row in raw.execute(
                    "SELECT source_message_id FROM turns WHERE source_message_id IS NOT NULL UNION SELECT message_id FROM ignored_messages"
                )}
            for _, thread_id, trainee_id in sessions:
                written = [m for m in self.fake.messages(str(thread_id)) if m["author"]["id"] == str(trainee_id)]
                if any(m["id"] not in seen for m in written):
                    return False
            return True
        await self.fake.wait_until(done, timeout=timeout, what="the bot to play every line and send everything")

    def bot_says(self, channel: Json) -> list[Json]:
        return [m for m in self.fake.bot_messages(channel) if resident(m)]

    def check_every_line_answered_once(self, thread: Json, trainee: Json) -> None:
        """Every line the trainee wrote is stored once, in order, and answered once; the thread
        shows the opening and exactly the stored replies, in order; at most one feedback."""
        written = [m for m in self.fake.messages(thread) if m["author"]["id"] == trainee["user"]["id"] and m["content"].strip()]
        found = self.session_of(thread)
        assert found is not None, "no session for this thread"
        with self.db() as raw:
            stored = raw.execute(
                "SELECT seq, speaker, text, source_message_id FROM turns WHERE session_id = ? ORDER BY seq, speaker DESC", (found[0],)
            ).fetchall()
            ignored = {row[0] for row in raw.execute("SELECT message_id FROM ignored_messages WHERE session_id = ?", (found[0],))}
        played = [m for m in written if m["id"] not in ignored]
        trainee_rows = [row for row in stored if row[1] == "trainee"]
        assert [row[3] for row in trainee_rows] == [m["id"] for m in played[: len(trainee_rows)]], "stored out of order or twice"
        if found[1] == "active":
            assert len(trainee_rows) == len(played), "a line was never played"
        replies = [row[2] for row in stored if row[1] == "resident"]
        shown = [m["content"] for m in self.bot_says(thread)]
        assert shown == [f"{RESIDENT} {text}" for text in replies], f"thread shows {len(shown)} resident lines, {len(replies)} stored"
        feedbacks = [m for m in self.fake.bot_messages(thread) if is_feedback(m)]
        assert len(feedbacks) == (1 if found[1] == "ended" else 0), f"{len(feedbacks)} feedback embeds"

    def notices(self, thread: Json) -> list[str]:
        return [m["content"] for m in self.fake.bot_messages(thread) if m["content"].startswith(("\u23F3", "\u26A0", "*(", "This role-play"))]

    def empty_bot_threads(self) -> list[Json]:
        bot_id = self.fake.bot_user["id"]
        return [t for t in self.fake.threads(parent=self.practice) if t.get("owner_id") == bot_id and not self.fake.messages(t)]


class HeldLock:
    """Another process holding SQLite's write lock on the database."""

    def __init__(self, database: Path) -> None:
        self.connection = sqlite3.connect(database, isolation_level=None, timeout=30)
        self.connection.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        self.connection.rollback()
        self.connection.close()
