"""Golden transcripts are read like scenario files: YAML 1.2."""

from __future__ import annotations

from pathlib import Path

from bot.engine.golden import load_transcript


def test_yes_and_no_stay_words(tmp_path: Path) -> None:
    path = tmp_path / "short.yaml"
    path.write_text(
        "scenario: traffic_stop\nseed: 1\nturns:\n  - officer: No\n  - officer: yes\n  - officer: on\n  - officer: 9:40\n",
        encoding="utf-8",
    )
    transcript = load_transcript(path)
    assert [turn.officer for turn in transcript.turns] == ["No", "yes", "on", "9:40"]  # YAML 1.1 read False, True, True, 580
