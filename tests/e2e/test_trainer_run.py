"""The unmodified `trainer run` process over real loopback sockets against a fake of Discord:
it starts, syncs its commands, runs a role-play from /roleplay start to the feedback embed,
and after kill -9 and a restart continues the same scene in the same thread."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.engine.catalog import load_checked
from tests.fakediscord import FakeDiscord

from tests.e2e.rig import COURTEOUS, ROOT, TOKEN, BotProcess, is_feedback, resident

MANAGE_THREADS = 1 << 34
SCENARIO = load_checked(ROOT / "dialogues" / "traffic_stop.yaml")


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=TOKEN) as server:
        yield server


def write_config(tmp_path: Path, guild_id: str) -> Path:
    from tests.e2e.rig import write_config as configure

    return configure(tmp_path, guild_id, tmp_path / "trainer.db")


async def say(fake: FakeDiscord, thread: dict[str, Any], user: dict[str, Any], text: str) -> dict[str, Any]:
    sent = await fake.user_message(thread, user, text)
    return await fake.wait_for_message(thread, resident, after=sent, timeout=30)


async def test_roleplay_end_to_end_survives_kill_9(fake: FakeDiscord, tmp_path: Path) -> None:
    guild = fake.add_guild("Metro PD")
    practice = fake.add_text_channel(guild, "practice")
    fake.add_role(guild, "Instructor", permissions=MANAGE_THREADS)
    trainee = fake.add_member(guild, "tom")
    bot = BotProcess(write_config(tmp_path, guild["id"]), fake, tmp_path / "bot.log")
    await bot.start()
    try:
        await fake.wait_for_bot_ready(timeout=60)
        commands = await fake.wait_for_commands(guild, timeout=60)
        assert {"roleplay", "scenario", "cohort", "leaderboard", "kudos", "report"} <= {c["name"] for c in commands}

        started = await fake.invoke_slash(practice, trainee, "roleplay", subcommand="start", options={"scenario": "traffic_stop"})
        reply = await fake.wait_for_reply(started, timeout=30)
        assert started.ephemeral and "Role-play started" in reply["content"]
        thread = await fake.wait_for_thread(parent=practice, timeout=30)
        assert trainee["user"]["id"] in fake.thread_member_ids(thread)
        await fake.wait_for_message(thread, resident, timeout=30)  # the opening line
        for line in COURTEOUS[:2]:
            await say(fake, thread, trainee, line)

        await bot.kill()
        written_while_down = await fake.user_message(thread, trainee, COURTEOUS[2])
        await bot.start()
        await fake.wait_for_bot_ready(timeout=60, identifies=2)
        caught_up = await fake.wait_for_message(thread, resident, after=written_while_down, timeout=60)
        assert caught_up["content"] in {f"**Denise Carter:** {line.text}" for line in SCENARIO.states["understood"].say}
        replies = [m["content"] for m in fake.bot_messages(thread) if resident(m)]
        assert len(replies) == len(set(replies)) == 4  # opening + 3 replies, none posted twice
        assert len(fake.requests_to("PUT", r"/commands$")) == 1  # unchanged commands are not synced again

        for line in COURTEOUS[3:]:
            await say(fake, thread, trainee, line)
        final = await fake.wait_for_message(thread, is_feedback, timeout=30)
        description = final["embeds"][0]["description"]
        assert "outcome **success**" in description and "/100" in description
        for message in fake.bot_messages(thread):
            mentions = fake.allowed_mentions(message) or {}
            assert not {"everyone", "roles"} & set(mentions.get("parse", []))
    except BaseException:
        print(bot.output())
        raise
    finally:
        code = await bot.stop()
    assert code == 0, bot.output()
    assert TOKEN not in bot.output()


async def test_bad_token_is_one_clear_line(fake: FakeDiscord, tmp_path: Path) -> None:
    guild = fake.add_guild("Metro PD")
    env = {**os.environ, **fake.env(), "DISCORD_TOKEN": "wrong-token-" + "y" * 30}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--config", str(write_config(tmp_path, guild["id"])),
        env=env, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2
    assert stderr.decode().strip().splitlines()[-1] == "trainer: Discord rejected the token (DISCORD_TOKEN or discord.token)"
