"""The unmodified `trainer run` under faults: REST errors, gateway gaps, a locked database,
a full disk, kill -9 at each point of a turn, and abuse. One fake Discord and one bot
process serve the whole module (tests add trainees); the checks are the product's
promises: every trainee line stored and answered exactly once, every finished session
exactly one feedback and at most one recognition post, no empty thread left behind."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from tests.e2e.rig import COURTEOUS, RESIDENT, TOKEN, HeldLock, Rig, is_feedback, resident
from tests.fakediscord import FakeDiscord

pytestmark = pytest.mark.asyncio(loop_scope="module")

MESSAGES = r"^/channels/\d+/messages$"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, bool]]:
    """Where the database lives: a small filesystem of its own when this machine lets us mount one
    (to fill it up), else a plain folder (the full-disk test is then skipped)."""
    base = tmp_path_factory.mktemp("faults")
    disk = base / "disk"
    disk.mkdir()
    mounted = False
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("mount"):
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(disk)], capture_output=True).returncode == 0
    try:
        yield disk, mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(disk)], capture_output=True)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def rig(folder: tuple[Path, bool]) -> AsyncIterator[Rig]:
    disk, _ = folder
    async with FakeDiscord(token=TOKEN) as fake:
        rig = Rig(fake, disk.parent, disk / "trainer.db")  # the default flood limits: 6 at once, 20 a minute
        await rig.start()
        try:
            yield rig
        except BaseException:
            print(rig.bot.output())
            raise
        finally:
            if rig.bot.running:
                code = await rig.bot.stop()
                assert code == 0, rig.bot.output()
            assert TOKEN not in rig.bot.output()


def posting_to(channel: dict[str, object], kind: str = "resident") -> object:
    """A request filter: the bot posting a resident line / a feedback embed to this channel."""
    def when(rec: object) -> bool:
        body = getattr(rec, "json", None) or {}
        if getattr(rec, "path", "") != f"/channels/{channel['id']}/messages":
            return False
        if kind == "feedback":
            return any(str(e.get("title", "")).startswith("Feedback") for e in body.get("embeds") or [])
        return str(body.get("content", "")).startswith(RESIDENT)
    return when


# -- REST faults --

@pytest.mark.parametrize(
    ("fault", "options"),
    [
        ("503", {"status": 503}),
        ("cloudflare-429", {"status": 429, "via": False, "retry_after": 1}),
        ("500-past-discord.py's-retries", {"status": 500, "count": 5}),
    ],
)
async def test_a_reply_that_fails_to_send_is_retried(rig: Rig, fault: str, options: dict[str, object]) -> None:
    trainee = rig.trainee()
    thread = await rig.start_session(trainee)
    rig.fake.fail_next("POST", MESSAGES, when=posting_to(thread), **options)  # type: ignore[arg-type]
    sent = await rig.fake.user_message(thread, trainee, COURTEOUS[0])
    await rig.fake.wait_for_message(thread, resident, after=sent, timeout=60)
    await rig.say(thread, trainee, COURTEOUS[1])  # the earlier reply is not lost after the next line
    await rig.settled()
    rig.check_every_line_answered_once(thread, trainee)


async def test_the_opening_line_and_the_feedback_are_retried(rig: Rig) -> None:
    trainee = rig.trainee()
    rig.fake.fail_next("POST", MESSAGES, status=503, when=lambda rec: str((rec.json or {}).get("content", "")).startswith(RESIDENT))
    thread = await rig.start_session(trainee)  # its opening line failed once
    for line in COURTEOUS[:-1]:
        await rig.say(thread, trainee, line)
    rig.fake.fail_next("POST", MESSAGES, status=503, when=posting_to(thread, "feedback"))
    await rig.play_out(thread, trainee, COURTEOUS[-1:])
    await rig.settled()
    rig.check_every_line_answered_once(thread, trainee)


async def test_a_5xx_after_discord_posted_the_reply_does_not_post_it_twice(rig: Rig) -> None:
    trainee = rig.trainee()
    thread = await rig.start_session(trainee)
    rig.fake.fail_next("POST", MESSAGES, status=502, apply=True, when=posting_to(thread))  # discord.py retries it
    await rig.say(thread, trainee, COURTEOUS[0])
    await rig.settled()
    tries = [r.json for r in rig.fake.requests_to("POST", f"/channels/{thread['id']}/messages$") if posting_to(thread)(r)]
    assert tries[-1]["nonce"] == tries[-2]["nonce"] and tries[-1]["enforce_nonce"]  # the retry was the same item
    rig.fake.fail_next("POST", MESSAGES, status=503, apply=True, when=posting_to(thread))  # the outbox retries it
    await rig.say(thread, trainee, COURTEOUS[1])
    await rig.settled()
    rig.check_every_line_answered_once(thread, trainee)


async def test_a_thread_discord_made_twice_leaves_no_empty_thread(rig: Rig) -> None:
    trainee = rig.trainee()
    made = len(rig.fake.requests_to("POST", r"/threads$"))
    rig.fake.fail_next("POST", r"^/channels/\d+/threads$", status=502, apply=True)  # made, then 502; discord.py retries
    thread = await rig.start_session(trainee)
    await rig.fake.wait_until(lambda: not rig.empty_bot_threads(), timeout=30, what="the empty thread to be deleted")
    assert len(rig.fake.requests_to("POST", r"/threads$")) == made + 2  # Discord did make two
    assert rig.fake.requests_to("DELETE", r"^/channels/\d+$")  # and the empty one is gone
    assert rig.session_of(thread) is not None
    assert trainee["user"]["id"] in rig.fake.thread_member_ids(thread)


# -- the gateway --

@pytest.mark.parametrize("gap", ["close-4009", "invalid-session-d-false", "resumable-close-4000"])
async def test_a_line_written_during_a_gateway_gap_is_played(rig: Rig, gap: str) -> None:
    trainee = rig.trainee()
    thread = await rig.start_session(trainee)
    await rig.say(thread, trainee, COURTEOUS[0])
    rig.fake.pause_gateway()
    if gap == "close-4009":
        await rig.fake.disconnect_bot(4009, resumable=False)
    elif gap == "invalid-session-d-false":
        rig.fake.invalidate_session()
    else:
        await rig.fake.disconnect_bot(4000)  # resumable: the missed events are replayed as well
    await rig.fake.wait_until(lambda: not rig.fake.connected, timeout=30, what="the bot to drop off")
    sent = await rig.fake.user_message(thread, trainee, COURTEOUS[1])
    rig.fake.resume_gateway()
    if gap != "resumable-close-4000":
        rig.identifies += 1
    await rig.fake.wait_for_bot_ready(timeout=60, identifies=rig.identifies)
    await rig.fake.wait_for_message(thread, resident, after=sent, timeout=60)
    await rig.say(thread, trainee, COURTEOUS[2])
    await rig.settled()
    rig.check_every_line_answered_once(thread, trainee)


async def test_a_line_written_during_a_gap_is_played_even_after_a_restart(rig: Rig) -> None:
    trainee = rig.trainee()
    thread = await rig.start_session(trainee)
    rig.fake.pause_gateway()
    await rig.fake.disconnect_bot(4009, resumable=False)
    await rig.fake.wait_until(lambda: not rig.fake.connected, timeout=30, what="the bot to drop off")
    sent = await rig.fake.user_message(thread, trainee, COURTEOUS[0])
    await rig.kill()  # it never reconnected
    rig.fake.resume_gateway()
    await rig.start()
    await rig.fake.wait_for_message(thread, resident, after=sent, timeout=60)
    await rig.settled()
    rig.check_every_line_answered_once(thread, trainee)


# -- the database --

async def test_a_lock_held_past_the_busy_timeout_delays_the_line_but_loses_nothing(rig: Rig) -> None:
    trainee = rig.trainee()
    thread = await rig.start_session(trainee)
    lock = HeldLock(rig.database)
    try:
        sent = await rig.fake.user_message(thread, trainee, COURTEOUS[0])
        await rig.fake.wait_for_message(thread, lambda m: "could not be saved" in m["content"], after=sent, timeout=30)
        await asyncio.sleep(2)  # held four times the bot's busy timeout
    finally:
        lock.release()
    await rig.fake.wait_for_message(thread, resident, after=sent, timeout=60)
    await rig.say(thread, trainee, COURTEOUS[1])
    await rig.settled()
    rig.check_every_line_answered_once(thread, trainee)
    assert any("no need to send it again" in n for n in rig.notices(thread))


async def test_the_leaderboard_answers_while_a_write_holds_the_database(rig: Rig) -> None:
    lock = HeldLock(rig.database)
    try:
        board = await rig.fake.invoke_slash(rig.practice, rig.instructor, "leaderboard", options={"period": "all"}, timeout=30)
        reply = await rig.fake.wait_for_reply(board, timeout=30)  # while the lock is still held
    finally:
        lock.release()
    assert board.response_type == 5 and reply["embeds"][0]["title"].startswith("\U0001F3C5")


async def test_a_full_disk_loses_no_line_once_space_is_freed(rig: Rig, folder: tuple[Path, bool]) -> None:
    disk, mounted = folder
    if not mounted:
        pytest.skip("mounting a small filesystem needs root here; the store's own tests cover a full database")
    trainee = rig.trainee()
    thread = await rig.start_session(trainee)
    filler = disk / "filler"
    try:
        with contextlib.suppress(OSError), filler.open("wb", buffering=0) as out:
            while out.write(b"\0" * 65536):
                pass
        sent = await rig.fake.user_message(thread, trainee, COURTEOUS[0] + " " + "I am here to help. " * 80)
        await rig.fake.wait_for_message(thread, lambda m: "disk is full" in m["content"], after=sent, timeout=30)
    finally:
        filler.unlink(missing_ok=True)
    await rig.fake.wait_for_message(thread, resident, after=sent, timeout=60)
    await rig.settled()
    rig.check_every_line_answered_once(thread, trainee)


# -- kill -9 at each point of a turn --

async def test_kill_9_at_each_point_of_a_turn(rig: Rig) -> None:
    trainee = rig.trainee()
    thread = await rig.start_session(trainee)

    # 1. The line arrived; its turn is not committed (another process holds the database).
    lock = HeldLock(rig.database)
    sent = await rig.fake.user_message(thread, trainee, COURTEOUS[0])
    await rig.fake.wait_for_message(thread, lambda m: m["content"].startswith(("\u23F3", "\u26A0")), after=sent, timeout=30)
    await rig.kill()
    lock.release()
    await rig.start()
    await rig.fake.wait_for_message(thread, resident, after=sent, timeout=60)

    # 2. Committed; the reply not sent yet.
    hold = rig.fake.hold_next("POST", MESSAGES, when=posting_to(thread))
    await rig.fake.user_message(thread, trainee, COURTEOUS[1])
    await hold.wait()
    await rig.kill()
    hold.release()
    await rig.start()
    await rig.settled()
    rig.check_every_line_answered_once(thread, trainee)

    # 3. Discord posted the reply; the bot never heard back.
    hold = rig.fake.hold_next("POST", MESSAGES, apply=True, when=posting_to(thread))
    await rig.fake.user_message(thread, trainee, COURTEOUS[2])
    await hold.wait()
    await rig.kill()
    hold.release()
    await rig.start()
    await rig.settled()
    rig.check_every_line_answered_once(thread, trainee)

    # 4. Posted and heard back; recording the delivery waits for the database.
    hold = rig.fake.hold_next("POST", MESSAGES, apply=True, when=posting_to(thread))
    await rig.fake.user_message(thread, trainee, COURTEOUS[3])
    await hold.wait()
    lock = HeldLock(rig.database)
    hold.release()
    await asyncio.sleep(0.3)
    await rig.kill()
    lock.release()
    await rig.start()
    await rig.settled()
    rig.check_every_line_answered_once(thread, trainee)

    # 5. The last line: the closing resident line in flight.
    hold = rig.fake.hold_next("POST", MESSAGES, when=posting_to(thread))
    await rig.fake.user_message(thread, trainee, COURTEOUS[4])
    await hold.wait()
    await rig.kill()
    hold.release()
    await rig.start()
    await rig.fake.wait_for_message(thread, is_feedback, timeout=60)
    await rig.settled()
    rig.check_every_line_answered_once(thread, trainee)


async def test_kill_9_around_the_feedback_and_the_recognition_post(rig: Rig) -> None:
    wins = rig.fake.add_text_channel(rig.guild, "academy-wins")
    created = await rig.fake.invoke_slash(rig.practice, rig.instructor, "cohort", subcommand="create", options={"name": "Kill", "channel": wins}, timeout=30)
    await rig.fake.wait_for_reply(created, timeout=30)
    trainees = [rig.trainee(), rig.trainee()]
    for trainee in trainees:
        added = await rig.fake.invoke_slash(rig.practice, rig.instructor, "cohort", subcommand="add", options={"cohort": "Kill", "member": trainee}, timeout=30)
        await rig.fake.wait_for_reply(added, timeout=30)

    # Discord accepted the feedback; the bot was killed before it recorded that.
    first = await rig.start_session(trainees[0])
    for line in COURTEOUS[:-1]:
        await rig.say(first, trainees[0], line)
    hold = rig.fake.hold_next("POST", MESSAGES, apply=True, when=posting_to(first, "feedback"))
    await rig.fake.user_message(first, trainees[0], COURTEOUS[-1])
    await hold.wait()
    await rig.kill()
    hold.release()
    await rig.start()
    await rig.settled()
    rig.check_every_line_answered_once(first, trainees[0])

    # Killed just before the recognition post.
    second = await rig.start_session(trainees[1])
    for line in COURTEOUS[:-1]:
        await rig.say(second, trainees[1], line)
    hold = rig.fake.hold_next("POST", rf"^/channels/{wins['id']}/messages$")
    await rig.fake.user_message(second, trainees[1], COURTEOUS[-1])
    await hold.wait()
    await rig.kill()
    hold.release()
    await rig.start()
    await rig.settled()
    rig.check_every_line_answered_once(second, trainees[1])
    posts = [m["content"] for m in rig.fake.bot_messages(wins)]
    for trainee in trainees:
        theirs = [p for p in posts if f"<@{trainee['user']['id']}>" in p]
        # The "well done" and each badge the session earned: one each, none lost, none twice.
        assert len([p for p in theirs if p.startswith("\U0001F389 Well done")]) == 1
        badges = sorted(p.split("**")[1] for p in theirs if " badge: " in p)
        assert badges == ["All five", "Clean run", "Perfect opening"] and len(theirs) == 4


async def test_a_start_killed_before_its_session_was_saved_leaves_no_thread(rig: Rig) -> None:
    trainee = rig.trainee()
    lock = HeldLock(rig.database)
    try:
        before = len(rig.fake.threads(parent=rig.practice))
        await rig.fake.invoke_slash(rig.practice, trainee, "roleplay", subcommand="start", options={"scenario": "traffic_stop"}, timeout=30)
        await rig.fake.wait_until(lambda: len(rig.fake.threads(parent=rig.practice)) > before, timeout=30, what="the thread")
        await rig.kill()  # the session row was waiting for the database
    finally:
        lock.release()
    await rig.start()
    await rig.fake.wait_until(lambda: not rig.empty_bot_threads(), timeout=30, what="the empty thread to be deleted")
    thread = await rig.start_session(trainee)  # and the trainee can start
    assert rig.session_of(thread) is not None


async def test_a_failed_start_tells_the_user_and_leaves_no_thread(rig: Rig) -> None:
    trainee = rig.trainee()
    lock = HeldLock(rig.database)
    try:
        started = await rig.fake.invoke_slash(rig.practice, trainee, "roleplay", subcommand="start", options={"scenario": "traffic_stop"}, timeout=30)
        reply = await rig.fake.wait_for_reply(started, timeout=30)
    finally:
        lock.release()
    assert "nothing was started" in str(reply["content"])
    await rig.fake.wait_until(lambda: not rig.empty_bot_threads(), timeout=30, what="the thread to be deleted")


async def test_a_session_that_cannot_be_restored_is_closed_with_a_notice(rig: Rig) -> None:
    trainee = rig.trainee()
    thread = await rig.start_session(trainee)
    await rig.say(thread, trainee, COURTEOUS[0])
    await rig.kill()
    found = rig.session_of(thread)
    assert found is not None
    with sqlite3.connect(rig.database) as raw:  # what a scenario edited while the bot was down leaves
        raw.execute("UPDATE turns SET state = 'renamed_state' WHERE session_id = ? AND seq = 1", (found[0],))
    await rig.start()
    await rig.fake.wait_for_message(thread, lambda m: m["content"].startswith("This role-play cannot go on"), timeout=30)
    assert rig.session_of(thread) == (found[0], "ended")
    again = await rig.start_session(trainee)  # not stuck with a zombie session
    assert again["id"] != thread["id"]


# -- abuse --

async def test_flooding_gets_a_polite_notice_and_retries_of_an_unsaved_line_are_no_flood(tmp_path: Path) -> None:
    # A bot of its own with a burst of 2: the flood starts before any scene could end.
    async with FakeDiscord(token=TOKEN) as fake:
        rig = Rig(fake, tmp_path, tmp_path / "trainer.db", "limits:\n  lines_per_minute: 30\n  burst: 2\n")
        await rig.start()
        try:
            trainee = rig.trainee()
            thread = await rig.start_session(trainee)
            for line in COURTEOUS[:1] + [f"Hello? Are you listening? ({index})" for index in range(10)]:
                await rig.fake.user_message(thread, trainee, line)  # none waits for a reply
            await rig.fake.wait_for_message(thread, lambda m: "faster than" in m["content"], timeout=30)
            await rig.settled()
            rig.check_every_line_answered_once(thread, trainee)
            assert len([n for n in rig.notices(thread) if "faster than" in n]) == 1
            assert len(rig.bot_says(thread)) <= 1 + 3  # the opening and hardly more than the burst

            # One line, tried again and again while another program holds the database: more
            # tries than the burst, and still one line, played once the lock is gone.
            other = rig.trainee()
            second = await rig.start_session(other)
            session = rig.session_of(second)
            assert session is not None
            lock = HeldLock(rig.database)
            try:
                sent = await rig.fake.user_message(second, other, COURTEOUS[0])
                failed = f"session {session[0]}: a line was not saved"
                await rig.fake.wait_until(lambda: rig.bot.output().count(failed) >= 3, timeout=60, what="three tries of the line")
            finally:
                lock.release()
            await rig.fake.wait_for_message(second, resident, after=sent, timeout=60)
            await rig.settled()
            rig.check_every_line_answered_once(second, other)
            assert not [n for n in rig.notices(second) if "faster than" in n]
        except BaseException:
            print(rig.bot.output())
            raise
        finally:
            assert await rig.bot.stop() == 0


async def test_a_second_role_play_in_a_thread_and_a_bystander(rig: Rig) -> None:
    trainee = rig.trainee()
    thread = await rig.start_session(rig.instructor, trainee=trainee)  # the instructor watches
    refused = await rig.fake.invoke_slash(thread, trainee, "roleplay", subcommand="start", options={"scenario": "traffic_stop"}, timeout=30)
    assert refused.ephemeral and "already holds a role-play" in str(refused.content)
    await rig.fake.user_message(thread, rig.instructor, "Keep it up and you're going to jail.")  # a bystander writing
    await rig.say(thread, trainee, COURTEOUS[0])
    await rig.settled()
    assert len(rig.bot_says(thread)) == 2  # the opening and the trainee's reply: the instructor's line moved nothing
    rig.check_every_line_answered_once(thread, trainee)
