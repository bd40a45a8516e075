"""`trainer analyze`: one text, --jsonl, and --jsonl --jobs N (same output, same order)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bot.batch import CHUNK_LINES

ROOT = Path(__file__).resolve().parents[1]
DATA = sorted((ROOT / "tests" / "data").glob("*.jsonl"))
LINES = [json.loads(line)["text"] for path in DATA for line in path.read_text("utf-8").splitlines() if line.strip() and not line.startswith("#")]


def trainer(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], input=stdin, capture_output=True, text=True, timeout=120, cwd=ROOT,
        encoding="utf-8",
    )


def test_jobs_keep_input_order_and_output() -> None:
    # Several chunks per process, a blank line and a line past the analysis cap.
    lines = (LINES * 3)[: CHUNK_LINES * 4 + 7] + ["", "Good evening, sir. " * 300]
    stdin = "\n".join(lines) + "\n"
    serial = trainer("analyze", "--jsonl", stdin=stdin)
    parallel = trainer("analyze", "--jsonl", "--jobs", "2", stdin=stdin)
    assert serial.returncode == 0 and parallel.returncode == 0, serial.stderr + parallel.stderr
    assert parallel.stdout == serial.stdout
    rows = [json.loads(line) for line in parallel.stdout.splitlines()]
    assert [row["text"] for row in rows] == lines
    assert rows[-1]["analyzed_chars"] == 4000 and rows[0]["signals"]


def test_jobs_zero_means_one_per_cpu() -> None:
    result = trainer("analyze", "--jsonl", "--jobs", "0", stdin="Thank you, ma'am.\n")
    assert result.returncode == 0
    assert {s["name"] for s in json.loads(result.stdout)["signals"]} == {"gratitude", "formal_address"}


def test_jobs_need_jsonl_and_a_count() -> None:
    one = trainer("analyze", "--jobs", "2", "Hello")
    assert one.returncode == 2 and "--jobs needs --jsonl" in one.stderr
    bad = trainer("analyze", "--jsonl", "--jobs", "-1")
    assert bad.returncode == 2 and "--jobs" in bad.stderr
    both = trainer("analyze", "--jsonl", "Hello")
    assert both.returncode == 2 and "not both" in both.stderr


def test_one_text_is_pretty_json() -> None:
    result = trainer("analyze", "I'm Officer Lee.")
    assert result.returncode == 0
    assert json.loads(result.stdout)["signals"][0]["evidence"][0]["detail"] == "Officer Lee"


def test_scenario_signals_facts_and_the_judge_for_authors() -> None:
    result = trainer("analyze", "--scenario", "traffic_stop", "Good evening ma'am, you ran the stop sign back there.")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    fact = next(f for f in out["facts"] if f["name"] == "expired_tag")
    assert fact["contradicted_by"] == "stop sign" and fact["right"] == []
    assert "contradiction" in out["as_first_message"]["heard"]
    assert "reason_for_contact" not in out["as_first_message"]["credited"]
    right = json.loads(trainer("analyze", "--scenario", "traffic_stop", "Your registration tag expired in July.").stdout)
    assert {"name": "expired_tag", "scenario": True} .items() <= next(s for s in right["signals"] if s["name"] == "expired_tag").items()
    unknown = trainer("analyze", "--scenario", "no_such_scenario", "hi")
    assert unknown.returncode != 0 and "unknown scenario" in unknown.stderr and "Traceback" not in unknown.stderr
