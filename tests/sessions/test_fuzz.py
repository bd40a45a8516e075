"""Hostile input through the whole service: whatever a trainee writes and whatever patterns a
scenario file holds, a line is stored and answered once (or set aside with a notice), the
bot never pings anyone the message is not about, and nothing crashes."""

from __future__ import annotations

import asyncio
import copy
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.engine.catalog import Library
from bot.engine.loader import parse_scenario
from bot.engine.patterns import ScenarioPattern
from bot.engine.session import Session
from bot.engine.signals import detect
from bot.sessions import LineResult, ServiceSettings, SessionService, Trainee
from bot.store import Store
from tests.sessions.chat import BOT, Chat, ChatTransport

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = Library(ROOT / "dialogues")
TRAINEE, THREAD = 42, 500

hostile = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.characters(categories=["Cs", "Ll", "Zs", "So"]), max_size=60),  # lone surrogates: JSON can carry them
    st.sampled_from([
        "@everyone @here <@&123> <@999> listen up", "```drop table sessions;```", "\u202eevil\u202c", "\u200b" * 50,
        "=HYPERLINK(\"http://x\")", "**bold** _it_ ~~s~~ ||spoiler||", "\U0001F697" * 500, "a" * 5000, " \n\t ",
        "I'm Officer <@999>.", "{officer} {resident} %s %(x)s", "\x00\x01\x02",
    ]),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(hostile, min_size=1, max_size=4))
def test_hostile_lines_are_stored_and_answered_once(lines: list[str]) -> None:
    asyncio.run(_play_hostile(lines))


async def _play_hostile(lines: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        chat = Chat()
        async with Store.open(Path(folder) / "t.db") as store:
            transport = ChatTransport(chat)
            service = SessionService(store, transport, LIBRARY, ServiceSettings(lines_per_minute=0, first_retry_seconds=0.01))
            started = await service.start(LIBRARY.get("traffic_stop"), Trainee("Tom", TRAINEE), guild_id=1, channel_id=THREAD, seed=2)
            results = []
            for line in lines:
                written = chat.write(THREAD, TRAINEE, line)
                results.append(await service.handle_message(THREAD, TRAINEE, line, str(written.id), written.written_at))
                await service.outbox.drain(THREAD)
            turns = await store.turns(started.row.id)
            await service.close()
        played = [line for line, result in zip(lines, results) if result is LineResult.PLAYED]
        # Stored as written; a lone surrogate, which UTF-8 cannot hold, as U+FFFD.
        expected = ["".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in line.strip()) for line in played]
        assert [t.text for t in turns if t.speaker == "trainee"] == expected
        assert all(result in (LineResult.PLAYED, LineResult.EMPTY, LineResult.NOT_PLAYED) for result in results)
        replies = [m for m in chat.bot_messages(THREAD) if m.message is not None and m.message.speaker]
        assert len(replies) == 1 + len(played)  # the opening and one reply per line played
        for message in chat.bot_messages(THREAD):
            assert message.author == BOT and message.message is not None
            assert set(message.message.mentions) <= {TRAINEE}


BASE: dict[str, Any] = yaml.safe_load((ROOT / "dialogues" / "traffic_stop.yaml").read_text("utf-8").replace("\non:", "\n'on':"))
pattern_text = st.one_of(
    st.text(max_size=40),
    st.lists(st.sampled_from(list("ab()[]{}|*+?.\\^$,0123456789 wsdb") + ["(?<!", "(?=", "(?!", "(?:", "\\1", "{,3}", "(?P<x>", "\\Z"]), max_size=20).map("".join),
    st.sampled_from([r"((\w+)\s?)+$", r"(a+)+$", r"(?:a|b|\s)*a(?:a|b|\s){240}x|a", r"(a|aa)*c", r"(.*)*x", r"(?<!not )\bhelp\b"]),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(pattern_text, min_size=1, max_size=3), st.text(max_size=120))
def test_scenario_files_with_any_patterns_load_clearly_and_play(patterns: list[str], message: str) -> None:
    data = copy.deepcopy(BASE)
    data.setdefault("signals", {})["fuzzed"] = patterns
    scenario, problems = parse_scenario(yaml.safe_dump(data, allow_unicode=True), "traffic_stop.yaml")
    if scenario is None:
        assert problems and all(p.code.startswith("S") for p in problems)
        return
    assert all(isinstance(p, ScenarioPattern) for group in scenario.signals.values() for p in group)
    detect(message * 10, scenario.signals)  # any message, any accepted pattern: no exception
    play = Session.start(scenario, seed=1)
    play.step(message)
    play.abandon()
