"""Reports as text for the terminal and as a CSV table for spreadsheets (the cohort's)."""

from __future__ import annotations

import csv
import io
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from bot.export import inert
from bot.recognition.reports import CohortReport, ProgressReport


def print_progress(report: ProgressReport, console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    five = "-" if report.all_five_rate is None else f"{report.all_five} of {report.all_five_known} ({report.all_five_rate:.0%})"
    console.print(
        f"[bold]{escape(report.member.display_name)}[/]: {plural(report.started, 'role-play')} ({report.finished} finished), "
        f"all five behaviours in {five}, {plural(len(report.badges), 'badge')}, {report.kudos} kudos", markup=True,
    )
    if report.scenarios:
        table = Table("scenario", "attempts", "first", "best", "latest", "successes", box=None, padding=(0, 2, 0, 2))
        for p in report.scenarios:
            table.add_row(p.scenario_id, str(len(p.attempts)), _score(p.first), _score(p.best), _score(p.latest), str(p.successes))
        console.print(table)
    missed = [s for s in report.skills if s.missed or s.late]
    if missed:
        table = Table("most often missed", "missed", "late", "of", box=None, padding=(0, 2, 0, 2))
        for s in missed[:6]:
            table.add_row(s.label, str(s.missed), str(s.late), str(s.sessions))
        console.print(table)
    if report.badges:
        console.print("  badges: " + escape(", ".join(report.badges)))
    for status in report.assignments:
        best = "" if status.best is None else f", best {status.best}"
        console.print(f"  assignment: {escape(status.assignment.scenario_id)} ({escape(status.cohort)}), pass mark {status.assignment.pass_mark}, "
                      f"due {status.assignment.due_at[:10]}: {status.state}{best}")
    for o in report.overrides:
        console.print(f"  * override: session {o.session_id} {o.previous} \u2192 {o.score} by {escape(o.by_name)} ({o.created_at[:10]}): {escape(o.reason)}")


def print_assignments_left(report: CohortReport, console: Console | None = None) -> None:
    console = console or Console(highlight=False)
    for assignment in report.assignments:
        left = report.not_done(assignment)
        who = ", ".join(left) if left else "nobody"
        console.print(f"assignment {assignment.id} ({escape(assignment.scenario_id)}, due {assignment.due_at[:10]}): not passed yet by {escape(who)}")


def _score(attempt: Any) -> str:
    # '*': changed by an instructor (the overrides are listed below the table)
    return f"{attempt.effective}*" if attempt.override is not None else str(attempt.score)


def cohort_rows(report: CohortReport) -> tuple[list[str], list[dict[str, Any]]]:
    columns = ["trainee", "role-plays", "finished", "successes", "all five", "badges", "kudos",
               *(f"best: {s}" for s in report.scenarios), *(f"skill: {label}" for _, label in report.skills),
               "assignments not passed"]
    rows = []
    for row in report.rows:
        p = row.progress
        best = {s.scenario_id: s.best.effective for s in p.scenarios}
        values: dict[str, Any] = {
            "trainee": row.member.display_name, "role-plays": p.started, "finished": p.finished,
            "successes": sum(s.successes for s in p.scenarios),
            "all five": "" if p.all_five_rate is None else f"{p.all_five_rate:.0%}",
            "badges": len(p.badges), "kudos": p.kudos,
            "assignments not passed": "; ".join(f"{a.assignment.scenario_id} ({a.state})" for a in p.assignments if not a.state.startswith("passed")),
        }
        for scenario in report.scenarios:
            values[f"best: {scenario}"] = best.get(scenario, "")
        for skill, label in report.skills:
            share = report.share(row, skill)
            values[f"skill: {label}"] = "" if share is None else f"{share:.0%}"
        rows.append(values)
    return columns, rows


def write_cohort_csv(report: CohortReport, out: TextIO) -> int:
    columns, rows = cohort_rows(report)
    writer = csv.DictWriter(out, fieldnames=columns, restval="", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: inert(value) for key, value in row.items()})
    return len(rows)


def cohort_csv_bytes(report: CohortReport) -> bytes:
    out = io.StringIO(newline="")
    write_cohort_csv(report, out)
    return out.getvalue().encode("utf-8-sig")  # the BOM makes spreadsheet programs read UTF-8


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")
