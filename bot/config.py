"""config.yaml + environment -> frozen Settings. Fails fast with the offending key's name."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.errors import ConfigError

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
KNOWN: dict[str, set[str]] = {
    "discord": {"token", "guild_id", "instructor_role", "practice_channel_id", "allow_self_practice", "owner_ids"},
    "servers": set(),  # server ids, each with SERVER_KEYS
    "database": {"path", "busy_timeout_seconds"},
    "dialogues": {"path"},
    "recognition": {"threshold", "badges_file", "nominations", "nominations_per_session", "review_channel_id", "timezone"},
    "kudos": {"per_day", "pair_cooldown_hours", "reason_min_words", "reason_max_chars", "points"},
    "leaderboard": {"public_top", "weekly_day", "weekly_hour"},
    "idle": {"nudge_after_seconds", "abandon_after_seconds"},
    "limits": {"lines_per_minute", "burst"},
    "logging": {"level", "file"},
}
SERVER_KEYS = {"instructor_role", "practice_channel_id", "review_channel_id"}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
NOMINATION_MODES = ("review", "auto", "off")


@dataclass(frozen=True)
class ServerSettings:
    """What one Discord server sets for itself; None: the `discord:` value."""

    instructor_role: str | None = None
    practice_channel_id: int | None = None
    review_channel_id: int | None = None


@dataclass(frozen=True)
class Settings:
    token: str
    guild_id: int | None
    instructor_role: str
    practice_channel_id: int | None
    allow_self_practice: bool
    owner_ids: frozenset[int]
    database: Path
    dialogues: Path
    recognition_threshold: int
    idle_nudge_seconds: int
    idle_abandon_seconds: int
    log_level: str
    log_file: Path | None
    api_base: str | None = None  # DISCORD_API_BASE: a proxy or a test fake of Discord's REST API
    gateway_url: str | None = None  # DISCORD_GATEWAY_URL: the same for the gateway
    servers: Mapping[int, ServerSettings] = field(default_factory=dict)
    busy_timeout_seconds: float = 30.0
    lines_per_minute: int = 20
    line_burst: int = 6
    # Recognition (bot/recognition/): badges as data, nominations, kudos limits, the board.
    badges_file: Path | None = None  # None: the shipped rules
    nominations: str = "review"  # review | auto | off
    nominations_per_session: int = 2
    review_channel_id: int | None = None  # where nominations wait for an instructor (None: the session's thread)
    timezone: str = "UTC"
    kudos_per_day: int = 3
    kudos_pair_cooldown_hours: int = 24
    kudos_reason_min_words: int = 3
    kudos_reason_max_chars: int = 200
    kudos_points: int = 5
    leaderboard_public_top: int = 5
    weekly_day: int | None = 0  # 0 = Monday; None: no weekly post
    weekly_hour: int = 9

    def __repr__(self) -> str:  # the token must never reach a log line
        return f"Settings(guild_id={self.guild_id}, database={self.database}, dialogues={self.dialogues}, token=<hidden>)"

    def instructor_role_in(self, guild_id: int | None) -> str:
        server = self.servers.get(guild_id or 0)
        return server.instructor_role if server is not None and server.instructor_role else self.instructor_role

    def review_channel_in(self, guild_id: int | None) -> int | None:
        server = self.servers.get(guild_id or 0)
        return server.review_channel_id if server is not None and server.review_channel_id else self.review_channel_id

    def practice_channel_in(self, guild_id: int | None) -> int | None:
        server = self.servers.get(guild_id or 0)
        return server.practice_channel_id if server is not None and server.practice_channel_id else self.practice_channel_id


def load_settings(path: Path | None, env: Mapping[str, str]) -> Settings:
    data: dict[str, Any] = {}
    base = Path.cwd()
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text("utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read the config file {path}: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark is not None else ""
            raise ConfigError(f"{path}{where}: not valid YAML") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the config must be a mapping of sections (discord:, database:, ...)")
        data = loaded or {}
        base = path.resolve().parent
    for section, value in data.items():
        if section not in KNOWN:
            raise ConfigError(f"unknown config section '{section}' (known: {', '.join(KNOWN)})")
        if value is not None and not isinstance(value, dict):
            raise ConfigError(f"config section '{section}' must be a mapping")
        if section == "servers":
            continue
        for key in value or {}:
            if key not in KNOWN[section]:
                raise ConfigError(f"unknown config key '{section}.{key}'")
    reader = _Reader(data)
    token = env.get("DISCORD_TOKEN") or reader.text("discord.token", "")
    if not token.strip():
        raise ConfigError("no Discord token: set DISCORD_TOKEN or discord.token in the config")
    if any(ch.isspace() for ch in token.strip()) or len(token.strip()) < 20:
        raise ConfigError("discord.token does not look like a bot token (copy it from the developer portal's Bot page)")
    nudge = reader.integer("idle.nudge_after_seconds", 300, low=10)
    abandon = reader.integer("idle.abandon_after_seconds", 1800, low=20)
    if abandon <= nudge:
        raise ConfigError("idle.abandon_after_seconds must be longer than idle.nudge_after_seconds")
    level = reader.text("logging.level", "INFO").upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"logging.level must be one of {', '.join(LOG_LEVELS)}, not {level!r}")
    log_file = reader.text("logging.file", "")
    busy = reader.integer("database.busy_timeout_seconds", 30, low=1, high=3600)
    zone = reader.text("recognition.timezone", "UTC").strip()
    try:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"recognition.timezone: unknown time zone {zone!r} (an IANA name such as America/Chicago, or UTC)") from exc
    # YAML reads a bare `off` as false: both mean off.
    nominations = "off" if reader.raw("recognition.nominations") is False else reader.text("recognition.nominations", "review").strip().lower()
    if nominations not in NOMINATION_MODES:
        raise ConfigError(f"recognition.nominations must be one of {', '.join(NOMINATION_MODES)}, not {nominations!r}")
    weekly = "off" if reader.raw("leaderboard.weekly_day") is False else reader.text("leaderboard.weekly_day", "monday").strip().lower()
    if weekly not in (*WEEKDAYS, "off"):
        raise ConfigError(f"leaderboard.weekly_day must be a day of the week (monday ... sunday) or off, not {weekly!r}")
    badges_file = reader.text("recognition.badges_file", "").strip()
    return Settings(
        token=token.strip(),
        guild_id=reader.snowflake("discord.guild_id"),
        instructor_role=reader.text("discord.instructor_role", "Instructor"),
        practice_channel_id=reader.snowflake("discord.practice_channel_id"),
        allow_self_practice=reader.boolean("discord.allow_self_practice", True),
        owner_ids=frozenset(reader.snowflakes("discord.owner_ids")),
        database=base / reader.text("database.path", "trainer.db"),
        dialogues=base / reader.text("dialogues.path", "dialogues"),
        recognition_threshold=reader.integer("recognition.threshold", 80, low=0, high=100),
        idle_nudge_seconds=nudge,
        idle_abandon_seconds=abandon,
        log_level=level,
        log_file=(base / log_file) if log_file else None,
        api_base=env.get("DISCORD_API_BASE") or None,
        gateway_url=env.get("DISCORD_GATEWAY_URL") or None,
        servers=_servers(data.get("servers")),
        busy_timeout_seconds=float(busy),
        lines_per_minute=reader.integer("limits.lines_per_minute", 20, low=0, high=600),
        line_burst=reader.integer("limits.burst", 6, low=1, high=100),
        badges_file=(base / badges_file) if badges_file else None,
        nominations=nominations,
        nominations_per_session=reader.integer("recognition.nominations_per_session", 2, low=1, high=5),
        review_channel_id=reader.snowflake("recognition.review_channel_id"),
        timezone=zone,
        kudos_per_day=reader.integer("kudos.per_day", 3, low=1, high=100),
        kudos_pair_cooldown_hours=reader.integer("kudos.pair_cooldown_hours", 24, low=0, high=24 * 90),
        kudos_reason_min_words=reader.integer("kudos.reason_min_words", 3, low=1, high=20),
        kudos_reason_max_chars=reader.integer("kudos.reason_max_chars", 200, low=20, high=1000),
        kudos_points=reader.integer("kudos.points", 5, low=0, high=100),
        leaderboard_public_top=reader.integer("leaderboard.public_top", 5, low=1, high=25),
        weekly_day=None if weekly == "off" else WEEKDAYS.index(weekly),
        weekly_hour=reader.integer("leaderboard.weekly_hour", 9, low=0, high=23),
    )


def _servers(value: Any) -> dict[int, ServerSettings]:
    """`servers: {<server id>: {instructor_role: ..., practice_channel_id: ...}}`."""
    if value is None:
        return {}
    servers: dict[int, ServerSettings] = {}
    for raw_id, spec in value.items():
        guild_id = _snowflake("servers", raw_id)
        where = f"servers.{guild_id}"
        if spec is None:
            spec = {}
        if not isinstance(spec, dict):
            raise ConfigError(f"{where} must be a mapping (instructor_role:, practice_channel_id:, review_channel_id:)")
        for key in spec:
            if key not in SERVER_KEYS:
                raise ConfigError(f"unknown config key '{where}.{key}' (known: {', '.join(sorted(SERVER_KEYS))})")
        reader = _Reader({"server": spec})
        role = reader.text("server.instructor_role", "").strip() or None
        channel = spec.get("practice_channel_id")
        review = spec.get("review_channel_id")
        servers[guild_id] = ServerSettings(
            instructor_role=role,
            practice_channel_id=_snowflake(f"{where}.practice_channel_id", channel) if channel not in (None, "") else None,
            review_channel_id=_snowflake(f"{where}.review_channel_id", review) if review not in (None, "") else None,
        )
    return servers


class _Reader:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def raw(self, key: str) -> Any:
        section, name = key.split(".")
        return (self.data.get(section) or {}).get(name)

    def text(self, key: str, default: str) -> str:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, (str, int)) or isinstance(value, bool):
            raise ConfigError(f"{key} must be text")
        return str(value)

    def integer(self, key: str, default: int, low: int = 0, high: int = 10**9) -> int:
        value = self.raw(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be a whole number")
        if not low <= value <= high:
            raise ConfigError(f"{key} must be between {low} and {high}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false")
        return value

    def snowflake(self, key: str) -> int | None:
        value = self.raw(key)
        if value in (None, ""):
            return None
        return _snowflake(key, value)

    def snowflakes(self, key: str) -> list[int]:
        value = self.raw(key)
        if value in (None, ""):
            return []
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list of Discord ids")
        return [_snowflake(key, item) for item in value]


def _snowflake(key: str, value: Any) -> int:
    try:
        number = int(str(value))
    except ValueError:
        raise ConfigError(f"{key} must be a Discord id (a number), not {value!r}") from None
    if number <= 0:
        raise ConfigError(f"{key} must be a Discord id (a positive number)")
    return number
