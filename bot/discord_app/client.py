"""The Discord bot: a commands.Bot holding the settings, the store and the scenario library."""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.config import Settings
from bot.discord_app.checks import refuse
from bot.discord_app.transport import DiscordTransport
from bot.discord_app.views import EndSessionButton, HintButton, NominationButton
from bot.engine.catalog import Library
from bot.recognition.rules import load_rules
from bot.recognition.service import RecognitionSettings, WeeklyPost
from bot.sessions import ServiceSettings, SessionService
from bot.store import Store

log = logging.getLogger("trainer.discord")

EXTENSIONS = (
    "bot.discord_app.cogs.roleplay",
    "bot.discord_app.cogs.cohorts",
    "bot.discord_app.cogs.recognition",
    "bot.discord_app.cogs.instructors",
    "bot.discord_app.cogs.admin",
)
# Whatever a trainee writes, the bot's own messages never ping @everyone, @here or a role.
ALLOWED_MENTIONS = discord.AllowedMentions(everyone=False, roles=False, users=True, replied_user=False)


def intents() -> discord.Intents:
    wanted = discord.Intents.default()
    wanted.message_content = True  # privileged: switch it on in the developer portal (README)
    return wanted


class TrainerTree(app_commands.CommandTree["TrainerBot"]):
    """Every failed command still gets an answer: one clear line for the user, the traceback to the log."""

    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        if isinstance(error, app_commands.CheckFailure):
            return  # the check has already answered
        original = getattr(error, "original", error)
        if isinstance(original, discord.Forbidden):
            text = (
                "I'm missing a permission here. I need: View Channel, Send Messages, Send Messages in Threads, "
                "Create Private Threads, Manage Threads, Embed Links and Read Message History."
            )
            log.warning("missing permission in channel %s: %s", interaction.channel_id, original)
        else:
            name = interaction.command.qualified_name if interaction.command else "?"
            log.error("/%s failed", name, exc_info=original)
            text = "Something went wrong on my side; the error has been logged. Please try again."
        try:
            await refuse(interaction, text)
        except discord.HTTPException:
            log.warning("could not tell the user about the error (interaction expired)")


class TrainerBot(commands.Bot):
    def __init__(self, settings: Settings, store: Store, library: Library, **options: Any) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=intents(),
            allowed_mentions=ALLOWED_MENTIONS,
            tree_cls=TrainerTree,
            **options,
        )
        self.settings = settings
        self.store = store
        self.library = library
        self.sessions = SessionService(
            store, DiscordTransport(self), library, service_settings(settings), badges=load_rules(settings.badges_file),
            recognition=recognition_settings(settings), catalogue=lambda: library.scenarios.values(),
        )
        self.recognition = self.sessions.recognition

    async def setup_hook(self) -> None:
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        self.add_dynamic_items(EndSessionButton, HintButton, NominationButton)
        await self.sync_commands_if_changed()

    def command_scope(self) -> discord.Object | None:
        return discord.Object(self.settings.guild_id) if self.settings.guild_id else None

    def command_payload(self) -> list[dict[str, Any]]:
        scope = self.command_scope()
        if scope is not None:
            self.tree.copy_global_to(guild=scope)
        return [command.to_dict(self.tree) for command in self.tree.get_commands(guild=scope)]

    async def sync_commands_if_changed(self, force: bool = False) -> bool:
        """Register slash commands only when their definition changed since the last sync."""
        scope = self.command_scope()
        payload = json.dumps(self.command_payload(), sort_keys=True, default=str)
        digest = hashlib.sha256(payload.encode()).hexdigest()
        key = f"commands:{scope.id if scope else 'global'}"
        if not force and await self.store.get_meta(key) == digest:
            log.info("slash commands unchanged; not syncing")
            return False
        synced = await self.tree.sync(guild=scope)
        await self.store.set_meta(key, digest)
        log.info("synced %d slash commands %s", len(synced), f"to guild {scope.id}" if scope else "globally")
        return True

    async def on_ready(self) -> None:
        log.info("connected as %s (%s) to %d server(s)", self.user, getattr(self.user, "id", "?"), len(self.guilds))

    async def on_error(self, event_method: str, /, *args: Any, **kwargs: Any) -> None:
        log.exception("handling the %s event failed", event_method)

    async def close(self) -> None:
        await self.sessions.close()
        await super().close()


def service_settings(settings: Settings) -> ServiceSettings:
    return ServiceSettings(
        recognition_threshold=settings.recognition_threshold,
        idle_nudge_seconds=settings.idle_nudge_seconds,
        idle_abandon_seconds=settings.idle_abandon_seconds,
        lines_per_minute=settings.lines_per_minute,
        line_burst=settings.line_burst,
        delay_notice_seconds=min(3.0, settings.busy_timeout_seconds / 2),
    )


def recognition_settings(settings: Settings) -> RecognitionSettings:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(settings.timezone)
    return RecognitionSettings(
        recognition_threshold=settings.recognition_threshold,
        nominations=settings.nominations,
        nominations_per_session=settings.nominations_per_session,
        review_channel_id=settings.review_channel_id,
        review_channels={guild: server.review_channel_id for guild, server in settings.servers.items() if server.review_channel_id},
        zone=zone,
        kudos_per_day=settings.kudos_per_day,
        kudos_pair_cooldown_hours=settings.kudos_pair_cooldown_hours,
        kudos_reason_words=settings.kudos_reason_min_words,
        kudos_reason_chars=settings.kudos_reason_max_chars,
        kudos_points=settings.kudos_points,
        public_top=settings.leaderboard_public_top,
        weekly_post=WeeklyPost(settings.weekly_day, settings.weekly_hour, zone) if settings.weekly_day is not None else None,
    )
