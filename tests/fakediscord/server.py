"""Loopback fake of Discord's REST API (v10) and gateway, for end-to-end bot tests.

An unmodified discord.py bot (in-process or a separate process) connects to it over
real sockets once ``discord.http.Route.BASE`` is set to :attr:`FakeDiscord.api_base`
and ``discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY`` to ``yarl.URL(gateway_url)``
(the bot's entry point does that from ``DISCORD_API_BASE`` / ``DISCORD_GATEWAY_URL``;
for in-process bots use :meth:`FakeDiscord.patch_discord`).

The test drives the "user side" through methods of :class:`FakeDiscord`:
build a world (``add_guild``, ``add_text_channel``, ``add_role``, ``add_member``),
then ``user_message``, ``invoke_slash``, ``autocomplete``, ``click_button``,
``select``, ``submit_modal``; and observes with ``wait_for_message``,
``wait_for_commands``, ``messages``, ``threads``, ``requests`` ...

Everything runs in the test's event loop; a bot in another process just needs the
test to keep awaiting (use ``asyncio.create_subprocess_exec``, never blocking calls).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterator, Optional, Union

from aiohttp import WSMsgType, web

from .state import (
    DM,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    GUILD_CATEGORY,
    GUILD_TEXT,
    P_MANAGE_THREADS,
    P_SEND_MESSAGES,
    P_SEND_MESSAGES_IN_THREADS,
    PRIVATE_THREAD,
    PUBLIC_THREAD,
    THREAD_TYPES,
    ApiError,
    Interaction,
    Json,
    World,
    ident,
    iso,
    validate_message_body,
)

log = logging.getLogger("fakediscord")

# Gateway intents
I_GUILDS = 1 << 0
I_GUILD_MEMBERS = 1 << 1
I_GUILD_PRESENCES = 1 << 8
I_GUILD_MESSAGES = 1 << 9
I_GUILD_MESSAGE_REACTIONS = 1 << 10
I_DIRECT_MESSAGES = 1 << 12
I_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = I_GUILD_MEMBERS | I_GUILD_PRESENCES | I_MESSAGE_CONTENT

# Option types
OPT_SUB_COMMAND, OPT_SUB_COMMAND_GROUP = 1, 2
OPT_STRING, OPT_INTEGER, OPT_BOOLEAN, OPT_USER, OPT_CHANNEL, OPT_ROLE, OPT_MENTIONABLE, OPT_NUMBER = range(3, 11)

UserLike = Union[Json, str, int, Any]


@dataclass
class RequestRecord:
    """One REST request the bot made (``json`` is the parsed body or ``payload_json``)."""

    method: str
    path: str  # relative to /api/v10, e.g. "/channels/123/messages"
    query: dict[str, str]
    json: Any
    status: int = 0


@dataclass
class _Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    count: int
    retry_after: float
    body: Optional[Json]
    apply: bool = False  # do what was asked, then answer with the error (Discord failing after the fact)
    via: bool = True  # a 429 from Discord (Via header) rather than from Cloudflare (no Via, text body)
    when: Optional[Callable[["RequestRecord"], bool]] = None  # only requests this accepts

    def matches(self, rec: "RequestRecord") -> bool:
        return (self.count > 0 and self.method == rec.method and bool(self.pattern.search(rec.path))
                and (self.when is None or self.when(rec)))


class Hold:
    """A request the fake keeps waiting: ``arrived`` is set when it comes in; ``release()``
    lets it go on (the bot may have been killed meanwhile)."""

    def __init__(self, method: str, pattern: re.Pattern[str], apply: bool,
                 when: Optional[Callable[["RequestRecord"], bool]] = None) -> None:
        self.method = method
        self.pattern = pattern
        self.apply = apply  # hold after doing what was asked (Discord did it, the answer is late)
        self.when = when
        self.arrived = asyncio.Event()
        self.released = asyncio.Event()
        self.request: Optional["RequestRecord"] = None
        self.used = False

    def release(self) -> None:
        self.released.set()

    def matches(self, rec: "RequestRecord") -> bool:
        return (not self.used and self.method == rec.method and bool(self.pattern.search(rec.path))
                and (self.when is None or self.when(rec)))

    async def wait(self, timeout: float = 30.0) -> "RequestRecord":
        await asyncio.wait_for(self.arrived.wait(), timeout)
        assert self.request is not None
        return self.request


class _Conn:
    """One gateway websocket; outbound payloads go through a queue to keep order."""

    def __init__(self, ws: web.WebSocketResponse, query: dict[str, str]) -> None:
        self.ws = ws
        self.query = query
        self.queue: asyncio.Queue[Optional[Json]] = asyncio.Queue()
        self.session: Optional[_Session] = None

    def send(self, payload: Json) -> None:
        self.queue.put_nowait(payload)

    async def writer(self) -> None:
        while True:
            payload = await self.queue.get()
            try:
                if payload is None:
                    return
                if self.ws.closed:
                    continue
                try:
                    await self.ws.send_str(json.dumps(payload))
                except (ConnectionError, RuntimeError) as exc:  # peer went away
                    log.debug("gateway send failed: %r", exc)
            finally:
                self.queue.task_done()


@dataclass
class _Session:
    session_id: str
    intents: int
    identify: Json
    seq: int = 0
    conn: Optional[_Conn] = None
    backlog: list[Json] = field(default_factory=list)


class FakeDiscord:
    """A fake Discord server on 127.0.0.1 (REST under ``/api/v10``, gateway at ``/gateway``).

    Use as ``async with FakeDiscord() as fake:``.  World-building methods are synchronous
    and may be called before or after the bot connects (afterwards they dispatch the
    matching gateway events).  All ids are strings (Discord snowflakes).
    """

    def __init__(
        self,
        *,
        token: Optional[str] = None,
        bot_name: str = "TrainerBot",
        host: str = "127.0.0.1",
        port: int = 0,
        heartbeat_interval_ms: int = 41250,
        allowed_privileged_intents: int = PRIVILEGED_INTENTS,
        strict_commands: bool = False,
    ) -> None:
        """
        :param token: if set, REST ``Authorization: Bot <token>`` and IDENTIFY are checked.
        :param allowed_privileged_intents: privileged intents "enabled in the developer
            portal"; IDENTIFY asking for others is closed with 4014 like Discord does.
        :param strict_commands: ``invoke_slash`` refuses commands the bot never synced.
        """
        self.world = World(bot_name=bot_name)
        self.token = token
        self.host = host
        self.port = port
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.allowed_privileged_intents = allowed_privileged_intents
        self.strict_commands = strict_commands

        self.requests: list[RequestRecord] = []
        self.unknown_routes: list[str] = []
        self.warnings: list[str] = []
        self.gateway_queries: list[dict[str, str]] = []
        self.identify_count = 0
        self.resume_count = 0
        self.events: list[tuple[str, Json]] = []  # every dispatched (event name, data)

        self._session: Optional[_Session] = None
        self._sessions: dict[str, _Session] = {}
        self._conns: set[_Conn] = set()
        self._faults: list[_Fault] = []
        self._holds: list[Hold] = []
        self._gateway_open = asyncio.Event()
        self._gateway_open.set()
        self._changed = asyncio.Event()
        self._runner: Optional[web.AppRunner] = None
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Awaitable[Any]]]] = []
        self._register_routes()

    # ================================================================== lifecycle
    async def start(self) -> "FakeDiscord":
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/gateway/", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        app.router.add_route("*", "/{tail:.*}", self._unknown_prefix)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = site._server.sockets  # type: ignore[union-attr]
        self.port = sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        """Close gateway connections (code 1001) and stop the server."""
        for conn in list(self._conns):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(code=1001), 2)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "FakeDiscord":
        return await self.start()

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """Value for ``DISCORD_API_BASE`` / ``discord.http.Route.BASE``."""
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """Value for ``DISCORD_GATEWAY_URL`` (``DEFAULT_GATEWAY`` must be a ``yarl.URL`` of it)."""
        return f"ws://{self.host}:{self.port}/gateway"

    def env(self) -> dict[str, str]:
        """Environment variables for a bot subprocess."""
        return {"DISCORD_API_BASE": self.api_base, "DISCORD_GATEWAY_URL": self.gateway_url,
                "DISCORD_TOKEN": self.token or "fake-token"}

    @contextlib.contextmanager
    def patch_discord(self) -> Iterator[None]:
        """Point discord.py (in this process) at the fake; restores on exit."""
        import discord.gateway
        import discord.http
        import yarl

        old_base = discord.http.Route.BASE
        old_gw = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
        discord.http.Route.BASE = self.api_base
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway_url)
        try:
            yield
        finally:
            discord.http.Route.BASE = old_base
            discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = old_gw

    # ================================================================== world building
    @property
    def bot_user(self) -> Json:
        return self.world.bot_user

    @property
    def application_id(self) -> str:
        return self.world.application_id

    def add_guild(self, name: str = "Test Guild") -> Json:
        """A guild with @everyone, an Administrator role for the bot, an owner and the bot."""
        guild = self.world.add_guild(name)
        if self._session is not None:
            self._dispatch("GUILD_CREATE", self._guild_create(guild["id"]), intent=I_GUILDS)
        return guild

    def add_text_channel(self, guild: Any, name: str, *, topic: Optional[str] = None,
                         overwrites: Optional[list[Json]] = None, category: Any = None) -> Json:
        """``overwrites``: ``[{"id", "type": 0 role / 1 member, "allow": "bits", "deny": "bits"}]``."""
        ch = self.world.add_channel(guild, name, type=GUILD_TEXT, topic=topic, overwrites=overwrites,
                                    parent_id=ident(category) if category is not None else None)
        self._dispatch("CHANNEL_CREATE", copy.deepcopy(ch), intent=I_GUILDS)
        return ch

    def add_category(self, guild: Any, name: str) -> Json:
        ch = self.world.add_channel(guild, name, type=GUILD_CATEGORY)
        self._dispatch("CHANNEL_CREATE", copy.deepcopy(ch), intent=I_GUILDS)
        return ch

    def add_role(self, guild: Any, name: str, *, permissions: int = 0, mentionable: bool = False) -> Json:
        role = self.world.add_role(guild, name, permissions=permissions, mentionable=mentionable)
        self._dispatch("GUILD_ROLE_CREATE", {"guild_id": ident(guild), "role": copy.deepcopy(role)},
                       intent=I_GUILDS)
        return role

    def add_member(self, guild: Any, username: str, *, roles: Optional[list[Any]] = None,
                   nick: Optional[str] = None, global_name: Optional[str] = None, bot: bool = False) -> Json:
        """Create a user and make them a member; returns the member dict (``member["user"]``)."""
        user = self.world.add_user(username, bot=bot, global_name=global_name)
        member = self.world.add_member(guild, user, roles=roles, nick=nick)
        self._dispatch("GUILD_MEMBER_ADD", {**copy.deepcopy(member), "guild_id": ident(guild)},
                       intent=I_GUILD_MEMBERS)
        return member

    def set_member_roles(self, guild: Any, user: UserLike, roles: list[Any]) -> Json:
        gid, uid = ident(guild), self._uid(user)
        member = self.world.member(gid, uid)
        member["roles"] = [ident(r) for r in roles]
        self._dispatch("GUILD_MEMBER_UPDATE", {**copy.deepcopy(member), "guild_id": gid}, intent=I_GUILD_MEMBERS)
        return member

    def add_thread(self, channel: Any, name: str, owner: UserLike, *, private: bool = True,
                   members: Optional[list[UserLike]] = None) -> Json:
        """A thread created by a user (not the bot)."""
        thread = self.world.add_thread(channel, name, owner_id=self._uid(owner),
                                       type=PRIVATE_THREAD if private else PUBLIC_THREAD)
        self._dispatch("THREAD_CREATE", {**copy.deepcopy(thread), "newly_created": True}, intent=I_GUILDS)
        for m in members or []:
            self._add_thread_member(thread["id"], self._uid(m))
        return thread

    # ================================================================== observing
    def guild_of(self, channel: Any) -> Json:
        return self.world.guild(self.world.channel(ident(channel))["guild_id"])

    def channel(self, channel: Any) -> Json:
        return self.world.channel(ident(channel))

    def messages(self, channel: Any) -> list[Json]:
        """All messages stored in a channel/thread, oldest first (ephemeral ones are not here)."""
        return list(self.world.messages.get(ident(channel), []))

    def bot_messages(self, channel: Any = None) -> list[Json]:
        """Messages authored by the bot (in one channel, or everywhere), oldest first."""
        chans = [ident(channel)] if channel is not None else list(self.world.messages)
        out = [m for c in chans for m in self.world.messages.get(c, []) if m["author"]["id"] == self.bot_user["id"]]
        return sorted(out, key=lambda m: int(m["id"]))

    def threads(self, guild: Any = None, *, parent: Any = None) -> list[Json]:
        """Threads (any state) in a guild and/or under a parent channel."""
        out = []
        for ch in self.world.channels.values():
            if ch["type"] not in THREAD_TYPES:
                continue
            if guild is not None and ch["guild_id"] != ident(guild):
                continue
            if parent is not None and ch["parent_id"] != ident(parent):
                continue
            out.append(ch)
        return out

    def thread_member_ids(self, thread: Any) -> list[str]:
        return list(self.world.thread_members.get(ident(thread), {}))

    def allowed_mentions(self, message: Any) -> Optional[Json]:
        """The ``allowed_mentions`` the bot sent with a message (``None`` = field absent)."""
        return self.world.allowed_mentions.get(ident(message))

    def commands(self, guild: Any = None) -> list[Json]:
        """Synced application commands (global when ``guild`` is None)."""
        return list(self.world.commands(ident(guild) if guild is not None else None))

    @property
    def interactions(self) -> list[Interaction]:
        return list(self.world.interactions.values())

    def requests_to(self, method: str, path_regex: str) -> list[RequestRecord]:
        rx = re.compile(path_regex)
        return [r for r in self.requests if r.method == method.upper() and rx.search(r.path)]

    @property
    def connected(self) -> bool:
        s = self._session
        return s is not None and s.conn is not None and not s.conn.ws.closed

    @property
    def intents(self) -> Optional[int]:
        return self._session.intents if self._session else None

    # ================================================================== waiting
    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], Any], *, timeout: float = 10.0,
                         what: str = "condition") -> Any:
        """Wait until ``predicate()`` is truthy (re-checked on every change); return its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                hint = f"; unknown routes hit: {self.unknown_routes[-5:]}" if self.unknown_routes else ""
                raise TimeoutError(f"fakediscord: timed out after {timeout}s waiting for {what}{hint}")
            event = self._changed
            try:
                await asyncio.wait_for(event.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass

    async def wait_for_bot_ready(self, *, timeout: float = 30.0, identifies: int = 1) -> None:
        """Wait until the bot IDENTIFYed (``identifies`` times) and got READY + GUILD_CREATEs.

        discord.py fires ``on_ready`` ``guild_ready_timeout`` seconds after the last
        GUILD_CREATE; events sent before that are processed normally.
        """
        await self.wait_until(lambda: self.identify_count >= identifies and self.connected,
                              timeout=timeout, what="bot IDENTIFY/READY")
        await self.flush()

    async def wait_for_commands(self, guild: Any = None, *, timeout: float = 30.0) -> list[Json]:
        """Wait until the bot synced commands (guild-scoped if ``guild``), return them."""
        gid = ident(guild) if guild is not None else None
        await self.wait_until(lambda: gid in self.world.commands_synced, timeout=timeout,
                              what=f"command sync ({'guild ' + gid if gid else 'global'})")
        return self.commands(guild)

    async def wait_for_message(self, channel: Any = None, predicate: Optional[Callable[[Json], bool]] = None,
                               *, after: Any = None, author: Any = "bot", timeout: float = 10.0) -> Json:
        """Wait for a stored message (by the bot unless ``author`` is a user or None).

        Only messages with id > ``after`` (a message/id) count; by default already
        stored ones count too.  ``channel`` None means any channel.
        """
        after_id = int(ident(after)) if after is not None else 0
        author_id = self.bot_user["id"] if author == "bot" else (self._uid(author) if author is not None else None)

        def find() -> Optional[Json]:
            chans = [ident(channel)] if channel is not None else list(self.world.messages)
            for cid in chans:
                for m in self.world.messages.get(cid, []):
                    if int(m["id"]) <= after_id:
                        continue
                    if author_id is not None and m["author"]["id"] != author_id:
                        continue
                    if predicate is None or predicate(m):
                        return m
            return None

        return await self.wait_until(find, timeout=timeout, what=f"message in {channel and ident(channel)}")

    async def wait_for_thread(self, parent: Any = None, predicate: Optional[Callable[[Json], bool]] = None,
                              *, timeout: float = 10.0) -> Json:
        def find() -> Optional[Json]:
            for t in self.threads(parent=parent):
                if predicate is None or predicate(t):
                    return t
            return None

        return await self.wait_until(find, timeout=timeout, what="thread")

    async def wait_for_reply(self, interaction: Interaction, *, timeout: float = 10.0) -> Json:
        """Wait until an interaction has a visible, non-loading reply message; return it.

        (A deferred response is completed by editing @original or by the first follow-up.)
        """
        def find() -> Optional[Json]:
            orig = interaction.original
            if orig is not None and not orig.get("flags", 0) & FLAG_LOADING:
                return orig
            if interaction.followups:
                return interaction.followups[0]
            return None

        return await self.wait_until(find, timeout=timeout, what=f"reply to interaction {interaction.id}")

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until every queued gateway payload was written to the socket."""
        s = self._session
        if s is not None and s.conn is not None:
            await asyncio.wait_for(s.conn.queue.join(), timeout)

    # ================================================================== fault injection
    def fail_next(self, method: str, path_regex: str, *, status: int = 500, count: int = 1,
                  retry_after: float = 0.05, body: Optional[Json] = None, apply: bool = False,
                  via: bool = True, when: Optional[Callable[[RequestRecord], bool]] = None) -> None:
        """Make the next ``count`` matching REST requests fail.

        ``status=429`` sends a proper rate limit (``Via`` header, ``retry_after``) that
        discord.py retries transparently; with ``via=False`` it is a Cloudflare 429 (no
        ``Via``, a text body), which discord.py raises at once. ``apply=True`` does what
        the request asked first (the message is posted, the thread made) and then answers
        with the error, as Discord sometimes does with a 5xx. ``when`` picks requests by
        their content (``lambda rec: "Feedback" in str(rec.json)``).
        """
        self._faults.append(_Fault(method.upper(), re.compile(path_regex), status, count, retry_after, body, apply, via, when))

    def hold_next(self, method: str, path_regex: str, *, apply: bool = False,
                  when: Optional[Callable[[RequestRecord], bool]] = None) -> Hold:
        """Keep the next matching REST request waiting until ``release()``: before doing
        anything (``apply=False``), or after doing it but before answering (``apply=True``).
        The test can kill the bot while it waits."""
        hold = Hold(method.upper(), re.compile(path_regex), apply, when)
        self._holds.append(hold)
        return hold

    # ================================================================== gateway controls
    async def disconnect_bot(self, code: int = 4000, *, resumable: bool = True) -> None:
        """Close the bot's websocket; with a resumable code (4000) discord.py RESUMEs.

        ``resumable=False`` forgets the session too, as Discord does for 4009 (session
        timed out): the RESUME gets op 9 ``d=false`` and discord.py IDENTIFYs again, with a
        new session, so the events of the gap are never replayed."""
        s = self._session
        if s is not None and s.conn is not None:
            if not resumable:
                self._sessions.pop(s.session_id, None)
            conn, s.conn = s.conn, None
            await conn.ws.close(code=code)
            self._notify()

    def pause_gateway(self) -> None:
        """New gateway connections wait (the bot stays disconnected) until ``resume_gateway``;
        events in the meantime go to the session's backlog, replayed only by a RESUME."""
        self._gateway_open.clear()

    def resume_gateway(self) -> None:
        self._gateway_open.set()

    def send_reconnect(self) -> None:
        """Send op 7 RECONNECT (discord.py reconnects and RESUMEs)."""
        if self._session and self._session.conn:
            self._session.conn.send({"op": 7, "d": None, "s": None, "t": None})

    def invalidate_session(self) -> None:
        """Send op 9 (not resumable): discord.py re-IDENTIFYs and gets a fresh READY."""
        s = self._session
        if s and s.conn:
            s.conn.send({"op": 9, "d": False, "s": None, "t": None})
            self._sessions.pop(s.session_id, None)

    def dispatch(self, event: str, data: Json) -> None:
        """Send an arbitrary DISPATCH event to the bot (no intent filtering)."""
        self._dispatch(event, data)

    # ================================================================== user actions
    def _uid(self, user: UserLike) -> str:
        if isinstance(user, dict) and "user" in user:
            return str(user["user"]["id"])
        return ident(user)

    async def user_message(self, channel: Any, user: UserLike, content: str, *,
                           reply_to: Any = None, embeds: Optional[list[Json]] = None) -> Json:
        """A user writes a message: stored (visible to history fetches) and MESSAGE_CREATE sent.

        Raises ``PermissionError`` if the user could not post there (private thread they
        are not in, locked thread, missing permissions).
        """
        cid, uid = ident(channel), self._uid(user)
        ch = self.world.channel(cid)
        if ch["type"] != DM:
            if not self.world.can_see(cid, uid):
                raise PermissionError(f"user {uid} cannot see channel {cid}")
            perms = self.world.permissions_in(cid, uid)
            need = P_SEND_MESSAGES_IN_THREADS if ch["type"] in THREAD_TYPES else P_SEND_MESSAGES
            if not perms & need:
                raise PermissionError(f"user {uid} may not send messages in {cid}")
            if ch["type"] in THREAD_TYPES and ch["thread_metadata"]["archived"]:
                if ch["thread_metadata"]["locked"] and not perms & P_MANAGE_THREADS:
                    raise PermissionError(f"thread {cid} is locked")
                self._set_thread_meta(ch, archived=False)
        body: Json = {"content": content, "embeds": embeds or []}
        if reply_to is not None:
            body["message_reference"] = {"message_id": ident(reply_to), "channel_id": cid}
        msg = self.world.build_message(cid, self.world.users[uid], body)
        self.world.store_message(msg)
        self._dispatch_message("MESSAGE_CREATE", msg)
        await self.flush()
        return msg

    def _find_command(self, guild_id: str, name: str, ctype: int = 1) -> Optional[Json]:
        for cmd in self.world.commands(guild_id) + self.world.commands(None):
            if cmd["name"] == name and cmd.get("type", 1) == ctype:
                return cmd
        return None

    def _interaction_base(self, itype: int, channel_id: str, user_id: str, data: Json,
                          message: Optional[Json] = None) -> Interaction:
        if not self.connected:
            raise RuntimeError("fakediscord: the bot is not connected to the gateway")
        ch = self.world.channel(channel_id)
        iid = self.world.ids.next()
        token = f"itoken-{uuid.uuid4().hex}"
        payload: Json = {
            "id": iid,
            "application_id": self.application_id,
            "type": itype,
            "data": data,
            "token": token,
            "version": 1,
            "channel_id": channel_id,
            "channel": copy.deepcopy(ch),
            "locale": "en-US",
            "entitlements": [],
            "attachment_size_limit": 26214400,
        }
        gid = ch.get("guild_id")
        if gid:
            member = copy.deepcopy(self.world.member(gid, user_id))
            member["permissions"] = str(self.world.permissions_in(channel_id, user_id))
            payload.update({
                "guild_id": gid,
                "guild": {"id": gid, "locale": "en-US", "features": []},
                "guild_locale": "en-US",
                "member": member,
                "app_permissions": str(self.world.permissions_in(channel_id, self.bot_user["id"])),
                "authorizing_integration_owners": {"0": gid},
                "context": 0,
            })
        else:
            payload.update({"user": copy.deepcopy(self.world.users[user_id]),
                            "authorizing_integration_owners": {"1": user_id}, "context": 1})
        if message is not None:
            payload["message"] = copy.deepcopy(message)
        rec = Interaction(id=iid, token=token, type=itype, payload=payload, channel_id=channel_id)
        self.world.interactions[iid] = rec
        self.world.interactions_by_token[token] = rec
        return rec

    def _build_options(self, cmd: Optional[Json], guild_id: Optional[str], group: Optional[str],
                       subcommand: Optional[str], options: dict[str, Any], focused: Optional[str],
                       check_required: bool) -> tuple[list[Json], Json]:
        defs: Optional[list[Json]] = cmd.get("options", []) if cmd else None
        path = [cmd["name"]] if cmd else []

        def descend(name: str, otype: int) -> None:
            nonlocal defs
            path.append(name)
            if defs is None:
                return
            found = next((o for o in defs if o["name"] == name and o["type"] == otype), None)
            if found is None:
                raise ValueError(f"command {' '.join(path)!r} does not exist in the synced definition")
            defs = found.get("options") or []

        if group:
            descend(group, OPT_SUB_COMMAND_GROUP)
        if subcommand:
            descend(subcommand, OPT_SUB_COMMAND)

        resolved: Json = {}
        leaf: list[Json] = []
        for name, value in options.items():
            odef = None
            if defs is not None:
                odef = next((o for o in defs if o["name"] == name), None)
                if odef is None:
                    raise ValueError(f"{' '.join(path)}: unknown option {name!r}; "
                                     f"known: {[o['name'] for o in defs]}")
            otype = odef["type"] if odef else _infer_type(value)
            entry: Json = {"name": name, "type": otype}
            if focused == name:
                entry["value"] = str(value)
                entry["focused"] = True
            else:
                entry["value"] = self._option_value(otype, value, guild_id, resolved)
                if odef and odef.get("choices") and entry["value"] not in [c["value"] for c in odef["choices"]]:
                    raise ValueError(f"{name}: {value!r} is not one of the declared choices")
            leaf.append(entry)
        if check_required and defs is not None:
            missing = [o["name"] for o in defs if o.get("required") and o["name"] not in options]
            if missing:
                raise ValueError(f"{' '.join(path)}: missing required options {missing}")

        result: list[Json] = leaf
        if subcommand:
            result = [{"name": subcommand, "type": OPT_SUB_COMMAND, "options": leaf}]
        if group:
            result = [{"name": group, "type": OPT_SUB_COMMAND_GROUP, "options": result}]
        return result, resolved

    def _option_value(self, otype: int, value: Any, guild_id: Optional[str], resolved: Json) -> Any:
        if otype == OPT_INTEGER:
            return int(value)
        if otype == OPT_NUMBER:
            return float(value)
        if otype == OPT_BOOLEAN:
            return bool(value)
        if otype == OPT_STRING:
            return str(value)
        oid = self._uid(value)
        if otype in (OPT_USER, OPT_MENTIONABLE) and oid in self.world.users:
            resolved.setdefault("users", {})[oid] = copy.deepcopy(self.world.users[oid])
            if guild_id and oid in self.world.members[guild_id]:
                m = {k: v for k, v in self.world.members[guild_id][oid].items() if k != "user"}
                m["permissions"] = str(self.world.base_permissions(guild_id, oid))
                resolved.setdefault("members", {})[oid] = copy.deepcopy(m)
        elif otype in (OPT_ROLE, OPT_MENTIONABLE) and guild_id and oid in self.world.roles[guild_id]:
            resolved.setdefault("roles", {})[oid] = copy.deepcopy(self.world.roles[guild_id][oid])
        elif otype == OPT_CHANNEL:
            ch = copy.deepcopy(self.world.channel(oid))
            ch["permissions"] = str(ALL_PERMS_STR)
            resolved.setdefault("channels", {})[oid] = ch
        return oid

    async def _send_interaction(self, rec: Interaction, timeout: float, wait: bool) -> Interaction:
        self._dispatch("INTERACTION_CREATE", copy.deepcopy(rec.payload))
        if wait:
            await self.wait_until(lambda: rec.responses, timeout=timeout,
                                  what=f"response to interaction {rec.id} ({_describe(rec)})")
        return rec

    async def invoke_slash(self, channel: Any, user: UserLike, name: str, *, group: Optional[str] = None,
                           subcommand: Optional[str] = None, options: Optional[dict[str, Any]] = None,
                           timeout: float = 10.0, wait: bool = True,
                           bypass_permissions: bool = False) -> Interaction:
        """Run ``/name [group] [subcommand] option:value ...`` as ``user`` in ``channel``.

        Options are typed from the synced command definition (users/roles/channels may be
        given as dicts and are put in ``data.resolved``).  Returns once the bot sent the
        interaction callback (unless ``wait=False``); the returned record keeps filling
        up with follow-ups / @original edits (see :meth:`wait_for_reply`).

        Like the Discord client, refuses (``PermissionError``) a command whose
        ``default_member_permissions`` the user lacks, unless ``bypass_permissions``.
        """
        cid, uid = ident(channel), self._uid(user)
        gid = self.world.channel(cid).get("guild_id")
        cmd = self._find_command(gid, name) if gid else self._find_command("", name)
        if cmd is None:
            if self.strict_commands:
                raise LookupError(f"/{name} was never synced; synced: {[c['name'] for c in self.commands(gid)]}")
            self.warnings.append(f"/{name} invoked without being synced")
        if cmd is not None and gid and not bypass_permissions:
            needed = cmd.get("default_member_permissions")
            have = self.world.permissions_in(cid, uid)
            if needed is not None and (int(needed) & have) != int(needed) or (needed == "0" and have != ALL_PERMS):
                raise PermissionError(f"/{name} requires permissions {needed}; user {uid} has {have} "
                                      "(Discord would not show the command)")
        opts, resolved = self._build_options(cmd, gid, group, subcommand, options or {}, None, True)
        data: Json = {"id": cmd["id"] if cmd else self.world.ids.next(), "name": name, "type": 1, "options": opts}
        if cmd and cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        if resolved:
            data["resolved"] = resolved
        rec = self._interaction_base(2, cid, uid, data)
        return await self._send_interaction(rec, timeout, wait)

    async def autocomplete(self, channel: Any, user: UserLike, name: str, *, focused: str,
                           group: Optional[str] = None, subcommand: Optional[str] = None,
                           options: Optional[dict[str, Any]] = None, timeout: float = 10.0) -> list[Json]:
        """Type into option ``focused`` (its partial value is ``options[focused]``, default "");
        return the bot's choices (``[{"name", "value"}]``)."""
        cid, uid = ident(channel), self._uid(user)
        gid = self.world.channel(cid).get("guild_id")
        cmd = self._find_command(gid, name) if gid else None
        opts_in = dict(options or {})
        opts_in.setdefault(focused, "")
        opts, resolved = self._build_options(cmd, gid, group, subcommand, opts_in, focused, False)
        data: Json = {"id": cmd["id"] if cmd else self.world.ids.next(), "name": name, "type": 1, "options": opts}
        if cmd and cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        if resolved:
            data["resolved"] = resolved
        rec = self._interaction_base(4, cid, uid, data)
        await self._send_interaction(rec, timeout, True)
        if rec.response_type != 8:
            raise AssertionError(f"autocomplete answered with callback type {rec.response_type}")
        return rec.choices or []

    def find_message(self, message: Any) -> Optional[Json]:
        """Latest version of a message by id: channel history, then interaction replies (ephemeral too)."""
        mid = ident(message)
        for msgs in self.world.messages.values():
            for m in msgs:
                if m["id"] == mid:
                    return m
        for rec in self.world.interactions.values():
            for m in rec.all_messages():
                if m["id"] == mid:
                    return m
        return message if isinstance(message, dict) else None

    async def click_button(self, message: Any, user: UserLike, custom_id: str, *,
                           timeout: float = 10.0, wait: bool = True) -> Interaction:
        """Click the button ``custom_id`` on ``message`` (a message dict or id)."""
        return await self._component(message, user, custom_id, 2, None, timeout, wait)

    async def select(self, message: Any, user: UserLike, custom_id: str, values: list[str], *,
                     timeout: float = 10.0, wait: bool = True) -> Interaction:
        """Pick ``values`` in the select menu ``custom_id`` on ``message``."""
        return await self._component(message, user, custom_id, None, values, timeout, wait)

    async def _component(self, message: Any, user: UserLike, custom_id: str, ctype: Optional[int],
                         values: Optional[list[str]], timeout: float, wait: bool) -> Interaction:
        msg = self.find_message(message)
        if msg is None:
            raise LookupError(f"unknown message {ident(message)}")
        comp = next((c for c in _walk_components(msg.get("components") or []) if c.get("custom_id") == custom_id),
                    None)
        if comp is None:
            ids = [c.get("custom_id") for c in _walk_components(msg.get("components") or []) if c.get("custom_id")]
            raise LookupError(f"message {msg['id']} has no component {custom_id!r}; has {ids}")
        if comp.get("disabled"):
            raise PermissionError(f"component {custom_id!r} is disabled")
        data: Json = {"custom_id": custom_id, "component_type": ctype or comp["type"]}
        if values is not None:
            data["values"] = list(values)
        rec = self._interaction_base(3, msg["channel_id"], self._uid(user), data, message=msg)
        return await self._send_interaction(rec, timeout, wait)

    async def submit_modal(self, channel: Any, user: UserLike, custom_id: str, values: dict[str, str], *,
                           modal_from: Optional[Interaction] = None, timeout: float = 10.0,
                           wait: bool = True) -> Interaction:
        """Submit a modal. ``modal_from`` (the interaction answered with a type 9 modal) lets
        the fake check ``custom_id``/fields and mirror the modal's layout (rows or labels)."""
        components: list[Json] = []
        if modal_from is not None:
            modal = next((r["data"] for r in modal_from.responses if r["type"] == 9), None)
            if modal is None:
                raise AssertionError("that interaction was not answered with a modal")
            if modal["custom_id"] != custom_id:
                raise ValueError(f"modal custom_id is {modal['custom_id']!r}, not {custom_id!r}")
            known = set()
            for top in modal.get("components") or []:
                child = top["component"] if top.get("type") == 18 else (top.get("components") or [{}])[0]
                cid = child.get("custom_id")
                known.add(cid)
                if cid not in values:
                    if child.get("required", True) and child.get("type") == 4:
                        raise ValueError(f"modal field {cid!r} is required")
                    continue
                sub = {"type": child["type"], "custom_id": cid}
                if child["type"] == 4:
                    sub["value"] = values[cid]
                else:
                    sub["values"] = values[cid]
                components.append({"type": 18, "component": sub} if top.get("type") == 18
                                  else {"type": 1, "components": [sub]})
            unknown = set(values) - known
            if unknown:
                raise ValueError(f"modal has no fields {sorted(unknown)}")
        else:
            components = [{"type": 1, "components": [{"type": 4, "custom_id": k, "value": v}]}
                          for k, v in values.items()]
        data = {"custom_id": custom_id, "components": components}
        msg = modal_from.payload.get("message") if modal_from is not None else None
        rec = self._interaction_base(5, ident(channel), self._uid(user), data, message=msg)
        return await self._send_interaction(rec, timeout, wait)

    # ================================================================== gateway internals
    def _guild_create(self, guild_id: str) -> Json:
        intents = self._session.intents if self._session else 0
        return self.world.guild_payload(guild_id, with_members=bool(intents & I_GUILD_MEMBERS))

    def _dispatch(self, event: str, data: Json, *, intent: Optional[int] = None) -> None:
        s = self._session
        if s is None:
            return
        if intent is not None and not s.intents & intent:
            return
        s.seq += 1
        payload = {"op": 0, "t": event, "s": s.seq, "d": data}
        s.backlog.append(payload)
        self.events.append((event, data))
        if s.conn is not None:
            s.conn.send(payload)
        self._notify()

    def _dispatch_message(self, event: str, msg: Json) -> None:
        s = self._session
        if s is None:
            return
        is_dm = self.world.channels[msg["channel_id"]]["type"] == DM
        intent = I_DIRECT_MESSAGES if is_dm else I_GUILD_MESSAGES
        if not s.intents & intent:
            return
        data = copy.deepcopy(msg)
        bot_id = self.bot_user["id"]
        exempt = is_dm or data["author"]["id"] == bot_id or any(u["id"] == bot_id for u in data.get("mentions", []))
        if not s.intents & I_MESSAGE_CONTENT and not exempt:
            data.update({"content": "", "embeds": [], "attachments": [], "components": []})
        self._dispatch(event, data)

    def _ready_payload(self, session: _Session, identify: Json) -> Json:
        user = copy.deepcopy(self.bot_user)
        user.update({"verified": True, "mfa_enabled": False, "email": None})
        ready: Json = {
            "v": 10,
            "user": user,
            "guilds": [{"id": gid, "unavailable": True} for gid in self.world.guilds],
            "session_id": session.session_id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": self.application_id, "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["local"],
            "session_type": "normal",
            "auth": {},
            "_trace": ["fakediscord"],
        }
        if "shard" in identify:
            ready["shard"] = identify["shard"]
        return ready

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        await self._gateway_open.wait()
        ws = web.WebSocketResponse(max_msg_size=0, autoping=True)
        await ws.prepare(request)
        query = dict(request.query)
        self.gateway_queries.append(query)
        conn = _Conn(ws, query)
        self._conns.add(conn)
        writer = asyncio.create_task(conn.writer())
        conn.send({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms, "_trace": []},
                   "s": None, "t": None})
        try:
            if query.get("encoding", "json") != "json":
                await ws.close(code=4002, message=b"only encoding=json is supported")
                return ws
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    payload = json.loads(msg.data)
                except ValueError:
                    await ws.close(code=4002, message=b"Error while decoding payload.")
                    break
                await self._gateway_op(conn, payload)
        finally:
            if conn.session is not None and conn.session.conn is conn:
                conn.session.conn = None
            conn.send(None)  # type: ignore[arg-type]
            with contextlib.suppress(Exception):
                await writer
            self._conns.discard(conn)
            self._notify()
        return ws

    async def _gateway_op(self, conn: _Conn, payload: Json) -> None:
        op, d = payload.get("op"), payload.get("d")
        if op == 1:  # heartbeat
            conn.send({"op": 11, "d": None, "s": None, "t": None})
        elif op == 2:  # identify
            if self.token is not None and d.get("token") != self.token:
                await conn.ws.close(code=4004, message=b"Authentication failed.")
                return
            intents = int(d.get("intents", 0))
            if intents & PRIVILEGED_INTENTS & ~self.allowed_privileged_intents:
                await conn.ws.close(code=4014, message=b"Disallowed intent(s).")
                return
            old = self._session
            if old is not None and old.conn is not None and old.conn is not conn:
                old.conn.send({"op": 7, "d": None, "s": None, "t": None})
                old.conn = None
            session = _Session(session_id=uuid.uuid4().hex, intents=intents, identify=d)
            self._sessions[session.session_id] = session
            self._session = session
            session.conn = conn
            conn.session = session
            self.identify_count += 1
            self._dispatch("READY", self._ready_payload(session, d))
            for gid in self.world.guilds:
                self._dispatch("GUILD_CREATE", self._guild_create(gid), intent=None)
            self._notify()
        elif op == 6:  # resume
            session = self._sessions.get(str(d.get("session_id")))
            if session is None or (self.token is not None and d.get("token") != self.token):
                conn.send({"op": 9, "d": False, "s": None, "t": None})
                return
            if session.conn is not None and session.conn is not conn:
                with contextlib.suppress(Exception):
                    await session.conn.ws.close(code=4000)
            seq = int(d.get("seq") or 0)
            for p in session.backlog:
                if p["s"] > seq:
                    conn.send(p)
            session.seq += 1
            conn.send({"op": 0, "t": "RESUMED", "s": session.seq, "d": {"_trace": ["fakediscord"]}})
            session.conn = conn
            conn.session = session
            self._session = session
            self.resume_count += 1
            self._notify()
        elif op == 8:  # request guild members
            gids = d.get("guild_id")
            for gid in gids if isinstance(gids, list) else [gids]:
                gid = str(gid)
                members = list(self.world.members.get(gid, {}).values())
                if d.get("user_ids"):
                    wanted = {str(u) for u in d["user_ids"]}
                    members = [m for m in members if m["user"]["id"] in wanted]
                elif d.get("query"):
                    q = d["query"].lower()
                    members = [m for m in members if m["user"]["username"].lower().startswith(q)]
                if d.get("limit"):
                    members = members[: int(d["limit"])]
                chunk: Json = {"guild_id": gid, "members": copy.deepcopy(members), "chunk_index": 0,
                               "chunk_count": 1, "not_found": []}
                if d.get("nonce"):
                    chunk["nonce"] = d["nonce"]
                self._dispatch("GUILD_MEMBERS_CHUNK", chunk)
        elif op in (3, 4):  # presence / voice state: accepted, ignored
            pass
        else:
            await conn.ws.close(code=4001, message=b"Unknown opcode.")

    # ================================================================== REST plumbing
    def _route(self, method: str, pattern: str) -> Callable[[Callable[..., Awaitable[Any]]], Any]:
        rx = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")

        def deco(fn: Callable[..., Awaitable[Any]]) -> Any:
            self._routes.append((method, rx, fn))
            return fn

        return deco

    async def _unknown_prefix(self, request: web.Request) -> web.Response:
        self.unknown_routes.append(f"{request.method} {request.path}")
        log.warning("fakediscord: unknown route %s %s", request.method, request.path)
        return _json({"message": "Unknown route", "code": 0}, 404)

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        method = request.method
        body: Any = None
        ctype = request.headers.get("Content-Type", "")
        if ctype.startswith("multipart/"):
            body, files = await _read_multipart(request)
            if isinstance(body, dict):
                body.setdefault("_files", files)
        elif request.can_read_body:
            raw = await request.read()
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    return _json({"message": "400: Bad Request", "code": 50109}, 400)
        rec = RequestRecord(method, path, dict(request.query), body)
        self.requests.append(rec)
        response = await self._handle(request, rec)
        rec.status = response.status
        self._notify()
        return response

    async def _handle(self, request: web.Request, rec: RequestRecord) -> web.Response:
        hold = next((h for h in self._holds if h.matches(rec)), None)
        if hold is not None:
            hold.used, hold.request = True, rec
            if not hold.apply:
                hold.arrived.set()
                self._notify()
                await hold.released.wait()
        fault = next((f for f in self._faults if f.matches(rec)), None)
        if fault is not None:
            fault.count -= 1
            if fault.apply:
                await self._serve(request, rec)
            if fault.status == 429 and not fault.via:
                # Cloudflare's own limit: an HTML page, no Via header.
                return web.Response(status=429, text="error code: 1015", content_type="text/html",
                                    headers={"Retry-After": str(fault.retry_after)})
            if fault.status == 429:
                body = fault.body or {"message": "You are being rate limited.",
                                      "retry_after": fault.retry_after, "global": False}
                return _json(body, 429, {"Via": "1.1 google", "Retry-After": str(fault.retry_after),
                                         "X-RateLimit-Scope": "user"})
            return _json(fault.body or {"message": f"{fault.status}: injected failure", "code": 0}, fault.status)
        response = await self._serve(request, rec)
        if hold is not None and hold.apply:
            hold.arrived.set()
            self._notify()
            await hold.released.wait()
        return response

    async def _serve(self, request: web.Request, rec: RequestRecord) -> web.Response:
        for method, rx, fn in self._routes:
            if method != rec.method:
                continue
            m = rx.match(rec.path)
            if m is None:
                continue
            public = rec.path.startswith(("/interactions/", "/webhooks/", "/gateway"))
            if self.token is not None and not public:
                if request.headers.get("Authorization") != f"Bot {self.token}":
                    return _json({"message": "401: Unauthorized", "code": 0}, 401)
            try:
                result = await fn(rec, **m.groupdict())
            except ApiError as exc:
                return _json(exc.body(), exc.status)
            if result is None:
                return web.Response(status=204)
            return _json(result, 200)
        self.unknown_routes.append(f"{rec.method} {rec.path}")
        log.warning("fakediscord: unknown route %s %s", rec.method, rec.path)
        return _json({"message": "Unknown route", "code": 0}, 404)

    # ================================================================== REST routes
    def _register_routes(self) -> None:  # noqa: C901 - a flat list of small handlers
        r = self._route
        w = self.world

        @r("GET", "/gateway")
        async def get_gateway(rec: RequestRecord) -> Json:
            return {"url": self.gateway_url}

        @r("GET", "/gateway/bot")
        async def get_gateway_bot(rec: RequestRecord) -> Json:
            return {"url": self.gateway_url, "shards": 1,
                    "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0,
                                            "max_concurrency": 1}}

        @r("GET", "/users/@me")
        async def get_me(rec: RequestRecord) -> Json:
            user = copy.deepcopy(w.bot_user)
            user.update({"verified": True, "mfa_enabled": False, "email": None, "locale": "en-US"})
            return user

        @r("GET", "/users/{user_id}")
        async def get_user(rec: RequestRecord, user_id: str) -> Json:
            if user_id not in w.users:
                raise ApiError(404, 10013, "Unknown User")
            return w.users[user_id]

        @r("POST", "/users/@me/channels")
        async def create_dm(rec: RequestRecord) -> Json:
            uid = str(rec.json["recipient_id"])
            if uid not in w.users:
                raise ApiError(404, 10013, "Unknown User")
            for ch in w.channels.values():
                if ch["type"] == DM and ch["recipients"][0]["id"] == uid:
                    return ch
            cid = w.ids.next()
            ch = {"id": cid, "type": DM, "last_message_id": None, "flags": 0, "recipients": [w.users[uid]]}
            w.channels[cid] = ch
            w.messages[cid] = []
            return ch

        @r("GET", "/oauth2/applications/@me")
        @r("GET", "/applications/@me")
        async def get_app(rec: RequestRecord) -> Json:
            return w.application()

        def cmd_routes(prefix: str, scoped: bool) -> None:
            def gid_of(kw: dict[str, str]) -> Optional[str]:
                return kw.get("guild_id") if scoped else None

            def check_app(app_id: str) -> None:
                if app_id != w.application_id:
                    raise ApiError(403, 50001, "Missing Access")

            @r("GET", prefix)
            async def list_cmds(rec: RequestRecord, app_id: str, **kw: str) -> list[Json]:
                check_app(app_id)
                return w.commands(gid_of(kw))

            @r("PUT", prefix)
            async def put_cmds(rec: RequestRecord, app_id: str, **kw: str) -> list[Json]:
                check_app(app_id)
                if not isinstance(rec.json, list):
                    raise ApiError(400, 50035, "Invalid Form Body")
                return w.set_commands(gid_of(kw), rec.json)

            @r("POST", prefix)
            async def upsert_cmd(rec: RequestRecord, app_id: str, **kw: str) -> Json:
                check_app(app_id)
                gid = gid_of(kw)
                cmds = [c for c in w.commands(gid)
                        if (c["name"], c["type"]) != (rec.json["name"], rec.json.get("type", 1))]
                out = w.set_commands(gid, [{k: v for k, v in c.items() if k not in ("id", "version")}
                                           for c in cmds] + [rec.json])
                return out[-1]

            @r("GET", prefix + "/{cmd_id}")
            async def get_cmd(rec: RequestRecord, app_id: str, cmd_id: str, **kw: str) -> Json:
                check_app(app_id)
                for c in w.commands(gid_of(kw)):
                    if c["id"] == cmd_id:
                        return c
                raise ApiError(404, 10063, "Unknown application command")

            @r("DELETE", prefix + "/{cmd_id}")
            async def delete_cmd(rec: RequestRecord, app_id: str, cmd_id: str, **kw: str) -> None:
                check_app(app_id)
                gid = gid_of(kw)
                cmds = w.commands(gid)
                remaining = [c for c in cmds if c["id"] != cmd_id]
                if len(remaining) == len(cmds):
                    raise ApiError(404, 10063, "Unknown application command")
                if gid:
                    w.guild_commands[gid] = remaining
                else:
                    w.global_commands = remaining
                return None

        cmd_routes("/applications/{app_id}/commands", False)
        cmd_routes("/applications/{app_id}/guilds/{guild_id}/commands", True)

        @r("GET", "/applications/{app_id}/guilds/{guild_id}/commands/permissions")
        async def cmd_perms(rec: RequestRecord, app_id: str, guild_id: str) -> list[Json]:
            return []

        # ---------------------------------------------------------- interactions
        @r("POST", "/interactions/{iid}/{token}/callback")
        async def callback(rec: RequestRecord, iid: str, token: str) -> Optional[Json]:
            inter = w.interactions.get(iid)
            if inter is None or inter.token != token:
                raise ApiError(404, 10062, "Unknown interaction")
            if inter.responses:
                raise ApiError(400, 40060, "Interaction has already been acknowledged.")
            body = rec.json or {}
            rtype = int(body.get("type", 0))
            data = body.get("data") or {}
            allowed_types = {2: {4, 5}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}.get(inter.type, set())
            if inter.type == 2:
                allowed_types |= {9}
            if rtype not in allowed_types:
                raise ApiError(400, 50035, "Invalid Form Body",
                               {"type": {"_errors": [{"code": "INTERACTION_RESPONSE_TYPE_INVALID",
                                                      "message": f"type {rtype} invalid for interaction "
                                                                 f"type {inter.type}"}]}})
            if rtype == 4:
                validate_message_body(data)
            elif rtype == 7:
                validate_message_body(data, allow_empty=True)
            elif rtype == 8:
                choices = data.get("choices") or []
                if len(choices) > 25 or any(not 1 <= len(c.get("name", "")) <= 100 for c in choices):
                    raise ApiError(400, 50035, "Invalid Form Body",
                                   {"data": {"choices": {"_errors": [{"code": "BASE_TYPE_MAX_LENGTH",
                                                                      "message": "max 25 choices of 1-100 chars"}]}}})
            elif rtype == 9:
                if not 1 <= len(data.get("title", "")) <= 45 or not data.get("custom_id"):
                    raise ApiError(400, 50035, "Invalid Form Body",
                                   {"data": {"title": {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH",
                                                                    "message": "title must be 1-45 chars"}]}}})
            inter.responses.append(copy.deepcopy(body))
            ephemeral = bool(int(data.get("flags") or 0) & FLAG_EPHEMERAL)
            resource: Optional[Json] = None
            if rtype in (4, 5):
                msg_body = dict(data)
                if rtype == 5:
                    msg_body = {"flags": FLAG_LOADING | (FLAG_EPHEMERAL if ephemeral else 0), "content": ""}
                msg = self._interaction_message(inter, msg_body)
                inter.original = msg
                resource = {"type": rtype, "message": msg}
            elif rtype == 7:
                target = self.find_message(inter.payload.get("message", {}).get("id", ""))
                if target is not None:
                    self._edit_message(target, data)
                    inter.original = target
                    resource = {"type": 7, "message": target}
            self._notify()
            if rec.query.get("with_response") not in ("1", "true", "True"):
                return None
            out: Json = {"interaction": {"id": iid, "type": inter.type,
                                         "response_message_loading": rtype == 5,
                                         "response_message_ephemeral": ephemeral}}
            if resource is not None:
                out["interaction"]["response_message_id"] = resource["message"]["id"]
                out["resource"] = copy.deepcopy(resource)
            return out

        def inter_by_token(app_id: str, token: str) -> Interaction:
            inter = w.interactions_by_token.get(token)
            if inter is None or app_id != w.application_id:
                raise ApiError(404, 10015, "Unknown Webhook")
            return inter

        def webhook_message(inter: Interaction, mid: str) -> Json:
            if mid == "@original":
                if inter.original is not None:
                    return inter.original
                if inter.responses and inter.responses[0]["type"] == 6 and inter.payload.get("message"):
                    target = self.find_message(inter.payload["message"]["id"])
                    if target is not None:
                        return target
                raise ApiError(404, 10008, "Unknown Message")
            for m in inter.all_messages():
                if m["id"] == mid:
                    return m
            raise ApiError(404, 10008, "Unknown Message")

        @r("POST", "/webhooks/{app_id}/{token}")
        async def followup(rec: RequestRecord, app_id: str, token: str) -> Optional[Json]:
            inter = inter_by_token(app_id, token)
            if not inter.responses:
                raise ApiError(404, 10015, "Unknown Webhook")
            body = rec.json or {}
            validate_message_body(body)
            orig = inter.original
            if orig is not None and orig.get("flags", 0) & FLAG_LOADING:
                # Discord: the first follow-up after a deferral completes the deferred message.
                self._edit_message(orig, body)
                msg = orig
            else:
                msg = self._interaction_message(inter, body)
                inter.followups.append(msg)
            self._notify()
            return msg if rec.query.get("wait") in ("1", "true", "True") else None

        @r("GET", "/webhooks/{app_id}/{token}/messages/{mid}")
        async def get_wh_msg(rec: RequestRecord, app_id: str, token: str, mid: str) -> Json:
            return webhook_message(inter_by_token(app_id, token), mid)

        @r("PATCH", "/webhooks/{app_id}/{token}/messages/{mid}")
        async def edit_wh_msg(rec: RequestRecord, app_id: str, token: str, mid: str) -> Json:
            msg = webhook_message(inter_by_token(app_id, token), mid)
            validate_message_body(rec.json or {}, allow_empty=True)
            self._edit_message(msg, rec.json or {})
            self._notify()
            return msg

        @r("DELETE", "/webhooks/{app_id}/{token}/messages/{mid}")
        async def delete_wh_msg(rec: RequestRecord, app_id: str, token: str, mid: str) -> None:
            inter = inter_by_token(app_id, token)
            msg = webhook_message(inter, mid)
            self._delete_message(msg)
            if inter.original is msg:
                inter.original = None
            elif msg in inter.followups:
                inter.followups.remove(msg)
            return None

        # ---------------------------------------------------------- channels
        @r("GET", "/channels/{cid}")
        async def get_channel(rec: RequestRecord, cid: str) -> Json:
            return w.channel(cid)

        @r("PATCH", "/channels/{cid}")
        async def edit_channel(rec: RequestRecord, cid: str) -> Json:
            ch = w.channel(cid)
            body = rec.json or {}
            if ch["type"] in THREAD_TYPES:
                for key in ("name", "rate_limit_per_user", "flags", "applied_tags"):
                    if key in body:
                        ch[key] = body[key]
                meta = {k: body[k] for k in ("archived", "locked", "auto_archive_duration", "invitable")
                        if k in body}
                self._set_thread_meta(ch, dispatch=False, **meta)
                self._dispatch("THREAD_UPDATE", copy.deepcopy(ch), intent=I_GUILDS)
            else:
                for key in ("name", "topic", "position", "nsfw", "rate_limit_per_user", "parent_id",
                            "permission_overwrites", "default_auto_archive_duration"):
                    if key in body:
                        ch[key] = body[key]
                self._dispatch("CHANNEL_UPDATE", copy.deepcopy(ch), intent=I_GUILDS)
            return ch

        @r("DELETE", "/channels/{cid}")
        async def delete_channel(rec: RequestRecord, cid: str) -> Json:
            ch = w.channel(cid)
            del w.channels[cid]
            if ch["type"] in THREAD_TYPES:
                self._dispatch("THREAD_DELETE", {"id": cid, "guild_id": ch["guild_id"],
                                                 "parent_id": ch["parent_id"], "type": ch["type"]}, intent=I_GUILDS)
            else:
                self._dispatch("CHANNEL_DELETE", copy.deepcopy(ch), intent=I_GUILDS)
            return ch

        @r("GET", "/channels/{cid}/messages")
        async def history(rec: RequestRecord, cid: str) -> list[Json]:
            q = rec.query
            return w.history(cid, limit=int(q.get("limit", 50)), before=q.get("before"),
                             after=q.get("after"), around=q.get("around"))

        @r("POST", "/channels/{cid}/messages")
        async def create_message(rec: RequestRecord, cid: str) -> Json:
            ch = w.channel(cid)
            body = rec.json or {}
            validate_message_body(body)
            if ch["type"] in THREAD_TYPES and ch["thread_metadata"]["archived"]:
                perms = w.permissions_in(cid, w.bot_user["id"])
                if ch["thread_metadata"]["locked"] and not perms & P_MANAGE_THREADS:
                    raise ApiError(400, 50083, "Thread is archived")
                self._set_thread_meta(ch, archived=False)
            if body.get("enforce_nonce") and body.get("nonce"):
                # Discord: the same author and nonce within a few minutes returns the first message.
                for earlier in reversed(w.messages.get(cid, [])):
                    if earlier["author"]["id"] == w.bot_user["id"] and earlier.get("nonce") == body["nonce"]:
                        return earlier
            msg = w.build_message(cid, w.bot_user, body)
            w.store_message(msg)
            self._dispatch_message("MESSAGE_CREATE", msg)
            return msg

        @r("GET", "/channels/{cid}/messages/{mid}")
        async def get_message(rec: RequestRecord, cid: str, mid: str) -> Json:
            return w.message(cid, mid)

        @r("PATCH", "/channels/{cid}/messages/{mid}")
        async def edit_message(rec: RequestRecord, cid: str, mid: str) -> Json:
            msg = w.message(cid, mid)
            if msg["author"]["id"] != w.bot_user["id"] and set(rec.json or {}) - {"flags"}:
                raise ApiError(403, 50005, "Cannot edit a message authored by another user")
            validate_message_body(rec.json or {}, allow_empty=True)
            self._edit_message(msg, rec.json or {})
            return msg

        @r("DELETE", "/channels/{cid}/messages/{mid}")
        async def delete_message(rec: RequestRecord, cid: str, mid: str) -> None:
            self._delete_message(w.message(cid, mid))
            return None

        @r("POST", "/channels/{cid}/messages/bulk-delete")
        async def bulk_delete(rec: RequestRecord, cid: str) -> None:
            for mid in (rec.json or {}).get("messages", []):
                msg = w.find_message(cid, str(mid))
                if msg is not None:
                    self._delete_message(msg)
            return None

        @r("POST", "/channels/{cid}/typing")
        async def typing(rec: RequestRecord, cid: str) -> None:
            w.channel(cid)
            return None

        @r("PUT", "/channels/{cid}/messages/{mid}/reactions/{emoji}/@me")
        async def add_reaction(rec: RequestRecord, cid: str, mid: str, emoji: str) -> None:
            w.message(cid, mid)
            w.reactions.setdefault(mid, []).append((emoji, w.bot_user["id"]))
            return None

        @r("DELETE", "/channels/{cid}/messages/{mid}/reactions/{emoji}/{uid}")
        async def remove_reaction(rec: RequestRecord, cid: str, mid: str, emoji: str, uid: str) -> None:
            uid = w.bot_user["id"] if uid == "@me" else uid
            w.reactions[mid] = [r_ for r_ in w.reactions.get(mid, []) if r_ != (emoji, uid)]
            return None

        for pin_path in ("/channels/{cid}/pins/{mid}", "/channels/{cid}/messages/pins/{mid}"):
            @r("PUT", pin_path)
            async def pin(rec: RequestRecord, cid: str, mid: str) -> None:
                w.message(cid, mid)["pinned"] = True
                return None

            @r("DELETE", pin_path)
            async def unpin(rec: RequestRecord, cid: str, mid: str) -> None:
                w.message(cid, mid)["pinned"] = False
                return None

        # ---------------------------------------------------------- threads
        @r("POST", "/channels/{cid}/threads")
        async def create_thread(rec: RequestRecord, cid: str) -> Json:
            parent = w.channel(cid)
            if parent["type"] != GUILD_TEXT:
                raise ApiError(400, 50024, "Cannot execute action on this channel type")
            body = rec.json or {}
            name = body.get("name") or ""
            if not 1 <= len(name) <= 100:
                raise ApiError(400, 50035, "Invalid Form Body",
                               {"name": {"_errors": [{"code": "BASE_TYPE_BAD_LENGTH", "message": "1-100"}]}})
            ttype = int(body.get("type") or PRIVATE_THREAD)
            thread = w.add_thread(cid, name, owner_id=w.bot_user["id"], type=ttype,
                                  auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
                                  invitable=bool(body.get("invitable", True)),
                                  rate_limit_per_user=int(body.get("rate_limit_per_user") or 0))
            self._thread_created(thread)
            return thread

        @r("POST", "/channels/{cid}/messages/{mid}/threads")
        async def create_thread_from_message(rec: RequestRecord, cid: str, mid: str) -> Json:
            w.message(cid, mid)
            body = rec.json or {}
            thread = w.add_thread(cid, body.get("name") or "thread", owner_id=w.bot_user["id"], type=PUBLIC_THREAD,
                                  auto_archive_duration=int(body.get("auto_archive_duration") or 1440),
                                  thread_id=mid)
            self._thread_created(thread)
            return thread

        @r("GET", "/channels/{cid}/thread-members")
        async def list_thread_members(rec: RequestRecord, cid: str) -> list[Json]:
            w.channel(cid)
            return list(w.thread_members.get(cid, {}).values())

        @r("GET", "/channels/{cid}/thread-members/{uid}")
        async def get_thread_member(rec: RequestRecord, cid: str, uid: str) -> Json:
            w.channel(cid)
            tm = w.thread_members.get(cid, {}).get(uid)
            if tm is None:
                raise ApiError(404, 10007, "Unknown Member")
            return tm

        @r("PUT", "/channels/{cid}/thread-members/{uid}")
        async def add_thread_member(rec: RequestRecord, cid: str, uid: str) -> None:
            self._add_thread_member(cid, w.bot_user["id"] if uid == "@me" else uid)
            return None

        @r("DELETE", "/channels/{cid}/thread-members/{uid}")
        async def remove_thread_member(rec: RequestRecord, cid: str, uid: str) -> None:
            uid = w.bot_user["id"] if uid == "@me" else uid
            th = w.channel(cid)
            if w.thread_members.get(cid, {}).pop(uid, None) is not None:
                th["member_count"] = len(w.thread_members[cid])
                if uid == w.bot_user["id"] or self._has_intent(I_GUILD_MEMBERS):
                    self._dispatch("THREAD_MEMBERS_UPDATE", {"id": cid, "guild_id": th["guild_id"],
                                                             "member_count": th["member_count"],
                                                             "removed_member_ids": [uid]})
            return None

        def archived(rec: RequestRecord, cid: str, ttype: int) -> Json:
            w.channel(cid)
            threads = [t for t in self.threads(parent=cid) if t["type"] == ttype and t["thread_metadata"]["archived"]]
            threads.sort(key=lambda t: t["thread_metadata"]["archive_timestamp"], reverse=True)
            limit = int(rec.query.get("limit", 50))
            return {"threads": threads[:limit], "members": [], "has_more": len(threads) > limit}

        @r("GET", "/channels/{cid}/threads/archived/private")
        async def archived_private(rec: RequestRecord, cid: str) -> Json:
            return archived(rec, cid, PRIVATE_THREAD)

        @r("GET", "/channels/{cid}/threads/archived/public")
        async def archived_public(rec: RequestRecord, cid: str) -> Json:
            return archived(rec, cid, PUBLIC_THREAD)

        @r("GET", "/guilds/{gid}/threads/active")
        async def active_threads(rec: RequestRecord, gid: str) -> Json:
            w.guild(gid)
            threads = [t for t in self.threads(gid) if not t["thread_metadata"]["archived"]]
            members = [tm for t in threads for uid, tm in w.thread_members[t["id"]].items()
                       if uid == w.bot_user["id"]]
            return {"threads": threads, "members": members}

        # ---------------------------------------------------------- guilds
        @r("GET", "/guilds/{gid}")
        async def get_guild(rec: RequestRecord, gid: str) -> Json:
            return w.guild_rest_payload(gid)

        @r("GET", "/guilds/{gid}/channels")
        async def guild_channels(rec: RequestRecord, gid: str) -> list[Json]:
            w.guild(gid)
            return [c for c in w.channels.values() if c.get("guild_id") == gid and c["type"] not in THREAD_TYPES]

        @r("GET", "/guilds/{gid}/roles")
        async def guild_roles(rec: RequestRecord, gid: str) -> list[Json]:
            w.guild(gid)
            return list(w.roles[gid].values())

        @r("GET", "/guilds/{gid}/members/{uid}")
        async def guild_member(rec: RequestRecord, gid: str, uid: str) -> Json:
            w.guild(gid)
            return w.member(gid, uid)

        @r("GET", "/guilds/{gid}/members")
        async def guild_members(rec: RequestRecord, gid: str) -> list[Json]:
            w.guild(gid)
            after = int(rec.query.get("after", 0))
            limit = int(rec.query.get("limit", 1))
            members = sorted(w.members[gid].values(), key=lambda m: int(m["user"]["id"]))
            return [m for m in members if int(m["user"]["id"]) > after][:limit]

        @r("PUT", "/guilds/{gid}/members/{uid}/roles/{rid}")
        async def add_member_role(rec: RequestRecord, gid: str, uid: str, rid: str) -> None:
            member = w.member(gid, uid)
            if rid not in w.roles[gid]:
                raise ApiError(404, 10011, "Unknown Role")
            if rid not in member["roles"]:
                self.set_member_roles(gid, uid, member["roles"] + [rid])
            return None

        @r("DELETE", "/guilds/{gid}/members/{uid}/roles/{rid}")
        async def remove_member_role(rec: RequestRecord, gid: str, uid: str, rid: str) -> None:
            member = w.member(gid, uid)
            self.set_member_roles(gid, uid, [x for x in member["roles"] if x != rid])
            return None

    # ================================================================== helpers
    def _has_intent(self, intent: int) -> bool:
        return self._session is not None and bool(self._session.intents & intent)

    def _interaction_message(self, inter: Interaction, body: Json) -> Json:
        """A message created by an interaction response/follow-up (stored unless ephemeral)."""
        ephemeral = bool(int(body.get("flags") or 0) & FLAG_EPHEMERAL)
        who = (inter.payload.get("member") or inter.payload).get("user") or self.bot_user
        meta = {
            "interaction_metadata": {
                "id": inter.id, "type": inter.type, "user": copy.deepcopy(who),
                "authorizing_integration_owners": inter.payload.get("authorizing_integration_owners", {}),
            }
        }
        mtype = 20 if inter.type == 2 else 0
        msg = self.world.build_message(inter.channel_id or "", self.bot_user, body, message_type=mtype,
                                       webhook_id=self.application_id, extra=meta)
        if not ephemeral:
            self.world.store_message(msg)
            self._dispatch_message("MESSAGE_CREATE", msg)
        return msg

    def _edit_message(self, msg: Json, body: Json) -> None:
        for key in ("content", "embeds", "components", "attachments"):
            if key in body and body[key] is not None:
                msg[key] = copy.deepcopy(body[key])
        flags = msg.get("flags", 0) & ~FLAG_LOADING
        if "flags" in body and body["flags"] is not None:
            # only SUPPRESS_EMBEDS (4) may be toggled on edit; ephemeral stays as it was
            flags = (flags & ~4) | (int(body["flags"]) & 4)
        msg["flags"] = flags
        if "allowed_mentions" in body or "content" in body:
            allowed = body.get("allowed_mentions", self.world.allowed_mentions.get(msg["id"]))
            self.world.allowed_mentions[msg["id"]] = copy.deepcopy(allowed)
            mentions, roles, everyone = self.world.resolve_mentions(msg.get("guild_id"), msg["content"], allowed)
            msg.update({"mentions": mentions, "mention_roles": roles, "mention_everyone": everyone})
        msg["edited_timestamp"] = iso()
        if self.world.find_message(msg["channel_id"], msg["id"]) is not None:
            self._dispatch_message("MESSAGE_UPDATE", msg)
        self._notify()

    def _delete_message(self, msg: Json) -> None:
        msgs = self.world.messages.get(msg["channel_id"], [])
        if msg in msgs:
            msgs.remove(msg)
            ch = self.world.channels.get(msg["channel_id"], {})
            data = {"id": msg["id"], "channel_id": msg["channel_id"]}
            if ch.get("guild_id"):
                data["guild_id"] = ch["guild_id"]
            self._dispatch("MESSAGE_DELETE", data, intent=I_DIRECT_MESSAGES if ch.get("type") == DM
                           else I_GUILD_MESSAGES)
        self._notify()

    def _thread_created(self, thread: Json) -> None:
        data = copy.deepcopy(thread)
        data["newly_created"] = True
        tm = self.world.thread_members[thread["id"]].get(self.bot_user["id"])
        if tm is not None:
            data["member"] = copy.deepcopy(tm)
        self._dispatch("THREAD_CREATE", data, intent=I_GUILDS)

    def _add_thread_member(self, thread_id: str, user_id: str) -> None:
        tm, new = self.world.add_thread_member(thread_id, user_id)
        if not new:
            return
        th = self.world.channel(thread_id)
        if user_id == self.bot_user["id"] or self._has_intent(I_GUILD_MEMBERS):
            added = copy.deepcopy(tm)
            added["member"] = copy.deepcopy(self.world.members[th["guild_id"]][user_id])
            added["presence"] = None
            self._dispatch("THREAD_MEMBERS_UPDATE", {"id": thread_id, "guild_id": th["guild_id"],
                                                     "member_count": th["member_count"],
                                                     "added_members": [added]})
        self._notify()

    def _set_thread_meta(self, thread: Json, *, dispatch: bool = True, **changes: Any) -> None:
        meta = thread["thread_metadata"]
        if "archived" in changes and bool(changes["archived"]) != meta["archived"]:
            meta["archive_timestamp"] = iso()
        for key, value in changes.items():
            meta[key] = value
        if dispatch:
            self._dispatch("THREAD_UPDATE", copy.deepcopy(thread), intent=I_GUILDS)
        self._notify()


ALL_PERMS = (1 << 51) - 1
ALL_PERMS_STR = str(ALL_PERMS)


def _json(body: Any, status: int, headers: Optional[dict[str, str]] = None) -> web.Response:
    # discord.py checks the header for *exactly* "application/json" (no charset).
    hdrs = {"Content-Type": "application/json"}
    if headers:
        hdrs.update(headers)
    return web.Response(body=json.dumps(body).encode(), status=status, headers=hdrs)


async def _read_multipart(request: web.Request) -> tuple[Any, list[Json]]:
    reader = await request.multipart()
    payload: Any = None
    files: list[Json] = []
    async for part in reader:
        if part is None:
            break
        if part.name == "payload_json":  # type: ignore[union-attr]
            payload = json.loads(await part.text())  # type: ignore[union-attr]
        else:
            data = await part.read()  # type: ignore[union-attr]
            files.append({"field": part.name, "filename": part.filename, "size": len(data)})  # type: ignore
    return payload, files


def _infer_type(value: Any) -> int:
    if isinstance(value, bool):
        return OPT_BOOLEAN
    if isinstance(value, int):
        return OPT_INTEGER
    if isinstance(value, float):
        return OPT_NUMBER
    if isinstance(value, dict) and "user" in value:
        return OPT_USER
    return OPT_STRING


def _walk_components(components: list[Json]) -> Iterator[Json]:
    for comp in components:
        yield comp
        if comp.get("components"):
            yield from _walk_components(comp["components"])
        if comp.get("component"):
            yield from _walk_components([comp["component"]])
        if comp.get("accessory"):
            yield from _walk_components([comp["accessory"]])


def _describe(rec: Interaction) -> str:
    data = rec.payload.get("data") or {}
    if rec.type in (2, 4):
        return f"/{data.get('name')}"
    return f"custom_id={data.get('custom_id')!r}"
