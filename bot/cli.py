"""`trainer` command line. Errors a user can cause print one line and exit non-zero;
tracebacks go to the log file, never to the user."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from bot import __version__
from bot.arguments import whole_number
from bot.errors import ScenarioNotFound, TrainerError, UsageError
from bot.export import FORMATS
from bot.recognition.cli import HANDLERS as RECOGNITION_HANDLERS, add_commands as add_recognition_commands

log = logging.getLogger("trainer")

EXIT_OK, EXIT_PROBLEMS, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 130


def _db_help() -> str:
    from bot.store import default_db_path

    return f"database file (default: {default_db_path()})"


def build_parser() -> argparse.ArgumentParser:
    db_help = _db_help()
    parser = argparse.ArgumentParser(
        prog="trainer",
        description="Role-play trainer: practise talking with residents, get quoted feedback.",
    )
    parser.add_argument("--version", action="version", version=f"trainer {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details (and tracebacks) to standard error")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    play = commands.add_parser("play", help="role-play a scenario in the terminal", description=(
        "Role-play a scenario. On a terminal it is interactive; otherwise each line of standard "
        "input is one trainee message and the scene ends when input ends. A line starting with / is "
        "a command (/help, /hint, /end), never said to the resident. Every line is saved (with the "
        "reply it got) before the reply is shown."))
    play.add_argument("scenario", nargs="?", help="scenario id (e.g. traffic_stop) or path to a scenario file")
    play.add_argument("--resume", type=whole_number, metavar="SESSION_ID", help="continue an unfinished session (see 'trainer sessions --status active')")
    play.add_argument("--seed", type=int, help="seed for the resident's line variations (default: random, saved with the session)")
    play.add_argument("--persona", metavar="NAME", help=(
        "the resident's variant, for scenarios that have them (trainer scenarios lists them); 'random' to be "
        "surprised (picked with the seed and saved with the session); default: the scenario's first"))
    play.add_argument("--json", action="store_true", help="print the result as one JSON object on the last line")
    play.add_argument("--db", type=Path, help=db_help)
    play.add_argument("--name", default=None, help="the trainee's name for the records (default: your login name)")
    play.add_argument("--cohort", help="record the session in this cohort (created if missing; the trainee joins it)")
    play.add_argument("--dialogues", type=Path, help="directory of scenario files (default: ./dialogues)")

    listing = commands.add_parser("scenarios", help="list the scenarios you can play", description=(
        "The valid scenarios of a directory (default: ./dialogues): id, title and audience."))
    listing.add_argument("--dialogues", type=Path, help="directory of scenario files (default: ./dialogues)")
    listing.add_argument("--json", action="store_true", help="one JSON object per scenario")

    check = commands.add_parser("check", help="validate scenario files", description=(
        "Check scenario files: structure, then names and reachability. Prints 'file:line: CODE message' "
        "per problem (warnings say so); exit 0 when there are no errors (and, with --strict, no warnings), 1 otherwise."))
    check.add_argument("paths", nargs="*", type=Path, help="files or directories (default: dialogues/)")
    check.add_argument("--strict", action="store_true", help="fail on warnings too (for CI)")
    check.add_argument("--badges", type=Path, metavar="FILE", help=(
        "also check this badge rules file against the scenarios (default: $TRAINER_BADGES, else the shipped rules)"))
    check.add_argument("--walk", type=_walks, default=0, metavar="N", help=(
        "also play N generated scenes per scenario (good, bad, off-topic and gaming lines, every persona) "
        "and report crashes, states never visited, scenes that never end and gaming lines that reach success"))
    check.add_argument("--seed", type=int, default=0, help="seed of the generated scenes (default 0)")

    graph = commands.add_parser("graph", help="draw a scenario's states and transitions", description=(
        "The scenario as a diagram: Mermaid text (default, or a .mmd file), or SVG/PNG through Graphviz's "
        "'dot' when it is installed."))
    graph.add_argument("scenario", help="scenario id or path")
    graph.add_argument("-o", "--output", type=Path, help="write to FILE (.mmd, .dot, .svg or .png) instead of printing Mermaid")
    graph.add_argument("--dialogues", type=Path, help="directory of scenario files (default: ./dialogues)")

    record = commands.add_parser("record", help="write a golden transcript from lines on standard input", description=(
        "Play the lines on standard input and print a golden transcript (YAML) of what happened, to keep "
        "in dialogues/golden/<scenario>/ so the test suite replays it. Review it before committing: it "
        "records what the engine does now, not what it should do."))
    record.add_argument("scenario", help="scenario id or path")
    record.add_argument("--seed", type=int, default=1, help="seed for line variations (default 1)")
    record.add_argument("--description", default="", help="what this transcript shows")
    record.add_argument("--persona", metavar="NAME", help="the resident's variant (default: the scenario's first; 'random' picks one with the seed)")
    record.add_argument("--dialogues", type=Path, help="directory of scenario files (default: ./dialogues)")

    replay = commands.add_parser("replay", help="replay golden transcripts and report differences", description=(
        "Replay golden transcripts (default: every file under dialogues/golden/). Exit 0 when all match, 1 otherwise."))
    replay.add_argument("paths", nargs="*", type=Path, help="transcript files or directories")
    replay.add_argument("--dialogues", type=Path, help="directory of scenario files (default: ./dialogues)")

    run = commands.add_parser("run", help="run the Discord bot", description=(
        "Run the Discord bot until stopped (Ctrl-C or SIGTERM). The token comes from DISCORD_TOKEN or the config; "
        "DISCORD_API_BASE and DISCORD_GATEWAY_URL, when set, replace Discord's REST and gateway URLs."))
    run.add_argument("--config", type=Path, help="configuration file (see config.example.yaml); default: config.yaml if present")

    sessions = commands.add_parser("sessions", help="list role-play sessions", description="One row per session, oldest first.")
    sessions.add_argument("--db", type=Path, help=db_help)
    sessions.add_argument("--json", action="store_true", help="one JSON object per line instead of a table")
    sessions.add_argument("--status", choices=("active", "ended"), help="only active (unfinished) or ended sessions")

    export = commands.add_parser("export", help="sessions, every line said, or training records", description=(
        "Export for spreadsheets: UTF-8, every trainee line verbatim, no text a spreadsheet would run as a formula. "
        "--format xapi: xAPI statements (a JSON array) of finished sessions for a learning record store; "
        "--format records: one CSV row per finished session for in-service training records. "
        "Writes to standard output unless --output is given."))
    export.add_argument("--db", type=Path, help=db_help)
    export.add_argument("--what", choices=("sessions", "turns"), help="csv/jsonl: one row per session, or per line said (default sessions)")
    export.add_argument("--format", choices=(*FORMATS, "xapi", "records"), default="csv", help="csv (default), jsonl, xapi or records")
    export.add_argument("--homepage", default=None, metavar="URL", help=(
        "xapi: your organisation's address, for activity ids and terminal trainees' accounts (default https://trainer.invalid)"))
    export.add_argument("--pass-mark", type=_pass_mark, metavar="N", help=(
        "xapi and records: a pass is a good ending with a score of at least N, 0..100 (default 70)"))
    export.add_argument("--dialogues", type=Path, help="directory of scenario files, for their titles (default: ./dialogues)")
    export.add_argument("--cohort", help="only trainees in this cohort")
    export.add_argument("--guild", type=whole_number, metavar="SERVER_ID", help="only this Discord server (0: terminal sessions)")
    export.add_argument("--since", type=_date, help="only sessions started on or after this date (YYYY-MM-DD)")
    export.add_argument("-o", "--output", type=Path, help="write to this file instead of standard output")

    backup = commands.add_parser("backup", help="copy the database safely, even while the bot runs", description=(
        "Online backup (SQLite's backup API): a consistent copy while other processes keep writing."))
    backup.add_argument("--db", type=Path, help=db_help)
    backup.add_argument("--to", type=Path, required=True, help="the backup file to write")

    purge = commands.add_parser("purge", help="delete sessions older than a date (data retention)", description=(
        "Delete sessions started before DATE with all their lines and evidence. Says how many first."))
    purge.add_argument("--db", type=Path, help=db_help)
    purge.add_argument("--before", type=_date, required=True, help="cut-off date, YYYY-MM-DD (sessions started earlier are deleted)")
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation (for scripts)")

    analyze = commands.add_parser("analyze", help="the signals, respect and empathy of a text", description=(
        "Detect behaviours (signals) in what an officer says, with the words that showed each, "
        "and estimate respect and empathy (0..100)."))
    analyze.add_argument("text", nargs="?", help="the text (omit with --jsonl)")
    analyze.add_argument("--jsonl", action="store_true", help="read lines from standard input, print one JSON object per line")
    analyze.add_argument("--jobs", type=_jobs, default=1, metavar="N", help=(
        "with --jsonl: analyse in N processes, output still in input order (0: one per CPU; default 1)"))
    analyze.add_argument("--scenario", metavar="ID", help=(
        "also the scenario's own signals and facts, and what the judge would credit if the text "
        "were the scene's first message (for authors testing their patterns)"))
    analyze.add_argument("--dialogues", type=Path, help="directory of scenario files (default: ./dialogues)")
    add_recognition_commands(commands, db_help)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    handlers = {
        "play": cmd_play, "check": cmd_check, "analyze": cmd_analyze, "sessions": cmd_sessions,
        "export": cmd_export, "backup": cmd_backup, "purge": cmd_purge, "record": cmd_record, "replay": cmd_replay,
        "run": cmd_run, "graph": cmd_graph, "scenarios": cmd_scenarios, **RECOGNITION_HANDLERS,
    }
    try:
        return handlers[args.command](args)
    except TrainerError as exc:
        log.debug("command failed", exc_info=True)
        print(f"trainer: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("trainer: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_ERROR


def cmd_check(args: argparse.Namespace) -> int:
    from bot.engine.catalog import check
    from bot.engine.problems import errors

    paths = args.paths or [Path("dialogues")]
    missing = [p for p in paths if not p.exists()]
    for path in missing:
        print(f"{path}:1: S022 no such file or directory")
    scenarios, problems = check([p for p in paths if p.exists()], play=True)
    walked = 0
    if args.walk:
        from bot.engine.walk import walk

        for scenario in scenarios:
            report = walk(scenario, args.walk, args.seed)
            problems.extend(report.problems)
            walked += report.turns
            outcomes = ", ".join(f"{count} {name}" for name, count in sorted(report.outcomes.items()))
            print(f"{scenario.id}: {report.scenes} generated scenes, {report.turns} lines ({outcomes}); "
                  f"{len(scenario.states) - len(report.unvisited)} of {len(scenario.states)} states visited", file=sys.stderr)
    for problem in problems:
        print(problem)
    failing = problems if args.strict else errors(problems)
    # The badge rules are checked with the scenarios they name (skills, signals, audiences).
    rule_problems = _check_badges(args.badges, scenarios) if args.badges is not None or not args.paths else []
    for rule_problem in rule_problems:
        print(rule_problem)
    failing_rules = rule_problems if args.strict else [p for p in rule_problems if not p.is_warning]
    if failing or missing or failing_rules:
        return EXIT_PROBLEMS
    if not scenarios:
        print(f"no scenario files (*.yaml) in {', '.join(map(str, paths))}", file=sys.stderr)
        return EXIT_PROBLEMS
    warned = len(problems) - len(errors(problems)) + len(rule_problems)
    checked = " and the badge rules" if args.badges is not None or not args.paths else ""
    print(f"{len(scenarios)} scenario(s){checked} OK" + (f", {warned} warning(s)" if warned else ""), file=sys.stderr)
    return EXIT_OK


def _check_badges(path: Path | None, scenarios: Sequence[Any]) -> list[Any]:
    import os

    from bot.recognition.rules import cross_check, read_rules, shipped_rules_path

    chosen = path or (Path(os.environ["TRAINER_BADGES"]) if os.environ.get("TRAINER_BADGES") else shipped_rules_path())
    rules, problems = read_rules(chosen)
    if rules is not None:
        problems = sorted(problems + cross_check(rules, scenarios))
    return problems


def cmd_analyze(args: argparse.Namespace) -> int:
    from bot.batch import analyze_lines, jobs_count
    from bot.engine.signals import analyze

    if args.scenario is not None:
        return _analyze_for_scenario(args)
    if args.jsonl:
        if args.text is not None:
            raise UsageError("analyze takes a TEXT argument or --jsonl, not both")
        jobs = jobs_count(args.jobs)
        lines = (line.rstrip("\n") for line in sys.stdin)
        for out in analyze_lines(lines, jobs):
            # One line at a time is flushed when serial (interactive use); in bulk, blocks.
            print(out, flush=jobs == 1)
        return EXIT_OK
    if args.jobs != 1:
        raise UsageError("--jobs needs --jsonl (one TEXT is analysed in one process)")
    if args.text is None:
        print("trainer: analyze needs a TEXT argument or --jsonl with lines on standard input", file=sys.stderr)
        return EXIT_ERROR
    print(json.dumps(analyze(args.text), ensure_ascii=False, indent=2))
    return EXIT_OK


def _analyze_for_scenario(args: argparse.Namespace) -> int:
    from bot.engine.catalog import load
    from bot.engine.judge import explain
    from bot.engine.signals import analyze

    scenario = load(args.scenario, args.dialogues)
    if args.jsonl and args.text is not None:
        raise UsageError("analyze takes a TEXT argument or --jsonl, not both")
    if args.jobs != 1:
        raise UsageError("--scenario analyses in one process; drop --jobs")
    if not args.jsonl and args.text is None:
        raise UsageError("analyze needs a TEXT argument or --jsonl with lines on standard input")

    def one(text: str) -> dict[str, Any]:
        return {**analyze(text, scenario.signals), "scenario": scenario.id, **explain(scenario, text)}

    if args.jsonl:
        for line in sys.stdin:
            print(json.dumps(one(line.rstrip("\n")), ensure_ascii=False), flush=True)
    else:
        print(json.dumps(one(args.text), ensure_ascii=False, indent=2))
    return EXIT_OK


def cmd_play(args: argparse.Namespace) -> int:
    import os

    from rich.console import Console

    from bot.engine.catalog import Library, available, load
    from bot.recognition.rules import load_rules
    from bot.sessions import ServiceSettings, SessionService, Trainee
    from bot.store import Store
    from bot.terminal import TerminalTransport, play_in_terminal

    if args.scenario is None and args.resume is None:
        raise UsageError("play needs a SCENARIO (e.g. traffic_stop) or --resume SESSION_ID")
    if args.cohort is not None and (args.resume is not None or not args.cohort.strip()):
        raise UsageError("--cohort names the cohort of a new session (not with --resume), e.g. --cohort 'Spring academy'")
    interactive = sys.stdin.isatty() and sys.stdout.isatty()
    database = _db(args)

    async def run() -> None:
        async with Store.open(database, create=args.resume is None, busy_timeout=_busy_timeout()) as store:
            if args.resume is not None:
                session = await store.get_session(args.resume)
                if session is None:
                    raise UsageError(f"there is no session {args.resume} in {database}")
                if session.thread_id is not None:
                    raise UsageError(f"session {args.resume} is a Discord role-play; it continues in its thread, not here")
                try:
                    scenario = load(args.scenario or session.scenario_id, args.dialogues)
                except ScenarioNotFound as exc:
                    raise UsageError(f"{exc}; if the session was played from a file, give it: trainer play FILE --resume {args.resume}") from exc
            else:
                scenario = load(args.scenario, args.dialogues)
            console = Console(file=sys.stdout, highlight=False, soft_wrap=not interactive, force_terminal=interactive or None)
            # The detectors now, not at the first line: after an update of the lexicon the
            # first start compiles their pre-filter, which takes a minute or more.
            from bot.engine.signals import prepare_detectors

            if interactive:
                with console.status("Preparing the detectors (the first start after an update takes a minute or more)..."):
                    prepare_detectors()
            else:
                prepare_detectors()
            transport = TerminalTransport(console, interactive=interactive)
            # Every scenario trainees can play, for badges such as "every patrol scenario".
            catalogue = {s.id: s for s in available(args.dialogues)} | {scenario.id: scenario}
            # One person at a keyboard: no flood control.
            service = SessionService(
                store, transport, Library.of(scenario), ServiceSettings(lines_per_minute=0),
                badges=load_rules(os.environ.get("TRAINER_BADGES") or None), catalogue=catalogue.values,
            )
            try:
                if args.resume is not None:
                    started = await service.resume(args.resume, scenario)
                else:
                    _check_persona(scenario, args.persona)  # before anything is saved, the cohort too
                    name = args.name or _login_name()
                    if args.cohort is not None:
                        # The trainee joins the cohort before playing, so what the session earns counts there.
                        cohort = await store.ensure_cohort(args.cohort.strip())
                        await store.add_to_cohort(cohort.id, (await store.ensure_member(name)).id)
                    started = await service.start(scenario, Trainee(name), seed=args.seed, persona=args.persona)
                await play_in_terminal(service, started, interactive=interactive, as_json=args.json, database=database, resumed=args.resume is not None)
            finally:
                await service.close()

    asyncio.run(run())
    return EXIT_OK


def cmd_scenarios(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from bot.engine.catalog import check, default_dialogues_dir

    directory = args.dialogues or default_dialogues_dir()
    if not directory.is_dir():
        raise UsageError(f"no such directory: {directory}")
    scenarios, problems = check([directory])
    rows = [{"id": s.id, "title": s.title, "audience": list(s.audience), "personas": [p.name for p in s.personas], "file": s.path}
            for s in sorted(scenarios, key=lambda s: s.id)]
    if args.json:
        for row in rows:
            print(json.dumps(row, ensure_ascii=False))
    else:
        table = Table("id", "title", "audience", "personas", box=None, padding=(0, 2, 0, 0))
        for row in rows:
            table.add_row(row["id"], row["title"], ", ".join(row["audience"]) or "everyone", ", ".join(row["personas"]) or "-")
        Console(highlight=False).print(table if rows else f"no scenarios in {directory}")
    if problems:
        print(f"trainer: {len(problems)} problem(s) in {directory}; 'trainer check {directory}' lists them (those scenarios are left out)", file=sys.stderr)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    import os

    from bot.config import load_settings
    from bot.discord_app.run import configure_logging, run_bot

    config = args.config
    if config is None and Path("config.yaml").is_file():
        config = Path("config.yaml")
    settings = load_settings(config, os.environ)
    configure_logging(settings)
    guild_ready = os.environ.get("TRAINER_GUILD_READY_TIMEOUT")  # tests against a fake gateway wait less
    try:
        options = {"guild_ready_timeout": float(guild_ready)} if guild_ready else {}
    except ValueError:
        raise UsageError(f"TRAINER_GUILD_READY_TIMEOUT must be a number of seconds, not {guild_ready!r}") from None
    try:
        asyncio.run(run_bot(settings, **options))
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def cmd_graph(args: argparse.Namespace) -> int:
    import shutil
    import subprocess

    from bot.engine.catalog import load
    from bot.engine.diagram import dot, mermaid

    scenario = load(args.scenario, args.dialogues)
    output: Path | None = args.output
    if output is None:
        print(mermaid(scenario), end="")
        return EXIT_OK
    suffix = output.suffix.lower()
    if suffix in (".mmd", ".mermaid", ".dot"):
        try:
            output.write_text(dot(scenario) if suffix == ".dot" else mermaid(scenario), encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from exc
    elif suffix in (".svg", ".png"):
        if shutil.which("dot") is None:
            raise UsageError("drawing SVG or PNG needs Graphviz's 'dot' (e.g. apt install graphviz); or write a .mmd file")
        result = subprocess.run(["dot", f"-T{suffix[1:]}", "-o", str(output)], input=dot(scenario), text=True, capture_output=True)
        if result.returncode != 0:
            raise UsageError(f"Graphviz failed: {result.stderr.strip()}")
    else:
        raise UsageError(f"unknown diagram format '{suffix}': use .mmd, .dot, .svg or .png")
    print(f"wrote {output}", file=sys.stderr)
    return EXIT_OK


def cmd_record(args: argparse.Namespace) -> int:
    import yaml

    from bot.engine.catalog import load
    from bot.engine.golden import record

    scenario = load(args.scenario, args.dialogues)
    lines = [line.strip() for line in sys.stdin if line.strip()]
    _check_persona(scenario, args.persona)
    data = record(scenario, lines, args.seed, args.description, args.persona)
    print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100), end="")
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from bot.engine.catalog import default_dialogues_dir, load
    from bot.engine.golden import load_transcript, replay

    dialogues = args.dialogues or default_dialogues_dir()
    files: list[Path] = []
    for path in args.paths or [dialogues / "golden"]:
        files.extend(sorted(path.rglob("*.yaml")) if path.is_dir() else [path])
    if not files:
        raise UsageError(f"no golden transcripts found in {', '.join(map(str, args.paths or [dialogues / 'golden']))}")
    failed = 0
    for file in files:
        transcript = load_transcript(file)
        diffs = replay(load(transcript.scenario, dialogues), transcript)
        print(f"{'FAIL' if diffs else 'ok'}   {file}")
        for diff in diffs:
            print(f"       {diff}")
        failed += bool(diffs)
    print(f"{len(files) - failed} passed, {failed} failed", file=sys.stderr)
    return EXIT_PROBLEMS if failed else EXIT_OK


def cmd_sessions(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from bot.store import Store

    async def fetch() -> list[Any]:
        async with Store.open(_db(args), create=False, busy_timeout=_busy_timeout()) as store:
            return await store.list_sessions(status=args.status)

    rows = asyncio.run(fetch())
    records = [
        {"id": r.id, "scenario": r.scenario_id, "trainee": r.trainee, "status": r.status, "turns": r.turns,
         "score": r.score, "outcome": r.outcome, "persona": r.persona, "started_at": r.started_at}
        for r in rows
    ]
    if args.json:
        for record in records:
            print(json.dumps(record, ensure_ascii=False))
        return EXIT_OK
    # The persona column only when some session has one: the table must fit a terminal.
    columns = [key for key in ("id", "scenario", "trainee", "status", "turns", "score", "outcome", "persona", "started_at")
               if key != "persona" or any(r["persona"] for r in records)]
    table = Table(*columns, box=None)
    for record in records:
        table.add_row(*("" if record[key] is None else str(record[key]) for key in columns))
    Console(highlight=False).print(table if records else "no sessions")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from bot.export import write_rows
    from bot.store import Store
    from bot.store.rows import ExportTurn

    async def fetch() -> list[Any]:
        async with Store.open(_db(args), create=False, busy_timeout=_busy_timeout()) as store:
            cohort_id = None
            if args.cohort is not None:
                found = [c for c in await store.cohorts_named(args.cohort) if args.guild is None or c.guild_id == args.guild]
                if not found:
                    raise UsageError(f"there is no cohort named '{args.cohort}'" + (f" in server {args.guild}" if args.guild else ""))
                if len(found) > 1:
                    servers = ", ".join(str(c.guild_id) for c in found)
                    raise UsageError(f"cohort '{args.cohort}' exists in several servers ({servers}): choose one with --guild")
                cohort_id = found[0].id
            if records:
                return list(await store.records(cohort_id=cohort_id, since=args.since, guild_id=args.guild))
            if args.what == "sessions":
                return list(await store.export_sessions(cohort_id=cohort_id, since=args.since, guild_id=args.guild))
            return list(await store.export_turns(cohort_id=cohort_id, since=args.since, guild_id=args.guild))

    records = args.format in ("xapi", "records")
    if records and args.what is not None:
        raise UsageError(f"--format {args.format} writes one record per finished session; drop --what")
    if not records and (args.homepage is not None or args.pass_mark is not None):
        raise UsageError("--homepage is for --format xapi, and --pass-mark for --format xapi or records")
    args.what = args.what or "sessions"
    rows = asyncio.run(fetch())
    if records:
        return _write_records(args, rows)
    fields = SESSION_FIELDS if args.what == "sessions" else [f.name for f in dataclasses.fields(ExportTurn)]
    if args.output is not None:
        try:
            with args.output.open("w", encoding="utf-8", newline="") as out:
                count = write_rows(rows, out, args.format, fields)
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from exc
        print(f"{count} {args.what} written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.reconfigure(encoding="utf-8", newline="")  # type: ignore[union-attr]
        write_rows(rows, sys.stdout, args.format, fields)
    return EXIT_OK


def _write_records(args: argparse.Namespace, rows: list[Any]) -> int:
    from bot.engine.catalog import available
    from bot.recognition.records import DEFAULT_HOMEPAGE, PASS_MARK, write_records, write_xapi

    titles = {s.id: s.title for s in available(args.dialogues)}

    def write(out: Any) -> int:
        mark = PASS_MARK if args.pass_mark is None else args.pass_mark
        if args.format == "xapi":
            return write_xapi(rows, out, titles, args.homepage or DEFAULT_HOMEPAGE, mark)
        return write_records(rows, out, titles, mark)

    what = "statement(s)" if args.format == "xapi" else "record(s)"
    if args.output is not None:
        try:
            with args.output.open("w", encoding="utf-8", newline="") as out:
                count = write(out)
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from exc
        print(f"{count} {what} written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.reconfigure(encoding="utf-8", newline="")  # type: ignore[union-attr]
        write(sys.stdout)
    return EXIT_OK


def cmd_backup(args: argparse.Namespace) -> int:
    from bot.store import Store

    if args.to.resolve() == _db(args).resolve():
        raise UsageError("the backup file must not be the database itself")

    async def run() -> None:
        async with Store.open(_db(args), create=False, busy_timeout=_busy_timeout()) as store:
            await store.backup(args.to)

    asyncio.run(run())
    print(f"backed up {_db(args)} to {args.to}", file=sys.stderr)
    return EXIT_OK


def cmd_purge(args: argparse.Namespace) -> int:
    from bot.store import Store

    async def run() -> int:
        async with Store.open(_db(args), create=False, busy_timeout=_busy_timeout()) as store:
            counts = await store.count_before(args.before)
            print(f"Before {args.before}: {counts.sessions} ended session(s) with {counts.turns} line(s), {counts.kudos} kudos,"
                  f" and {counts.members} person(s) with nothing else on record (role-plays in progress are kept).", file=sys.stderr)
            if not counts.anything:
                print("nothing to delete", file=sys.stderr)
                return EXIT_OK
            if not args.yes:
                if not sys.stdin.isatty():
                    raise UsageError("purge deletes data: confirm with --yes when not on a terminal")
                if input("Delete them? [y/N] ").strip().lower() not in ("y", "yes"):
                    print("nothing deleted", file=sys.stderr)
                    return EXIT_OK
            deleted = await store.purge(args.before)
            print(f"deleted {deleted.sessions} session(s), {deleted.kudos} kudos and {deleted.members} person(s);"
                  " the database file was rebuilt without them", file=sys.stderr)
            return EXIT_OK

    return asyncio.run(run())


SESSION_FIELDS = (
    "id", "scenario_id", "trainee", "mode", "status", "outcome", "score", "turns",
    "state", "mood", "seed", "started_at", "ended_at", "guild_id", "thread_id", "persona",
)


def _check_persona(scenario: Any, name: str | None) -> None:
    """A clear error for a persona the scenario does not have, before anything is saved."""
    from bot.engine.scenario import RANDOM_PERSONA

    if name is None or name == RANDOM_PERSONA and scenario.personas:
        return
    known = [p.name for p in scenario.personas]
    if name not in known:
        have = f"its personas are {', '.join(known)} (or random)" if known else "it has no persona variants"
        raise UsageError(f"scenario '{scenario.id}' has no persona '{name}': {have}")


def _db(args: argparse.Namespace) -> Path:
    from bot.store import default_db_path

    return Path(args.db) if args.db is not None else default_db_path()


def _pass_mark(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a score from 0 to 100, got '{text}'") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError("must be between 0 and 100")
    return value


def _walks(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of scenes, got '{text}'") from None
    if not 0 <= value <= 100_000:
        raise argparse.ArgumentTypeError("must be between 0 and 100000")
    return value


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of processes, got '{text}'") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 (one per CPU) or more")
    return value


def _busy_timeout() -> float:
    """TRAINER_BUSY_TIMEOUT: how long a write waits for another process's lock (default 30 s)."""
    import os

    raw = os.environ.get("TRAINER_BUSY_TIMEOUT", "")
    if not raw:
        return 30.0
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"TRAINER_BUSY_TIMEOUT must be a number of seconds, not {raw!r}") from None
    if not 0 < value <= 3600:
        raise UsageError("TRAINER_BUSY_TIMEOUT must be between 0 and 3600 seconds")
    return value


def _date(text: str) -> str:
    """A YYYY-MM-DD date as the ISO prefix stored timestamps compare against."""
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def _login_name() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "trainee"
