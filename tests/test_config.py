"""Settings: every key from config.yaml, the environment wins, bad values name their key."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import load_settings
from bot.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "MTA0.fake-token-for-tests.abcdefghijklmnop"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_is_complete_and_loads(tmp_path: Path) -> None:
    settings = load_settings(ROOT / "config.example.yaml", {"DISCORD_TOKEN": TOKEN})
    assert settings.token == TOKEN and settings.instructor_role == "Instructor"
    assert settings.database == ROOT / "trainer.db" and settings.recognition_threshold == 80
    assert settings.guild_id is None and settings.allow_self_practice
    assert (settings.nominations, settings.timezone, settings.kudos_per_day, settings.weekly_day, settings.weekly_hour) == ("review", "UTC", 3, 0, 9)
    assert settings.badges_file is None and settings.review_channel_id is None


def test_recognition_settings(tmp_path: Path) -> None:
    path = write(tmp_path, (
        "recognition:\n  timezone: America/Chicago\n  nominations: auto\n  badges_file: rules/badges.yaml\n  review_channel_id: 55\n"
        "kudos:\n  per_day: 5\n  pair_cooldown_hours: 0\nleaderboard:\n  weekly_day: friday\n  weekly_hour: 16\n  public_top: 3\n"
        "servers:\n  '123':\n    review_channel_id: 77\n"
    ))
    settings = load_settings(path, {"DISCORD_TOKEN": TOKEN})
    assert settings.badges_file == tmp_path / "rules" / "badges.yaml"
    assert (settings.timezone, settings.nominations, settings.kudos_per_day, settings.kudos_pair_cooldown_hours) == ("America/Chicago", "auto", 5, 0)
    assert (settings.weekly_day, settings.weekly_hour, settings.leaderboard_public_top) == (4, 16, 3)
    assert settings.review_channel_in(123) == 77 and settings.review_channel_in(456) == 55
    off = load_settings(write(tmp_path, "leaderboard:\n  weekly_day: off\nrecognition:\n  nominations: off\n"), {"DISCORD_TOKEN": TOKEN})
    assert off.weekly_day is None and off.nominations == "off"


def test_environment_wins_and_token_never_shows(tmp_path: Path) -> None:
    path = write(tmp_path, f"discord:\n  token: {TOKEN}x\n  guild_id: 123\n")
    settings = load_settings(path, {"DISCORD_TOKEN": TOKEN, "DISCORD_API_BASE": "http://127.0.0.1:1/api/v10"})
    assert settings.token == TOKEN and settings.guild_id == 123
    assert settings.api_base == "http://127.0.0.1:1/api/v10"
    assert TOKEN not in repr(settings) and TOKEN not in str(settings)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("discord:\n  guild_id: abc\n", "discord.guild_id"),
        ("discord:\n  tokn: x\n", "discord.tokn"),
        ("recognition:\n  threshold: 150\n", "recognition.threshold"),
        ("idle:\n  nudge_after_seconds: 100\n  abandon_after_seconds: 50\n", "idle.abandon_after_seconds"),
        ("logging:\n  level: LOUD\n", "logging.level"),
        ("databse:\n  path: x\n", "databse"),
        ("discord: [1, 2]\n", "discord"),
        ("discord:\n  allow_self_practice: maybe\n", "discord.allow_self_practice"),
        ("[unclosed\n", "not valid YAML"),
        ("servers:\n  abc:\n    instructor_role: X\n", "servers"),
        ("servers:\n  '123':\n    instructor_rol: X\n", "servers.123.instructor_rol"),
        ("servers:\n  '123':\n    practice_channel_id: nope\n", "servers.123.practice_channel_id"),
        ("database:\n  busy_timeout_seconds: 0\n", "database.busy_timeout_seconds"),
        ("limits:\n  lines_per_minute: -1\n", "limits.lines_per_minute"),
        ("recognition:\n  timezone: Mars/Olympus\n", "recognition.timezone"),
        ("recognition:\n  nominations: sometimes\n", "recognition.nominations"),
        ("recognition:\n  nominations_per_session: 9\n", "recognition.nominations_per_session"),
        ("recognition:\n  review_channel_id: nope\n", "recognition.review_channel_id"),
        ("kudos:\n  per_day: 0\n", "kudos.per_day"),
        ("kudos:\n  per_dya: 3\n", "kudos.per_dya"),
        ("leaderboard:\n  weekly_day: someday\n", "leaderboard.weekly_day"),
        ("leaderboard:\n  weekly_hour: 24\n", "leaderboard.weekly_hour"),
        ("servers:\n  '123':\n    review_channel_id: nope\n", "servers.123.review_channel_id"),
    ],
)
def test_bad_settings_name_the_key(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        load_settings(write(tmp_path, text), {"DISCORD_TOKEN": TOKEN})


def test_missing_token_is_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(write(tmp_path, "database:\n  path: t.db\n"))],
        capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "trainer: no Discord token: set DISCORD_TOKEN or discord.token in the config"


def test_servers_set_their_own_role_and_channel_with_the_global_value_as_default(tmp_path: Path) -> None:
    path = write(tmp_path, (
        "discord:\n  instructor_role: Instructor\n  practice_channel_id: 10\n"
        "servers:\n  '111':\n    instructor_role: Training staff\n  222:\n    practice_channel_id: 20\n"
    ))
    settings = load_settings(path, {"DISCORD_TOKEN": TOKEN})
    assert (settings.instructor_role_in(111), settings.practice_channel_in(111)) == ("Training staff", 10)
    assert (settings.instructor_role_in(222), settings.practice_channel_in(222)) == ("Instructor", 20)
    assert (settings.instructor_role_in(333), settings.practice_channel_in(333)) == ("Instructor", 10)


def test_reliability_settings(tmp_path: Path) -> None:
    path = write(tmp_path, "database:\n  busy_timeout_seconds: 2\nlimits:\n  lines_per_minute: 0\n  burst: 3\n")
    settings = load_settings(path, {"DISCORD_TOKEN": TOKEN})
    assert (settings.busy_timeout_seconds, settings.lines_per_minute, settings.line_burst) == (2.0, 0, 3)
