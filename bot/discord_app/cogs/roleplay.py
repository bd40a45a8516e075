"""Role-plays in private threads: the Discord side of the session service.

Commands and events become calls of the service; the service plays, stores and sends.
What stays here is Discord's own business: who is an instructor, where threads go,
creating a thread (and deleting it, or an empty one left by a failed start).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import discord
from discord import app_commands
from discord.ext import commands, tasks

from bot.discord_app import embeds
from bot.discord_app.checks import is_instructor, refuse
from bot.engine.scenario import RANDOM_PERSONA, Scenario
from bot.errors import AlreadyPlaying, SessionError, StoreError, TrainerError
from bot.sessions import Trainee

if TYPE_CHECKING:
    from bot.discord_app.client import TrainerBot

log = logging.getLogger("trainer.discord.roleplay")

IDLE_CHECK_SECONDS = 15
BUSY = "The training records are busy right now, so nothing was started; please try again in a minute."


class RolePlayCog(commands.Cog):
    roleplay = app_commands.Group(name="roleplay", description="Practise a conversation with a resident", guild_only=True)
    scenario = app_commands.Group(name="scenario", description="Role-play scenarios", guild_only=True)

    def __init__(self, bot: TrainerBot) -> None:
        self.bot = bot
        self.service = bot.sessions

    async def cog_load(self) -> None:
        self.idle_check.start()

    async def cog_unload(self) -> None:
        self.idle_check.cancel()

    # -- connection --
    @commands.Cog.listener()
    async def on_ready(self) -> None:
        await self.connected()

    @commands.Cog.listener()
    async def on_resumed(self) -> None:
        await self.connected()

    @commands.Cog.listener()
    async def on_disconnect(self) -> None:
        # Until the next connection nothing trainees write is heard: no idle handling, and
        # the first line heard after it waits for those written in between.
        self.service.on_disconnected()

    async def connected(self) -> None:
        """On every (re)connection: sessions reloaded, their threads caught up, sending resumed."""
        try:
            await self.service.on_connected()
        except TrainerError as exc:
            log.warning("could not reload sessions yet (%s); the idle loop tries again", exc)
        except Exception:
            log.exception("reloading sessions failed; the idle loop tries again")
        for guild in self.bot.guilds:
            await self.sweep_empty_threads(guild)

    # -- commands --
    @roleplay.command(name="start")
    @app_commands.describe(
        scenario="Which scenario to play",
        trainee="Instructors: the member who will play (default: you)",
        mode="practice (hints allowed) or assessment",
        persona="The resident's variant (e.g. anxious, angry); 'random' to be surprised; default: the scenario's first",
    )
    async def start(
        self,
        interaction: discord.Interaction,
        scenario: str,
        trainee: discord.Member | None = None,
        mode: Literal["practice", "assessment"] = "practice",
        persona: str | None = None,
    ) -> None:
        """Start a role-play in a private thread."""
        settings = self.bot.settings
        user = interaction.user
        instructor = is_instructor(user, settings)
        if trainee is not None and trainee.id != user.id and not instructor:
            return await refuse(interaction, "Only instructors can start a role-play for someone else.")
        if (trainee is None or trainee.id == user.id) and not instructor and not settings.allow_self_practice:
            return await refuse(interaction, "Self-practice is turned off here; ask an instructor to start a role-play for you.")
        if mode == "assessment" and not instructor:
            return await refuse(interaction, "Only instructors can start an assessment.")
        player = trainee or user
        if not isinstance(player, discord.Member) or interaction.guild is None:
            return await refuse(interaction, "Role-plays run in a server channel.")
        if player.bot:
            return await refuse(interaction, "A bot cannot be a trainee.")
        if interaction.channel_id is not None and self.service.session_in(interaction.channel_id) is not None:
            return await refuse(interaction, "This thread already holds a role-play; start another one from the practice channel.")
        try:
            chosen = self.bot.library.get(scenario)
        except TrainerError as exc:
            return await refuse(interaction, str(exc))
        if persona is not None and persona != RANDOM_PERSONA and chosen.persona(persona) is None:
            known = ", ".join(p.name for p in chosen.personas)
            return await refuse(interaction, f"{chosen.title} has no persona '{persona}'" + (f" (it has: {known}, or random)." if known else "."))
        if persona is not None and not chosen.personas:
            persona = None  # "surprise me" on a scenario with one resident: nothing to pick
        channel = self.practice_channel(interaction)
        if channel is None:
            return await refuse(interaction, "Use this command in a text channel (threads are created there).")
        await interaction.response.defer(ephemeral=True, thinking=True)  # what follows reads and writes
        async with self.service.guild_lock(interaction.guild.id):
            try:
                await self.service.check_free(interaction.guild.id, player.id)
            except AlreadyPlaying as exc:
                where = f": <#{exc.thread_id}>" if exc.thread_id else ""
                return await refuse(interaction, f"{player.display_name} already has a role-play in progress{where}. End it first with /roleplay end.")
            except StoreError:
                return await refuse(interaction, BUSY)
            thread = await self.open_thread(channel, chosen, player)
            try:
                started = await self.service.start(
                    chosen, Trainee(player.display_name, player.id), mode=mode, guild_id=interaction.guild.id,
                    channel_id=thread.id, parent_id=channel.id, persona=persona,
                )
            except BaseException as exc:
                await self.delete_thread(thread, "its session could not be saved")
                if isinstance(exc, StoreError):
                    return await refuse(interaction, BUSY)
                raise
            # A thread Discord made twice (it failed the first request after making the thread) is empty.
            await self.sweep_empty_threads(interaction.guild, locked=True)
        if player.id != user.id:
            await self.note_instructor(started.row.id, user, interaction.guild.id)
        # The instructor who starts a role-play for someone can watch it (without moving the scene).
        for person in {player, interaction.user} if instructor else {player}:
            try:
                await thread.add_user(person)
            except discord.HTTPException as exc:  # the briefing's mention also brings the trainee in, on Discord
                log.warning("could not add %s to thread %d: %s", person.id, thread.id, exc)
        await interaction.followup.send(f"Role-play started in {thread.mention}.", ephemeral=True)

    async def note_instructor(self, session_id: int, instructor: discord.abc.User, guild_id: int) -> None:
        """Training records name the instructor who started a role-play for a trainee."""
        try:
            member = await self.bot.store.ensure_member(instructor.display_name, guild_id=guild_id, discord_id=instructor.id, role="instructor")
            await self.bot.store.set_session_instructor(session_id, member.id)
        except StoreError as exc:  # the role-play goes on; only its record lacks the instructor's name
            log.warning("session %d: could not record its instructor: %s", session_id, exc)

    async def open_thread(self, channel: discord.TextChannel, chosen: Scenario, player: discord.Member) -> discord.Thread:
        """A private thread for the session. When Discord fails in a way that may still have made
        one (a 5xx, which discord.py retries), the empty ones are swept (the caller holds the
        server's start lock, so no other session is being set up)."""
        try:
            return await channel.create_thread(
                name=embeds.clip(f"{chosen.title} \u2014 {player.display_name}", 100),
                type=discord.ChannelType.private_thread,
                invitable=False,
                auto_archive_duration=1440,
            )
        except discord.HTTPException:
            await self.sweep_empty_threads(channel.guild, locked=True)
            raise

    async def sweep_empty_threads(self, guild: discord.Guild, *, locked: bool = False, keep: int | None = None) -> None:
        """Delete the bot's private threads that hold no session and no message: what a start
        that failed half-way (or a duplicated create) leaves behind."""
        if not locked:
            async with self.service.guild_lock(guild.id):
                return await self.sweep_empty_threads(guild, locked=True, keep=keep)
        me = self.bot.user.id if self.bot.user else None
        for thread in list(guild.threads):
            if thread.owner_id != me or thread.id == keep or thread.last_message_id is not None:
                continue
            if self.service.session_in(thread.id) is not None:
                continue
            try:
                if await self.bot.store.session_by_thread(thread.id) is not None:
                    continue
            except StoreError as exc:
                log.warning("cannot check thread %d: %s", thread.id, exc)
                continue
            await self.delete_thread(thread, "it is empty and holds no session")

    async def delete_thread(self, thread: discord.Thread, why: str) -> None:
        try:
            await thread.delete()
            log.info("deleted thread %d: %s", thread.id, why)
        except discord.HTTPException as exc:
            log.warning("could not delete thread %d (%s): %s", thread.id, why, exc)

    @start.autocomplete("scenario")
    async def scenario_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        needle = current.lower()
        return [
            app_commands.Choice(name=embeds.clip(f"{s.title} ({s.id})", 100), value=s.id)
            for s in self.bot.library.scenarios.values()
            if needle in s.id.lower() or needle in s.title.lower()
        ][:25]

    @start.autocomplete("persona")
    async def persona_autocomplete(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        chosen = self.bot.library.scenarios.get(str(getattr(interaction.namespace, "scenario", "") or ""))
        variants = [(p.name, f"{p.label} ({p.name})") for p in chosen.personas] if chosen is not None else []
        if variants:
            variants.append((RANDOM_PERSONA, "Surprise me (random)"))
        needle = current.lower()
        return [app_commands.Choice(name=embeds.clip(label, 100), value=name) for name, label in variants if needle in label.lower()][:25]

    @roleplay.command(name="end")
    async def end(self, interaction: discord.Interaction) -> None:
        """End the role-play in this thread and get feedback."""
        await self.end_session(interaction, interaction.channel_id or 0)

    @roleplay.command(name="hint")
    async def hint(self, interaction: discord.Interaction) -> None:
        """A coaching hint for this role-play (practice mode only)."""
        await self.give_hint(interaction, interaction.channel_id or 0)

    @scenario.command(name="list")
    async def list_scenarios(self, interaction: discord.Interaction) -> None:
        """The scenarios you can play."""
        lines = [f"**{s.id}** \u2014 {s.title}" for s in sorted(self.bot.library.scenarios.values(), key=lambda s: s.id)]
        await interaction.response.send_message(embeds.clip("\n".join(lines), 2000) or "No scenarios are installed.", ephemeral=True)

    # -- shared by commands and buttons --
    async def end_session(self, interaction: discord.Interaction, thread_id: int) -> None:
        instructor = is_instructor(interaction.user, self.bot.settings)
        try:
            self.service.check_end(thread_id, by=interaction.user.id, by_instructor=instructor)
        except SessionError as exc:
            return await refuse(interaction, str(exc))
        await interaction.response.send_message("Ending the role-play\u2026", ephemeral=True)
        try:
            await self.service.end(thread_id, by=interaction.user.id, by_instructor=instructor)
        except SessionError:
            pass  # it ended meanwhile (its last line, or the other button)
        except StoreError:
            await refuse(interaction, "The training records are busy, so the role-play is still going; please try again in a minute.")

    async def give_hint(self, interaction: discord.Interaction, thread_id: int) -> None:
        try:
            text = self.service.hint(thread_id, by=interaction.user.id, by_instructor=is_instructor(interaction.user, self.bot.settings))
        except SessionError as exc:
            return await refuse(interaction, str(exc))
        await interaction.response.send_message(text, ephemeral=True)

    def practice_channel(self, interaction: discord.Interaction) -> discord.TextChannel | None:
        configured = self.bot.settings.practice_channel_in(interaction.guild_id)
        if configured and interaction.guild is not None:
            channel = interaction.guild.get_channel(configured)
            if isinstance(channel, discord.TextChannel):
                return channel
        return interaction.channel if isinstance(interaction.channel, discord.TextChannel) else None

    # -- the scene itself --
    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or message.guild is None:
            return
        await self.service.handle_message(
            message.channel.id, message.author.id, message.content, str(message.id), message.created_at.timestamp(),
        )

    # -- idle sessions, and retries of what failed --
    @tasks.loop(seconds=IDLE_CHECK_SECONDS)
    async def idle_check(self) -> None:
        await self.service.tick()

    @idle_check.before_loop
    async def before_idle_check(self) -> None:
        await self.bot.wait_until_ready()

    @idle_check.error
    async def idle_check_failed(self, exc: BaseException) -> None:
        # tick() catches what one session raises; anything else must not stop the loop for good.
        log.error("idle check failed; restarting it", exc_info=exc)
        self.bot.loop.call_later(IDLE_CHECK_SECONDS, self.idle_check.restart)


async def setup(bot: TrainerBot) -> None:
    await bot.add_cog(RolePlayCog(bot))
