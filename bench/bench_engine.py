"""Engine and store speed, and memory per live session. Prints one JSON object.

Absolute times depend on the machine, so each figure comes with a baseline measured in
the same run: signal detection against a bare regex scan, a stored turn against a raw
sqlite3 commit of similar rows on the same kind of file.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.engine.catalog import load_checked  # noqa: E402
from bot.engine.machine import ScenarioMachine  # noqa: E402
from bot.engine.session import Session  # noqa: E402
from bot.engine.signals import detect  # noqa: E402
from bot.engine.catalog import Library  # noqa: E402
from bot.sessions import ServiceSettings, SessionService, Trainee  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.terminal import TerminalTransport  # noqa: E402

LINES = [
    "Good evening, ma'am. I'm Officer Smith with the Metro Police Department.",
    "The reason I pulled you over is that your registration tag expired in July.",
    "May I please see your license and registration?",
    "I understand, a twelve-hour shift is exhausting. I appreciate your patience.",
    "I'm going to write you a warning today. It will take about five minutes.",
    "Thank you for your patience, ma'am. Drive safe and get home safe.",
]


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50_ms": round(pick(0.5) * 1000, 3), "p95_ms": round(pick(0.95) * 1000, 3), "p99_ms": round(pick(0.99) * 1000, 3)}


def bench_detection(rounds: int = 300) -> dict[str, float]:
    lines = LINES * rounds
    start = time.perf_counter()
    for line in lines:
        detect(line)
    ours = time.perf_counter() - start
    baseline_pattern = re.compile(r"\b(reason|stopped|pulled)\b", re.IGNORECASE)
    start = time.perf_counter()
    for line in lines:
        baseline_pattern.search(line)
    baseline = time.perf_counter() - start
    return {"lines_per_second": round(len(lines) / ours), "baseline_single_regex_lines_per_second": round(len(lines) / baseline)}


def bench_engine(sessions: int = 400) -> dict[str, float]:
    scenario = load_checked(ROOT / "dialogues" / "traffic_stop.yaml")
    machine = ScenarioMachine(scenario)
    latencies: list[float] = []
    start = time.perf_counter()
    for seed in range(sessions):
        play = Session.start(scenario, machine, seed=seed)
        for line in LINES:
            if play.ended:
                break
            t0 = time.perf_counter()
            play.step(line)
            latencies.append(time.perf_counter() - t0)
        play.score()
    elapsed = time.perf_counter() - start
    return {"turns_per_second": round(len(latencies) / elapsed), **percentiles(latencies)}


def bench_memory(sessions: int = 1000) -> dict[str, float]:
    scenario = load_checked(ROOT / "dialogues" / "traffic_stop.yaml")
    machine = ScenarioMachine(scenario)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    live = []
    for seed in range(sessions):
        play = Session.start(scenario, machine, seed=seed)
        for line in LINES[:3]:
            play.step(line)
        live.append(play)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    return {"live_sessions": sessions, "bytes_per_session_after_3_turns": round(grown / sessions)}


async def bench_store(turns: int = 200) -> dict[str, float]:
    scenario = load_checked(ROOT / "dialogues" / "traffic_stop.yaml")
    with tempfile.TemporaryDirectory() as folder:
        latencies: list[float] = []
        async with Store.open(Path(folder) / "bench.db") as store:
            # The terminal's service: each turn is saved, then its reply delivered (printed to
            # memory) and recorded as delivered, before the next line.
            transport = TerminalTransport(Console(file=io.StringIO()), interactive=False)
            service = SessionService(store, transport, Library.of(scenario), ServiceSettings(lines_per_minute=0))
            done = 0
            while done < turns:
                started = await service.start(scenario, Trainee("bench"), seed=done)
                await service.outbox.drain(started.row.id)
                for line in LINES:
                    t0 = time.perf_counter()
                    said = await service.say(started.row.id, line)
                    latencies.append(time.perf_counter() - t0)
                    done += 1
                    if said.play.ended:
                        break
                else:
                    await service.end_session(started.row.id)
            await service.close()
        raw = sqlite3.connect(Path(folder) / "raw.db", isolation_level=None)
        raw.execute("PRAGMA journal_mode = WAL")
        raw.execute("CREATE TABLE t (a INTEGER, b TEXT, c TEXT)")
        start = time.perf_counter()
        for index in range(turns):
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("INSERT INTO t VALUES (?, ?, ?)", (index, LINES[index % len(LINES)], "[]"))
            raw.execute("INSERT INTO t VALUES (?, ?, ?)", (index, "reply", "[]"))
            raw.execute("UPDATE t SET a = a WHERE rowid = 1")
            raw.execute("COMMIT")
        raw_elapsed = time.perf_counter() - start
        raw.close()
    return {
        "stored_turns_per_second": round(len(latencies) / sum(latencies)),
        **{f"stored_turn_{k}": v for k, v in percentiles(latencies).items()},
        "baseline_raw_sqlite_commits_per_second": round(turns / raw_elapsed),
    }


def main() -> None:
    result = {
        "benchmark": "engine",
        "python": sys.version.split()[0],
        "detection": bench_detection(),
        "engine": bench_engine(),
        "memory": bench_memory(),
        "store": asyncio.run(bench_store()),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
