"""Embeds: a session's cards (briefing, feedback), the board, badges, assignments and reports."""

from __future__ import annotations

import discord

from collections.abc import Sequence
from datetime import datetime

from bot.recognition.reports import AssignmentStatus, Attempt, ProgressReport
from bot.recognition.rules import Badge
from bot.recognition.service import Board
from bot.recognition.tables import plural
from bot.sessions.messages import Card

FIELD_LIMIT = 1024
TONE_COLOUR = {
    "success": discord.Colour.green(), "failure": discord.Colour.red(), "abandoned": discord.Colour.gold(),
    "celebration": discord.Colour.gold(), "info": discord.Colour.blurple(),
}


def clip(text: str, limit: int = FIELD_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def card_embed(card: Card) -> discord.Embed:
    """A session's card (briefing, feedback) as an embed within Discord's limits."""
    embed = discord.Embed(title=clip(card.title, 256), description=clip(card.description, 4000) or None, colour=TONE_COLOUR.get(card.tone))
    for item in card.fields[:25]:
        embed.add_field(name=clip(item.name, 256), value=clip(item.value) or "\u2014", inline=item.inline)
    if card.footer:
        embed.set_footer(text=clip(card.footer, 2048))
    return _fit(embed)


def board_embed(board: Board, top: int) -> discord.Embed:
    """The top of the board, as everyone may see it: points only, never a score."""
    embed = discord.Embed(title=f"\U0001F3C5 Recognition board \u2014 {board.heading}", colour=discord.Colour.gold())
    shown = board.top(top)
    if not shown:
        embed.description = "Nobody on the board yet for this period: the first clean success, badge or kudos puts you here."
        return embed
    lines = [
        f"**{s.rank}.** {f'<@{s.discord_id}>' if s.discord_id else s.name} \u2014 {s.points} points ({s.summary()})"
        for s in shown
    ]
    embed.description = clip("\n".join(lines), 4000)
    embed.set_footer(text="Points: each scenario's best clean attempt, badges and kudos. Retrying can only help.")
    return embed


def badges_embed(badges: Sequence[Badge], held: set[str], public: bool) -> discord.Embed:
    embed = discord.Embed(title="Your badges", colour=discord.Colour.gold())
    earned = [b for b in badges if b.name in held]
    to_earn = [b for b in badges if b.name not in held]
    embed.description = f"{len(earned)} of {len(badges)} earned." + ("" if public else " You opted out of public recognition: they are not announced.")
    if earned:
        embed.add_field(name="Earned", value=clip("\n".join(f"\U0001F3C5 **{b.title}**: {b.description}" for b in earned)), inline=False)
    if to_earn:
        embed.add_field(name="Still to earn", value=clip("\n".join(f"\u2B1C **{b.title}**: {b.description}" for b in to_earn)), inline=False)
    return _fit(embed)


def assignments_embed(statuses: Sequence[AssignmentStatus], titles: dict[str, str]) -> discord.Embed:
    embed = discord.Embed(title="Your assignments", colour=discord.Colour.blurple())
    open_ones = [a for a in statuses if not a.state.startswith("passed")]
    done = [a for a in statuses if a.state.startswith("passed")]
    if not statuses:
        embed.description = "No assignments for your cohorts."
        return embed
    embed.description = f"{len(open_ones)} open, {len(done)} passed."

    def line(a: AssignmentStatus) -> str:
        best = "" if a.best is None else f", your best {a.best}"
        return (f"**{titles.get(a.assignment.scenario_id, a.assignment.scenario_id)}** ({a.cohort}): pass mark {a.assignment.pass_mark}, "
                f"due <t:{_epoch(a.assignment.due_at)}:f> \u2014 {a.state}{best}")

    if open_ones:
        embed.add_field(name="Open", value=clip("\n".join(line(a) for a in open_ones)), inline=False)
    if done:
        embed.add_field(name="Passed", value=clip("\n".join(line(a) for a in done)), inline=False)
    return _fit(embed)


def progress_embed(report: ProgressReport, chart: str | None) -> discord.Embed:
    """An instructor's view of one trainee (ephemeral)."""
    five = "\u2014" if report.all_five_rate is None else f"{report.all_five} of {report.all_five_known} ({report.all_five_rate:.0%})"
    embed = discord.Embed(
        title=f"Report: {report.member.display_name}",
        description=(f"{plural(report.started, 'role-play')} ({report.finished} finished) \u00b7 all five behaviours in {five} \u00b7 "
                     f"{plural(len(report.badges), 'badge')} \u00b7 {report.kudos} kudos"),
        colour=discord.Colour.blurple(),
    )
    if report.scenarios:
        lines = [f"**{p.title}**: {len(p.attempts)} attempts \u00b7 first {_score(p.first)} \u00b7 best {_score(p.best)} \u00b7 latest {_score(p.latest)}"
                 for p in report.scenarios]
        embed.add_field(name="First, best and latest", value=clip("\n".join(lines)), inline=False)
    missed = [s for s in report.skills if s.missed or s.late][:6]
    if missed:
        lines = [f"{s.label}: missed {s.missed}, late {s.late}, of {s.sessions}" for s in missed]
        embed.add_field(name="Most often missed", value=clip("\n".join(lines)), inline=False)
    latest = sorted((a for p in report.scenarios for a in p.attempts), key=lambda a: (a.ended_at, a.session_id), reverse=True)[:5]
    if latest:  # the numbers /override takes
        lines = [f"session {a.session_id}: {a.scenario_id}, {a.outcome}, {_score(a)} ({a.mode}, {a.ended_at[:10]})" for a in latest]
        embed.add_field(name="Latest sessions", value=clip("\n".join(lines)), inline=False)
    if report.assignments:
        lines = [f"{a.assignment.scenario_id} ({a.cohort}): {a.state}" + ("" if a.best is None else f", best {a.best}") for a in report.assignments]
        embed.add_field(name="Assignments", value=clip("\n".join(lines)), inline=False)
    if report.overrides:
        lines = [f"session {o.session_id}: {o.previous} \u2192 {o.score} by {o.by_name}: {o.reason}" for o in report.overrides]
        embed.add_field(name="Score overrides (the earned score is kept)", value=clip("\n".join(lines)), inline=False)
    if report.badges:
        embed.add_field(name="Badges", value=clip(", ".join(report.badges)), inline=False)
    if chart is not None:
        embed.set_image(url=f"attachment://{chart}")
    return _fit(embed)


def _score(attempt: Attempt) -> str:
    return f"{attempt.effective} (earned {attempt.score})" if attempt.override is not None else str(attempt.score)


def _epoch(stamp: str) -> int:
    return int(datetime.fromisoformat(stamp).timestamp())


def _fit(embed: discord.Embed) -> discord.Embed:
    """Discord refuses embeds over 6000 characters in all; drop trailing fields until it fits."""
    while len(embed) > 6000 and embed.fields:
        embed.remove_field(len(embed.fields) - 1)
    return embed
