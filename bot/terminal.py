"""The terminal front end of `trainer play`: a transport of the session service that prints.

On a TTY: an interactive scene (briefing, resident lines, a mood indicator, feedback).
Otherwise: one trainee message per input line, output flushed after every reply, the
scene abandoned when input ends before an ending. A line starting with '/' is a command
of the terminal (/help, /hint, /end), never a line said to the resident. Only I/O here:
the session service plays, stores and sends (through `TerminalTransport`).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text

from bot.engine.scoring import Score
from bot.engine.session import Session
from bot.errors import SessionError, StoreError, TrainerError
from bot.sessions import LineResult, Message, SessionService, Started
from bot.sessions import messages as kinds
from bot.sessions.transport import Posted

MOOD_WORDS = ((25, "at ease", "green"), (45, "calm", "green"), (65, "wary", "yellow"), (80, "tense", "dark_orange"), (101, "hostile", "red"))
END_COMMANDS = {"/end", "/quit", "/exit"}
HELP = (
    "Commands (a line starting with / is never said to the resident):\n"
    "  /hint   a coaching hint: the next skill to show (not a turn; nothing is scored)\n"
    "  /end    finish the scene now and get your feedback (also /quit, /exit, or Ctrl-D)\n"
    "  /help   this list"
)
TONE_STYLE = {"success": "green", "failure": "red", "abandoned": "yellow", "celebration": "green", "info": "blue"}
_MARKUP = re.compile(r"\*\*(.+?)\*\*|\*(.+?)\*|(?<!\w)_(.+?)_(?!\w)")


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


def styled(text: str, base: str = "") -> Text:
    """Chat markup (**bold**, *italic*, _italic_) as terminal styles."""
    out = Text(style=base)
    at = 0
    for match in _MARKUP.finditer(text):
        out.append(text[at : match.start()])
        bold, star, underscore = match.groups()
        out.append(bold or star or underscore, style="bold" if bold else "italic")
        at = match.end()
    out.append(text[at:])
    return out


class TerminalTransport:
    """What a session sends, printed. The terminal keeps no history the bot could read back."""

    name = "terminal"
    keeps_history = False

    def __init__(self, console: Console, *, interactive: bool) -> None:
        self.console = console
        self.interactive = interactive
        self.posted = 0

    async def post(self, channel_id: int, message: Message, nonce: str) -> str:
        self.show(channel_id, message)
        self.posted += 1
        return f"terminal-{channel_id}-{self.posted}"

    async def edit(self, channel_id: int, message_id: str, message: Message) -> None:
        """Buttons are a chat's; there is nothing to change on a terminal."""

    async def history(self, channel_id: int, after: str | None = None) -> AsyncIterator[Posted]:
        return
        yield  # an async generator that finds nothing

    def id_since(self, written_at: float) -> str | None:
        return None  # a terminal keeps no history to read

    def fingerprint(self, message: Message) -> str:
        return message.to_json()

    def mention(self, user_id: int | None, name: str) -> str:
        return name

    def show(self, session_id: int, message: Message) -> None:
        console = self.console
        if message.kind == kinds.BRIEFING and message.card is not None:
            if self.interactive:
                console.print(Panel(styled(message.card.description), title=Text(message.card.title, style="bold"), subtitle=f"session {session_id}"))
                console.print(Text("Type what you would say. /help lists the commands.", style="dim"))
            else:
                console.print(Text(f"== {message.card.title} (session {session_id}) =="))
                console.print(Text(f"Briefing: {message.card.description}"))
        elif message.speaker is not None:
            line = Text(f"{message.speaker}: ", style="bold magenta")
            line.append_text(styled(message.text))
            console.print(line)
            if self.interactive and message.mood is not None:
                console.print(mood_bar(message.mood))
        elif message.card is not None:
            console.print(card_view(message.card.title, message.card.description, [(f.name, f.value) for f in message.card.fields], message.card.tone))
        elif message.text:
            console.print(styled(message.text, "dim" if message.kind == kinds.NOTICE else ""))
        console.file.flush()


def card_view(title: str, description: str, fields: list[tuple[str, str]], tone: str) -> Group:
    parts: list[Any] = [Text(title, style="bold"), styled(description, f"bold {TONE_STYLE.get(tone, '')}".strip())]
    for name, value in fields:
        if "\n" not in value and len(name) + len(value) < 100:
            line = styled(name, "bold")
            line.append(": ")
            line.append_text(styled(value))
            parts.append(line)
        else:
            parts.append(styled(name, "bold"))
            parts.append(styled("\n".join(f"  {row}" for row in value.splitlines())))
    return Group(*parts)


def result_json(play: Session, session_id: int, score: Score) -> dict[str, Any]:
    return {
        "scenario": play.scenario.id,
        "session": session_id,
        "outcome": score.outcome.value,
        "score": score.total,
        "skills": score.skill_points(),
        "turns": len(play.turns),
        "final_state": play.state,
        "mood": play.mood,
        "seed": play.seed,
        "persona": play.persona_name or None,
        "ending": score.ending,
        "caps": list(score.caps),
        "integrity": [{"kind": n.kind, "turns": list(n.turns), "text": n.text} for n in score.integrity],
    }


async def play_in_terminal(
    service: SessionService,
    started: Started,
    *,
    interactive: bool,
    as_json: bool,
    database: Path,
    read_line: Callable[[], str | None] | None = None,
    out: TextIO | None = None,
    resumed: bool = False,
) -> Score:
    """Drive one session from lines of input until it ends or input runs out."""
    stream = out or sys.stdout
    transport = service.transport
    assert isinstance(transport, TerminalTransport)
    console = transport.console
    reader = read_line or (_prompt_reader(console) if interactive else _stdin_reader())
    session_id = started.row.id
    play = started.session
    if resumed:
        console.print(Text(f"== {play.scenario.title}: resuming session {session_id} after turn {len(play.turns)} =="))
        before = transport.posted
        play = await service.deliver_pending(session_id)
        if transport.posted == before and not play.ended:  # nothing was waiting: remind them where they were
            transport.show(session_id, kinds.resident_line(play.scenario, play.turns[-1].reply if play.turns else play.opening, play.mood))
    else:
        await service.outbox.drain(session_id)  # the briefing and the opening line
    ignored = 0
    score: Score | None = play.score() if play.ended else None
    while True:
        line = reader()  # blocking is fine: nothing else runs while the trainee types
        if line is None:
            break
        text = line.strip()
        if not text:
            continue
        if play.ended:
            ignored += 1
            continue
        if text.startswith("/"):
            command = text.split()[0].lower()
            if command in END_COMMANDS:
                break
            if command == "/help":
                console.print(Text(HELP))
            elif command == "/hint":
                try:
                    console.print(styled(service.hint_for(session_id), "cyan"))
                except SessionError as exc:
                    console.print(Text(str(exc), style="yellow"))
            else:
                console.print(Text(f"Unknown command {command}; /help lists the commands. (Nothing was said to the resident.)", style="yellow"))
            console.file.flush()
            continue
        if not interactive:
            console.print(Text(f"You: {text}", style="cyan"))
        said = await service.say(session_id, text)
        play = said.session
        if said.result is LineResult.PLAYED and said.score is not None:
            score = said.score
            if interactive:
                break
    if score is None:
        try:
            score = await service.end_session(session_id)
        except StoreError as exc:
            raise TrainerError(f"{exc}; the session is saved up to turn {len(play.turns)}: continue it with 'trainer play --resume {session_id}'") from exc
    if ignored:
        print(f"trainer: the scene had ended; {ignored} further line(s) ignored", file=sys.stderr)
    console.print(Text(f"Saved as session {session_id} in {database}", style="dim"))
    console.file.flush()
    if as_json:
        print(json.dumps(result_json(play, session_id, score), ensure_ascii=False), file=stream, flush=True)
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
