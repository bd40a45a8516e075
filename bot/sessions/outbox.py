"""Delivering what sessions send: stored first, sent in order with backoff, never twice.

Items are queued in the store in the same transaction as what caused them (a turn, the
end of a session), so nothing a trainee should see depends on a send that was tried
once. Each channel has a lane: a task that sends its pending items one at a time, in
the order they were queued, and records each with the platform's id of the message that
carried it. A send that fails is retried with a growing pause. A send that may have
reached the platform anyway (a 5xx, a dropped connection, a process killed mid-send)
makes the lane "uncertain": before sending again, it reads the channel's history after
the last item it knows was delivered and records the items it finds there instead of
posting them again. After a restart every pending item is uncertain.

A lane reads its channel's pending items from the store, except in a channel claimed by a
session in progress (`claim`): there the outbox learns every item this process queues as
it is committed (`Store.watch_outbox`), so after one read it knows what is pending without
reading again. Any doubt (a failure, an uncertain lane, a record to retry) reads again.

Recording a delivery does not hold the lane up: the mark rides with the store's next
transaction (usually the next turn's commit) and the lane goes on sending. Until it is
committed the item still reads as pending, so the lane remembers what it posted and never
posts it again; a crash before the commit leaves it to the history check above.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import datetime
from collections.abc import Iterable
from functools import partial
from typing import Any

from bot.background import spawn
from bot.errors import DeliveryError, StoreError
from bot.sessions.messages import Message
from bot.sessions.transport import Transport
from bot.store import Store
from bot.store.rows import OutboxItem

log = logging.getLogger("trainer.outbox")

CLOCK_SKEW_SECONDS = 300  # how far this machine's clock may be ahead of the platform's


class Outbox:
    def __init__(self, store: Store, transport: Transport, *, first_retry: float = 1.0, max_retry: float = 60.0) -> None:
        self.store = store
        self.transport = transport
        self.first_retry = first_retry
        self.max_retry = max_retry
        self._lanes: dict[int, asyncio.Task[Any]] = {}
        self._dirty: set[int] = set()  # channels with items queued since their lane last looked
        self._uncertain: set[int] = set()  # channels whose history must be read before sending again
        self._sent: dict[int, str] = {}  # item id -> message id: posted, not yet recorded as such
        self._unrecorded: dict[int, int] = {}  # item id -> channel: posted, and recording it failed (retried by its lane)
        self._closed = False
        self._wake: dict[int, asyncio.Event] = {}
        self._posted_events: dict[int, asyncio.Event] = {}  # set when a lane has nothing left to send
        self._tasks: set[asyncio.Task[Any]] = set()
        # Claimed channels: their pending items by id, None until a read (see `claim`).
        self._known: dict[int, dict[int, OutboxItem] | None] = {}
        self._released: set[int] = set()  # claimed channels to forget once their lane ends
        # Claimed channels: key -> message id of the items posted there with buttons, the
        # messages an edit later changes (the briefing's controls taken off at the end).
        self._with_controls: dict[int, dict[str, str]] = {}
        self._unwatch = store.watch_outbox(self._queued)

    def claim(self, channel_id: int, *, fresh: bool = False) -> bool:
        """A session in progress talks in this channel: what this process queues there is
        told to the outbox as it is committed, so its lane need not read the store after
        its first read. Only for channels no other process queues items in. `fresh`: a
        channel just made (a new session's thread), so nothing can be pending there yet
        unless this outbox knows of it. True when the channel was not claimed before."""
        self._released.discard(channel_id)
        if channel_id in self._known:
            return False
        self._known[channel_id] = {} if fresh and channel_id not in self._uncertain else None
        return True

    def release(self, channel_id: int) -> None:
        """The session has ended: forget the channel once what it still sends is sent."""
        lane = self._lanes.get(channel_id)
        if lane is None or lane.done():
            self._unclaim(channel_id)
        elif channel_id in self._known:
            self._released.add(channel_id)

    def _unclaim(self, channel_id: int) -> None:
        self._released.discard(channel_id)
        self._known.pop(channel_id, None)
        self._with_controls.pop(channel_id, None)

    def _queued(self, items: list[OutboxItem]) -> None:
        channels = []
        for item in items:
            if item.transport == self.transport.name:
                known = self._known.get(item.channel_id)
                if known is not None:
                    known[item.id] = item
                    channels.append(item.channel_id)
        # Sent from the commit on, not from when its writer hears back (one pass of the event loop sooner).
        for channel_id in dict.fromkeys(channels):
            self.kick(channel_id)

    def _forget_item(self, item: OutboxItem) -> None:
        """The item left the pending ones (posted, or undeliverable)."""
        known = self._known.get(item.channel_id)
        if known is not None:
            known.pop(item.id, None)

    def kick(self, channel_id: int) -> None:
        """Something was queued for `channel_id`: make sure its lane runs."""
        if self._closed:
            return
        lane = self._lanes.get(channel_id)
        if (self._known.get(channel_id) == {} and (lane is None or lane.done()) and channel_id not in self._uncertain
                and channel_id not in self._unrecorded.values()):
            # A claimed channel whose queued items were all sent: what was queued there was
            # told to `_queued` at its commit, which kicked the lane already.
            return
        self._dirty.add(channel_id)
        self._posted(channel_id).clear()
        lane = self._lanes.get(channel_id)
        if lane is None or lane.done():
            self._lanes[channel_id] = spawn(self._run(channel_id), f"outbox-{channel_id}", self._tasks)

    async def recover(self, channel_ids: Iterable[int] | None = None) -> None:
        """After a start: a process that died may have posted items without recording it.
        `channel_ids`: only these channels (the terminal resumes one session, not all)."""
        pending = await self.store.pending_channels(self.transport.name)
        for channel_id in pending if channel_ids is None else set(channel_ids) & set(pending):
            self._uncertain.add(channel_id)
            self.kick(channel_id)

    def wake(self) -> None:
        """Cut every lane's pause short (the connection to the platform is back)."""
        for event in self._wake.values():
            event.set()

    async def drain(self, channel_id: int) -> None:
        """Wait until everything queued for `channel_id` so far has been sent (or given up on).
        Recording a delivery may still be waiting for the database: it never holds a front end up."""
        lane = self._lanes.get(channel_id)
        if lane is None or lane.done():
            return
        posted = asyncio.ensure_future(self._posted(channel_id).wait())
        try:
            await asyncio.wait({lane, posted}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            posted.cancel()

    async def post_now(self, channel_id: int, message: Message) -> str | None:
        """Send a notice that is not worth storing (the store may be what is failing): one
        try and a retry, with the same nonce, so a retry after a 5xx that posted it anyway
        does not post it twice; None when it could not be sent."""
        nonce = f"n{secrets.token_hex(8)}"
        for attempt in range(2):
            try:
                return await self.transport.post(channel_id, message, nonce=nonce)
            except DeliveryError as exc:
                if exc.permanent or attempt:
                    log.warning("notice to channel %s not sent: %s", channel_id, exc)
                    return None
                await asyncio.sleep(min(exc.retry_after or self.first_retry, self.max_retry))
        return None

    async def close(self) -> None:
        self._closed = True
        self._unwatch()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)

    # -- a lane --
    async def _run(self, channel_id: int) -> None:
        pause = self.first_retry
        while True:
            self._dirty.discard(channel_id)
            try:
                # Taken before the read: a record committed while it runs leaves `_sent` at once,
                # though the read may still show the item as pending.
                posted = set(self._sent)
                known = self._known.get(channel_id)
                if known is not None and channel_id not in self._uncertain and channel_id not in self._unrecorded.values():
                    pending = queued = sorted(known.values(), key=lambda item: item.id)
                else:
                    pending, queued = await self._read(channel_id, posted)
                items = [item for item in queued if item.id not in posted]
                if not items and channel_id not in self._dirty:
                    # All sent: a front end waiting in `drain` never waits for the records too.
                    self._posted(channel_id).set()
                unrecorded = await self._record_posted(channel_id, pending)
                if not items:
                    if channel_id in self._dirty:
                        continue
                    self._posted(channel_id).set()
                    if not unrecorded:
                        return self._lane_ended(channel_id)
                    # Sent, but the database did not take the records yet: try them again later.
                    log.warning("%d item(s) sent to channel %s not recorded yet; trying again in %.0f s", unrecorded, channel_id, pause)
                    await self._pause(channel_id, pause)
                    pause = min(pause * 2, self.max_retry)
                    continue
                if channel_id in self._uncertain:
                    await self._reconcile(channel_id, items)
                    self._uncertain.discard(channel_id)
                    continue
                for item in items:  # in order; a failure stops the rest until it is retried
                    await self._deliver(item)
                    pause = self.first_retry
                # Nothing was queued for this channel since the read: no need to read again.
                if channel_id not in self._dirty and channel_id not in self._unrecorded.values():
                    return self._lane_ended(channel_id)
            except DeliveryError as exc:
                self._doubt(channel_id)
                if exc.uncertain:
                    self._uncertain.add(channel_id)
                wait = max(exc.retry_after or 0.0, pause)
                log.warning("sending to channel %s failed (%s); retrying in %.0f s", channel_id, exc, wait)
                await self._pause(channel_id, wait)
                pause = min(pause * 2, self.max_retry)
            except StoreError as exc:
                self._doubt(channel_id)
                log.warning("outbox of channel %s cannot reach the database (%s); retrying in %.0f s", channel_id, exc, pause)
                await self._pause(channel_id, pause)
                pause = min(pause * 2, self.max_retry)

    async def _read(self, channel_id: int, posted: set[int]) -> tuple[list[OutboxItem], list[OutboxItem]]:
        """The channel's pending items as the store has them, and with those queued since the
        read began; a claimed channel knows them from now on."""
        if channel_id not in self._known:
            pending = await self.store.pending_items(self.transport.name, channel_id)
            return pending, pending
        # Collecting from before the read: an item committed while it runs is told to `_queued`
        # and may be missing from what the read sees.
        collected: dict[int, OutboxItem] = {}
        self._known[channel_id] = collected
        try:
            pending = await self.store.pending_items(self.transport.name, channel_id)
        except BaseException:
            self._doubt(channel_id)
            raise
        # Not those posted (their record may not be committed yet): they are no longer pending here.
        collected.update((item.id, item) for item in pending if item.id not in posted and item.id not in collected)
        return pending, sorted(collected.values(), key=lambda item: item.id)

    def _doubt(self, channel_id: int) -> None:
        """Something failed: a claimed channel reads the store again before sending."""
        if channel_id in self._known:
            self._known[channel_id] = None

    def _lane_ended(self, channel_id: int) -> None:
        """Nothing left to send in this channel: forget its lane (a bot serves many channels
        over its life; the next item queued there starts a new one)."""
        self._posted(channel_id).set()  # a front end waiting in `drain` goes on
        self._lanes.pop(channel_id, None)
        if channel_id in self._released:
            self._unclaim(channel_id)
        self._posted_events.pop(channel_id, None)
        self._wake.pop(channel_id, None)
        self._uncertain.discard(channel_id)

    async def _record_posted(self, channel_id: int, pending: list[OutboxItem]) -> int:
        """Record again the items of this channel posted but whose recording failed (the
        database failed just then); returns how many still are not. They are never posted
        again meanwhile. Items whose recording is merely under way are left to it."""
        still_pending = {item.id for item in pending}
        left = 0
        for item_id, channel in list(self._unrecorded.items()):
            if channel != channel_id:
                continue
            message_id = self._sent.get(item_id)
            if message_id is None or item_id not in still_pending:  # recorded meanwhile
                self._unrecorded.pop(item_id, None)
                if item_id not in still_pending:
                    self._sent.pop(item_id, None)
                continue
            try:
                await self.store.mark_delivered(item_id, message_id)
            except StoreError:
                left += 1
                continue
            self._unrecorded.pop(item_id, None)
            if self._sent.get(item_id) == message_id:
                del self._sent[item_id]
        return left

    def _posted(self, channel_id: int) -> asyncio.Event:
        event = self._posted_events.get(channel_id)
        if event is None:  # (not setdefault: it would build an Event at every call)
            event = self._posted_events[channel_id] = asyncio.Event()
        return event

    async def _deliver(self, item: OutboxItem) -> None:
        # Queued by this process: the message as built, not decoded again from its body.
        message = item.message if isinstance(item.message, Message) else Message.from_json(item.body)
        try:
            if message.edit_of is not None:
                target_id = self._with_controls.get(item.channel_id, {}).get(message.edit_of)
                if target_id is None:
                    target = await self.store.outbox_item(message.edit_of)
                    # Posted by this lane a moment ago, maybe: its record may not be committed yet.
                    target_id = None if target is None else target.message_id or self._sent.get(target.id)
                if target_id is None:
                    await self.store.mark_undeliverable(item.id, f"nothing to change: {message.edit_of} was never delivered")
                    self._forget_item(item)
                    return
                await self.transport.edit(item.channel_id, target_id, message)  # changing twice is harmless
                message_id = target_id
            else:
                message_id = await self.transport.post(item.channel_id, message, nonce=f"t{item.id}")
                if message.controls and item.channel_id in self._known:
                    self._with_controls.setdefault(item.channel_id, {})[item.key] = message_id
        except DeliveryError as exc:
            if not exc.permanent:
                raise
            log.warning("%s (%s) cannot be delivered to channel %s: %s", item.key, item.kind, item.channel_id, exc)
            await self.store.mark_undeliverable(item.id, str(exc))
            self._forget_item(item)
            return
        self._record(item, message_id)

    def _record(self, item: OutboxItem, message_id: str) -> None:
        """It went out: remember that at once, and record it with the store's next commit."""
        self._sent[item.id] = message_id
        self._unrecorded.pop(item.id, None)
        self._forget_item(item)
        self.store.mark_delivered_soon(item.id, message_id).add_done_callback(partial(self._recorded, item, message_id))

    def _recorded(self, item: OutboxItem, message_id: str, done: asyncio.Future[None]) -> None:
        if not done.cancelled() and done.exception() is None:
            if self._sent.get(item.id) == message_id:
                del self._sent[item.id]
            return
        # Recorded later by its lane, and never sent again meanwhile.
        log.warning("%s was delivered as message %s but not recorded yet: %s", item.key, message_id,
                    "cancelled" if done.cancelled() else done.exception())
        self._unrecorded[item.id] = item.channel_id
        self.kick(item.channel_id)

    async def _reconcile(self, channel_id: int, items: list[OutboxItem]) -> None:
        """Record as delivered the pending items the channel's history already shows.

        Items are sent one at a time in order, so what reached the channel is a prefix of
        the pending ones, found in order among the trainer's own messages after the last
        recorded one (other messages of the trainer, like notices, may sit in between)."""
        posts = [(item, Message.from_json(item.body)) for item in items]
        expected = [(item, self.transport.fingerprint(message)) for item, message in posts if message.edit_of is None]
        if not expected:
            return
        # Read from the message the last item queued before the first pending one was posted
        # as (an edit posts nothing): whatever was posted for a pending item came after it,
        # even when a later item's delivery was recorded and this one's was not.
        first = items[0].id
        before = await self.store.delivered_items(self.transport.name, channel_id, before=first)
        anchor = next((item.message_id for item in before if Message.from_json(item.body).edit_of is None), None)
        if anchor is None:
            # Nothing delivered here before it (a cohort channel's first recognition post):
            # read from shortly before it was queued, not from the channel's beginning.
            queued = datetime.fromisoformat(items[0].created_at).timestamp()
            anchor = self.transport.id_since(queued - CLOCK_SKEW_SECONDS)
        # Messages known to carry other items (recorded, or posted and not yet recorded) are
        # never taken for a pending one, however alike.
        known = set(self._sent.values()) | {
            item.message_id for item in await self.store.delivered_items(self.transport.name, channel_id) if item.message_id
        }
        found = 0
        async for posted in self.transport.history(channel_id, anchor):
            if found == len(expected):
                break  # everything pending is accounted for: no need to read further
            if posted.id in known:
                continue
            if found < len(expected) and posted.mine and posted.fingerprint == expected[found][1]:
                item = expected[found][0]
                log.info("%s was already in channel %s (message %s); not sending it again", item.key, channel_id, posted.id)
                self._record(item, posted.id)
                found += 1

    async def _pause(self, channel_id: int, seconds: float) -> None:
        event = self._wake.setdefault(channel_id, asyncio.Event())
        event.clear()
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except TimeoutError:
            pass
