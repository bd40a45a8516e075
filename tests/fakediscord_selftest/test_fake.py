"""Self-tests: a real discord.py bot talks to the loopback fake over sockets."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from pathlib import Path
from typing import Any, AsyncIterator

import discord
import pytest
from discord import app_commands
from discord.ext import commands

from tests.fakediscord import FakeDiscord

TOKEN = "selftest-token"
HERE = Path(__file__).parent


class PressView(discord.ui.View):
    """Persistent view: fixed custom_id, no timeout."""

    def __init__(self, log: list[Any]) -> None:
        super().__init__(timeout=None)
        self.log = log

    @discord.ui.button(label="Press", custom_id="selftest:press", style=discord.ButtonStyle.primary)
    async def press(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        self.log.append(("press", interaction.user.id))
        await interaction.response.send_message("pressed", ephemeral=True)


class NoteModal(discord.ui.Modal, title="Note"):
    note: discord.ui.TextInput = discord.ui.TextInput(label="Note", custom_id="note")

    def __init__(self, log: list[Any]) -> None:
        super().__init__(custom_id="selftest:modal")
        self.log = log

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.log.append(("modal", self.note.value))
        await interaction.response.send_message(f"noted {self.note.value}", ephemeral=True)


class SelfTestBot(commands.Bot):
    def __init__(self) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        intents.members = True
        super().__init__(command_prefix="!", intents=intents, guild_ready_timeout=0.1,
                         allowed_mentions=discord.AllowedMentions.none())
        self.log: list[Any] = []
        grp = app_commands.Group(name="grp", description="A group")

        @self.tree.command(name="ping", description="Ping")
        async def ping(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("pong", ephemeral=True)

        async def scenario_ac(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            names = ["traffic_stop", "noise_complaint", "welfare_check"]
            return [app_commands.Choice(name=n, value=n) for n in names if current in n]

        @grp.command(name="sub", description="Sub command")
        @app_commands.autocomplete(scenario=scenario_ac)
        async def sub(interaction: discord.Interaction, scenario: str, count: int = 1) -> None:
            self.log.append(("sub", scenario, count))
            await interaction.response.send_message(f"started {scenario} x{count}")

        @self.tree.command(name="slow", description="Deferred reply")
        async def slow(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await asyncio.sleep(0.05)
            await interaction.followup.send("done slowly", ephemeral=True)

        @self.tree.command(name="note", description="Opens a modal")
        async def note(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(NoteModal(self.log))

        @self.tree.command(name="admin", description="Instructors only")
        @app_commands.default_permissions(manage_guild=True)
        async def admin(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("admin ok", ephemeral=True)

        self.tree.add_command(grp)

    async def setup_hook(self) -> None:
        self.add_view(PressView(self.log))

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or not isinstance(message.channel, discord.Thread):
            return
        self.log.append(("message", message.content))
        await message.channel.send(f"echo: {message.content} @everyone")


async def sync_to_guild(bot: SelfTestBot, world: dict[str, Any]) -> list[app_commands.AppCommand]:
    guild = discord.Object(int(world["guild"]["id"]))
    bot.tree.copy_global_to(guild=guild)
    return await bot.tree.sync(guild=guild)


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord(token=TOKEN) as f:
        yield f


@pytest.fixture
def world(fake: FakeDiscord) -> dict[str, Any]:
    guild = fake.add_guild("Metro PD")
    channel = fake.add_text_channel(guild, "practice")
    role = fake.add_role(guild, "Instructor")
    alice = fake.add_member(guild, "alice", roles=[role])
    bob = fake.add_member(guild, "bob")
    return {"guild": guild, "channel": channel, "role": role, "alice": alice, "bob": bob}


@contextlib.asynccontextmanager
async def running_bot(fake: FakeDiscord) -> AsyncIterator[SelfTestBot]:
    with fake.patch_discord():
        b = SelfTestBot()
        async with b:
            task = asyncio.create_task(b.start(TOKEN))
            try:
                await asyncio.wait_for(b.wait_until_ready(), 10)
                yield b
            finally:
                await b.close()
                await asyncio.wait_for(task, 10)


@pytest.fixture
async def bot(fake: FakeDiscord, world: dict[str, Any]) -> AsyncIterator[SelfTestBot]:
    async with running_bot(fake) as b:
        yield b
    assert fake.unknown_routes == []


async def test_ready_guild_create_and_permissions(fake: FakeDiscord, world: dict[str, Any], bot: SelfTestBot) -> None:
    guild = bot.get_guild(int(world["guild"]["id"]))
    assert guild is not None and guild.name == "Metro PD"
    assert guild.get_channel(int(world["channel"]["id"])) is not None
    assert guild.me.guild_permissions.administrator
    alice = guild.get_member(int(world["alice"]["user"]["id"]))
    assert alice is not None and [r.name for r in alice.roles] == ["@everyone", "Instructor"]
    assert bot.user is not None and str(bot.user.id) == fake.application_id
    # discord.py asks for compression; uncompressed text frames work regardless.
    assert fake.gateway_queries[0]["compress"] in ("zlib-stream", "zstd-stream")
    assert fake.intents is not None and fake.intents & (1 << 15)


async def test_sync_ping_is_ephemeral(fake: FakeDiscord, world: dict[str, Any], bot: SelfTestBot) -> None:
    synced = await sync_to_guild(bot, world)
    assert {c.name for c in synced} == {"ping", "grp", "slow", "note", "admin"}
    cmds = await fake.wait_for_commands(world["guild"], timeout=1)
    grp = next(c for c in cmds if c["name"] == "grp")
    assert grp["options"][0]["type"] == 1 and grp["options"][0]["name"] == "sub"

    rec = await fake.invoke_slash(world["channel"], world["alice"], "ping")
    assert rec.response_type == 4
    assert rec.data["flags"] & 64 and rec.ephemeral
    assert rec.content == "pong"
    assert fake.messages(world["channel"]) == []  # ephemeral: not in channel history


async def test_group_subcommand_option_and_autocomplete(fake: FakeDiscord, world: dict[str, Any],
                                                        bot: SelfTestBot) -> None:
    await sync_to_guild(bot, world)
    choices = await fake.autocomplete(world["channel"], world["alice"], "grp", subcommand="sub",
                                      focused="scenario", options={"scenario": "stop"})
    assert choices == [{"name": "traffic_stop", "value": "traffic_stop"}]

    rec = await fake.invoke_slash(world["channel"], world["alice"], "grp", subcommand="sub",
                                  options={"scenario": "traffic_stop", "count": 2})
    assert ("sub", "traffic_stop", 2) in bot.log
    assert rec.response_type == 4 and not rec.ephemeral
    # a public response is a real channel message, dispatched back to the bot too
    stored = fake.messages(world["channel"])
    assert [m["content"] for m in stored] == ["started traffic_stop x2"]
    assert stored[0]["type"] == 20 and stored[0]["interaction_metadata"]["id"] == rec.id

    with pytest.raises(ValueError, match="unknown option"):
        await fake.invoke_slash(world["channel"], world["alice"], "grp", subcommand="sub",
                                options={"scenario": "x", "nope": 1})


async def test_deferred_followup_and_modal(fake: FakeDiscord, world: dict[str, Any], bot: SelfTestBot) -> None:
    await sync_to_guild(bot, world)
    rec = await fake.invoke_slash(world["channel"], world["alice"], "slow")
    assert rec.response_type == 5
    reply = await fake.wait_for_reply(rec)
    assert reply["content"] == "done slowly" and reply["flags"] & 64

    rec = await fake.invoke_slash(world["channel"], world["alice"], "note")
    assert rec.response_type == 9 and rec.data["custom_id"] == "selftest:modal"
    sub = await fake.submit_modal(world["channel"], world["alice"], "selftest:modal", {"note": "hello"},
                                  modal_from=rec)
    assert sub.content == "noted hello"
    assert ("modal", "hello") in bot.log


async def test_private_thread_messages_echo_and_history(fake: FakeDiscord, world: dict[str, Any],
                                                        bot: SelfTestBot) -> None:
    channel = bot.get_channel(int(world["channel"]["id"]))
    assert isinstance(channel, discord.TextChannel)
    thread = await channel.create_thread(name="rp-alice", type=discord.ChannelType.private_thread)
    await thread.add_user(discord.Object(int(world["alice"]["user"]["id"])))

    [stored] = fake.threads(world["guild"])
    assert stored["type"] == 12 and stored["parent_id"] == world["channel"]["id"]
    assert stored["owner_id"] == fake.bot_user["id"]
    assert world["alice"]["user"]["id"] in fake.thread_member_ids(stored)
    await fake.wait_until(lambda: bot.get_channel(thread.id) is not None, timeout=2, what="thread cached")

    # bob is not in the private thread: he cannot write there
    with pytest.raises(PermissionError):
        await fake.user_message(stored, world["bob"], "hi")

    first = await fake.user_message(stored, world["alice"], "Good evening, ma'am")
    echo = await fake.wait_for_message(stored, lambda m: m["content"].startswith("echo:"))
    assert echo["content"] == "echo: Good evening, ma'am @everyone"
    # the bot's default AllowedMentions.none() is recorded and honoured
    assert fake.allowed_mentions(echo) == {"parse": []}
    assert echo["mention_everyone"] is False and echo["mention_roles"] == []

    second = await fake.user_message(stored, world["alice"], "May I see your licence?")
    await fake.wait_for_message(stored, lambda m: "licence" in m["content"], after=second)

    fetched = [m async for m in thread.history(after=discord.Object(int(first["id"])), oldest_first=True)]
    assert [m.content for m in fetched] == [
        "echo: Good evening, ma'am @everyone",
        "May I see your licence?",
        "echo: May I see your licence? @everyone",
    ]
    assert fetched[1].author.id == int(world["alice"]["user"]["id"])

    await thread.edit(archived=True, locked=True)
    assert stored["thread_metadata"]["archived"] and stored["thread_metadata"]["locked"]


async def test_persistent_button(fake: FakeDiscord, world: dict[str, Any], bot: SelfTestBot) -> None:
    channel = bot.get_channel(int(world["channel"]["id"]))
    assert isinstance(channel, discord.TextChannel)
    sent = await channel.send("Press below", view=PressView(bot.log))
    msg = fake.find_message(sent.id)
    assert msg is not None and msg["components"][0]["components"][0]["custom_id"] == "selftest:press"
    rec = await fake.click_button(msg, world["alice"], "selftest:press")
    assert rec.content == "pressed" and rec.ephemeral
    assert ("press", int(world["alice"]["user"]["id"])) in bot.log
    with pytest.raises(LookupError):
        await fake.click_button(msg, world["alice"], "nope")


async def test_resume_replays_missed_events(fake: FakeDiscord, world: dict[str, Any], bot: SelfTestBot) -> None:
    channel = bot.get_channel(int(world["channel"]["id"]))
    assert isinstance(channel, discord.TextChannel)
    thread = await channel.create_thread(name="rp", type=discord.ChannelType.private_thread)
    await thread.add_user(discord.Object(int(world["alice"]["user"]["id"])))
    await fake.disconnect_bot()
    # written while the bot is disconnected: replayed on RESUME
    await fake.user_message(thread, world["alice"], "are you there?")
    await fake.wait_until(lambda: fake.resume_count == 1, timeout=5, what="RESUME")
    echo = await fake.wait_for_message(thread, lambda m: m["content"].startswith("echo: are you"))
    assert echo is not None and fake.identify_count == 1


async def test_rate_limit_is_retried(fake: FakeDiscord, world: dict[str, Any], bot: SelfTestBot) -> None:
    channel = bot.get_channel(int(world["channel"]["id"]))
    assert isinstance(channel, discord.TextChannel)
    fake.fail_next("POST", r"^/channels/\d+/messages$", status=429, retry_after=0.05)
    await channel.send("after a 429")
    assert [r.status for r in fake.requests_to("POST", r"/messages$")] == [429, 200]
    fake.fail_next("POST", r"^/channels/\d+/messages$", status=403, body={"message": "Missing Permissions",
                                                                        "code": 50013})
    with pytest.raises(discord.Forbidden):
        await channel.send("forbidden")


async def test_cloudflare_429_is_not_retried_by_discord_py(fake: FakeDiscord, world: dict[str, Any], bot: SelfTestBot) -> None:
    channel = bot.get_channel(int(world["channel"]["id"]))
    assert isinstance(channel, discord.TextChannel)
    fake.fail_next("POST", r"^/channels/\d+/messages$", status=429, via=False)
    with pytest.raises(discord.HTTPException) as refused:
        await channel.send("banned for a while")
    assert refused.value.status == 429 and fake.messages(channel) == []


async def test_a_failure_after_the_fact_and_the_nonce(fake: FakeDiscord, world: dict[str, Any], bot: SelfTestBot) -> None:
    channel = bot.get_channel(int(world["channel"]["id"]))
    assert isinstance(channel, discord.TextChannel)
    fake.fail_next("POST", r"^/channels/\d+/messages$", status=503, apply=True)  # 503: discord.py does not retry
    with pytest.raises(discord.DiscordServerError):
        await channel.send("posted anyway", nonce="n1")
    assert [m["content"] for m in fake.messages(channel)] == ["posted anyway"]
    again = await channel.send("posted anyway", nonce="n1")  # Discord returns the message it has
    assert str(again.id) == fake.messages(channel)[0]["id"] and len(fake.messages(channel)) == 1


async def test_hold_keeps_a_request_waiting(fake: FakeDiscord, world: dict[str, Any], bot: SelfTestBot) -> None:
    channel = bot.get_channel(int(world["channel"]["id"]))
    assert isinstance(channel, discord.TextChannel)
    hold = fake.hold_next("POST", r"^/channels/\d+/messages$", apply=True, when=lambda rec: (rec.json or {}).get("content") == "b")
    await channel.send("a")  # not matched: goes through
    sending = asyncio.ensure_future(channel.send("b"))
    await hold.wait(timeout=5)
    assert [m["content"] for m in fake.messages(channel)] == ["a", "b"] and not sending.done()  # done, not answered
    hold.release()
    assert (await sending).content == "b"


async def test_a_gap_that_cannot_be_resumed_replays_nothing(fake: FakeDiscord, world: dict[str, Any], bot: SelfTestBot) -> None:
    channel = bot.get_channel(int(world["channel"]["id"]))
    assert isinstance(channel, discord.TextChannel)
    thread = await channel.create_thread(name="rp", type=discord.ChannelType.private_thread)
    await thread.add_user(discord.Object(int(world["alice"]["user"]["id"])))
    fake.pause_gateway()
    await fake.disconnect_bot(4009, resumable=False)
    await fake.wait_until(lambda: not fake.connected, timeout=5, what="the disconnection")
    await fake.user_message(thread, world["alice"], "lost in the gap")
    fake.resume_gateway()
    await fake.wait_for_bot_ready(timeout=20, identifies=2)  # RESUME refused (op 9), then a new IDENTIFY
    await fake.user_message(thread, world["alice"], "after the gap")
    await fake.wait_for_message(thread, lambda m: m["content"].startswith("echo: after the gap"))
    assert ("message", "lost in the gap") not in bot.log


async def test_default_permissions_gate(fake: FakeDiscord, world: dict[str, Any], bot: SelfTestBot) -> None:
    await sync_to_guild(bot, world)
    with pytest.raises(PermissionError):
        await fake.invoke_slash(world["channel"], world["bob"], "admin")
    owner = world["guild"]["owner_id"]
    rec = await fake.invoke_slash(world["channel"], owner, "admin")
    assert rec.content == "admin ok"


async def test_restart_sees_threads_and_catches_up(fake: FakeDiscord, world: dict[str, Any]) -> None:
    async with running_bot(fake) as bot1:
        channel = bot1.get_channel(int(world["channel"]["id"]))
        assert isinstance(channel, discord.TextChannel)
        thread = await channel.create_thread(name="rp", type=discord.ChannelType.private_thread)
        await thread.add_user(discord.Object(int(world["alice"]["user"]["id"])))
        last_seen = await fake.user_message(thread, world["alice"], "first")
        await fake.wait_for_message(thread, lambda m: m["content"] == "echo: first @everyone")
    missed = await fake.user_message(thread, world["alice"], "while you were away")
    assert not fake.connected
    async with running_bot(fake) as bot2:
        assert fake.identify_count == 2
        t2 = bot2.get_channel(thread.id)
        assert isinstance(t2, discord.Thread) and t2.me is not None
        got = [m async for m in t2.history(after=discord.Object(int(last_seen["id"])), oldest_first=True)]
        assert got[-1].id == int(missed["id"])
    assert fake.unknown_routes == []


async def test_unknown_route_is_404_json(fake: FakeDiscord) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as s:
        async with s.get(f"{fake.api_base}/nope/123", headers={"Authorization": f"Bot {TOKEN}"}) as r:
            assert r.status == 404
            assert r.headers["Content-Type"] == "application/json"
            assert await r.json() == {"message": "Unknown route", "code": 0}
    assert fake.unknown_routes == ["GET /nope/123"]


async def test_bot_in_subprocess(fake: FakeDiscord, world: dict[str, Any]) -> None:
    env = {**os.environ, **fake.env(), "PYTHONPATH": str(HERE.parents[1])}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "subprocess_bot.py"), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        await fake.wait_for_bot_ready(timeout=20)
        cmds = await fake.wait_for_commands(world["guild"], timeout=10)
        assert [c["name"] for c in cmds] == ["hello"]
        rec = await fake.invoke_slash(world["channel"], world["bob"], "hello")
        assert rec.content == "hello bob" and rec.ephemeral
        await fake.user_message(world["channel"], world["bob"], "!quit")
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
        out, err = await proc.communicate()
    assert b"Traceback" not in err, err.decode()
    assert fake.unknown_routes == []


async def test_privileged_intent_refused_with_4014() -> None:
    async with FakeDiscord(token=TOKEN, allowed_privileged_intents=0) as fake:
        with fake.patch_discord():
            b = SelfTestBot()
            async with b:
                with pytest.raises(discord.PrivilegedIntentsRequired):
                    await asyncio.wait_for(b.start(TOKEN), 10)
