"""What the bot shows: briefing, feedback and recognition, built from engine values."""

from __future__ import annotations

from typing import Protocol

import discord

from bot.engine.scenario import Outcome, Scenario
from bot.engine.scoring import Score, SkillStatus
from bot.store.rows import LeaderboardRow, MemberReport

FIELD_LIMIT = 1024


class Mentionable(Protocol):
    @property
    def mention(self) -> str: ...
STATUS_ICON = {SkillStatus.EARNED: "\u2705", SkillStatus.LATE: "\U0001F7E1", SkillStatus.OUT_OF_ORDER: "\U0001F7E1", SkillStatus.MISSED: "\u2B1C"}
OUTCOME_COLOUR = {Outcome.SUCCESS: discord.Colour.green(), Outcome.FAILURE: discord.Colour.red(), Outcome.ABANDONED: discord.Colour.gold()}


def clip(text: str, limit: int = FIELD_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def resident_line(scenario: Scenario, line: str) -> str:
    return clip(f"**{scenario.resident.name}:** {line}", 2000)


def briefing_embed(scenario: Scenario, trainee: discord.abc.User, mode: str) -> discord.Embed:
    embed = discord.Embed(title=scenario.title, description=clip(scenario.briefing, 4000), colour=discord.Colour.blurple())
    embed.add_field(name="Trainee", value=trainee.mention)
    embed.add_field(name="Mode", value=mode)
    embed.set_footer(text="Write what you would say, one message at a time. Only the trainee's messages count.")
    return embed


def feedback_embed(scenario: Scenario, score: Score, trainee: Mentionable) -> discord.Embed:
    embed = discord.Embed(
        title=f"Feedback: {scenario.title}",
        description=f"{trainee.mention} \u00b7 outcome **{score.outcome.value}** \u00b7 score **{score.total:02d}/100**",
        colour=OUTCOME_COLOUR[score.outcome],
    )
    for skill in score.skills:
        value = f"\u201c{skill.quote}\u201d (turn {skill.turn})" if skill.turn else "not shown"
        if skill.note:
            value += f"\n_{skill.note}_"
        embed.add_field(name=clip(f"{STATUS_ICON[skill.status]} {skill.label} \u2014 {skill.points}/{skill.max_points}", 256), value=clip(value), inline=False)
    if score.critical or score.penalties:
        lines = [f"\u26D4 {hit.signal} (turn {hit.turn}): \u201c{hit.quote}\u201d" for hit in score.critical]
        lines += [f"{hit.points} {hit.signal} (turn {hit.turn}): \u201c{hit.quote}\u201d" for hit in score.penalties]
        embed.add_field(name="Costs", value=clip("\n".join(lines)), inline=False)
    if score.went_well:
        embed.add_field(name="What went well", value=clip("\n".join(f"\u2022 {item}" for item in score.went_well)), inline=False)
    if score.try_next:
        tips = [f"\u2022 {tip.tip}" + (f"\n  e.g. \u201c{tip.example}\u201d" if tip.example else "") for tip in score.try_next]
        embed.add_field(name="What to try next", value=clip("\n".join(tips)), inline=False)
    if score.turning_points:
        points = [
            f"turn {p.turn}: mood {p.mood_before}\u2192{p.mood_after} after \u201c{clip(p.line, 120)}\u201d" for p in score.turning_points
        ]
        embed.add_field(name="Turning points", value=clip("\n".join(points)), inline=False)
    return _fit(embed)


def recognition_text(scenario: Scenario, score: Score, trainee: Mentionable) -> str:
    shown = [s.label[:1].lower() + s.label[1:] for s in score.skills if s.status is SkillStatus.EARNED]
    listed = ", ".join(shown[:-1]) + f" and {shown[-1]}" if len(shown) > 1 else (shown[0] if shown else "handled it well")
    return clip(f"\U0001F389 Well done, {trainee.mention}! In *{scenario.title}* you {listed}. ({score.total}/100)", 2000)


def leaderboard_embed(rows: list[LeaderboardRow], heading: str) -> discord.Embed:
    embed = discord.Embed(title=f"\U0001F3C5 Recognition board \u2014 {heading}", colour=discord.Colour.gold())
    if not rows:
        embed.description = "Nobody on the board yet for this period: the first successful role-play or kudos puts you here."
        return embed
    lines = []
    for rank, row in enumerate(rows, start=1):
        name = f"<@{row.discord_id}>" if row.discord_id else row.display_name
        parts = []
        if row.successes:
            parts.append(f"{row.successes} successful role-play{'s' if row.successes != 1 else ''}")
        if row.kudos:
            parts.append(f"{row.kudos} kudos")
        lines.append(f"**{rank}.** {name} \u2014 {', '.join(parts)}")
    embed.description = clip("\n".join(lines), 4000)
    embed.set_footer(text="Celebrating what people do right. Only successes and kudos are counted.")
    return embed


def report_embed(report: MemberReport) -> discord.Embed:
    member = report.member
    average = f"{report.average_score:.0f}/100" if report.average_score is not None else "\u2014"
    embed = discord.Embed(
        title=f"Report: {member.display_name}",
        description=f"{report.sessions} role-plays ({report.ended} finished), {report.successes} successful, average score {average}, {report.kudos_received} kudos received",
        colour=discord.Colour.blurple(),
    )
    if report.skills:
        strong = sorted(report.skills, key=lambda s: s.shown / s.sessions, reverse=True)
        lines = [f"{s.label}: shown in {s.shown} of {s.sessions}" for s in strong]
        embed.add_field(name="Skills", value=clip("\n".join(lines)), inline=False)
    if report.recent:
        lines = [f"#{r.id} {r.scenario_id} \u2014 {r.status}, {r.outcome or 'in progress'}, {'' if r.score is None else f'{r.score}/100'}" for r in report.recent]
        embed.add_field(name="Recent", value=clip("\n".join(lines)), inline=False)
    return embed


def _fit(embed: discord.Embed) -> discord.Embed:
    """Discord refuses embeds over 6000 characters in all; drop trailing fields until it fits."""
    while len(embed) > 6000 and embed.fields:
        embed.remove_field(len(embed.fields) - 1)
    return embed
