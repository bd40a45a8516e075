"""Embeds: a session's cards (briefing, feedback), the leaderboard and reports."""

from __future__ import annotations

import discord

from bot.sessions.messages import Card
from bot.store.rows import LeaderboardRow, MemberReport

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
