"""Compose probe transcripts for the curriculum scenarios from lines other people wrote.

The labelled lines in this folder were written by blind authors (README.md) for many settings
("noise complaint", "records window", "911 call"...), without seeing the trainer's patterns or
any of the curriculum scenarios (written later). This script turns them into scripted trainees
for each scenario, chosen by their labels and settings alone, never by reading a scenario:

- `courteous`: one line per phase of a good contact, in order (an opener with a greeting or an
  introduction, the reason, an open question, empathy, what happens next, an offer of help, a
  courteous close), each from the scenario's settings and free of costly labels;
- `commanding`: four to six lines labelled command, dismissive or blame (no threats);
- `salad`: short labelled courtesies strung into one message, pasted three times.

The seed and the authors are fixed, so the files are reproducible:

    python tests/data/compose_probes.py --authors a c --seed 11 > tests/data/probes_library_tune.yaml
    python tests/data/compose_probes.py --authors d e --seed 23 > tests/data/probes_library_heldout.yaml
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from datetime import datetime, timezone
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent

# Each curriculum scenario and the settings (as the blind authors named them) its lines come from.
SETTINGS: dict[str, tuple[str, ...]] = {
    "neighbour_noise": ("noise complaint", "neighbor dispute", "dispatch, noise complaint"),
    "minor_crash": ("minor crash", "minor crash (cso)", "crash scene", "patrol, crash", "trooper, crash scene"),
    "filming_resident": ("person filming police", "protest", "patrol, citizen contact", "patrol, pedestrian stop"),
    "welfare_check": ("welfare check", "mental health call", "mental health crisis", "crisis co-responder"),
    "records_request": ("records window", "records", "records phone", "records, foia request", "records, phone"),
    "suspicious_person_call": ("911 call", "call-taker, 911", "911 call, prowler", "non-emergency line", "call-taker, non-emergency"),
    "business_break_ins": ("business owner", "burglary follow-up (detective)", "theft report", "detective follow-up", "burglary follow-up"),
    "community_meeting": ("community meeting", "community meeting (cso)", "public information officer, community meeting", "community liaison, neighborhood meeting"),
    "elder_scam": ("phone scam report", "phone scam (detective)", "scam report", "elderly scam victim", "victim advocate, elderly scam", "dispatch, scam report", "phone scam (patrol)"),
    "front_desk_hostile": ("front desk", "front desk, angry resident", "desk complaint (sergeant)", "sergeant, complaint", "front desk, lobby"),
}
COSTLY = {"command", "dismissive", "blame", "threat", "profanity", "informal_address", "jargon", "guessing_game",
          "search_request", "exit_order", "fishing_question"}
PHASES = (
    ("opener", {"greeting", "introduction"}),
    ("reason", {"reason_for_contact"}),
    ("listen", {"open_question"}),
    ("empathy", {"empathy", "reassurance", "apology"}),
    ("next", {"explain_next_steps"}),
    ("help", {"offer_help"}),
    ("close", {"closing"}),
)


def lines_of(authors: list[str]) -> list[dict[str, object]]:
    found = []
    for author in authors:
        for raw in (HERE / f"blind_lines_{author}.jsonl").read_text("utf-8").splitlines():
            if raw.strip() and not raw.startswith("#"):
                item = json.loads(raw)
                item["author"] = author
                found.append(item)
    return found


def compose(authors: list[str], seed: int) -> list[dict[str, object]]:
    rng = random.Random(seed)
    pool = lines_of(authors)
    scenes: list[dict[str, object]] = []
    for scenario, settings in SETTINGS.items():
        here = [l for l in pool if str(l.get("setting", "")).lower() in settings]
        for n in range(3):
            chosen = []
            for _, labels in PHASES:
                fits = [l for l in here if labels & set(l["signals"]) and not COSTLY & set(l["signals"]) and l not in chosen]  # type: ignore[arg-type]
                if fits:
                    chosen.append(rng.choice(fits))
            scenes.append({"scenario": scenario, "kind": "courteous",
                           "description": f"Courteous contact {n + 1}, one blind-written line per phase ({', '.join(sorted({str(l['author']) for l in chosen}))}).",
                           "lines": [str(l["text"]) for l in chosen]})
        for n in range(2):
            rude = [l for l in here if {"command", "dismissive", "blame"} & set(l["signals"]) and "threat" not in l["signals"]]  # type: ignore[arg-type]
            if len(rude) < 4:
                rude += [l for l in pool if {"command", "dismissive"} & set(l["signals"]) and "threat" not in l["signals"]]  # type: ignore[arg-type]
            picked = rng.sample(rude, k=min(len(rude), rng.randint(4, 6)))
            scenes.append({"scenario": scenario, "kind": "commanding",
                           "description": f"Commanding and dismissive contact {n + 1}, blind-written lines labelled command, dismissive or blame.",
                           "lines": [str(l["text"]) for l in picked]})
        for n in range(2):
            short = [l for l in here if len(str(l["text"]).split()) <= 7 and not COSTLY & set(l["signals"]) and l["signals"]]  # type: ignore[arg-type]
            parts = [str(l["text"]).rstrip(".!?") for l in rng.sample(short, k=min(len(short), 8))]
            salad = ", ".join(parts) + "."
            scenes.append({"scenario": scenario, "kind": "salad",
                           "description": f"Salad {n + 1}: short blind-written courtesies strung together, pasted three times.",
                           "lines": [salad] * 3})
    return scenes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--authors", nargs="+", required=True, help="letters of the blind_lines_<x>.jsonl files to draw from")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--role", choices=("tuning", "held out"), default="tuning")
    args = parser.parse_args()
    header = (
        f"# Curriculum probes ({args.role}), composed by tests/data/compose_probes.py --authors {' '.join(args.authors)} --seed {args.seed}\n"
        f"# on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by the 'library' helper, BEFORE the curriculum scenarios were written.\n"
        f"# Every line was written by blind authors {', '.join(a.upper() for a in args.authors)} (see README.md), who saw no pattern,\n"
        "# code or scenario; lines were chosen by their labels and settings only. Kinds: courteous (must score\n"
        "# >= 60 and not fail), commanding (<= 35 or fail), salad (never success, <= 40).\n"
    )
    sys.stdout.write(header + yaml.safe_dump(compose(args.authors, args.seed), sort_keys=False, allow_unicode=True, width=120))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
