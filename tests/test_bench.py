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
    "analyze_jsonl_lines_per_s_jobs_1", "analyze_jsonl_lines_per_s_jobs_2", "commits_per_stored_turn_1", "commits_per_stored_turn_32",
}


def run_bench(script: str, *args: str) -> dict:  # type: ignore[type-arg]
    """Run bench/<script> with `args`; it must succeed and print exactly one JSON object."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args], capture_output=True, text=True, timeout=300, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    (line,) = result.stdout.strip().splitlines()
    return json.loads(line)  # type: ignore[no-any-return]


def test_engine_benchmark_quick_run(tmp_path: Path) -> None:
    figures = run_bench("engine.py", "--quick", "--dir", str(tmp_path))
    assert KEYS <= set(figures), KEYS - set(figures)
    assert figures["quick"] is True and figures["sqlite_dir"] == str(tmp_path)
    assert all(isinstance(figures[k], (int, float)) and figures[k] > 0 for k in KEYS - {"prefilter"})
    assert list(tmp_path.iterdir()) == []  # its databases are removed


def test_recognition_benchmark_quick_run(tmp_path: Path) -> None:
    figures = run_bench("recognition.py", "--quick", "--dir", str(tmp_path))
    keys = {"finish_recognition_ms_history_0", "finish_recognition_ms_history_100", "floor_finish_commit_ms", "board_ms",
            "cohort_report_ms", "progress_chart_ms", "heatmap_ms"}
    assert keys <= set(figures) and all(figures[k] > 0 for k in keys)


def test_purge_benchmark_quick_run_purges_the_older_half(tmp_path: Path) -> None:
    figures = run_bench("purge.py", "--quick", "--dir", str(tmp_path))
    for size in ("small", "large"):
        part = figures[size]
        assert part["purged"] == part["sessions"] // 2 and part["rows"]["outbox"] == 10 * part["sessions"]
        assert part["purge_s"] > 0 and part["floor_s"] > 0
    assert figures["large"]["sessions"] == 2 * figures["small"]["sessions"] and figures["growth"] > 0
    assert list(tmp_path.iterdir()) == []  # its databases are removed


LOAD_KEYS = {"trainees", "turns", "turns_per_s", "p99_ms", "lost", "duplicated", "items_posted_twice", "undelivered_items", "discord"}


def test_load_benchmark_quick_run_answers_every_line_once(tmp_path: Path) -> None:
    """bench/load.py through the real service onto a real SQLite file: what it checks is
    exact (lost, duplicated); its speed is not checked."""
    figures = run_bench("load.py", "--trainees", "20", "--turns", "3", "--think-ms", "50",
                        "--latency-ms", "2", "--ramp-s", "0.2", "--dir", str(tmp_path))
    assert LOAD_KEYS <= set(figures), LOAD_KEYS - set(figures)
    assert figures["trainees"] == 20 and figures["turns"] > 20
    assert figures["lost"] == figures["duplicated"] == figures["items_posted_twice"] == figures["undelivered_items"] == 0
    assert figures["stored_lines_mismatched"] == 0 and figures["results"].get("played") == figures["turns"]
    assert figures["discord"]["ceiling_requests_per_s"] == 50 and figures["discord"]["requests_per_turn"] > 1
    assert list(tmp_path.iterdir()) == []  # its database is removed


def test_judge_benchmark_reports_every_data_file_with_its_role() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "judge.py")], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    files = {**report["labelled_lines"], **report["probes"]}
    data = {p.name for p in (ROOT / "tests" / "data").iterdir() if p.suffix in (".jsonl", ".yaml") and p.name != "signal_examples.yaml"}
    assert {p for p in data if p.endswith(".jsonl") or p.startswith("probes_")} == set(files)
    assert all(entry["role"] in ("tuning", "held_out") for entry in files.values()), files
    held_out = report["labelled_lines"]["blind_lines_heldout.jsonl"]
    assert held_out["role"] == "held_out" and 0 < held_out["recall"] <= 1


def _scorer():  # bench/ is not a package: load bench/scorer.py as a module
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_scorer", ROOT / "bench" / "scorer.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scorer_reports_empathy_agreement_per_rated_file() -> None:
    scorer = _scorer()
    empathy = scorer.bench_empathy()
    tune = empathy["empathy_tune.yaml"]
    assert tune["role"].startswith("tuning") and tune["lines"] > 100 and tune["conversations"] > 10
    assert -1 <= tune["lines_spearman"] <= 1 and -1 <= tune["five_word_count"]["lines_spearman"] <= 1
    assert "skipped" in empathy["empathy_heldout.yaml"] or empathy["empathy_heldout.yaml"]["role"].startswith("held out")
    blind = scorer.bench_blind_labels()
    assert blind["held_out"]["files"] == ["blind_lines_heldout.jsonl"] and 0 <= blind["held_out"]["auc"] <= 1


def test_scorer_quartile_task_and_missing_data(monkeypatch, tmp_path: Path) -> None:
    scorer = _scorer()
    rows = [{"label_polite1_impolite-1": label} for label in ("1", "1", "-1", "-1")]
    assert scorer._quartile_task(rows, [70, 40, 45, 60]) == {"accuracy_at_50": 0.5, "auc": 0.5, "called_polite": 0.5}
    monkeypatch.setattr(scorer, "QUARTILES", tmp_path / "absent.csv")
    assert "not found" in scorer.bench_respect()["skipped"]


def test_inside_benchmark_quick_run(tmp_path: Path) -> None:
    """bench/inside.py: the step timed alone and inside the stored run (timings are not checked)."""
    figures = run_bench("inside.py", "--quick", "--dir", str(tmp_path))
    runs = ("alone", "inside_32", "inside_1", "alone_after_idle", "alone_after_busy", "alone_after_fsync")
    assert all(figures[f"{key}_us_{run}"] > 0 for key in ("step", "step_cpu", "detect", "judge") for run in runs)
    assert figures["turns_per_s_inside_32"] > 0 and figures["wall_per_turn_us_inside_1"] > 0
    assert list(tmp_path.iterdir()) == []  # its databases are removed
