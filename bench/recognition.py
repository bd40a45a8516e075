"""What recognition costs: the work it adds to the end of a session as a trainee's history
grows, the board of a cohort, and drawing the report charts. Prints one JSON object.

The floor, measured in the same run on the same file: committing a session's end without
recognition (`Store.finish_session`). Each figure is the median of interleaved repetitions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

from bot.engine.catalog import Library  # noqa: E402
from bot.engine.session import Session  # noqa: E402
from bot.recognition import charts  # noqa: E402
from bot.recognition.reports import cohort_report, progress_report  # noqa: E402
from bot.recognition.service import RecognitionService  # noqa: E402
from bot.store import NewSession, Store, TurnRow  # noqa: E402
from bot.store.rows import SkillEvidenceRow  # noqa: E402
from tests.scripts import COURTEOUS  # noqa: E402


async def _finished(store: Store, service: RecognitionService, library: Library, member: str, *, record: bool) -> tuple[float, float]:
    """(seconds of recognition's work, seconds of the commit) for one finished session."""
    scenario = library.get("traffic_stop")
    play = Session.start(scenario, library.machine(scenario), seed=1)
    for line in COURTEOUS:
        play.step(line)
    score = play.score()
    who = await store.ensure_member(member)
    row = await store.start_session(
        NewSession(scenario.id, scenario.digest, member, 1, play.state, play.mood, member_id=who.id), play.opening,
    )
    await store.record_turn(TurnRow(row.id, 1, "trainee", COURTEOUS[0], (), 50, "s"), TurnRow(row.id, 1, "resident", "ok", (), 50, "s"))
    start = time.perf_counter()
    items, kept = await service.at_finish(row, scenario, play, score, row.id) if record else ([], None)
    middle = time.perf_counter()
    skills = tuple(SkillEvidenceRow(k.name, k.label, k.status.value, k.points, k.max_points, k.turn, k.quote) for k in score.skills)
    await store.finish_session(row.id, score.outcome.value, score.total, skills, items, kept)
    return middle - start, time.perf_counter() - middle


async def run(folder: Path, quick: bool) -> dict[str, Any]:
    library = Library(HERE / "dialogues")
    out: dict[str, Any] = {"quick": quick}
    reps = 5 if quick else 25
    histories = (0, 100) if quick else (0, 100, 1000)
    async with Store.open(folder / "bench.db") as store:
        service = RecognitionService(store, catalogue=lambda: library.scenarios.values())
        floor: list[float] = []
        for size in histories:
            name = f"trainee{size}"
            for _ in range(size):  # the history: finished sessions with their recognition facts
                await _finished(store, service, library, name, record=True)
            added: list[float] = []
            for _ in range(reps):
                work, _commit = await _finished(store, service, library, name, record=True)
                added.append(work)
                _, plain = await _finished(store, service, library, "floor", record=False)
                floor.append(plain)
            out[f"finish_recognition_ms_history_{size}"] = round(statistics.median(added) * 1000, 3)
        out["floor_finish_commit_ms"] = round(statistics.median(floor) * 1000, 3)
        out["recognition_vs_floor_at_100"] = round(out["finish_recognition_ms_history_100"] / out["floor_finish_commit_ms"], 2)

        cohort = await store.create_cohort("Bench")
        people = 10 if quick else 30
        for index in range(people):
            name = f"cadet{index}"
            for _ in range(3 if quick else 20):
                await _finished(store, service, library, name, record=True)
            await store.add_to_cohort(cohort.id, (await store.ensure_member(name)).id)
        members = await store.cohort_members(cohort.id)
        timings = []
        for _ in range(reps):
            start = time.perf_counter()
            await service.board(members, "all", "all")
            timings.append(time.perf_counter() - start)
        out["board_ms"] = round(statistics.median(timings) * 1000, 2)
        out["board_trainees"] = people

        titles = {s.id: s.title for s in library.scenarios.values()}
        report = await cohort_report(store, cohort, five=service.rules.oakland_five, titles=titles, badge_titles={})
        start = time.perf_counter()
        await cohort_report(store, cohort, five=service.rules.oakland_five, titles=titles, badge_titles={})
        out["cohort_report_ms"] = round((time.perf_counter() - start) * 1000, 1)
        one = await progress_report(store, members[0], five=service.rules.oakland_five, titles=titles, badge_titles={})
        for name, draw in (("progress_chart_ms", lambda: charts.progress_chart(one, line=80)), ("heatmap_ms", lambda: charts.skills_heatmaps(report))):
            draw()  # fonts are loaded on the first drawing
            samples = []
            for _ in range(3 if quick else 7):
                start = time.perf_counter()
                draw()
                samples.append(time.perf_counter() - start)
            out[name] = round(statistics.median(samples) * 1000, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds, rough figures")
    parser.add_argument("--dir", type=Path, help="where the SQLite file goes (default: the system temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="trainer-bench-", dir=args.dir) as folder:
        print(json.dumps(asyncio.run(run(Path(folder), args.quick))))


if __name__ == "__main__":
    main()
