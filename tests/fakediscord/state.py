"""In-memory world of the fake Discord: ids, users, guilds, channels, messages.

Everything is stored as plain dicts shaped like Discord API v10 payloads, so the
same objects can be served over REST, dispatched over the gateway and asserted on
by tests.  Nothing here does I/O; :mod:`tests.fakediscord.server` wraps it.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
import time
from dataclasses import dataclass, field
from typing import Any, Optional

Json = dict[str, Any]

DISCORD_EPOCH_MS = 1420070400000

# Channel types
GUILD_TEXT = 0
DM = 1
GUILD_CATEGORY = 4
PUBLIC_THREAD = 11
PRIVATE_THREAD = 12
THREAD_TYPES = (10, PUBLIC_THREAD, PRIVATE_THREAD)

# Permission bits used by the fake
P_CREATE_INSTANT_INVITE = 1 << 0
P_ADMINISTRATOR = 1 << 3
P_MANAGE_CHANNELS = 1 << 4
P_ADD_REACTIONS = 1 << 6
P_VIEW_CHANNEL = 1 << 10
P_SEND_MESSAGES = 1 << 11
P_MANAGE_MESSAGES = 1 << 13
P_EMBED_LINKS = 1 << 14
P_ATTACH_FILES = 1 << 15
P_READ_MESSAGE_HISTORY = 1 << 16
P_MENTION_EVERYONE = 1 << 17
P_USE_EXTERNAL_EMOJIS = 1 << 18
P_CHANGE_NICKNAME = 1 << 26
P_USE_APPLICATION_COMMANDS = 1 << 31
P_MANAGE_THREADS = 1 << 34
P_CREATE_PUBLIC_THREADS = 1 << 35
P_CREATE_PRIVATE_THREADS = 1 << 36
P_SEND_MESSAGES_IN_THREADS = 1 << 38
ALL_PERMISSIONS = (1 << 51) - 1

#: What a fresh guild's @everyone role allows (close to Discord's default).
DEFAULT_EVERYONE_PERMISSIONS = (
    P_CREATE_INSTANT_INVITE
    | P_ADD_REACTIONS
    | P_VIEW_CHANNEL
    | P_SEND_MESSAGES
    | P_EMBED_LINKS
    | P_ATTACH_FILES
    | P_READ_MESSAGE_HISTORY
    | P_MENTION_EVERYONE
    | P_USE_EXTERNAL_EMOJIS
    | P_CHANGE_NICKNAME
    | P_USE_APPLICATION_COMMANDS
    | P_CREATE_PUBLIC_THREADS
    | P_CREATE_PRIVATE_THREADS
    | P_SEND_MESSAGES_IN_THREADS
)

# Message flags
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7


class ApiError(Exception):
    """Raised by state operations; the server turns it into a Discord-style error response."""

    def __init__(self, status: int, code: int, message: str, errors: Optional[Json] = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> Json:
        body: Json = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


class SnowflakeGenerator:
    """Strictly increasing snowflakes whose timestamp part is the current time."""

    def __init__(self) -> None:
        self._last = 0

    def next(self) -> str:
        now_ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        value = max(now_ms << 22, self._last + 1)
        self._last = value
        return str(value)


def snowflake_time(snowflake: str | int) -> dt.datetime:
    ms = (int(snowflake) >> 22) + DISCORD_EPOCH_MS
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.timezone.utc)


def iso(snowflake_or_dt: str | int | dt.datetime | None = None) -> str:
    """ISO8601 timestamp like Discord's (``2024-01-01T12:00:00.123000+00:00``)."""
    if snowflake_or_dt is None:
        when = dt.datetime.now(dt.timezone.utc)
    elif isinstance(snowflake_or_dt, dt.datetime):
        when = snowflake_or_dt
    else:
        when = snowflake_time(snowflake_or_dt)
    return when.isoformat(timespec="microseconds")


def ident(obj: Any) -> str:
    """Accept a payload dict, an object with ``.id`` (discord.py models) or an id."""
    if isinstance(obj, dict):
        return str(obj["id"])
    if hasattr(obj, "id"):
        return str(obj.id)
    return str(obj)


_MENTION_USER = re.compile(r"<@!?(\d+)>")
_MENTION_ROLE = re.compile(r"<@&(\d+)>")


@dataclass
class Interaction:
    """One interaction the test side dispatched, and everything the bot answered to it.

    ``responses`` holds the raw callback bodies (``{"type": 4, "data": {...}}``) in order;
    ``original`` is the interaction's own message (created by a type 4/5 callback and
    edited through ``/webhooks/{app}/{token}/messages/@original``); ``followups`` are
    messages created through ``POST /webhooks/{app}/{token}``.
    """

    id: str
    token: str
    type: int
    payload: Json
    channel_id: Optional[str]
    responses: list[Json] = field(default_factory=list)
    original: Optional[Json] = None
    followups: list[Json] = field(default_factory=list)

    # -- convenience accessors -------------------------------------------------------
    @property
    def response(self) -> Optional[Json]:
        """The first (normally the only) callback body, or ``None``."""
        return self.responses[0] if self.responses else None

    @property
    def response_type(self) -> Optional[int]:
        return self.responses[0]["type"] if self.responses else None

    @property
    def data(self) -> Json:
        """``data`` of the first callback (message/modal/autocomplete data)."""
        if not self.responses:
            return {}
        return self.responses[0].get("data") or {}

    @property
    def content(self) -> Optional[str]:
        """Content the user ends up seeing: edited original if any, else callback data."""
        if self.original is not None:
            return self.original.get("content")
        return self.data.get("content")

    @property
    def ephemeral(self) -> bool:
        if self.original is not None:
            return bool(self.original.get("flags", 0) & FLAG_EPHEMERAL)
        return bool((self.data.get("flags") or 0) & FLAG_EPHEMERAL)

    @property
    def choices(self) -> Optional[list[Json]]:
        """Autocomplete choices (type 8 callback), if that was the response."""
        if self.response_type == 8:
            return self.data.get("choices", [])
        return None

    def all_messages(self) -> list[Json]:
        """Original (if any) followed by the follow-ups."""
        return ([self.original] if self.original is not None else []) + list(self.followups)

    def texts(self) -> list[str]:
        """Content plus embed titles/descriptions of every message, for loose assertions."""
        out: list[str] = []
        for msg in self.all_messages() or ([self.data] if self.data else []):
            out.append(msg.get("content") or "")
            for emb in msg.get("embeds") or []:
                out.append(emb.get("title") or "")
                out.append(emb.get("description") or "")
                for fld in emb.get("fields") or []:
                    out.append(f"{fld.get('name', '')}: {fld.get('value', '')}")
        return [t for t in out if t]


class World:
    """All state of the fake: the bot identity, guilds and everything in them."""

    def __init__(self, *, bot_name: str = "TrainerBot") -> None:
        self.ids = SnowflakeGenerator()
        self.users: dict[str, Json] = {}
        self.guilds: dict[str, Json] = {}  # guild id -> guild core dict (no channels/members)
        self.roles: dict[str, dict[str, Json]] = {}  # guild id -> role id -> role
        self.members: dict[str, dict[str, Json]] = {}  # guild id -> user id -> member (with user)
        self.channels: dict[str, Json] = {}  # channel or thread id -> channel
        self.messages: dict[str, list[Json]] = {}  # channel id -> messages, oldest first
        self.thread_members: dict[str, dict[str, Json]] = {}  # thread id -> user id -> thread member
        self.global_commands: list[Json] = []
        self.guild_commands: dict[str, list[Json]] = {}
        self.commands_synced: set[Optional[str]] = set()  # None = global
        self.interactions: dict[str, Interaction] = {}  # interaction id -> record
        self.interactions_by_token: dict[str, Interaction] = {}
        self.allowed_mentions: dict[str, Optional[Json]] = {}  # message id -> allowed_mentions sent
        self.reactions: dict[str, list[tuple[str, str]]] = {}  # message id -> (emoji, user id)

        self.application_id = self.ids.next()
        self.bot_user = self.add_user(bot_name, bot=True, user_id=self.application_id)

    # ------------------------------------------------------------------ users
    def add_user(self, username: str, *, bot: bool = False, global_name: Optional[str] = None,
                 user_id: Optional[str] = None) -> Json:
        uid = user_id or self.ids.next()
        user = {
            "id": uid,
            "username": username,
            "global_name": global_name if global_name is not None else (None if bot else username.title()),
            "discriminator": "0",
            "avatar": None,
            "bot": bot,
            "system": False,
            "public_flags": 0,
            "flags": 0,
            "banner": None,
            "accent_color": None,
            "avatar_decoration_data": None,
        }
        self.users[uid] = user
        return user

    def application(self) -> Json:
        return {
            "id": self.application_id,
            "name": self.bot_user["username"],
            "icon": None,
            "description": "Fake application",
            "summary": "",
            "type": None,
            "bot_public": False,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": 0,
            "owner": self.users[self.bot_user["id"]],
            "team": None,
            "bot": self.bot_user,
            "rpc_origins": [],
            "terms_of_service_url": None,
            "privacy_policy_url": None,
            "interactions_endpoint_url": None,
            "redirect_uris": [],
            "tags": [],
            "approximate_guild_count": len(self.guilds),
        }

    # ------------------------------------------------------------------ guilds
    def add_guild(self, name: str) -> Json:
        gid = self.ids.next()
        guild = {
            "id": gid,
            "name": name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": None,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "features": [],
            "mfa_level": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "emojis": [],
            "stickers": [],
        }
        self.guilds[gid] = guild
        self.roles[gid] = {}
        self.members[gid] = {}
        # @everyone has the guild's id.
        self.add_role(gid, "@everyone", permissions=DEFAULT_EVERYONE_PERMISSIONS, role_id=gid, position=0)
        bot_role = self.add_role(gid, self.bot_user["username"], permissions=P_ADMINISTRATOR, managed=True)
        owner = self.add_user(f"{name.lower().replace(' ', '_')}_owner")
        guild["owner_id"] = owner["id"]
        self.add_member(gid, owner)
        self.add_member(gid, self.bot_user, roles=[bot_role])
        return guild

    def add_role(self, guild: Any, name: str, *, permissions: int = 0, role_id: Optional[str] = None,
                 position: Optional[int] = None, managed: bool = False, mentionable: bool = False) -> Json:
        gid = ident(guild)
        rid = role_id or self.ids.next()
        roles = self.roles[gid]
        role = {
            "id": rid,
            "name": name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": position if position is not None else len(roles),
            "permissions": str(permissions),
            "managed": managed,
            "mentionable": mentionable,
            "flags": 0,
        }
        if managed:
            role["tags"] = {"bot_id": self.bot_user["id"]}
        roles[rid] = role
        return role

    def add_member(self, guild: Any, user: Json, *, roles: Optional[list[Any]] = None,
                   nick: Optional[str] = None) -> Json:
        gid = ident(guild)
        member = {
            "user": user,
            "nick": nick,
            "avatar": None,
            "banner": None,
            "roles": [ident(r) for r in roles or []],
            "joined_at": iso(),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
        }
        self.members[gid][user["id"]] = member
        return member

    def member(self, guild_id: str, user_id: str) -> Json:
        try:
            return self.members[guild_id][user_id]
        except KeyError:
            raise ApiError(404, 10007, "Unknown Member") from None

    def guild(self, guild_id: str) -> Json:
        try:
            return self.guilds[guild_id]
        except KeyError:
            raise ApiError(404, 10004, "Unknown Guild") from None

    def guild_payload(self, guild_id: str, *, with_members: bool = True) -> Json:
        """GUILD_CREATE shaped guild: core fields plus roles, channels, threads, members."""
        g = copy.deepcopy(self.guild(guild_id))
        g["roles"] = copy.deepcopy(list(self.roles[guild_id].values()))
        g["channels"] = [copy.deepcopy(c) for c in self.channels.values()
                         if c.get("guild_id") == guild_id and c["type"] not in THREAD_TYPES]
        g["threads"] = []
        for c in self.channels.values():
            if c.get("guild_id") == guild_id and c["type"] in THREAD_TYPES and not c["thread_metadata"]["archived"]:
                t = copy.deepcopy(c)
                me = self.thread_members[c["id"]].get(self.bot_user["id"])
                if me is not None:
                    t["member"] = copy.deepcopy(me)
                g["threads"].append(t)
        members = list(self.members[guild_id].values())
        if not with_members:
            members = [m for m in members if m["user"]["id"] == self.bot_user["id"]]
        g["members"] = copy.deepcopy(members)
        g["member_count"] = len(self.members[guild_id])
        g["large"] = len(self.members[guild_id]) > 250
        g["unavailable"] = False
        g["joined_at"] = self.members[guild_id][self.bot_user["id"]]["joined_at"]
        g["voice_states"] = []
        g["presences"] = []
        g["stage_instances"] = []
        g["guild_scheduled_events"] = []
        g["soundboard_sounds"] = []
        return g

    def guild_rest_payload(self, guild_id: str) -> Json:
        g = copy.deepcopy(self.guild(guild_id))
        g["roles"] = copy.deepcopy(list(self.roles[guild_id].values()))
        g["approximate_member_count"] = len(self.members[guild_id])
        return g

    # ------------------------------------------------------------------ channels
    def add_channel(self, guild: Any, name: str, *, type: int = GUILD_TEXT, parent_id: Optional[str] = None,
                    topic: Optional[str] = None, overwrites: Optional[list[Json]] = None) -> Json:
        gid = ident(guild)
        cid = self.ids.next()
        position = sum(1 for c in self.channels.values() if c.get("guild_id") == gid and c["type"] == type)
        channel = {
            "id": cid,
            "type": type,
            "guild_id": gid,
            "name": name,
            "position": position,
            "permission_overwrites": overwrites or [],
            "parent_id": parent_id,
            "nsfw": False,
            "flags": 0,
        }
        if type != GUILD_CATEGORY:
            channel.update({"topic": topic, "last_message_id": None, "rate_limit_per_user": 0,
                            "default_auto_archive_duration": 1440, "default_thread_rate_limit_per_user": 0})
        self.channels[cid] = channel
        self.messages[cid] = []
        return channel

    def add_thread(self, parent: Any, name: str, *, owner_id: str, type: int = PRIVATE_THREAD,
                   auto_archive_duration: int = 1440, invitable: bool = True,
                   rate_limit_per_user: int = 0, thread_id: Optional[str] = None) -> Json:
        parent_ch = self.channel(ident(parent))
        tid = thread_id or self.ids.next()
        thread = {
            "id": tid,
            "type": type,
            "guild_id": parent_ch["guild_id"],
            "parent_id": parent_ch["id"],
            "owner_id": owner_id,
            "name": name,
            "last_message_id": None,
            "message_count": 0,
            "total_message_sent": 0,
            "member_count": 0,
            "rate_limit_per_user": rate_limit_per_user,
            "flags": 0,
            "applied_tags": [],
            "thread_metadata": {
                "archived": False,
                "auto_archive_duration": auto_archive_duration,
                "archive_timestamp": iso(tid),
                "locked": False,
                "invitable": invitable if type == PRIVATE_THREAD else True,
                "create_timestamp": iso(tid),
            },
        }
        self.channels[tid] = thread
        self.messages[tid] = []
        self.thread_members[tid] = {}
        self.add_thread_member(tid, owner_id)
        return thread

    def add_thread_member(self, thread_id: str, user_id: str) -> tuple[Json, bool]:
        """Add a user to a thread. Returns (thread member, newly added)."""
        thread = self.channel(thread_id)
        if thread["type"] not in THREAD_TYPES:
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        members = self.thread_members[thread_id]
        if user_id in members:
            return members[user_id], False
        if user_id not in self.members[thread["guild_id"]]:
            raise ApiError(404, 10007, "Unknown Member")
        tm = {"id": thread_id, "user_id": user_id, "join_timestamp": iso(), "flags": 0}
        members[user_id] = tm
        thread["member_count"] = min(len(members), 50)
        return tm, True

    def channel(self, channel_id: str) -> Json:
        try:
            return self.channels[channel_id]
        except KeyError:
            raise ApiError(404, 10003, "Unknown Channel") from None

    # ------------------------------------------------------------------ permissions
    def base_permissions(self, guild_id: str, user_id: str) -> int:
        guild = self.guild(guild_id)
        if guild["owner_id"] == user_id:
            return ALL_PERMISSIONS
        roles = self.roles[guild_id]
        perms = int(roles[guild_id]["permissions"])
        for rid in self.member(guild_id, user_id)["roles"]:
            if rid in roles:
                perms |= int(roles[rid]["permissions"])
        if perms & P_ADMINISTRATOR:
            return ALL_PERMISSIONS
        return perms

    def permissions_in(self, channel_id: str, user_id: str) -> int:
        """Discord's permission algorithm (base + overwrites; threads use the parent's)."""
        channel = self.channel(channel_id)
        if channel["type"] == DM:
            return P_VIEW_CHANNEL | P_SEND_MESSAGES | P_READ_MESSAGE_HISTORY | P_EMBED_LINKS | P_ATTACH_FILES
        gid = channel["guild_id"]
        perms = self.base_permissions(gid, user_id)
        if perms & P_ADMINISTRATOR or perms == ALL_PERMISSIONS:
            return ALL_PERMISSIONS
        source = self.channels[channel["parent_id"]] if channel["type"] in THREAD_TYPES else channel
        ows = {o["id"]: o for o in source.get("permission_overwrites") or []}
        if gid in ows:
            perms = (perms & ~int(ows[gid]["deny"])) | int(ows[gid]["allow"])
        allow = deny = 0
        for rid in self.member(gid, user_id)["roles"]:
            if rid in ows:
                allow |= int(ows[rid]["allow"])
                deny |= int(ows[rid]["deny"])
        perms = (perms & ~deny) | allow
        if user_id in ows:
            perms = (perms & ~int(ows[user_id]["deny"])) | int(ows[user_id]["allow"])
        if not perms & P_VIEW_CHANNEL:
            return 0
        return perms

    def can_see(self, channel_id: str, user_id: str) -> bool:
        channel = self.channel(channel_id)
        perms = self.permissions_in(channel_id, user_id)
        if not perms & P_VIEW_CHANNEL:
            return False
        if channel["type"] == PRIVATE_THREAD:
            return user_id in self.thread_members[channel_id] or bool(perms & P_MANAGE_THREADS)
        return True

    # ------------------------------------------------------------------ messages
    def resolve_mentions(self, guild_id: Optional[str], content: str,
                         allowed: Optional[Json]) -> tuple[list[Json], list[str], bool]:
        """Which users/roles/everyone a message actually pings, honouring allowed_mentions."""
        parse = ["users", "roles", "everyone"] if allowed is None else list(allowed.get("parse") or [])
        allowed_users = set() if allowed is None else {str(u) for u in allowed.get("users") or []}
        allowed_roles = set() if allowed is None else {str(r) for r in allowed.get("roles") or []}
        users: list[Json] = []
        for uid in dict.fromkeys(_MENTION_USER.findall(content)):
            if uid in self.users and ("users" in parse or uid in allowed_users):
                user = copy.deepcopy(self.users[uid])
                if guild_id and uid in self.members.get(guild_id, {}):
                    user["member"] = {k: v for k, v in self.members[guild_id][uid].items() if k != "user"}
                users.append(user)
        roles = [rid for rid in dict.fromkeys(_MENTION_ROLE.findall(content))
                 if guild_id and rid in self.roles.get(guild_id, {}) and ("roles" in parse or rid in allowed_roles)]
        everyone = ("@everyone" in content or "@here" in content) and "everyone" in parse
        return users, roles, everyone

    def build_message(self, channel_id: str, author: Json, body: Json, *, message_type: int = 0,
                      webhook_id: Optional[str] = None, extra: Optional[Json] = None) -> Json:
        channel = self.channel(channel_id)
        gid = channel.get("guild_id")
        mid = self.ids.next()
        allowed = body.get("allowed_mentions")
        content = body.get("content") or ""
        mentions, mention_roles, everyone = self.resolve_mentions(gid, content, allowed)
        msg: Json = {
            "id": mid,
            "type": message_type,
            "channel_id": channel_id,
            "author": copy.deepcopy(author),
            "content": content,
            "timestamp": iso(mid),
            "edited_timestamp": None,
            "tts": bool(body.get("tts", False)),
            "mention_everyone": everyone,
            "mentions": mentions,
            "mention_roles": mention_roles,
            "mention_channels": [],
            "attachments": [self._attachment(a, body) for a in body.get("attachments") or []],
            "embeds": copy.deepcopy(body.get("embeds") or []),
            "components": copy.deepcopy(body.get("components") or []),
            "reactions": [],
            "pinned": False,
            "flags": int(body.get("flags") or 0),
            "nonce": body.get("nonce"),
        }
        if gid:
            msg["guild_id"] = gid
            member = self.members[gid].get(author["id"])
            if member is not None and webhook_id is None:
                msg["member"] = {k: v for k, v in copy.deepcopy(member).items() if k != "user"}
        if webhook_id is not None:
            msg["webhook_id"] = webhook_id
            msg["application_id"] = self.application_id
        ref = body.get("message_reference")
        if ref:
            msg["message_reference"] = {"message_id": str(ref.get("message_id")),
                                        "channel_id": str(ref.get("channel_id") or channel_id),
                                        "guild_id": gid, "type": ref.get("type", 0)}
            if message_type == 0:
                msg["type"] = 19
            referenced = self.find_message(channel_id, str(ref.get("message_id")))
            msg["referenced_message"] = copy.deepcopy(referenced)
        if extra:
            msg.update(extra)
        self.allowed_mentions[mid] = copy.deepcopy(allowed)
        return msg

    def _attachment(self, att: Json, body: Json) -> Json:
        if "url" in att:
            return copy.deepcopy(att)
        aid = self.ids.next()
        size = next((f["size"] for f in body.get("_files") or [] if f.get("filename") == att.get("filename")), 0)
        url = f"https://cdn.fake/attachments/{aid}/{att.get('filename', 'file')}"
        return {"id": aid, "filename": att.get("filename", "file"), "size": size, "url": url, "proxy_url": url,
                "content_type": None, "description": att.get("description")}

    def store_message(self, msg: Json) -> None:
        channel = self.channel(msg["channel_id"])
        self.messages[channel["id"]].append(msg)
        channel["last_message_id"] = msg["id"]
        if channel["type"] in THREAD_TYPES:
            channel["message_count"] = channel.get("message_count", 0) + 1
            channel["total_message_sent"] = channel.get("total_message_sent", 0) + 1

    def find_message(self, channel_id: str, message_id: str) -> Optional[Json]:
        for msg in self.messages.get(channel_id, []):
            if msg["id"] == message_id:
                return msg
        return None

    def message(self, channel_id: str, message_id: str) -> Json:
        self.channel(channel_id)
        msg = self.find_message(channel_id, message_id)
        if msg is None:
            raise ApiError(404, 10008, "Unknown Message")
        return msg

    def history(self, channel_id: str, *, limit: int = 50, before: Optional[str] = None,
                after: Optional[str] = None, around: Optional[str] = None) -> list[Json]:
        """GET /channels/{id}/messages semantics: newest first, ``limit`` 1..100."""
        self.channel(channel_id)
        if not 1 <= limit <= 100:
            raise ApiError(400, 50035, "Invalid Form Body",
                           {"limit": {"_errors": [{"code": "NUMBER_TYPE_MAX", "message": "1..100"}]}})
        msgs = sorted(self.messages[channel_id], key=lambda m: int(m["id"]))
        if around is not None:
            idx = next((i for i, m in enumerate(msgs) if int(m["id"]) >= int(around)), len(msgs))
            half = limit // 2
            window = msgs[max(0, idx - half): idx + (limit - half)]
            return list(reversed(window))
        if after is not None:
            newer = [m for m in msgs if int(m["id"]) > int(after)]
            if before is not None:
                newer = [m for m in newer if int(m["id"]) < int(before)]
            return list(reversed(newer[:limit]))  # the `limit` oldest after `after`, newest first
        if before is not None:
            msgs = [m for m in msgs if int(m["id"]) < int(before)]
        return list(reversed(msgs[-limit:]))

    # ------------------------------------------------------------------ commands
    def commands(self, guild_id: Optional[str] = None) -> list[Json]:
        return self.guild_commands.get(guild_id, []) if guild_id else self.global_commands

    def command_payload(self, data: Json, guild_id: Optional[str], existing: Optional[Json]) -> Json:
        cmd = copy.deepcopy(data)
        cmd["id"] = existing["id"] if existing else self.ids.next()
        cmd["application_id"] = self.application_id
        cmd.setdefault("type", 1)
        cmd.setdefault("description", "" if cmd["type"] != 1 else cmd.get("description", ""))
        cmd.setdefault("options", [])
        cmd.setdefault("default_member_permissions", None)
        cmd.setdefault("nsfw", False)
        cmd["version"] = self.ids.next()
        if guild_id:
            cmd["guild_id"] = guild_id
        else:
            cmd.setdefault("dm_permission", True)
            cmd.setdefault("contexts", None)
            cmd.setdefault("integration_types", [0])
        return cmd

    def set_commands(self, guild_id: Optional[str], payload: list[Json]) -> list[Json]:
        current = {(c["name"], c.get("type", 1)): c for c in self.commands(guild_id)}
        seen: set[tuple[str, int]] = set()
        out = []
        for data in payload:
            validate_command(data)
            key = (data["name"], data.get("type", 1))
            if key in seen:
                raise ApiError(400, 50035, "Invalid Form Body",
                               {"_errors": [{"code": "APPLICATION_COMMANDS_DUPLICATE_NAME",
                                             "message": f"Application command names must be unique ({key[0]})"}]})
            seen.add(key)
            out.append(self.command_payload(data, guild_id, current.get(key)))
        if guild_id:
            self.guild(guild_id)
            self.guild_commands[guild_id] = out
        else:
            self.global_commands = out
        self.commands_synced.add(guild_id)
        return out


_COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")


def validate_command(data: Json) -> None:
    """A few of Discord's server-side checks on command definitions."""
    errors: list[str] = []

    def check_options(options: list[Json], where: str) -> None:
        if len(options) > 25:
            errors.append(f"{where}: more than 25 options")
        required_seen_optional = False
        for opt in options:
            name = opt.get("name", "")
            if not _COMMAND_NAME.match(name) or name != name.lower():
                errors.append(f"{where}: invalid option name {name!r}")
            if not 1 <= len(opt.get("description", "")) <= 100:
                errors.append(f"{where}.{name}: description must be 1-100 chars")
            if opt.get("type") in (1, 2):
                check_options(opt.get("options") or [], f"{where}.{name}")
            else:
                if opt.get("required"):
                    if required_seen_optional:
                        errors.append(f"{where}.{name}: required options must come before optional ones")
                else:
                    required_seen_optional = True
                if opt.get("autocomplete") and opt.get("choices"):
                    errors.append(f"{where}.{name}: autocomplete and choices are exclusive")

    name = data.get("name", "")
    ctype = data.get("type", 1)
    if ctype == 1 and (not _COMMAND_NAME.match(name) or name != name.lower()):
        errors.append(f"invalid command name {name!r}")
    if ctype == 1 and not 1 <= len(data.get("description", "")) <= 100:
        errors.append(f"{name}: description must be 1-100 chars")
    check_options(data.get("options") or [], name)
    if errors:
        raise ApiError(400, 50035, "Invalid Form Body",
                       {"_errors": [{"code": "BASE_TYPE_INVALID", "message": e} for e in errors]})


def validate_message_body(body: Json, *, allow_empty: bool = False) -> None:
    """Discord's limits on message content/embeds/components (subset)."""
    errors: list[str] = []
    content = body.get("content")
    if content is not None and len(content) > 2000:
        errors.append(f"content: must be 2000 or fewer in length (got {len(content)})")
    embeds = body.get("embeds") or []
    if len(embeds) > 10:
        errors.append("embeds: at most 10")
    total = 0
    for i, emb in enumerate(embeds):
        limits = {"title": 256, "description": 4096}
        for key, lim in limits.items():
            val = emb.get(key) or ""
            total += len(val)
            if len(val) > lim:
                errors.append(f"embeds.{i}.{key}: must be {lim} or fewer in length")
        fields = emb.get("fields") or []
        if len(fields) > 25:
            errors.append(f"embeds.{i}.fields: at most 25")
        for j, fld in enumerate(fields):
            if not fld.get("name") or len(fld["name"]) > 256:
                errors.append(f"embeds.{i}.fields.{j}.name: 1-256 chars")
            if not fld.get("value") or len(fld["value"]) > 1024:
                errors.append(f"embeds.{i}.fields.{j}.value: 1-1024 chars")
            total += len(fld.get("name") or "") + len(fld.get("value") or "")
        footer = (emb.get("footer") or {}).get("text") or ""
        author = (emb.get("author") or {}).get("name") or ""
        if len(footer) > 2048:
            errors.append(f"embeds.{i}.footer.text: 2048 max")
        if len(author) > 256:
            errors.append(f"embeds.{i}.author.name: 256 max")
        total += len(footer) + len(author)
    if total > 6000:
        errors.append("embeds: total size exceeds 6000")
    components = body.get("components") or []
    if len(components) > 5 and not (int(body.get("flags") or 0) & (1 << 15)):
        errors.append("components: at most 5 action rows")
    for i, row in enumerate(components):
        if row.get("type") == 1:
            children = row.get("components") or []
            if not 1 <= len(children) <= 5:
                errors.append(f"components.{i}: action row needs 1-5 components")
            for child in children:
                cid = child.get("custom_id")
                if cid is not None and not 1 <= len(cid) <= 100:
                    errors.append(f"components.{i}: custom_id must be 1-100 chars")
                if len(child.get("label") or "") > 80:
                    errors.append(f"components.{i}: label must be 80 or fewer")
    if errors:
        raise ApiError(400, 50035, "Invalid Form Body",
                       {"_errors": [{"code": "BASE_TYPE_INVALID", "message": e} for e in errors]})
    if not allow_empty and not (content or embeds or components or body.get("attachments")
                                or body.get("sticker_ids") or body.get("poll")):
        raise ApiError(400, 50006, "Cannot send an empty message")
