"""Example suite: a toy bot driven through simcord the way Discord would drive it.

The toy bot mirrors the shapes the real bot uses (DESIGN.md section 6): a
``commands.Bot`` subclass, a cog loaded in ``setup_hook``, slash commands and a
group with autocomplete, a role-gated command answered ephemerally, a private
thread per role-play, ``on_message`` that only listens to the thread's trainee,
a persistent view re-added on start, a default ``AllowedMentions`` that never
pings everyone or roles, a ``discord.ext.tasks`` idle sweep, and a catch-up
pass after a restart. The "database" is a plain dict shared between bot
instances so that restarts can be tested.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import discord
import pytest
import simcord
from discord import app_commands
from discord.ext import commands, tasks

from tests.discord import simharness as sh

SCENARIOS = ["traffic-stop", "burglary-victim", "angry-neighbour", "front-desk", "traffic-collision"]
IDLE_LIMIT = dt.timedelta(minutes=10)


# --------------------------------------------------------------------- toy bot


class EndButtonView(discord.ui.View):
    """Persistent view: timeout=None and a fixed custom_id, re-added in setup_hook."""

    def __init__(self, bot: ToyBot) -> None:
        super().__init__(timeout=None)
        self.bot = bot

    @discord.ui.button(label="End scene", style=discord.ButtonStyle.danger, custom_id="toy:end")
    async def end(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        session = self.bot.store["sessions"].pop(interaction.channel_id, None)
        if session is None:
            await interaction.response.send_message("No scene is running here.", ephemeral=True)
            return
        await interaction.response.send_message("Scene ended.", ephemeral=True)
        await interaction.channel.send(f"Scene ended by {interaction.user.mention}.")


class KudosButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"toy:kudos:(?P<uid>\d+)"):
    """DynamicItem: the custom_id carries state, so it survives restarts without a store."""

    def __init__(self, uid: int) -> None:
        super().__init__(discord.ui.Button(label="Kudos", custom_id=f"toy:kudos:{uid}"))
        self.uid = uid

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str], /
    ) -> KudosButton:
        return cls(int(match["uid"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"Kudos sent to <@{self.uid}>!")


class ToyCog(commands.Cog):
    grp = app_commands.Group(name="grp", description="Instructor tools")

    def __init__(self, bot: ToyBot) -> None:
        self.bot = bot

    @app_commands.command(name="ping", description="Health check")
    async def ping(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("pong", ephemeral=True)

    @grp.command(name="run", description="Run a scenario")
    @app_commands.describe(scenario="Scenario id")
    @app_commands.checks.has_role("Instructor")
    async def grp_run(self, interaction: discord.Interaction, scenario: str) -> None:
        await interaction.response.send_message(f"Running {scenario}", ephemeral=True)

    @grp_run.autocomplete("scenario")
    async def grp_run_scenario(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return [app_commands.Choice(name=s, value=s) for s in SCENARIOS if current.lower() in s][:25]

    @app_commands.command(name="audit", description="Instructor-only via default_permissions")
    @app_commands.default_permissions(manage_guild=True)
    async def audit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message("audit ok", ephemeral=True)

    @app_commands.command(name="practice", description="Start a role-play in a private thread")
    async def practice(self, interaction: discord.Interaction) -> None:
        assert isinstance(interaction.channel, discord.TextChannel)
        thread = await interaction.channel.create_thread(
            name=f"practice-{interaction.user.name}", type=discord.ChannelType.private_thread, invitable=False
        )
        await thread.add_user(interaction.user)
        embed = discord.Embed(title="Traffic stop", description="A tired driver waits.")
        view = EndButtonView(self.bot)
        view.add_item(KudosButton(interaction.user.id))
        opening = await thread.send(embed=embed, view=view)
        self.bot.store["sessions"][thread.id] = {
            "trainee": interaction.user.id,
            "last_seen": opening.id,
            "last_activity": discord.utils.utcnow(),
        }
        await interaction.response.send_message(f"Your scene is in {thread.mention}", ephemeral=True)

    async def cog_app_command_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.MissingRole):
            await interaction.response.send_message("Only instructors can do that.", ephemeral=True)

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        await self.bot.handle_turn(message)


class ToyBot(commands.Bot):
    def __init__(self, store: dict[str, Any], *, allowed_mentions: discord.AllowedMentions | None = None) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(
            command_prefix=commands.when_mentioned,
            intents=intents,
            allowed_mentions=allowed_mentions or discord.AllowedMentions(everyone=False, roles=False, users=True),
        )
        self.store = store
        store.setdefault("sessions", {})
        store.setdefault("boots", 0)

    async def setup_hook(self) -> None:
        self.store["boots"] += 1
        await self.add_cog(ToyCog(self))
        self.add_view(EndButtonView(self))
        self.add_dynamic_items(KudosButton)
        self.idle_sweep.start()
        # DESIGN says "sync on demand": in tests simcord needs the commands synced
        # (strict_sync=True), so the bot factory syncs explicitly, see make_bot().

    async def on_ready(self) -> None:
        await self.catch_up()

    async def handle_turn(self, message: discord.Message) -> None:
        session = self.store["sessions"].get(message.channel.id)
        if session is None or message.author.id != session["trainee"]:
            return
        session["last_seen"] = message.id
        session["last_activity"] = discord.utils.utcnow()
        await message.channel.send(f"Resident: you said {message.content}")

    async def catch_up(self) -> None:
        for thread_id, session in list(self.store["sessions"].items()):
            thread = self.get_channel(thread_id) or await self.fetch_channel(thread_id)
            async for message in thread.history(after=discord.Object(session["last_seen"]), oldest_first=True):
                await self.handle_turn(message)

    @tasks.loop(minutes=1)
    async def idle_sweep(self) -> None:
        now = discord.utils.utcnow()
        for thread_id, session in list(self.store["sessions"].items()):
            if now - session["last_activity"] >= IDLE_LIMIT:
                del self.store["sessions"][thread_id]
                channel = self.get_channel(thread_id)
                if channel is not None:
                    await channel.send("Scene closed after 10 minutes without activity.")

    @idle_sweep.before_loop
    async def _before_idle_sweep(self) -> None:
        await self.wait_until_ready()


class SyncingToyBot(ToyBot):
    async def setup_hook(self) -> None:
        await super().setup_hook()
        await self.tree.sync()


# -------------------------------------------------------------------- fixtures


@pytest.fixture
def store() -> dict[str, Any]:
    return {}


@pytest.fixture
def make_bot(store):
    return lambda: SyncingToyBot(store)


@pytest.fixture
def simcord_bot(make_bot):
    """Consumed by simcord's pytest plugin to build ``simcord_env``."""
    return make_bot()


@pytest.fixture
def world(simcord_env) -> sh.World:
    return sh.build_world(simcord_env, instructor_permissions=discord.Permissions(manage_guild=True, manage_threads=True))


async def start_scene(world: sh.World) -> simcord.ChannelHandle:
    result = await world.slash(world.trainee, "practice")
    assert result.ephemeral
    (thread,) = sh.new_threads(world.env, world.practice, private=True)
    return thread


# ----------------------------------------------------------------------- tests


async def test_ping_is_ephemeral(world):
    result = await world.slash(world.trainee, "ping")
    assert result.acknowledged and not result.deferred
    assert result.ephemeral
    assert result.response.content == "pong"
    # Ephemeral responses are stored in the channel but visible only to the invoker.
    assert [m.content for m in world.practice.history(viewer=world.instructor)] == []
    assert [m.content for m in world.practice.history(viewer=world.trainee)] == ["pong"]


async def test_available_commands_lists_subcommand_paths(world):
    assert set(world.trainee.available_commands(world.practice)) == {"ping", "grp run", "practice"}
    assert "audit" in world.instructor.available_commands(world.practice)


async def test_group_subcommand_with_option_as_instructor(world):
    result = await world.slash(world.instructor, "grp run", scenario="front-desk")
    assert result.ephemeral
    assert result.response.content == "Running front-desk"


async def test_autocomplete_offers_filtered_choices(world):
    choices = await world.instructor.autocomplete(world.practice, "grp run", "scenario", "traffic")
    assert choices == [
        {"name": "traffic-stop", "value": "traffic-stop"},
        {"name": "traffic-collision", "value": "traffic-collision"},
    ]


async def test_role_check_refuses_trainee_ephemerally(world):
    result = await world.slash(world.trainee, "grp run", scenario="front-desk")
    assert result.ephemeral
    assert result.response.content == "Only instructors can do that."
    # discord.py always forwards a failed check to CommandTree.on_error, which
    # simcord records; acknowledge it or teardown fails the test.
    simcord.assert_error(world.env, app_commands.MissingRole)


async def test_default_permissions_hide_command_from_trainee(world):
    with pytest.raises(simcord.SetupError, match="not visible"):
        await world.slash(world.trainee, "audit")
    result = await world.slash(world.instructor, "audit")
    assert result.response.content == "audit ok"


async def test_practice_creates_private_thread_with_invoker_and_embed(world):
    result = await world.slash(world.trainee, "practice")
    (thread,) = sh.new_threads(world.env, world.practice, private=True)
    assert result.response.content == f"Your scene is in {thread.mention}"
    assert sh.thread_member_ids(world.env, thread) >= {world.trainee.id}
    (opening,) = sh.bot_messages(world.env, thread)
    assert opening.embeds[0].title == "Traffic stop"
    custom_ids = [c.custom_id for row in opening.components for c in row.children]
    assert custom_ids == ["toy:end", f"toy:kudos:{world.trainee.id}"]
    # A member outside the private thread cannot post there (real 403 from the fake API).
    outsider = world.member("olga")
    with pytest.raises(simcord.BackendError, match="50001"):
        await outsider.send(thread, "hello?")


async def test_on_message_replies_only_to_the_trainee(world):
    thread = await start_scene(world)
    replies = await world.say(world.trainee, thread, "Good evening, I'm Officer Tom.")
    assert [m.content for m in replies] == ["Resident: you said Good evening, I'm Officer Tom."]
    # The instructor is not a thread member but has manage_threads, which lets
    # them see and post in private threads (simcord models this). The bot ignores them.
    assert world.instructor.id not in sh.thread_member_ids(world.env, thread)
    assert await world.say(world.instructor, thread, "Nice opening.") == []


async def test_allowed_mentions_never_ping_everyone(world):
    thread = await start_scene(world)
    (reply,) = await world.say(world.trainee, thread, "@everyone look at this")
    assert reply.content == "Resident: you said @everyone look at this"
    assert reply.mention_everyone is False
    assert sh.message_posts(world.env, thread)[-1]["allowed_mentions"] == {"parse": ["users"], "replied_user": True}


async def test_allowed_mentions_control_all_pings_everyone(store):
    """Control for the test above: simcord does compute pings from allowed_mentions.

    Uses ``simcord.run`` directly (no ``simcord_env``) with a differently built
    bot; ``strict_sync=False`` auto-registers the never-synced commands.
    """
    bot = ToyBot(store, allowed_mentions=discord.AllowedMentions.all())
    async with simcord.run(bot, strict_sync=False) as env:
        world = sh.build_world(env)
        thread = await start_scene(world)
        (reply,) = await world.say(world.trainee, thread, "@everyone look")
        assert reply.mention_everyone is True


async def test_persistent_view_button_works_after_restart(world, make_bot, store):
    thread = await start_scene(world)
    (opening,) = sh.bot_messages(world.env, thread)
    first_bot = world.bot
    await sh.restart(world.env, make_bot)
    assert world.bot is not first_bot and store["boots"] == 2
    result = await world.trainee.click(opening, custom_id="toy:end")
    assert result.ephemeral and result.response.content == "Scene ended."
    assert thread.last_message.content == f"Scene ended by {world.trainee.mention}."
    assert store["sessions"] == {}


async def test_dynamic_item_button_after_restart(world, make_bot):
    thread = await start_scene(world)
    (opening,) = sh.bot_messages(world.env, thread)
    await sh.restart(world.env, make_bot)
    result = await world.instructor.click(opening, label="Kudos")
    assert not result.ephemeral
    assert result.response.content == f"Kudos sent to <@{world.trainee.id}>!"


async def test_catch_up_on_messages_written_while_down(world, make_bot):
    thread = await start_scene(world)
    async with sh.downtime(world.env, make_bot):
        await world.trainee.send(thread, "Are you still there?")
        await world.instructor.send(thread, "(observer note)")
    contents = [m.content for m in thread.history()]
    assert contents[-3:] == ["Are you still there?", "(observer note)", "Resident: you said Are you still there?"]


async def test_idle_sweep_closes_scene_with_virtual_time(world, store):
    thread = await start_scene(world)
    start = world.env.now()
    await world.env.advance_time(9 * 60)
    assert thread.id in store["sessions"]
    await world.env.advance_time(60)
    assert world.env.now() - start == IDLE_LIMIT
    assert thread.id not in store["sessions"]
    assert thread.last_message.content == "Scene closed after 10 minutes without activity."
