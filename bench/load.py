"""Many trainees role-playing at once, through the path the Discord bot uses. Prints one JSON object.

    python bench/load.py [--trainees N] [--turns T] [--think-ms MS] [--latency-ms MS] [--rate-limit R] [--quick]

Each simulated trainee starts a role-play (as `/roleplay start` does: the server's start
lock, then the session service), waits for the resident's opening line, then writes up to
`--turns` lines, each after a pause of about `--think-ms`, each waiting for its reply; a
scene that has not reached an ending is then ended (the End button). Trainees come from
ten departments (Discord servers) and arrive over the first seconds. Everything goes
through the real session service and outbox onto a real SQLite file; only the chat is
faked (bench/fakechat.py), with `--latency-ms` per request and at most `--rate-limit`
requests a second if asked.

Lines come from the labelled officer lines in tests/data. A turn's latency runs from the
message reaching the bot to its reply being accepted by the chat. Afterwards every line is
checked against the chat's record and the database: `lost` counts lines without a reply
(or not stored) and sessions without feedback, `duplicated` replies or feedback posted more
than once. Discord accepts about 50 requests a second from one bot, whatever the bot's own
speed; `discord` says how many turns a second that allows, next to what was measured.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

from fakechat import FakeChat  # noqa: E402

from bot.engine.catalog import Library  # noqa: E402
from bot.engine.signals import prepare_detectors  # noqa: E402
from bot.sessions import LineResult, ServiceSettings, SessionService, Trainee  # noqa: E402
from bot.sessions import messages as kinds  # noqa: E402
from bot.store import Store  # noqa: E402

DATA = sorted((HERE / "tests" / "data").glob("*.jsonl"))
DEPARTMENTS = 10
DISCORD_CEILING = 50  # requests a second Discord accepts from one bot (its global rate limit)
WAIT = 120.0  # the longest a trainee waits for a reply before counting it lost


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trainees", type=int, default=1000, help="trainees role-playing at once (default 1000)")
    parser.add_argument("--turns", type=int, default=6, help="lines each trainee writes, at most (default 6)")
    parser.add_argument("--think-ms", type=float, default=3000, help="mean pause before each line, ms (default 3000; 0: as fast as replies come)")
    parser.add_argument("--latency-ms", type=float, default=20, help="time the fake chat takes per request, ms (default 20)")
    parser.add_argument("--rate-limit", type=float, default=0, help="requests a second the fake chat accepts, for the whole bot (default: no limit; Discord's is about 50)")
    parser.add_argument("--ramp-s", type=float, default=3.0, help="trainees arrive over this many seconds (default 3)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, help="where the SQLite file goes (default: the system temp dir)")
    parser.add_argument("--quick", action="store_true", help="100 trainees, 3 lines each, short pauses: a smoke test")
    args = parser.parse_args(argv)
    if args.quick:
        args.trainees, args.turns, args.think_ms, args.ramp_s = min(args.trainees, 100), min(args.turns, 3), min(args.think_ms, 300), min(args.ramp_s, 0.5)
    if args.trainees < 1 or args.turns < 1 or args.think_ms < 0 or args.latency_ms < 0 or args.rate_limit < 0 or args.ramp_s < 0:
        parser.error("--trainees and --turns must be at least 1, and times and rates not negative")
    return args


def _lines() -> list[str]:
    return [json.loads(line)["text"] for path in DATA for line in path.read_text("utf-8").splitlines() if line.strip() and not line.startswith("#")]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


class Trainees:
    """The simulated trainees and what each of them saw."""

    def __init__(self, service: SessionService, chat: FakeChat, library: Library, args: argparse.Namespace) -> None:
        self.service, self.chat, self.args = service, chat, args
        self.scenarios = [library.scenarios[name] for name in sorted(library.scenarios)]
        lines = _lines()
        random.Random(args.seed).shuffle(lines)
        self.scripts = [lines[i : i + args.turns] for i in range(0, len(lines) - args.turns + 1, args.turns)]
        self.rng = random.Random(args.seed)
        self.sent: dict[int, int] = {}  # thread -> lines written
        self.latencies: list[float] = []
        self.results: Counter[str] = Counter()
        self.waits_timed_out = 0

    async def play(self, k: int) -> None:
        args, chat, service = self.args, self.chat, self.service
        await asyncio.sleep(self.rng.uniform(0, args.ramp_s))
        guild, user, thread = 1 + k % DEPARTMENTS, 10_000 + k, 100_000 + k
        scenario = self.scenarios[k % len(self.scenarios)]
        async with service.guild_lock(guild):  # what /roleplay start holds while it saves the session
            await service.start(scenario, Trainee(f"trainee {k}", user), guild_id=guild, channel_id=thread, parent_id=guild * 10, seed=k)
        await chat.wait_for(thread, kinds.OPENING, 1, WAIT)
        sent = 0
        for text in self.scripts[k % len(self.scripts)]:
            await asyncio.sleep(args.think_ms / 1000 * self.rng.uniform(0.5, 1.5))
            if service.session_in(thread) is None:
                break  # the scene reached its ending
            message = chat.write(thread, user, text)
            start = time.perf_counter()
            result = await service.handle_message(thread, user, text, str(message.id), message.written_at)
            self.results[result.value] += 1
            if result not in (LineResult.PLAYED, LineResult.NOT_SAVED, LineResult.LATER):
                continue  # not a line that is answered
            sent += 1
            if await chat.wait_for(thread, kinds.RESIDENT, sent, WAIT):
                replies = [at for kind, at in chat.posted_at[thread] if kind == kinds.RESIDENT]
                self.latencies.append(replies[sent - 1] - start)
            else:
                self.waits_timed_out += 1
        self.sent[thread] = sent
        if service.session_in(thread) is not None:
            await service.end(thread, by=user, by_instructor=False)
        await chat.wait_for(thread, kinds.FEEDBACK, 1, WAIT)


async def _settle(service: SessionService, store: Store) -> None:
    """Until the outbox has sent everything and the store committed what it held."""
    for _ in range(1000):
        busy = [t for t in service._tasks | service.outbox._tasks if not t.done()]
        if busy:
            await asyncio.wait(busy, timeout=0.1)
            continue
        await store.flush()
        if not any(not t.done() for t in service._tasks | service.outbox._tasks):
            return


async def _check(trainees: Trainees, store: Store) -> dict[str, int]:
    """Every line answered exactly once and every session's feedback posted exactly once, by
    the chat's record and by the database."""
    chat = trainees.chat
    lost = duplicated = stored_mismatch = 0
    for thread, sent in trainees.sent.items():
        replies, feedback = chat.count(thread, kinds.RESIDENT), chat.count(thread, kinds.FEEDBACK)
        row = await store.session_by_thread(thread)
        stored = 0 if row is None else sum(1 for t in await store.turns(row.id) if t.speaker == "trainee")
        stored_mismatch += stored != sent
        lost += max(0, sent - min(replies, stored)) + (feedback == 0)
        duplicated += max(0, replies - sent) + max(0, feedback - 1)
    undelivered = 0
    for row in await store.list_sessions():
        undelivered += sum(1 for item in await store.outbox(row.id) if item.status != "delivered")
    return {
        "lost": lost,
        "duplicated": duplicated,
        "items_posted_twice": sum(1 for count in chat.nonces.values() if count > 1),
        "undelivered_items": undelivered,
        "stored_lines_mismatched": stored_mismatch,
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="trainer-load-", dir=args.dir) as folder:
        async with Store.open(Path(folder) / "load.db") as store:
            chat = FakeChat(latency=args.latency_ms / 1000, rate_limit=args.rate_limit)
            library = Library(HERE / "dialogues")
            prepare_detectors()  # as the bot does before it connects (bot/discord_app/run.py)
            # Flood control off: these trainees write faster than the default limits (20 a minute) allow.
            service = SessionService(store, chat, library, ServiceSettings(lines_per_minute=0))
            await service.on_connected()  # as the bot does when it connects (a fresh file: nothing to restore)
            trainees = Trainees(service, chat, library, args)
            cpu, started = time.process_time(), time.perf_counter()
            await asyncio.gather(*(trainees.play(k) for k in range(args.trainees)))
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            await _settle(service, store)
            checked = await _check(trainees, store)
            await service.close()
    turns = sum(trainees.sent.values())
    requests_per_turn = chat.requests / turns if turns else 0.0
    at_ceiling = DISCORD_CEILING / requests_per_turn if requests_per_turn else 0.0
    rate = turns / elapsed if elapsed else 0.0
    return {
        "benchmark": "load",
        "trainees": args.trainees,
        "turns": turns,
        "turns_per_s": round(rate, 1),
        "p50_ms": _ms(_percentile(trainees.latencies, 0.5)),
        "p99_ms": _ms(_percentile(trainees.latencies, 0.99)),
        "max_ms": _ms(max(trainees.latencies, default=0.0)),
        **checked,
        "replies_not_seen_in_time": trainees.waits_timed_out,
        "results": dict(trainees.results),
        "elapsed_s": round(elapsed, 2),
        "cpu_ms_per_turn": round(cpu * 1000 / turns, 3) if turns else 0.0,  # this process, its database thread included
        "think_ms": args.think_ms,
        "latency_ms": args.latency_ms,
        "rate_limit": args.rate_limit,
        "discord": {
            "ceiling_requests_per_s": DISCORD_CEILING,
            "requests_per_turn": round(requests_per_turn, 3),
            "turns_per_s_at_ceiling": round(at_ceiling, 1),
            "measured_vs_ceiling": round(rate / at_ceiling, 2) if at_ceiling else 0.0,
            "note": "one bot on Discord answers at most turns_per_s_at_ceiling turns a second, however fast it is;"
                    " measured_vs_ceiling above 1 means the trainer is not what limits a bot",
        },
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "sqlite_dir": str(Path(folder).parent),
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = _parse_args(argv)
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
