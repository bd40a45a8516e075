"""Engine, detection and store speed, and memory per live session. Prints one JSON object.

    python bench/engine.py [--quick] [--dir DIR] [--root CHECKOUT]

Absolute figures depend on the machine, so each comes with a floor measured in the same
run, interleaved with it: detection against one bare regex search per line, a turn
against a bare `transitions` trigger, a stored turn against a raw `sqlite3` commit of
the same rows on the same file system with the store's journal mode and `synchronous`.
Every figure is the median of interleaved blocks, after a warm-up; nothing is compiled
inside a timed loop. Lines come from tests/data/*.jsonl (officer lines); sessions play
them eight at a time through the shipped scenarios. `--root` runs the same benchmark
on another checkout of the project (e.g. an older commit, to compare).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
DATA = sorted((HERE / "tests" / "data").glob("*.jsonl"))
SCRIPT_LINES = 8  # trainee lines per benchmarked session (fewer when the scene ends)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds, rough figures (a smoke test of the benchmark)")
    parser.add_argument("--dir", type=Path, help="where the SQLite files go (default: the system temp dir)")
    parser.add_argument("--root", type=Path, default=HERE, help="the checkout whose code is measured (default: this one)")
    return parser.parse_args(argv)


ARGS = _parse_args(None if __name__ == "__main__" else [])
ROOT = ARGS.root.resolve()
sys.path.insert(0, str(ROOT))

from bot.engine.catalog import Library, load_checked  # noqa: E402
from bot.engine.machine import ScenarioMachine  # noqa: E402
from bot.engine.scenario import Scenario  # noqa: E402
from bot.engine.session import Session  # noqa: E402
from bot.engine import session as session_module  # noqa: E402
from bot.engine.signals import Detection, analyze, detect, load_lexicon  # noqa: E402
from bot.store import Store  # noqa: E402
from transitions import Machine  # noqa: E402

try:  # the session service and its outbox; an older checkout has a SceneRunner instead
    from fakechat import FakeChat

    from bot.sessions import LineResult, ServiceSettings, SessionService, Trainee
    from bot.sessions import messages as kinds
except ImportError:
    from bot.runner import SceneRunner  # type: ignore[import-not-found, no-redef]

    SessionService = None  # type: ignore[assignment, misc]

LINES = [json.loads(line)["text"] for path in DATA for line in path.read_text("utf-8").splitlines() if line.strip() and not line.startswith("#")]
SCRIPTS = [LINES[i : i + SCRIPT_LINES] for i in range(0, len(LINES), SCRIPT_LINES)]


def _blocks(quick: bool) -> int:
    return 1 if quick else 5


def _per_s(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def _p99_ms(samples: list[float]) -> float:
    ordered = sorted(samples)
    return round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000, 3) if ordered else 0.0


def _interleaved(runs: dict[str, Callable[[], tuple[int, float]]], blocks: int) -> dict[str, float]:
    """Rate per second of each run: median over blocks, runs alternating within a block."""
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(blocks):
        for name, run in runs.items():
            gc.collect()
            count, seconds = run()
            rates[name].append(count / seconds)
    return {name: round(statistics.median(values), 1) for name, values in rates.items()}


# --------------------------------------------------------------------------- detection


def bench_detection(quick: bool) -> dict[str, Any]:
    load_lexicon()
    for text in LINES:  # warm-up: lexicon, caches, branch predictors
        analyze(text)
    lines = LINES if quick else LINES * 3
    regex = re.compile(r"\b(?:reason|stopped|pulled)\b", re.IGNORECASE)

    def analyzing() -> tuple[int, float]:
        start = time.perf_counter()
        for text in lines:
            analyze(text)
        return len(lines), time.perf_counter() - start

    def bare_regex() -> tuple[int, float]:
        start = time.perf_counter()
        for text in lines:
            regex.search(text)
        return len(lines), time.perf_counter() - start

    transcript = " ".join(LINES)
    by_length = {}
    for size in (100, 4000):
        chunk = transcript[:size]
        reps = max(3, (2000 if quick else 20000) // size)

        def at_length(chunk: str = chunk, reps: int = reps) -> tuple[int, float]:
            start = time.perf_counter()
            for _ in range(reps):
                detect(chunk)
            return reps * len(chunk), time.perf_counter() - start

        by_length[size] = at_length
    rates = _interleaved({"analyze": analyzing, "regex": bare_regex, **{str(k): v for k, v in by_length.items()}}, _blocks(quick))
    return {
        "analyze_lines_per_s": rates["analyze"],
        "floor_regex_lines_per_s": rates["regex"],
        "analyze_vs_regex": round(rates["analyze"] / rates["regex"], 5),
        "detect_us_per_char_100": round(1e6 / rates["100"], 3),
        "detect_us_per_char_4000": round(1e6 / rates["4000"], 3),
    }


def bench_jobs(quick: bool) -> dict[str, Any]:
    """`trainer analyze --jsonl --jobs N`, the whole command, in one process and in two, output
    checked line for line, over a large input: the labelled lines twelve times (about 50,000).
    Its start (imports, the lexicon, each of its ~850 patterns compiled: at first use in one
    process, before the workers fork with --jobs) takes about a second in both and does not
    split, so a small input cannot show what a second process adds."""
    lines = LINES[:1000] if quick else LINES * 12
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "lines.txt"
        source.write_text("".join(line.replace("\n", " ") + "\n" for line in lines), "utf-8")

        def run(options: list[str]) -> Callable[[], tuple[int, float]]:
            return lambda: (len(lines), _time_command(options, source, len(lines), env))

        # An older checkout (--root) may not have --jobs: then only the one-process command is timed.
        probe = subprocess.run([sys.executable, "-m", "bot", "analyze", "--help"], capture_output=True, text=True, cwd=ROOT, env=env)
        if "--jobs" not in probe.stdout:
            rate = _interleaved({"1": run([])}, 1 if quick else 2)["1"]
            return {"analyze_jsonl_lines": len(lines), "analyze_jsonl_lines_per_s_jobs_1": rate, "analyze_jobs": "no --jobs in this checkout"}
        rates = _interleaved({"1": run(["--jobs", "1"]), "2": run(["--jobs", "2"])}, 1 if quick else 2)
    return {"analyze_jsonl_lines": len(lines), "analyze_jsonl_lines_per_s_jobs_1": rates["1"],
            "analyze_jsonl_lines_per_s_jobs_2": rates["2"], "analyze_jobs_2_vs_1": round(rates["2"] / rates["1"], 2)}


def _time_command(options: list[str], source: Path, count: int, env: dict[str, str]) -> float:
    """Seconds `trainer analyze --jsonl OPTIONS < source` takes, which must print `count` lines."""
    start = time.perf_counter()
    with source.open("rb") as stdin:
        out = subprocess.run([sys.executable, "-m", "bot", "analyze", "--jsonl", *options], stdin=stdin,
                             capture_output=True, check=True, cwd=ROOT, env=env)
    seconds = time.perf_counter() - start
    printed = out.stdout.count(b"\n")
    if printed != count:
        raise RuntimeError(f"bench: analyze --jsonl {' '.join(options)} printed {printed} lines for {count}")
    return seconds


# --------------------------------------------------------------------------- engine


def _scenarios() -> list[Scenario]:
    return [load_checked(ROOT / "dialogues" / name) for name in ("traffic_stop.yaml", "burglary_victim.yaml")]


def bench_engine(quick: bool) -> dict[str, Any]:
    scenarios = _scenarios()
    machines = {s.id: ScenarioMachine(s) for s in scenarios}
    # What a resume reads back: the signals stored with each line, scenario signals included.
    stored = {(s.id, text): detect(text[:4000], s.signals) for s in scenarios for text in LINES}
    sessions = SCRIPTS if quick else SCRIPTS * 2
    latencies: list[float] = []

    def play(replay: bool) -> tuple[int, float]:
        turns = 0
        start = time.perf_counter()
        for k, script in enumerate(sessions):
            scenario = scenarios[k % len(scenarios)]
            session = Session.start(scenario, machines[scenario.id], seed=k)
            for text in script:
                if session.ended:
                    break
                t0 = time.perf_counter()
                # A resume builds each turn's Detection afresh from its stored rows: nothing the
                # previous block worked out on it (its cached signal names) carries over.
                session.step(text, Detection(text, stored[scenario.id, text].evidence) if replay else None)
                if not replay:
                    latencies.append(time.perf_counter() - t0)
                turns += 1
            session.abandon()
            session.score()
        return turns, time.perf_counter() - start

    model = _BareModel()
    bare = Machine(model=model, states=["a", "b"], initial="a", send_event=True, auto_transitions=False)
    bare.add_transition("go", "a", "b", conditions=[lambda event: True])
    bare.add_transition("go", "b", "a", conditions=[lambda event: True])
    triggers = 2000 if quick else 20000

    def bare_trigger() -> tuple[int, float]:
        start = time.perf_counter()
        for _ in range(triggers):
            model.go()
        return triggers, time.perf_counter() - start

    play(False)  # warm-up
    latencies.clear()
    rates = _interleaved({"engine": lambda: play(False), "replay": lambda: play(True), "transitions": bare_trigger}, _blocks(quick))
    return {
        "engine_turns_per_s": rates["engine"],
        "engine_p99_ms": _p99_ms(latencies),
        "replay_turns_per_s": rates["replay"],
        "floor_transitions_triggers_per_s": rates["transitions"],
        "engine_vs_transitions": round(rates["engine"] / rates["transitions"], 4),
        "replay_vs_transitions": round(rates["replay"] / rates["transitions"], 4),
    }


class _BareModel:
    state = "a"


def bench_memory(quick: bool) -> dict[str, Any]:
    scenario = _scenarios()[0]
    machine = ScenarioMachine(scenario)
    count = 1000 if quick else 10_000

    def start_end(reps: int) -> float:
        start = time.perf_counter()
        for seed in range(reps):
            Session.start(scenario, machine, seed=seed).abandon()
        return (time.perf_counter() - start) / reps

    start_end(200)
    empty = statistics.median(start_end(300) for _ in range(3))
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    live = [Session.start(scenario, machine, seed=seed) for seed in range(count)]
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    crowded = statistics.median(start_end(300) for _ in range(3))
    for session in live:
        session.abandon()
    return {
        "live_sessions": count,
        "bytes_per_session": round(grown / count),
        "start_end_us_at_0_live": round(empty * 1e6, 1),
        f"start_end_us_at_{count}_live": round(crowded * 1e6, 1),
    }


# --------------------------------------------------------------------------- store


async def _store_pragmas(store: Store) -> tuple[str, int]:
    """The store connection's journal mode and synchronous level, to copy them exactly."""
    db = store._db  # the bench looks inside: the baseline must match whatever the store sets
    async with db.execute("PRAGMA journal_mode") as cursor:
        journal = str((await cursor.fetchone())[0])
    async with db.execute("PRAGMA synchronous") as cursor:
        synchronous = int((await cursor.fetchone())[0])
    return journal, synchronous


_THREADS = itertools.count(10**6)  # every benchmarked session its own thread, across runs on one file


def _arrived(ok: bool, thread: int, what: str) -> None:
    if not ok:
        raise RuntimeError(f"bench: the {what} of thread {thread} never reached the chat (60 s)")


async def _stored_turns(store: Store, scenarios: list[Scenario], sessions: list[list[str]], concurrency: int, seed: int) -> tuple[int, float, list[float]]:
    """Turns through the path the Discord bot uses: the session service, a message in, its
    turn committed with everything it sends, the reply posted through the outbox to a chat
    in memory (bench/fakechat.py). A turn's time runs from the message to its reply posted.
    `concurrency` trainees play at once, each session after the other."""
    if SessionService is None:
        return await _stored_turns_by_runner(store, scenarios, sessions, concurrency, seed)
    latencies: list[float] = []
    queue = list(enumerate(sessions))
    chat = FakeChat()
    service = SessionService(store, chat, Library.of(*scenarios), ServiceSettings(lines_per_minute=0))

    async def trainee(worker: int) -> int:
        turns = 0
        while queue:
            k, script = queue.pop()
            # A trainee of its own per session: a session's end is not waited for before the
            # next one starts (its feedback may still be going out).
            scenario, thread = scenarios[k % len(scenarios)], next(_THREADS)
            user = thread
            await service.start(scenario, Trainee(f"bench{worker}", user), guild_id=1, channel_id=thread, parent_id=1, seed=seed + k)
            _arrived(await chat.wait_for(thread, kinds.OPENING, 1, 60), thread, "opening")
            for said, text in enumerate(script, start=1):
                if service.session_in(thread) is None:
                    break  # the scene reached its ending
                message = chat.write(thread, user, text)
                t0 = time.perf_counter()
                result = await service.handle_message(thread, user, text, str(message.id), message.written_at)
                if result is not LineResult.PLAYED:  # a broken benchmark, not a slow one: stop, do not wait
                    raise RuntimeError(f"bench: line {said} of thread {thread} was {result.value}, not played")
                _arrived(await chat.wait_for(thread, kinds.RESIDENT, said, 60), thread, f"reply {said}")
                latencies.append(time.perf_counter() - t0)
                turns += 1
            if service.session_in(thread) is not None:
                await service.end(thread, by=user, by_instructor=False)
            _arrived(await chat.wait_for(thread, kinds.FEEDBACK, 1, 60), thread, "feedback")
        return turns

    start = time.perf_counter()
    turns = sum(await asyncio.gather(*(trainee(w) for w in range(concurrency))))
    elapsed = time.perf_counter() - start
    await service.close()
    return turns, elapsed, latencies


async def _stored_turns_by_runner(store: Store, scenarios: list[Scenario], sessions: list[list[str]], concurrency: int, seed: int) -> tuple[int, float, list[float]]:
    """The same for a checkout from before the session service: its one stored path, SceneRunner."""
    latencies: list[float] = []
    queue = list(enumerate(sessions))

    async def trainee(worker: int) -> int:
        turns = 0
        while queue:
            k, script = queue.pop()
            runner = await SceneRunner.start(store, scenarios[k % len(scenarios)], trainee=f"bench{worker}", seed=seed + k)
            for text in script:
                if runner.ended:
                    break
                t0 = time.perf_counter()
                await runner.step(text)
                latencies.append(time.perf_counter() - t0)
                turns += 1
            if not runner.ended:
                await runner.abandon()
        return turns

    start = time.perf_counter()
    turns = sum(await asyncio.gather(*(trainee(w) for w in range(concurrency))))
    return turns, time.perf_counter() - start, latencies


def _raw_commits(path: Path, journal: str, synchronous: int, count: int) -> tuple[int, float]:
    """One transaction per turn: the trainee line, the reply, the session row update."""
    raw = sqlite3.connect(path, isolation_level=None)
    raw.execute(f"PRAGMA journal_mode = {journal}")
    raw.execute(f"PRAGMA synchronous = {synchronous}")
    raw.execute("CREATE TABLE IF NOT EXISTS turns (session INTEGER, seq INTEGER, speaker TEXT, text TEXT, signals TEXT, stamp TEXT)")
    raw.execute("CREATE TABLE IF NOT EXISTS sessions (id INTEGER PRIMARY KEY, state TEXT, mood INTEGER, turns INTEGER)")
    raw.execute("INSERT OR IGNORE INTO sessions VALUES (1, 'start', 0, 0)")
    start = time.perf_counter()
    for index in range(count):
        raw.execute("BEGIN IMMEDIATE")
        raw.execute("INSERT INTO turns VALUES (1, ?, 'trainee', ?, '[]', '2026-01-01T00:00:00')", (index, LINES[index % len(LINES)]))
        raw.execute("INSERT INTO turns VALUES (1, ?, 'resident', 'All right.', '[]', '2026-01-01T00:00:00')", (index,))
        raw.execute("UPDATE sessions SET state = 'talking', mood = ?, turns = ? WHERE id = 1", (index % 100, index))
        raw.execute("COMMIT")
    elapsed = time.perf_counter() - start
    raw.close()
    return count, elapsed


async def _bench_store(folder: Path, quick: bool) -> dict[str, Any]:
    scenarios = _scenarios()
    blocks = _blocks(quick)
    solo_sessions = SCRIPTS[: 3 if quick else 12]
    crowd_sessions = SCRIPTS[: 32 if quick else 64]
    results: dict[str, list[float]] = {"1": [], "32": [], "sqlite": []}
    latencies: dict[str, list[float]] = {"1": [], "32": []}
    scores = _ScoreCount()
    commits: dict[str, list[int]] = {"1": [], "32": []}  # (commits, turns) per block
    runs = (("1", solo_sessions, 1), ("32", crowd_sessions, 32))
    async with Store.open(folder / "bench.db") as store:
        journal, synchronous = await _store_pragmas(store)
        await _stored_turns(store, scenarios, SCRIPTS[:2], 1, 10**6)  # warm-up
        _raw_commits(folder / "raw.db", journal, synchronous, 20)
        for block in range(blocks):
            for name, sessions, concurrency in runs:
                turns, seconds, lat = await _stored_turns(store, scenarios, sessions, concurrency, block * 1000)
                await store.flush() if hasattr(store, "flush") else None
                results[name].append(turns / seconds)
                latencies[name].extend(lat)
                count, raw_seconds = _raw_commits(folder / "raw.db", journal, synchronous, turns)
                results["sqlite"].append(count / raw_seconds)
        # Commits and scores are counted in runs of their own, not timed: the commit count is a
        # statement trace, a call into Python on the database thread for every statement, which
        # slowed the timed runs by about a tenth (the raw SQLite floor has no trace).
        counter = await _CommitCount.on(store)
        for name, sessions, concurrency in runs:
            before = counter.commits
            with scores.counting(len(sessions)):
                turns, _, _ = await _stored_turns(store, scenarios, sessions, concurrency, blocks * 1000)
            await store.flush() if hasattr(store, "flush") else None  # what waits for the next commit counts too
            commits[name] += [counter.commits - before, turns]
    rate = {name: round(statistics.median(values), 1) for name, values in results.items()}
    return {
        "stored_path": "session service (Discord path)" if SessionService is not None else "SceneRunner",
        "scores_per_session": round(scores.calls / scores.sessions, 2),
        "stored_turns_per_s_1": rate["1"],
        "stored_p99_ms_1": _p99_ms(latencies["1"]),
        "stored_turns_per_s_32": rate["32"],
        "stored_p99_ms_32": _p99_ms(latencies["32"]),
        "sqlite_commits_per_s": rate["sqlite"],
        "stored_32_vs_sqlite": round(rate["32"] / rate["sqlite"], 4),
        # fsyncs a stored turn costs, sessions' starts, ends and deliveries included: what
        # decides the stored rate when the disk's flush is slow, whatever the CPU.
        "commits_per_stored_turn_1": round(sum(commits["1"][::2]) / sum(commits["1"][1::2]), 3),
        "commits_per_stored_turn_32": round(sum(commits["32"][::2]) / sum(commits["32"][1::2]), 3),
        "sqlite_journal_mode": journal,
        "sqlite_synchronous": synchronous,
    }


class _CommitCount:
    """COMMITs of the store's writing connection (its statement trace, on its own thread).
    Instrumentation: it reaches into aiosqlite for the sqlite3 connection."""

    def __init__(self) -> None:
        self.commits = 0

    @classmethod
    async def on(cls, store: Store) -> _CommitCount:
        counter = cls()

        def traced(statement: str) -> None:
            if statement.lstrip().upper().startswith(("COMMIT", "END")):
                counter.commits += 1

        db = store._db  # type: ignore[attr-defined]
        await db._execute(db._conn.set_trace_callback, traced)
        return counter


class _ScoreCount:
    """How often a session's score is computed on the stored path (the engine's score_session)."""

    def __init__(self) -> None:
        self.calls = self.sessions = 0

    @contextlib.contextmanager
    def counting(self, sessions: int) -> Iterator[None]:
        real = session_module.score_session

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return real(*args, **kwargs)

        session_module.score_session = counted  # type: ignore[assignment]
        try:
            yield
        finally:
            session_module.score_session = real
        self.sessions += sessions


def bench_store(quick: bool, directory: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="trainer-bench-", dir=directory) as folder:
        out = asyncio.run(_bench_store(Path(folder), quick))
        out["sqlite_dir"] = str(Path(folder).parent)
        return out


# --------------------------------------------------------------------------- startup

_STARTUP = """
import sys, time
start = time.perf_counter()
sys.path.insert(0, {root!r})
from pathlib import Path
from bot.engine.catalog import Library
from bot.engine.signals import load_lexicon
load_lexicon()
library = Library(Path({root!r}) / "dialogues")
assert library.scenarios and not library.problems, library.problems
print(time.perf_counter() - start)
"""


def bench_startup(quick: bool) -> dict[str, Any]:
    """A fresh process loading the lexicon and loading and checking every scenario."""
    code = _STARTUP.format(root=str(ROOT))
    runs = []
    for _ in range(1 if quick else 3):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
        runs.append(float(out.stdout.strip().splitlines()[-1]))
    return {"startup_s": round(statistics.median(runs), 3), "scenarios": len(Library(ROOT / "dialogues").scenarios)}


def main() -> None:
    quick = ARGS.quick
    lexicon = load_lexicon()
    result: dict[str, Any] = {
        "benchmark": "engine",
        "quick": quick,
        "root": str(ROOT),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "prefilter": "hyperscan" if getattr(lexicon, "prefilter", None) is not None else "re",
        # Lexicon patterns Hyperscan could not take: each runs plain `re` over every line.
        "prefilter_unfiltered_patterns": len(lexicon.prefilter.unfiltered) if getattr(lexicon, "prefilter", None) is not None else None,
        "lines": len(LINES),
    }
    result.update(bench_startup(quick))
    result.update(bench_detection(quick))
    result.update(bench_jobs(quick))
    result.update(bench_engine(quick))
    result.update(bench_memory(quick))
    result.update(bench_store(quick, ARGS.dir))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
