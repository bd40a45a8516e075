"""Instructors' commands: reports (with their charts), assignments, score overrides, and
approving the lines nominated as "caught doing it right". Everything here answers
privately (ephemeral): reports hold personal data."""

from __future__ import annotations

import io
import logging
import re
from datetime import date, datetime, time, timezone
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_app import embeds
from bot.discord_app.checks import is_instructor, refuse
from bot.discord_app.cogs.cohorts import cohort_choices, cohort_named
from bot.errors import SessionError, StoreError, TrainerError
from bot.recognition import charts
from bot.recognition.reports import cohort_report, progress_report
from bot.recognition.tables import cohort_csv_bytes

if TYPE_CHECKING:
    from bot.discord_app.client import TrainerBot

log = logging.getLogger("trainer.discord.instructors")

INSTRUCTORS_ONLY = discord.Permissions(manage_threads=True)
MAX_HEATMAPS = 9  # with the table: the 10 files a Discord message may carry


class InstructorCog(commands.Cog):
    report = app_commands.Group(name="report", description="Trainees' progress (instructors; only you see it)", guild_only=True,
                                default_permissions=INSTRUCTORS_ONLY)
    assignment = app_commands.Group(name="assignment", description="Scenarios a cohort must pass by a date (instructors)", guild_only=True,
                                    default_permissions=INSTRUCTORS_ONLY)

    def __init__(self, bot: TrainerBot) -> None:
        self.bot = bot

    async def interaction_check(self, interaction: discord.Interaction) -> bool:  # type: ignore[override]
        if is_instructor(interaction.user, self.bot.settings):
            return True
        await refuse(interaction, f"Only members with the {self.bot.settings.instructor_role_in(interaction.guild_id)} role can do that.")
        return False

    def titles(self) -> dict[str, str]:
        return {s.id: s.title for s in self.bot.library.scenarios.values()}

    def badge_titles(self) -> dict[str, str]:
        return {b.name: b.title for b in self.bot.recognition.rules.badges}

    # -- reports --
    @report.command(name="member")
    @app_commands.describe(member="The trainee")
    async def report_member(self, interaction: discord.Interaction, member: discord.Member) -> None:
        """A trainee's progress: first, best and latest per scenario, skills most often missed, a chart."""
        assert interaction.guild is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        # Only reads (on the second connection): a report answers while another program holds the write lock.
        row = await self.bot.store.member_of(guild_id=interaction.guild.id, discord_id=member.id)
        if row is None:
            return await refuse(interaction, f"{member.display_name} has no role-plays or kudos here yet.")
        found = await progress_report(self.bot.store, row, five=self.bot.recognition.rules.oakland_five, titles=self.titles(),
                                      badge_titles=self.badge_titles())
        chart = charts.progress_chart(found, line=self.bot.settings.recognition_threshold)
        await interaction.followup.send(
            embed=embeds.progress_embed(found, "progress.png"), file=discord.File(io.BytesIO(chart), filename="progress.png"), ephemeral=True,
        )

    @report.command(name="cohort")
    @app_commands.describe(cohort="The cohort")
    async def report_cohort(self, interaction: discord.Interaction, cohort: str) -> None:
        """A cohort's table (CSV) and a heatmap of skills by trainee, to see what to reteach."""
        assert interaction.guild is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await cohort_named(self.bot, interaction, cohort)
        if found is None:
            return None
        report = await cohort_report(self.bot.store, found, five=self.bot.recognition.rules.oakland_five, titles=self.titles(),
                                     badge_titles=self.badge_titles())
        name = re.sub(r"[^A-Za-z0-9_-]+", "-", found.name).strip("-") or "cohort"
        left = [f"{a.scenario_id} (due {a.due_at[:10]}): {', '.join(report.not_done(a)) or 'everyone passed'}" for a in report.assignments]
        text = f"**{found.name}**: {len(report.rows)} trainees." + ("\nNot passed yet: " + "; ".join(left) if left else "")
        # A message carries at most 10 files: the table, and up to 9 heatmaps of a few trainees each.
        images = charts.skills_heatmaps(report)
        if len(images) > MAX_HEATMAPS:
            text += f"\nThe heatmaps show the first {MAX_HEATMAPS * charts.PEOPLE_PER_HEATMAP} trainees; the table has everyone."
        files = [discord.File(io.BytesIO(cohort_csv_bytes(report)), filename=f"{name}.csv")] + [
            discord.File(io.BytesIO(image), filename=f"{name}-skills.png" if len(images) == 1 else f"{name}-skills-{number}.png")
            for number, image in enumerate(images[:MAX_HEATMAPS], start=1)
        ]
        await interaction.followup.send(embeds.clip(text, 2000), files=files, ephemeral=True)

    @report_cohort.autocomplete("cohort")
    async def report_cohorts(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await cohort_choices(self.bot, interaction, current)

    # -- assignments --
    @assignment.command(name="create")
    @app_commands.describe(cohort="The cohort", scenario="The scenario to pass", due="Due date, YYYY-MM-DD (the end of that day)",
                           pass_mark="The lowest passing score (default 70)")
    async def assignment_create(self, interaction: discord.Interaction, cohort: str, scenario: str, due: str,
                                pass_mark: app_commands.Range[int, 0, 100] = 70) -> None:
        """Assign a scenario to a cohort, with a due date and a pass mark."""
        assert interaction.guild is not None
        try:
            chosen = self.bot.library.get(scenario)
            due_at = self.due(due)
        except TrainerError as exc:
            return await refuse(interaction, str(exc))
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await cohort_named(self.bot, interaction, cohort)
        if found is None:
            return None
        me = await self.bot.store.ensure_member(interaction.user.display_name, guild_id=interaction.guild.id, discord_id=interaction.user.id, role="instructor")
        made = await self.bot.store.create_assignment(found.id, chosen.id, due_at, pass_mark, me.id)
        log.info("assignment %d: %s for cohort %d by %d", made.id, chosen.id, found.id, interaction.user.id)
        await interaction.followup.send(
            f"Assignment {made.id}: **{chosen.title}** for **{found.name}**, pass mark {pass_mark}, due <t:{int(datetime.fromisoformat(due_at).timestamp())}:f>. "
            "Trainees see it with /recognition assignments.", ephemeral=True,
        )

    def due(self, text: str) -> str:
        try:
            day = date.fromisoformat(text.strip())
        except ValueError:
            raise SessionError(f"'{text}' is not a date: write it as YYYY-MM-DD, e.g. 2027-01-15.") from None
        zone = self.bot.recognition.settings.zone
        return datetime.combine(day, time(23, 59, 59), zone).astimezone(timezone.utc).isoformat(timespec="seconds")

    @assignment.command(name="list")
    @app_commands.describe(cohort="The cohort")
    async def assignment_list(self, interaction: discord.Interaction, cohort: str) -> None:
        """A cohort's assignments and who has not passed them yet."""
        assert interaction.guild is not None
        await interaction.response.defer(ephemeral=True, thinking=True)
        found = await cohort_named(self.bot, interaction, cohort)
        if found is None:
            return None
        report = await cohort_report(self.bot.store, found, five=(), titles=self.titles(), badge_titles={})
        if not report.assignments:
            return await refuse(interaction, f"**{found.name}** has no assignments.")
        lines = [
            f"**{a.id}.** {self.titles().get(a.scenario_id, a.scenario_id)}, pass mark {a.pass_mark}, due <t:{int(datetime.fromisoformat(a.due_at).timestamp())}:d>"
            f" \u2014 not passed yet: {', '.join(report.not_done(a)) or 'nobody'}"
            for a in report.assignments
        ]
        await interaction.followup.send(embeds.clip("\n".join(lines), 2000), ephemeral=True, allowed_mentions=discord.AllowedMentions.none())

    @assignment.command(name="remove")
    @app_commands.describe(number="The assignment's number (see /assignment list)")
    async def assignment_remove(self, interaction: discord.Interaction, number: int) -> None:
        """Remove an assignment."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        mine = {a.id for c in await self.bot.store.cohorts(guild_id=interaction.guild_id or 0) for a in await self.bot.store.assignments(cohort_ids=[c.id])}
        if number not in mine or not await self.bot.store.delete_assignment(number):
            return await refuse(interaction, f"There is no assignment {number} in this server.")
        await interaction.followup.send(f"Assignment {number} removed.", ephemeral=True)

    @assignment_create.autocomplete("cohort")
    @assignment_list.autocomplete("cohort")
    async def assignment_cohorts(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await cohort_choices(self.bot, interaction, current)

    @assignment_create.autocomplete("scenario")
    async def assignment_scenarios(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        needle = current.lower()
        return [app_commands.Choice(name=embeds.clip(f"{s.title} ({s.id})", 100), value=s.id)
                for s in self.bot.library.scenarios.values() if needle in s.id.lower() or needle in s.title.lower()][:25]

    # -- overrides --
    @app_commands.command(name="override")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_threads=True)
    @app_commands.describe(session="The session's number (in its feedback and in reports)", score="The score it should have, 0..100",
                           reason="Why, in a few words (kept with the override)")
    async def override(self, interaction: discord.Interaction, session: int, score: app_commands.Range[int, 0, 100],
                       reason: app_commands.Range[str, 3, 300]) -> None:
        """Change a finished session's score, with a reason; the earned score is kept and shown beside it."""
        assert interaction.guild is not None
        if len(reason.split()) < 2:
            return await refuse(interaction, "Give the reason in a few words, so the override explains itself.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        row = await self.bot.store.get_session(session)
        if row is None or row.guild_id != interaction.guild.id:
            return await refuse(interaction, f"There is no session {session} in this server.")
        me = await self.bot.store.ensure_member(interaction.user.display_name, guild_id=interaction.guild.id, discord_id=interaction.user.id, role="instructor")
        try:
            made = await self.bot.store.override_score(session, score, " ".join(reason.split()), me.id, interaction.user.display_name)
        except StoreError as exc:
            return await refuse(interaction, str(exc).capitalize() + ".")
        log.info("session %d: score %d -> %d by %d (%s)", session, made.previous, made.score, interaction.user.id, made.reason)
        await interaction.followup.send(
            f"Session {session} ({row.trainee}, {row.scenario_id}): score {made.previous} \u2192 **{made.score}**. "
            f"The earned score ({row.score}) is kept; reports and records show both, with your reason.", ephemeral=True,
            allowed_mentions=discord.AllowedMentions.none(),
        )

    # -- nominations (the buttons under a review) --
    async def decide(self, interaction: discord.Interaction, session_id: int, turn: int, approved: bool) -> None:
        if not is_instructor(interaction.user, self.bot.settings):
            return await refuse(interaction, "An instructor decides on nominations.")
        # Answered at once: the writes below may wait on the database longer than Discord's 3 s.
        await interaction.response.defer()
        me = await self.bot.store.ensure_member(interaction.user.display_name, guild_id=interaction.guild_id or 0, discord_id=interaction.user.id, role="instructor")
        session = await self.bot.store.get_session(session_id)
        scenario = self.bot.library.scenarios.get(session.scenario_id) if session is not None else None
        try:
            decided = await self.bot.recognition.decide_nomination(session_id, turn, approved, me, scenario)
        except SessionError as exc:
            return await refuse(interaction, str(exc))
        if not decided:
            return await refuse(interaction, "Someone has already decided on this nomination.")
        embed = interaction.message.embeds[0] if interaction.message is not None and interaction.message.embeds else None
        verdict = (f"\u2705 Approved by {interaction.user.display_name}: posted to the cohort channel." if approved
                   else f"Dismissed by {interaction.user.display_name}.")
        if embed is not None:
            embed.set_footer(text=verdict)
            await interaction.edit_original_response(embed=embed, view=None)
        else:
            await interaction.edit_original_response(content=verdict, view=None)


async def setup(bot: TrainerBot) -> None:
    await bot.add_cog(InstructorCog(bot))
