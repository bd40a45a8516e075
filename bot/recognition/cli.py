"""The recognition side of `trainer`, without Discord: the board, reports and charts,
assignments, score overrides, opting out of public recognition. Registered by bot/cli.py."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.arguments import whole_number
from bot.errors import UsageError

if TYPE_CHECKING:  # the store (and aiosqlite) load only for the commands that need them
    from bot.store import Store
    from bot.store.rows import CohortRow, MemberRow

EXIT_OK = 0
Handler = Callable[[argparse.Namespace], int]


def add_commands(commands: Any, db_help: str) -> None:
    """Add the subcommands to `trainer`'s parser (their handlers: HANDLERS)."""
    board = commands.add_parser("leaderboard", help="the recognition board of a cohort", description=(
        "Points per trainee: each scenario's best clean practice attempt (retrying can only help), plus badges and "
        "kudos; ties go to whoever got there first. Only people with points are listed, best first; people who opted "
        "out of public recognition are left out."))
    board.add_argument("--db", type=Path, help=db_help)
    board.add_argument("--cohort", help="only this cohort (default: every trainee of the server)")
    board.add_argument("--period", choices=("week", "month", "all"), default="week", help="the last 7 days (default), 30 days, or all time")
    board.add_argument("--guild", type=whole_number, metavar="SERVER_ID", help="the Discord server (default 0: the terminal)")
    board.add_argument("--json", action="store_true", help="a JSON list of {rank, name, points, ...}, best first")

    report = commands.add_parser("report", help="progress reports and charts, for instructors", description=(
        "A trainee's progress (--member: attempts, first, best and latest score per scenario, skills most often "
        "missed, the all-five rate, badges, assignments, overrides) or a cohort's (--cohort: one line per trainee "
        "and the skills heatmap). Without either, every trainee's progress."))
    report.add_argument("--db", type=Path, help=db_help)
    report.add_argument("--member", "--trainee", dest="member", help="one trainee (display name)")
    report.add_argument("--cohort", help="one cohort")
    report.add_argument("--guild", type=whole_number, metavar="SERVER_ID", help="only this Discord server (0: the terminal)")
    report.add_argument("--chart", type=Path, metavar="FILE.png", help=(
        "also draw the progress chart (--member) or the skills heatmap (--cohort; more than 6 trainees: also FILE-2.png, ...)"))
    report.add_argument("--csv", type=Path, metavar="FILE.csv", help="with --cohort: also write the cohort's table as CSV")
    report.add_argument("--json", action="store_true", help="one JSON object per trainee")

    assign = commands.add_parser("assign", help="assign a scenario to a cohort", description=(
        "A cohort must pass SCENARIO (a score of at least --pass-mark) by --due. Trainees see their open assignments "
        "('trainer assignments', /assignment list); reports show who has not passed."))
    assign.add_argument("--db", type=Path, help=db_help)
    assign.add_argument("--cohort", required=True, help="the cohort (created if missing, for terminal trainees)")
    assign.add_argument("--scenario", required=True, help="scenario id")
    assign.add_argument("--due", required=True, type=_due, help="due date, YYYY-MM-DD (the end of that day, UTC) or an ISO date and time")
    assign.add_argument("--pass-mark", type=_mark, default=70, help="the lowest passing score, 0..100 (default 70)")
    assign.add_argument("--guild", type=whole_number, metavar="SERVER_ID", help="the Discord server of the cohort (default 0: the terminal)")
    assign.add_argument("--dialogues", type=Path, help="directory of scenario files (default: ./dialogues)")

    listing = commands.add_parser("assignments", help="assignments and who has passed them", description=(
        "Each assignment of a cohort (or of one trainee's cohorts) with its state per trainee: passed, passed late, open, overdue."))
    listing.add_argument("--db", type=Path, help=db_help)
    listing.add_argument("--cohort", help="one cohort")
    listing.add_argument("--member", help="one trainee: their assignments")
    listing.add_argument("--guild", type=whole_number, metavar="SERVER_ID", help="the Discord server (default 0: the terminal)")
    listing.add_argument("--json", action="store_true", help="one JSON object per assignment and trainee")

    override = commands.add_parser("override", help="change a finished session's score, with a reason", description=(
        "Logs an instructor's score for a session; the score it earned is kept and shown beside it in reports and records."))
    override.add_argument("session", type=whole_number, help="session id (see 'trainer sessions')")
    override.add_argument("--db", type=Path, help=db_help)
    override.add_argument("--score", type=_mark, required=True, help="the new score, 0..100")
    override.add_argument("--reason", required=True, help="why, in a few words (kept with the override)")
    override.add_argument("--by", required=True, help="the instructor's name")

    for name, public in (("opt-out", False), ("opt-in", True)):
        choice = commands.add_parser(name, help=f"{'stop' if not public else 'allow'} public recognition for a trainee", description=(
            "Public recognition (posts in the cohort channel, public boards) is on by default; a trainee may turn it off. "
            "Badges are still earned and shown to the trainee alone."))
        choice.add_argument("--member", required=True, help="the trainee (display name)")
        choice.add_argument("--db", type=Path, help=db_help)
        choice.add_argument("--guild", type=whole_number, metavar="SERVER_ID", help="the Discord server (default 0: the terminal)")
        choice.set_defaults(public=public)


# -- the board --
def cmd_leaderboard(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from bot.recognition.service import RecognitionService

    async def fetch() -> list[Any]:
        async with _open(args) as store:
            service = RecognitionService(store, _rules())
            cohort = await _cohort(store, args.cohort, args.guild) if args.cohort else None
            members = await service.members_of(cohort.guild_id if cohort is not None else args.guild or 0, cohort)
            board = await service.board(members, args.period, args.period)
            return board.public

    standings = asyncio.run(fetch())
    if args.json:
        print(json.dumps([s.as_dict() for s in standings], ensure_ascii=False))
        return EXIT_OK
    if not standings:
        print(f"nobody on the board for this period ({args.period}) yet: a finished practice role-play, a badge or a kudos puts a trainee on it")
        return EXIT_OK
    table = Table("rank", "name", "points", "best attempts", "badges", "kudos", box=None, padding=(0, 2, 0, 0))
    for s in standings:
        table.add_row(str(s.rank), s.name, str(s.points), str(s.best_points), str(s.badge_points), str(s.kudos_points))
    Console(highlight=False).print(table)
    return EXIT_OK


# -- reports --
def cmd_report(args: argparse.Namespace) -> int:
    from bot.recognition.reports import cohort_report, progress_report

    if args.csv is not None and args.cohort is None:
        raise UsageError("--csv writes a cohort's table: give --cohort")
    if args.chart is not None and args.chart.suffix.lower() != ".png":
        raise UsageError(f"--chart writes a PNG image: give a file name ending in .png, not {args.chart.name!r}")
    if args.chart is not None and args.member is None and args.cohort is None:
        raise UsageError("--chart draws one trainee's progress (--member) or a cohort's skills (--cohort)")
    rules = _rules()
    five = rules.oakland_five
    badge_titles = {b.name: b.title for b in rules.badges}
    titles = _titles(None)

    async def fetch() -> tuple[list[Any], Any]:
        async with _open(args) as store:
            if args.member is not None:
                member = await _member(store, args.member, args.guild)
                return [await progress_report(store, member, five=five, titles=titles, badge_titles=badge_titles)], None
            if args.cohort is not None:
                cohort = await _cohort(store, args.cohort, args.guild)
                found = await cohort_report(store, cohort, five=five, titles=titles, badge_titles=badge_titles)
                return [row.progress for row in found.rows], found
            members = [m for m in await store.members(guild_id=args.guild) if m.role == "trainee"]
            reports = [await progress_report(store, m, five=five, titles=titles, badge_titles=badge_titles) for m in members]
            return [r for r in reports if r.started or r.kudos], None

    reports, cohort = asyncio.run(fetch())
    if args.chart is not None:
        from bot.recognition.charts import progress_chart, skills_heatmaps

        images = [progress_chart(reports[0], line=80)] if args.member is not None else skills_heatmaps(cohort)
        # A large cohort's heatmap takes several images: FILE.png, then FILE-2.png, FILE-3.png...
        paths = [args.chart] + [args.chart.with_name(f"{args.chart.stem}-{n}{args.chart.suffix}") for n in range(2, len(images) + 1)]
        for path, image in zip(paths, images):
            _write_bytes(path, image)
        print(f"chart written to {', '.join(map(str, paths))}", file=sys.stderr)
    if args.csv is not None:
        from bot.recognition.tables import write_cohort_csv

        try:
            with args.csv.open("w", encoding="utf-8", newline="") as out:
                write_cohort_csv(cohort, out)
        except OSError as exc:
            raise UsageError(f"cannot write {args.csv}: {exc.strerror or exc}") from exc
        print(f"cohort table written to {args.csv}", file=sys.stderr)
    if args.json:
        for report in reports:
            print(json.dumps(report.as_dict(), ensure_ascii=False))
        return EXIT_OK
    from bot.recognition.tables import print_progress

    if not reports:
        print("no role-plays yet")
    for report in reports:
        print_progress(report)
    if cohort is not None:
        from bot.recognition.tables import print_assignments_left

        print_assignments_left(cohort)
    return EXIT_OK


# -- assignments --
def cmd_assign(args: argparse.Namespace) -> int:
    from bot.engine.catalog import load

    scenario = load(args.scenario, args.dialogues)

    async def run() -> Any:
        async with _open(args) as store:
            guild = args.guild or 0
            cohort = await store.ensure_cohort(args.cohort, guild_id=guild) if guild == 0 else await _cohort(store, args.cohort, guild)
            return await store.create_assignment(cohort.id, scenario.id, args.due, args.pass_mark, None)

    assignment = asyncio.run(run())
    print(f"assignment {assignment.id}: {scenario.id} for {args.cohort}, pass mark {assignment.pass_mark}, due {assignment.due_at}")
    return EXIT_OK


def cmd_assignments(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from bot.recognition.reports import progress_report

    async def fetch() -> list[dict[str, Any]]:
        async with _open(args) as store:
            if args.member is not None:
                people = [await _member(store, args.member, args.guild)]
            elif args.cohort is not None:
                people = await store.cohort_members((await _cohort(store, args.cohort, args.guild)).id)
            else:
                raise UsageError("give --cohort (every trainee of it) or --member (one trainee)")
            rows = []
            for person in people:
                report = await progress_report(store, person, five=(), titles={}, badge_titles={})
                for status in report.assignments:
                    if args.cohort is not None and status.cohort != args.cohort:
                        continue
                    rows.append({"assignment": status.assignment.id, "cohort": status.cohort, "scenario": status.assignment.scenario_id,
                                 "due": status.assignment.due_at, "pass_mark": status.assignment.pass_mark, "trainee": person.display_name,
                                 "state": status.state, "best": status.best})
            return rows

    rows = asyncio.run(fetch())
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
        return EXIT_OK
    # The table must fit a terminal: the due day (the time is the end of it), the cohort only when there are several.
    keys = ["assignment", "cohort", "scenario", "due", "pass_mark", "trainee", "state", "best"]
    if len({row["cohort"] for row in rows}) <= 1:
        keys.remove("cohort")
    headers = {"assignment": "id", "pass_mark": "pass mark"}
    table = Table(*(headers.get(key, key) for key in keys), box=None, padding=(0, 2, 0, 0))
    for row in rows:
        shown = {**row, "due": str(row["due"])[:10]}
        table.add_row(*("" if shown[key] is None else str(shown[key]) for key in keys))
    if rows and "cohort" not in keys:
        print(f"cohort: {rows[0]['cohort']}")
    Console(highlight=False).print(table if rows else "no assignments")
    return EXIT_OK


# -- overrides and opting out --
def cmd_override(args: argparse.Namespace) -> int:
    reason = " ".join(args.reason.split())
    if len(reason.split()) < 2:
        raise UsageError("give the reason in a few words (--reason), so the override explains itself")

    async def run() -> Any:
        async with _open(args) as store:
            return await store.override_score(args.session, args.score, reason, None, args.by.strip())

    row = asyncio.run(run())
    print(f"session {row.session_id}: score {row.previous} -> {row.score} (by {row.by_name}: {row.reason}); the earned score is kept")
    return EXIT_OK


def cmd_public(args: argparse.Namespace) -> int:
    async def run() -> MemberRow:
        async with _open(args) as store:
            member = await _member(store, args.member, args.guild)
            await store.set_public(member.id, args.public)
            return member

    member = asyncio.run(run())
    state = "on" if args.public else "off (badges are still earned, and shown to them alone)"
    print(f"public recognition for {member.display_name}: {state}")
    return EXIT_OK


# -- helpers --
def _open(args: argparse.Namespace) -> Any:
    from bot.cli import _busy_timeout, _db
    from bot.store import Store

    return Store.open(_db(args), create=False, busy_timeout=_busy_timeout())


def _rules() -> Any:
    import os

    from bot.recognition.rules import load_rules

    return load_rules(os.environ.get("TRAINER_BADGES") or None)


def _titles(dialogues: Path | None) -> dict[str, str]:
    from bot.engine.catalog import available

    return {s.id: s.title for s in available(dialogues)}


async def _cohort(store: Store, name: str, guild: int | None) -> CohortRow:
    """The cohort of that name: in `guild`, or in whichever server has one (terminal tools see every department)."""
    found = [c for c in await store.cohorts_named(name) if guild is None or c.guild_id == guild]
    if len(found) > 1:
        servers = ", ".join(str(c.guild_id) for c in found)
        raise UsageError(f"cohort '{name}' exists in several servers ({servers}): choose one with --guild")
    if not found:
        known = sorted({c.name for g in ([guild] if guild is not None else [0]) for c in await store.cohorts(guild_id=g)})
        listing = f" (known: {', '.join(known)})" if known else ""
        raise UsageError(f"there is no cohort named '{name}'" + (f" in server {guild}" if guild else "") + listing)
    return found[0]


async def _member(store: Store, name: str, guild: int | None) -> MemberRow:
    found = await store.member_named(name, guild_id=guild)
    if not found:
        raise UsageError(f"no trainee named '{name}'")
    if len(found) > 1:
        servers = ", ".join(str(m.guild_id) for m in found)
        raise UsageError(f"'{name}' is a member in several servers ({servers}): choose one with --guild")
    return found[0]


def _write_bytes(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _mark(text: str) -> int:
    value = whole_number(text)
    if value > 100:
        raise argparse.ArgumentTypeError("a score is between 0 and 100")
    return value


def _due(text: str) -> str:
    """YYYY-MM-DD: the end of that day (UTC); or an ISO date and time (UTC when no offset)."""
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), time(23, 59, 59), timezone.utc)
        else:
            moment = datetime.fromisoformat(text)
            moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD) or ISO date and time: {text!r}") from None
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds")


def day_end(day: date, zone: Any) -> str:
    """The last second of a day in a time zone, as a stored UTC stamp."""
    end = datetime.combine(day, time(23, 59, 59), zone)
    return end.astimezone(timezone.utc).isoformat(timespec="seconds")


HANDLERS: dict[str, Handler] = {
    "leaderboard": cmd_leaderboard, "report": cmd_report, "assign": cmd_assign, "assignments": cmd_assignments,
    "override": cmd_override, "opt-out": cmd_public, "opt-in": cmd_public,
}
