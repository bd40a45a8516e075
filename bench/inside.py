"""Why an engine step costs more inside a stored turn than alone. Prints one JSON object.

    python bench/inside.py [--quick] [--dir DIR] [--root CHECKOUT]

`Session.step` (and the detection and judge inside it) is timed on the same lines three
ways: alone, in a loop (what bench/engine.py's `engine_turns_per_s` does); inside the
stored run with 32 and with 1 concurrent sessions (bench/engine.py's `_stored_turns`:
the session service, the outbox, the chat in memory, the store's group commit); and
alone again with something between two steps (an idle wait, a busy wait, an fsync), to
show what the work around a step costs the step. Each time is given as wall time and as
the thread's CPU time: their difference is time the event loop's thread waited for
Python's GIL while another thread (the database's) held it. For the stored runs, the CPU
per turn of the event loop's thread and of the process's other threads, and garbage
collection's share. The store's connection has no statement trace here (bench/engine.py
counts its commits with one, in an untimed run of its own). Means in microseconds, medians
over interleaved blocks. It measures the same code paths as bench/engine.py and changes nothing in them: the step is wrapped,
not replaced. `--root` runs it on another checkout (one with bench/engine.py).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib.util
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parents[1]
BETWEEN_S = 0.0005  # what comes between two steps in the gap runs: 500 us, about one stored turn of other work


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one block, fewer sessions (a smoke test)")
    parser.add_argument("--dir", type=Path, help="where the SQLite files go (default: the system temp dir)")
    parser.add_argument("--root", type=Path, default=HERE, help="the checkout whose code is measured (default: this one)")
    return parser.parse_args()


def _engine_bench(root: Path) -> ModuleType:
    """That checkout's bench/engine.py, for its lines, scenarios and stored run (it puts the checkout on sys.path)."""
    sys.path.insert(0, str(root / "bench"))
    spec = importlib.util.spec_from_file_location("bench_engine_of_root", root / "bench" / "engine.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Clock:
    """Wall and thread CPU time of each step, detection and judge while `on`."""

    def __init__(self) -> None:
        self.on = False
        self.samples: dict[str, list[float]] = {}
        self.gc_seconds = 0.0
        self._gc_start = 0.0

    def timed(self, name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        wall, cpu = time.perf_counter, time.thread_time

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not self.on:
                return real(*args, **kwargs)
            w0, c0 = wall(), cpu()
            result = real(*args, **kwargs)
            w1, c1 = wall(), cpu()
            self.samples.setdefault(name, []).append(w1 - w0)
            self.samples.setdefault(name + "_cpu", []).append(c1 - c0)
            return result

        return wrapper

    def on_gc(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_start = time.perf_counter()
        elif self.on:
            self.gc_seconds += time.perf_counter() - self._gc_start

    @contextmanager
    def measuring(self) -> Iterator[dict[str, float]]:
        """Means in microseconds of what ran inside, filled in on exit."""
        out: dict[str, float] = {}
        self.samples, self.gc_seconds, self.on = {}, 0.0, True
        try:
            yield out
        finally:
            self.on = False
            out.update({name: statistics.fmean(values) * 1e6 for name, values in self.samples.items()})
            steps = len(self.samples.get("step", ()))
            out["steps"] = steps
            out["gil_wait"] = out.get("step", 0.0) - out.get("step_cpu", 0.0)
            out["gc_per_step"] = self.gc_seconds / steps * 1e6 if steps else 0.0


def main() -> None:
    args = _parse_args()
    bench = _engine_bench(args.root.resolve())
    from bot.engine import session as session_module  # the checkout's, now on sys.path

    clock = _Clock()
    session_module.Session.step = clock.timed("step", session_module.Session.step)  # type: ignore[method-assign]
    session_module.detect_in = clock.timed("detect", session_module.detect_in)  # type: ignore[attr-defined]
    session_module.judge = clock.timed("judge", session_module.judge)  # type: ignore[attr-defined]
    gc.callbacks.append(clock.on_gc)

    quick = args.quick
    scenarios = bench._scenarios()
    sessions = bench.SCRIPTS[: 16 if quick else 64]
    machines = {s.id: bench.ScenarioMachine(s) for s in scenarios}
    scratch = tempfile.TemporaryDirectory(prefix="trainer-inside-", dir=args.dir)
    folder = Path(scratch.name)
    sync_file = open(folder / "fsync", "wb")  # noqa: SIM115 (closed at the end)

    def between(kind: str) -> None:
        if kind == "idle":
            time.sleep(BETWEEN_S)
        elif kind == "busy":
            end = time.perf_counter() + BETWEEN_S
            while time.perf_counter() < end:
                pass
        elif kind == "fsync":
            sync_file.write(b"x" * 200)
            sync_file.flush()
            os.fsync(sync_file.fileno())

    def alone(kind: str = "") -> dict[str, float]:
        with clock.measuring() as out:
            for k, script in enumerate(sessions):
                scenario = scenarios[k % len(scenarios)]
                session = bench.Session.start(scenario, machines[scenario.id], seed=k)
                for text in script:
                    if session.ended:
                        break
                    if kind:
                        clock.on = False
                        between(kind)
                        clock.on = True
                    session.step(text)
                session.abandon()
                session.score()
        return out

    async def stored(concurrency: int) -> dict[str, float]:
        async with bench.Store.open(folder / f"inside-{concurrency}.db") as store:
            await bench._stored_turns(store, scenarios, bench.SCRIPTS[:2], 1, 10**6)  # warm-up
            process, main_thread = time.process_time(), time.thread_time()
            with clock.measuring() as out:
                turns, seconds, _ = await bench._stored_turns(store, scenarios, sessions, concurrency, 0)
            out["main_thread_cpu_per_turn"] = (time.thread_time() - main_thread) / turns * 1e6
            out["other_threads_cpu_per_turn"] = (time.process_time() - process) / turns * 1e6 - out["main_thread_cpu_per_turn"]
            out["wall_per_turn"] = seconds / turns * 1e6
            out["turns_per_s"] = turns / seconds
        return out

    runs: dict[str, Callable[[], dict[str, float]]] = {
        "alone": alone,
        "inside_32": lambda: asyncio.run(stored(32)),
        "inside_1": lambda: asyncio.run(stored(1)),
        "alone_after_idle": lambda: alone("idle"),
        "alone_after_busy": lambda: alone("busy"),
        "alone_after_fsync": lambda: alone("fsync"),
    }
    alone()  # warm-up
    blocks: dict[str, list[dict[str, float]]] = {name: [] for name in runs}
    for _ in range(1 if quick else 3):
        for name, run in runs.items():
            gc.collect()
            blocks[name].append(run())
    sync_file.close()
    scratch.cleanup()

    def median(name: str, key: str) -> float:
        return round(statistics.median(block.get(key, 0.0) for block in blocks[name]), 1)

    result: dict[str, Any] = {"benchmark": "inside", "quick": quick, "root": str(args.root.resolve()), "steps": median("alone", "steps")}
    for name in runs:
        for key in ("step", "step_cpu", "gil_wait", "detect", "detect_cpu", "judge", "judge_cpu", "gc_per_step"):
            result[f"{key}_us_{name}"] = median(name, key)
    for name in ("inside_32", "inside_1"):
        for key in ("main_thread_cpu_per_turn", "other_threads_cpu_per_turn", "wall_per_turn", "turns_per_s"):
            result[f"{key}_{name}" if key == "turns_per_s" else f"{key}_us_{name}"] = median(name, key)
    result["step_inside_32_vs_alone"] = round(result["step_us_inside_32"] / result["step_us_alone"], 3)
    result["step_cpu_inside_32_vs_alone"] = round(result["step_cpu_us_inside_32"] / result["step_cpu_us_alone"], 3)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
