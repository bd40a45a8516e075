"""`trainer run`: open the store and the scenario library, then run the bot until stopped."""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import signal
from typing import Any

import aiohttp
import discord
import discord.gateway
import discord.http
import yarl

from bot.background import spawn
from bot.config import Settings
from bot.discord_app.client import TrainerBot
from bot.engine.catalog import Library
from bot.engine.signals import prepare_detectors
from bot.errors import ConfigError
from bot.store import Store

log = logging.getLogger("trainer.discord")


def use_endpoints(settings: Settings) -> None:
    """Point discord.py at another REST base / gateway (a proxy, or a test fake of Discord)."""
    if settings.api_base:
        discord.http.Route.BASE = settings.api_base.rstrip("/")
    if settings.gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)


def configure_logging(settings: Settings) -> None:
    handler: logging.Handler
    if settings.log_file is not None:
        try:
            settings.log_file.parent.mkdir(parents=True, exist_ok=True)
            handler = logging.handlers.RotatingFileHandler(settings.log_file, maxBytes=5_000_000, backupCount=5, encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"logging.file: cannot write {settings.log_file}: {exc.strerror or exc}") from exc
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_without_voice_warnings)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    logging.getLogger("discord").setLevel(max(logging.INFO, logging.getLevelName(settings.log_level)))
    # transitions logs every state change at INFO; the session log lines already say what matters.
    logging.getLogger("transitions").setLevel(logging.WARNING)


def _without_voice_warnings(record: logging.LogRecord) -> bool:
    """The bot never joins voice; discord.py's 'PyNaCl is not installed' warnings are noise."""
    return "voice will NOT be supported" not in record.getMessage()


async def run_bot(settings: Settings, **client_options: object) -> None:
    use_endpoints(settings)
    library = Library(settings.dialogues)
    for problem in library.problems:
        log.warning("scenario skipped: %s", problem)
    if not library.scenarios:
        raise ConfigError(f"no valid scenarios in {settings.dialogues} (dialogues.path); run 'trainer check {settings.dialogues}'")
    # The detectors before the gateway connects, not on the event loop at the first trainee
    # line: after an update of the lexicon the first start compiles their pre-filter (a
    # minute or more on a small server), which would block every heartbeat meanwhile.
    log.info("preparing the detectors")
    await asyncio.to_thread(prepare_detectors)
    async with Store.open(settings.database, busy_timeout=settings.busy_timeout_seconds) as store:
        bot = TrainerBot(settings, store, library, **client_options)
        # systemd stops services with SIGTERM: close the gateway and the database cleanly
        # (a failure to close is logged, like every background task's).
        closing: set[asyncio.Task[Any]] = set()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, lambda: spawn(bot.close(), "close-on-sigterm", closing))
        try:
            async with bot:
                await bot.start(settings.token)
        except discord.LoginFailure as exc:
            raise ConfigError("Discord rejected the token (DISCORD_TOKEN or discord.token)") from exc
        except (aiohttp.ClientConnectionError, OSError) as exc:
            raise ConfigError(f"cannot reach Discord ({exc.__class__.__name__}: {exc}); check the network or proxy") from exc
        except discord.PrivilegedIntentsRequired as exc:
            raise ConfigError(
                "the Message Content intent is not enabled for this bot: switch it on in the developer portal (Bot > Privileged Gateway Intents)"
            ) from exc
