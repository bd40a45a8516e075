"""The terminal front end of `trainer play`.

On a TTY: an interactive scene (briefing, resident lines, a mood indicator, feedback).
Otherwise: one trainee message per input line, output flushed after every reply, the
scene abandoned when input ends before an ending. Only I/O here; the runner plays.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from bot.engine.scenario import Outcome
from bot.engine.scoring import Score, SkillStatus
from bot.engine.session import Turn
from bot.runner import SceneRunner

MOOD_WORDS = ((25, "at ease", "green"), (45, "calm", "green"), (65, "wary", "yellow"), (80, "tense", "dark_orange"), (101, "hostile", "red"))
END_COMMANDS = {"/end", "/quit", "/exit"}
STATUS_MARK = {
    SkillStatus.EARNED: ("earned", "green"),
    SkillStatus.LATE: ("late", "yellow"),
    SkillStatus.OUT_OF_ORDER: ("out of order", "yellow"),
    SkillStatus.MISSED: ("missed", "red"),
}


def mood_word(mood: int) -> tuple[str, str]:
    for limit, word, colour in MOOD_WORDS:
        if mood < limit:
            return word, colour
    return MOOD_WORDS[-1][1], MOOD_WORDS[-1][2]


def mood_bar(mood: int, width: int = 20) -> Text:
    word, colour = mood_word(mood)
    filled = round(mood / 100 * width)
    bar = Text("mood ")
    bar.append("█" * filled, style=colour)
    bar.append("░" * (width - filled), style="grey50")
    bar.append(f" {word} ({mood})", style=colour)
    return bar


class TerminalScene:
    def __init__(self, runner: SceneRunner, console: Console, *, interactive: bool) -> None:
        self.runner = runner
        self.console = console
        self.interactive = interactive
        scenario = runner.play.scenario
        self.resident = scenario.resident.name

    def show_opening(self) -> None:
        scenario = self.runner.play.scenario
        if self.interactive:
            self.console.print(Panel(Text(scenario.briefing), title=Text(scenario.title, style="bold"), subtitle=f"session {self.runner.session_id}"))
            self.console.print(Text("Type what you would say. /end finishes the scene.", style="dim"))
        else:
            self.console.print(Text(f"== {scenario.title} (session {self.runner.session_id}) =="))
            self.console.print(Text(f"Briefing: {scenario.briefing}"))
        self.show_resident(self.runner.play.opening, self.runner.play.mood)

    def show_resumed(self) -> None:
        play = self.runner.play
        self.console.print(Text(f"== {play.scenario.title}: resuming session {self.runner.session_id} after turn {len(play.turns)} =="))
        self.show_resident(self.runner.last_resident_line, play.mood)

    def show_resident(self, line: str, mood: int) -> None:
        text = Text(f"{self.resident}: ", style="bold magenta")
        text.append(line)
        self.console.print(text)
        if self.interactive:
            self.console.print(mood_bar(mood))
        self.console.file.flush()

    def show_turn(self, turn: Turn) -> None:
        if not self.interactive:
            self.console.print(Text(f"You: {turn.trainee}", style="cyan"))
        self.show_resident(turn.reply, turn.mood_after)

    def show_feedback(self, score: Score) -> None:
        self.console.print(feedback_view(score, self.runner.play.scenario.title))
        self.console.file.flush()


def feedback_view(score: Score, title: str) -> Group:
    colour = {Outcome.SUCCESS: "green", Outcome.FAILURE: "red", Outcome.ABANDONED: "yellow"}[score.outcome]
    heading = Text(f"Feedback: {title}\n", style="bold")
    heading.append(f"Outcome: {score.outcome.value}   Score: {score.total}/100", style=f"bold {colour}")
    if score.ending:
        heading.append(f"\n{score.ending}")
    for cap in score.caps:
        heading.append(f"\nCapped: {cap}", style="yellow")
    table = Table(show_header=True, header_style="bold", expand=False)
    table.add_column("Skill")
    table.add_column("Result")
    table.add_column("Points", justify="right")
    table.add_column("Your words")
    for skill in score.skills:
        word, style = STATUS_MARK[skill.status]
        quote = f"\u201c{skill.quote}\u201d (turn {skill.turn})" if skill.turn else ""
        table.add_row(Text(skill.label), Text(word, style=style), f"{skill.points}/{skill.max_points}", Text(quote + (f"\n{skill.note}" if skill.note else "")))
    parts: list[Any] = [heading, table]
    if score.penalties or score.critical:
        lines = Text("Costs:\n", style="bold")
        for hit in score.critical:
            lines.append(f"  critical: {hit.signal} in turn {hit.turn}: \u201c{hit.quote}\u201d (the scene fails; score capped)\n", style="red")
        for hit in score.penalties:
            lines.append(f"  {hit.points} {hit.signal} in turn {hit.turn}: \u201c{hit.quote}\u201d\n")
        parts.append(lines)
    if score.went_well:
        well = Text("What went well:\n", style="bold green")
        for item in score.went_well:
            well.append(f"  + {item}\n")
        parts.append(well)
    if score.try_next:
        tips = Text("What to try next:\n", style="bold yellow")
        for tip in score.try_next:
            tips.append(f"  - {tip.tip}\n")
            if tip.example:
                tips.append(f"    e.g. \u201c{tip.example}\u201d\n", style="italic")
        parts.append(tips)
    if score.turning_points:
        points = Text("Turning points:\n", style="bold")
        for point in score.turning_points:
            direction = "calmer" if point.mood_after < point.mood_before else "more upset"
            points.append(f"  turn {point.turn}: mood {point.mood_before} -> {point.mood_after} ({direction}) after \u201c{point.line}\u201d\n")
        parts.append(points)
    return Group(*parts)


def result_json(runner: SceneRunner, score: Score) -> dict[str, Any]:
    play = runner.play
    return {
        "scenario": play.scenario.id,
        "session": runner.session_id,
        "outcome": score.outcome.value,
        "score": score.total,
        "skills": score.skill_points(),
        "turns": len(play.turns),
        "final_state": play.state,
        "mood": play.mood,
        "seed": play.seed,
        "ending": score.ending,
        "caps": list(score.caps),
        "integrity": [{"kind": n.kind, "turns": list(n.turns), "text": n.text} for n in score.integrity],
    }


async def play_in_terminal(
    runner: SceneRunner,
    *,
    interactive: bool,
    as_json: bool,
    read_line: Callable[[], str | None] | None = None,
    out: TextIO | None = None,
    resumed: bool = False,
) -> Score:
    """Drive one scene from lines of input until it ends or input runs out."""
    stream = out or sys.stdout
    console = Console(file=stream, highlight=False, soft_wrap=not interactive, force_terminal=interactive or None)
    scene = TerminalScene(runner, console, interactive=interactive)
    reader = read_line or (_prompt_reader(console) if interactive else _stdin_reader())
    if resumed:
        scene.show_resumed()
    else:
        scene.show_opening()
    ignored = 0
    while True:
        line = reader()  # blocking is fine: nothing else runs while the trainee types
        if line is None:
            break
        text = line.strip()
        if not text:
            continue
        if runner.ended:
            ignored += 1
            continue
        if interactive and text.lower() in END_COMMANDS:
            break
        turn = await runner.step(text)
        if turn is not None:
            scene.show_turn(turn)
        if runner.ended and interactive:
            break
    score = await runner.abandon() if not runner.ended else runner.play.score()
    if ignored:
        print(f"trainer: the scene had ended; {ignored} further line(s) ignored", file=sys.stderr)
    scene.show_feedback(score)
    if as_json:
        print(json.dumps(result_json(runner, score), ensure_ascii=False), file=stream, flush=True)
    return score


def _stdin_reader() -> Callable[[], str | None]:
    # Transcripts pasted from word processors arrive in other encodings; keep the line, mark
    # the odd bytes, rather than fail half-way through a scene.
    if hasattr(sys.stdin, "reconfigure"):
        sys.stdin.reconfigure(errors="replace")

    def read() -> str | None:
        line = sys.stdin.readline()
        return line if line else None

    return read


def _prompt_reader(console: Console) -> Callable[[], str | None]:
    def read() -> str | None:
        try:
            return console.input(Text("You: ", style="bold cyan"))
        except (EOFError, KeyboardInterrupt):
            console.print()
            return None

    return read
