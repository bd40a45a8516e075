"""Training records out of the store: xAPI statements for a learning record store, and a
spreadsheet a training unit can file for in-service hours. No SQL here.

A pass is a good ending (a success) with a score of at least the pass mark (default 70, as
for assignments): a scene can end lawfully and still be curt, and a brush-off that scores 15
must not be filed as passed.

xAPI (1.0.3): one statement per finished session, with a stable id (the same session always
gives the same statement, so exporting twice files nothing twice). The verb is `passed`
for a pass, `failed` for any other finished role-play and `terminated` for one abandoned
before its end; the result carries the scaled score, success, completion and duration, and each
skill's points and quoted evidence as an extension. An instructor's override is the score,
with the earned score and the reason beside it.

Records CSV: one row per finished session, every text made inert for spreadsheets (the
formula guard of bot/export.py).
"""

from __future__ import annotations

import csv
import json
import math
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, TextIO

from bot.export import inert
from bot.store.rows import RecordRow

DEFAULT_HOMEPAGE = "https://trainer.invalid"  # replace with your organisation's address (--homepage)
PASS_MARK = 70
PASSED = ("http://adlnet.gov/expapi/verbs/passed", "passed")
FAILED = ("http://adlnet.gov/expapi/verbs/failed", "failed")
TERMINATED = ("http://adlnet.gov/expapi/verbs/terminated", "terminated")
OUTCOMES = ("success", "failure", "abandoned")
SIMULATION = "http://adlnet.gov/expapi/activities/simulation"
STATUS_WORDS = {"earned": "yes", "late": "late", "out_of_order": "out of order", "missed": "no"}


def minutes(record: RecordRow) -> float:
    start = datetime.fromisoformat(record.session.started_at)
    end = datetime.fromisoformat(record.session.ended_at or record.session.started_at)
    return max(0.0, (end - start).total_seconds() / 60)


def iso_duration(seconds: float) -> str:
    whole = max(0, math.floor(seconds))
    hours, rest = divmod(whole, 3600)
    mins, secs = divmod(rest, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{mins}M" if mins else "") + f"{secs}S"


def effective_score(record: RecordRow) -> int:
    return record.override.score if record.override is not None else (record.session.score or 0)


def passed(record: RecordRow, pass_mark: int = PASS_MARK) -> bool:
    """A good ending with a score (an instructor's, when overridden) of at least the pass mark."""
    return record.session.outcome == "success" and effective_score(record) >= pass_mark


def xapi_statements(records: Sequence[RecordRow], titles: Mapping[str, str], homepage: str = DEFAULT_HOMEPAGE,
                    pass_mark: int = PASS_MARK) -> list[dict[str, Any]]:
    base = homepage.rstrip("/")
    return [_statement(record, titles, base, pass_mark) for record in records if record.session.outcome in OUTCOMES]


def _statement(record: RecordRow, titles: Mapping[str, str], base: str, pass_mark: int) -> dict[str, Any]:
    session = record.session
    member = record.member
    name = member.display_name if member is not None else session.trainee
    if member is not None and member.discord_id is not None:
        account = {"homePage": "https://discord.com", "name": str(member.discord_id)}
    else:
        account = {"homePage": f"{base}/members", "name": name}
    success = passed(record, pass_mark)
    verb_id, verb = TERMINATED if session.outcome == "abandoned" else PASSED if success else FAILED
    score = effective_score(record)
    seconds = minutes(record) * 60
    skills = [
        {"skill": s.skill, "label": s.label, "status": s.status, "points": s.points, "max_points": s.max_points,
         "turn": s.turn, "evidence": s.quote}
        for s in record.skills
    ]
    result: dict[str, Any] = {
        "score": {"scaled": round(score / 100, 4), "raw": score, "min": 0, "max": 100},
        "success": success,
        "completion": session.outcome != "abandoned",
        "duration": iso_duration(seconds),
        "extensions": {f"{base}/xapi/extensions/skills": skills},
    }
    if record.override is not None:
        result["extensions"][f"{base}/xapi/extensions/override"] = {
            "earned_score": session.score, "score": record.override.score, "reason": record.override.reason,
            "by": record.override.by_name, "at": record.override.created_at,
        }
    context: dict[str, Any] = {
        "platform": "role-play trainer",
        "extensions": {f"{base}/xapi/extensions/session": {
            "id": session.id, "mode": session.mode, "scenario_digest": session.scenario_digest, "persona": session.persona,
            "outcome": session.outcome, "pass_mark": pass_mark,
        }},
    }
    if record.instructor:
        context["instructor"] = {"objectType": "Agent", "name": record.instructor, "account": {"homePage": f"{base}/members", "name": record.instructor}}
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{base}/sessions/{session.id}/{session.started_at}")),
        "actor": {"objectType": "Agent", "name": name, "account": account},
        "verb": {"id": verb_id, "display": {"en-US": verb}},
        "object": {
            "objectType": "Activity", "id": f"{base}/scenarios/{session.scenario_id}",
            "definition": {"name": {"en-US": titles.get(session.scenario_id, session.scenario_id)}, "type": SIMULATION},
        },
        "result": result,
        "context": context,
        "timestamp": session.ended_at or session.started_at,
        "version": "1.0.3",
    }


def write_xapi(records: Sequence[RecordRow], out: TextIO, titles: Mapping[str, str], homepage: str = DEFAULT_HOMEPAGE,
               pass_mark: int = PASS_MARK) -> int:
    """A JSON array of statements, as a learning record store takes them in one POST."""
    statements = xapi_statements(records, titles, homepage, pass_mark)
    json.dump(statements, out, ensure_ascii=False, indent=2)
    out.write("\n")
    return len(statements)


RECORD_FIELDS = ("trainee", "date", "scenario", "scenario_title", "persona", "mode", "minutes", "score", "earned_score", "pass", "outcome",
                 "instructor", "override_reason", "session")


def record_rows(records: Sequence[RecordRow], titles: Mapping[str, str], pass_mark: int = PASS_MARK) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows): the fixed columns, then one 'skill: <name>' column per rubric skill seen."""
    skills: dict[str, None] = {}
    for record in records:
        for skill in record.skills:
            skills.setdefault(skill.skill, None)
    columns = [*RECORD_FIELDS, *(f"skill: {name}" for name in skills)]
    rows = []
    for record in records:
        session = record.session
        score = effective_score(record)
        row: dict[str, Any] = {
            "trainee": record.member.display_name if record.member is not None else session.trainee,
            "date": (session.ended_at or session.started_at)[:10],
            "scenario": session.scenario_id,
            "scenario_title": titles.get(session.scenario_id, ""),
            "persona": session.persona or "",
            "mode": session.mode,
            "minutes": round(minutes(record), 1),
            "score": score,
            "earned_score": session.score,
            "pass": "yes" if passed(record, pass_mark) else "no",
            "outcome": session.outcome,
            "instructor": record.instructor,
            "override_reason": record.override.reason if record.override is not None else "",
            "session": session.id,
        }
        for skill in record.skills:
            row[f"skill: {skill.skill}"] = STATUS_WORDS.get(skill.status, skill.status)
        rows.append(row)
    return columns, rows


def write_records(records: Sequence[RecordRow], out: TextIO, titles: Mapping[str, str], pass_mark: int = PASS_MARK) -> int:
    columns, rows = record_rows(records, titles, pass_mark)
    writer = csv.DictWriter(out, fieldnames=columns, restval="", extrasaction="ignore", lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: inert(value) for key, value in row.items()})
    return len(rows)
