"""`trainer analyze --jsonl --jobs N`: many lines analysed over N processes, output in input order.

Lines travel in chunks (a process per line would cost more than the analysis), a
bounded number of chunks is in flight (a transcript of any size streams through in
constant memory), and results are written in the order the chunks were read.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from itertools import islice

from bot.engine.signals import analyze, compile_every_pattern, load_lexicon
from bot.errors import TrainerError

CHUNK_LINES = 256
IN_FLIGHT_PER_JOB = 4


def analyze_json(text: str) -> str:
    """One output line of `trainer analyze --jsonl`."""
    return json.dumps(analyze(text), ensure_ascii=False)


def _analyze_chunk(lines: list[str]) -> list[str]:
    return [analyze_json(text) for text in lines]


def jobs_count(requested: int) -> int:
    """0 means one process per CPU."""
    return requested if requested > 0 else os.cpu_count() or 1


def analyze_lines(lines: Iterable[str], jobs: int) -> Iterator[str]:
    """The JSON of each line, in input order; ``jobs`` processes share the work."""
    if jobs <= 1:
        for text in lines:
            yield analyze_json(text)
        return
    load_lexicon()  # once here: forked workers inherit it compiled
    compile_every_pattern()  # (its patterns compile on first use, which each worker would do again)
    # fork where the platform has it (workers start at once, lexicon loaded); else spawn.
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() and sys.platform != "darwin" else "spawn"
    executor = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context(method), initializer=load_lexicon)
    pending: deque[Future[list[str]]] = deque()
    source = iter(lines)
    try:
        while True:
            while len(pending) < jobs * IN_FLIGHT_PER_JOB:
                chunk = list(islice(source, CHUNK_LINES))
                if not chunk:
                    break
                pending.append(executor.submit(_analyze_chunk, chunk))
            if not pending:
                return
            yield from pending.popleft().result()
    except BrokenProcessPool as exc:
        raise TrainerError(f"an analysis process died ({exc}); try fewer --jobs") from exc
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
