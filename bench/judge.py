"""How well the judge agrees with people, on lines and scripted trainees nobody tuned on.

Prints one JSON object. For every labelled line file in tests/data (its role, tuning or
held out, comes from tests/data/README.md's table): recall and false-alarm rate of
`trainer analyze` (rules and learned cues, as analysis reports them) and of the rules alone
(what the resident and the grade use), and how many introductions give the name a resident
would use. For every probe file: how many scripted trainees the integrity rules get right,
per kind (bot/engine/probes.py says what each kind must do). Only the held-out figures
measure generalisation; the tuning ones measure fit.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.engine.catalog import load_checked  # noqa: E402
from bot.engine.evaluation import agreement, load_labelled  # noqa: E402
from bot.engine.probes import check_probe, load_probes  # noqa: E402
from bot.engine.scenario import Scenario  # noqa: E402

DATA = ROOT / "tests" / "data"
DIALOGUES = ROOT / "dialogues"


def roles() -> dict[str, str]:
    """File name -> 'held_out' or 'tuning', from the README's table (one source of truth)."""
    table = re.findall(r"^\| `([^`]+)` \|[^|]*\| (.+?) \|$", (DATA / "README.md").read_text("utf-8"), re.MULTILINE)
    return {name: "held_out" if "held out" in role else "tuning" for name, role in table}


def main() -> None:
    role = roles()
    traffic = load_checked(DIALOGUES / "traffic_stop.yaml")
    scenarios: dict[str, Scenario] = {}
    lines: dict[str, object] = {}
    for path in sorted(DATA.glob("*.jsonl")):
        rows = load_labelled(path)
        full, rules = agreement(rows, traffic), agreement(rows, traffic, learned=False)
        lines[path.name] = {
            "role": role.get(path.name, "unlisted"), "rows": full.rows,
            "recall": round(full.recall, 3), "false_alarm_rate": round(full.false_alarm_rate, 4),
            "recall_rules_only": round(rules.recall, 3), "false_alarm_rate_rules_only": round(rules.false_alarm_rate, 4),
            "called": f"{full.called_right}/{full.called_total}",
        }
    probes: dict[str, object] = {}
    for path in sorted(DATA.glob("probes_*.yaml")):
        passed: Counter[str] = Counter()
        total: Counter[str] = Counter()
        for probe in load_probes(path):
            total[probe["kind"]] += 1
            name = probe["scenario"]
            if name not in scenarios:
                scenarios[name] = load_checked(DIALOGUES / f"{name}.yaml")
            passed[probe["kind"]] += check_probe(scenarios[name], probe).passed
        probes[path.name] = {
            "role": role.get(path.name, "unlisted"), "passed": sum(passed.values()), "total": sum(total.values()),
            "per_kind": {kind: f"{passed[kind]}/{total[kind]}" for kind in sorted(total)},
        }
    print(json.dumps({"labelled_lines": lines, "probes": probes}, indent=2))


if __name__ == "__main__":
    main()
