"""bench/engine.py runs and prints one JSON object with every figure (timings are not checked)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = {
    "analyze_lines_per_s", "floor_regex_lines_per_s", "detect_us_per_char_100", "detect_us_per_char_4000",
    "engine_turns_per_s", "engine_p99_ms", "replay_turns_per_s", "floor_transitions_triggers_per_s",
    "stored_turns_per_s_1", "stored_p99_ms_1", "stored_turns_per_s_32", "stored_p99_ms_32",
    "sqlite_commits_per_s", "stored_32_vs_sqlite", "bytes_per_session", "startup_s", "prefilter",
}


def test_engine_benchmark_quick_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "engine.py"), "--quick", "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    figures = json.loads(lines[0])
    assert KEYS <= set(figures), KEYS - set(figures)
    assert figures["quick"] is True and figures["sqlite_dir"] == str(tmp_path)
    assert all(isinstance(figures[k], (int, float)) and figures[k] > 0 for k in KEYS - {"prefilter"})
    assert list(tmp_path.iterdir()) == []  # its databases are removed


def test_recognition_benchmark_quick_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "recognition.py"), "--quick", "--dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.strip().splitlines()
    figures = json.loads(line)
    keys = {"finish_recognition_ms_history_0", "finish_recognition_ms_history_100", "floor_finish_commit_ms", "board_ms",
            "cohort_report_ms", "progress_chart_ms", "heatmap_ms"}
    assert keys <= set(figures) and all(figures[k] > 0 for k in keys)
